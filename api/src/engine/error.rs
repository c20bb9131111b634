//! The kinds of failure a Docker client can tell apart (dockerd's errdefs). The HTTP face maps
//! each to its status code in one place (`http::error`); the CLI maps them to exit codes.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// 404: "No such container: x", "No such image: x", ...
    #[error("{0}")]
    NotFound(String),
    /// 409: a name in use, a running container removed without force, ...
    #[error("{0}")]
    Conflict(String),
    /// 400: a request that can never succeed as written.
    #[error("{0}")]
    InvalidParameter(String),
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    #[error("{0}")]
    NotModified(String),
    /// 403: not allowed (removing a predefined network).
    #[error("{0}")]
    Forbidden(String),
    /// 501
    #[error("{0}")]
    NotImplemented(String),
    /// 503: a part of berth that this host cannot run (the eBPF monitor without bpffs, BTF
    /// or permission to load programs); the message names the cause.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the machine failed us; the message says where.
    #[error("{0}")]
    System(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    /// A system error with its context: "creating /var/lib/berth/x: permission denied".
    pub fn system(context: impl std::fmt::Display, e: impl std::fmt::Display) -> EngineError {
        EngineError::System(format!("{context}: {e}"))
    }
}
