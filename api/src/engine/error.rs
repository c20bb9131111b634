//! The engine's one error: a kind a Docker client can tell apart (dockerd's errdefs), the
//! message Docker words, the exit code `docker run` gives when one is known, and the failure
//! underneath. The HTTP face maps the kind to its status code in one place (`http::error`); the
//! CLI maps it to an exit code.

use std::error::Error as StdError;

/// What went wrong, as a Docker client tells failures apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404: "No such container: x", "No such image: x", ...
    NotFound,
    /// 409: a name in use, a running container removed without force, ...
    Conflict,
    /// 400: a request that can never succeed as written.
    InvalidParameter,
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    NotModified,
    /// 401: a registry refused the credentials (`docker login`).
    Unauthorized,
    /// 403: not allowed (removing a predefined network).
    Forbidden,
    /// 501
    NotImplemented,
    /// 503: a part of berth that this host cannot run (the eBPF monitor without bpffs, BTF
    /// or permission to load programs); the message names the cause.
    Unavailable,
    /// 500: the machine failed us; the message says where.
    System,
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An engine failure. It displays as its message alone (the text Docker's clients show); the
/// failure underneath, when there is one, is its `cause()`.
#[derive(Debug)]
pub struct EngineError {
    kind: ErrorKind,
    message: String,
    exit_code: Option<i32>,
    source: Option<Source>,
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Two errors are equal when a client sees the same: kind, message and exit code (the source is
/// not compared).
impl PartialEq for EngineError {
    fn eq(&self, other: &EngineError) -> bool {
        (self.kind, &self.message, self.exit_code) == (other.kind, &other.message, other.exit_code)
    }
}

impl Eq for EngineError {}

/// The message already words the failure underneath (Docker's clients see only the message), so
/// `source()` does not return it too: a chain printer (anyhow's `{:#}`) would print it twice.
/// It is kept, for code that decides on it, behind `cause()`.
impl StdError for EngineError {}

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> EngineError {
        EngineError {
            kind,
            message: message.into(),
            exit_code: None,
            source: None,
        }
    }

    pub fn not_found(message: String) -> EngineError {
        EngineError::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: String) -> EngineError {
        EngineError::new(ErrorKind::Conflict, message)
    }

    pub fn invalid_parameter(message: String) -> EngineError {
        EngineError::new(ErrorKind::InvalidParameter, message)
    }

    pub fn not_modified(message: String) -> EngineError {
        EngineError::new(ErrorKind::NotModified, message)
    }

    pub fn forbidden(message: String) -> EngineError {
        EngineError::new(ErrorKind::Forbidden, message)
    }

    pub fn not_implemented(message: String) -> EngineError {
        EngineError::new(ErrorKind::NotImplemented, message)
    }

    pub fn unauthorized(message: String) -> EngineError {
        EngineError::new(ErrorKind::Unauthorized, message)
    }

    pub fn unavailable(message: String) -> EngineError {
        EngineError::new(ErrorKind::Unavailable, message)
    }

    /// A system error worded whole by the caller, with no failure underneath to keep.
    pub fn system_message(message: String) -> EngineError {
        EngineError::new(ErrorKind::System, message)
    }

    /// A system error with its context, keeping the failure as the source:
    /// "creating /var/lib/berth/x: permission denied".
    pub fn system(context: impl std::fmt::Display, e: impl Into<Source>) -> EngineError {
        let source = e.into();
        EngineError::new(ErrorKind::System, format!("{context}: {source}")).with_source(source)
    }

    /// The same error, keeping `source` as the failure underneath (the message is unchanged).
    pub fn with_source(mut self, source: impl Into<Source>) -> EngineError {
        self.source = Some(source.into());
        self
    }

    /// The same error, with the exit code `docker run` gives for it.
    pub fn with_exit_code(mut self, code: i32) -> EngineError {
        self.exit_code = Some(code);
        self
    }

    /// The failure underneath, when the engine had one (an io::Error, a shim error, ...).
    pub fn cause(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether this is a failure of `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }

    /// The text a Docker client shows.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The exit code `docker run` gives for this failure (126, 127 when the command cannot
    /// run), when the engine knows one.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }
}

// The shim's errors as Docker's, so that `?` converts them. Where one call site needs another
// kind or wording, it maps the error itself.

impl From<berth_shim::control::ControlError> for EngineError {
    fn from(e: berth_shim::control::ControlError) -> EngineError {
        match &e {
            berth_shim::control::ControlError::NotRunning { id } => {
                EngineError::conflict(format!("container {id} is not running")).with_source(e)
            }
            _ => EngineError::system("talking to the shim", e),
        }
    }
}

impl From<berth_shim::state::StateError> for EngineError {
    fn from(e: berth_shim::state::StateError) -> EngineError {
        match &e {
            berth_shim::state::StateError::NotFound { id } => {
                EngineError::not_found(format!("No such container: {id}")).with_source(e)
            }
            _ => EngineError::system("reading state", e),
        }
    }
}

impl From<berth_shim::net::NetError> for EngineError {
    fn from(e: berth_shim::net::NetError) -> EngineError {
        use berth_shim::net::NetError;
        match e {
            NetError::Invalid(m) => EngineError::invalid_parameter(m),
            NetError::InUse(m) | NetError::Exhausted(m) => EngineError::forbidden(m),
            other => EngineError::system_message(other.to_string()).with_source(other),
        }
    }
}

/// A device given at create that can never work: 400 with the docker CLI's words.
impl From<berth_shim::devices::DeviceError> for EngineError {
    fn from(e: berth_shim::devices::DeviceError) -> EngineError {
        EngineError::invalid_parameter(e.to_string()).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_error_keeps_its_source_and_shows_the_message_alone() {
        let io = std::io::Error::from_raw_os_error(libc::EACCES);
        let want = format!("creating /x: {io}");
        let e = EngineError::system("creating /x", io);
        assert_eq!(
            (e.kind(), e.to_string(), e.exit_code()),
            (ErrorKind::System, want, None),
            "expected a system error worded context: cause"
        );
        let source = e.cause().expect("expected the io error kept as the cause");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("expected the source to be the io::Error given");
        assert_eq!(io.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn the_exit_code_travels_with_the_error() {
        let e = EngineError::system_message("exec failed".into()).with_exit_code(127);
        assert_eq!(
            (e.kind(), e.message(), e.exit_code()),
            (ErrorKind::System, "exec failed", Some(127))
        );
    }
}
