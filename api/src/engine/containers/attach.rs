//! Attaching a client to a container's or an exec's standard streams, through the shim's
//! attach socket. The stream carries stdin one way and output the other, the output framed as
//! Docker's multiplexed stream unless there is a TTY (the codec is the shim's, re-exported here).

use super::Engine;
use crate::engine::detach_keys::DetachKeys;
use crate::engine::ids::ContainerId;
use crate::engine::{EngineError, Result};
use std::os::unix::net::UnixStream;

pub use berth_shim::control::{frame, frames, read_frame, AttachHello};
pub use berth_shim::logs::Stream;

/// The multiplexed stream's number for `stream` (1 stdout, 2 stderr).
pub fn stream_number(stream: Stream) -> u8 {
    match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    }
}

impl Engine {
    /// Attach to container `id`: a container not yet running gets a shim that waits for its
    /// start (so that no output is missed), and the `attach` event is recorded.
    pub fn attach(&self, id: &ContainerId, hello: AttachHello) -> Result<UnixStream> {
        self.prepare_attach(id)?;
        let sock = berth_shim::control::attach(&self.container_paths(id), hello)
            .map_err(|e| EngineError::conflict(format!("cannot attach to container {id}: {e}")))?;
        self.attach_event(id);
        Ok(sock)
    }

    /// The detach keys of an attach to container `id` (`detachKeys`, empty for the default):
    /// None when the container has no TTY (dockerd watches for them only then). An invalid spec
    /// is dockerd's 400.
    pub fn attach_detach_keys(&self, id: &ContainerId, spec: &str) -> Result<Option<DetachKeys>> {
        let keys = DetachKeys::parse(spec).map_err(|_| {
            EngineError::invalid_parameter(format!("Invalid detach keys ({spec}) provided"))
        })?;
        Ok(self.record(id)?.config.tty.then_some(keys))
    }

    /// A client read the detach keys on its stdin and was let go: dockerd's `detach` event.
    pub fn attach_detached(&self, id: &ContainerId) {
        self.container_event(id, "detach", &[]);
    }

    /// Start exec `exec_id` attached: its helper starts the process once this client is on.
    pub fn exec_start_attached(&self, exec_id: &str, hello: AttachHello) -> Result<UnixStream> {
        let ep = self.exec_start(exec_id, true)?;
        berth_shim::exec::attach(&ep, hello)
            .map_err(|e| EngineError::system("attaching to the exec", e))
    }
}
