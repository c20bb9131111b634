//! Start, stop, kill, restart, pause, unpause, remove, rename and resize, one file per verb
//! (youki's commands): each asks the container's shim (spawning one to start it) and answers
//! with dockerd's status and words. Here: the question to the shim and what all verbs share.

mod kill;
mod pause;
mod remove;
mod rename;
mod resize;
mod restart;
mod start;
mod stop;

use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::control::{self, Request, Response};
use std::time::{Duration, Instant};

fn response(id: &str, r: Response) -> Result<Response> {
    match r {
        Response::Error { message, kind, .. } => Err(if kind == control::ErrorKind::Conflict {
            EngineError::conflict(message)
        } else {
            EngineError::system_message(message)
        }),
        _ => {
            let _ = id;
            Ok(r)
        }
    }
}

impl Engine {
    fn ask(&self, id: &ContainerId, req: Request) -> Result<Response> {
        let r = control::request(&self.container_paths(id), &req)?;
        response(id, r)
    }

    /// Signal the processes that a killed shim left in the container's cgroup (for SIGKILL:
    /// until none is left, and the cgroup goes). How many there were.
    fn kill_orphans(&self, id: &ContainerId, signal: nix::sys::signal::Signal) -> Result<usize> {
        berth_shim::orphans::signal_orphans(&self.container_paths(id), signal)
            .map_err(|e| EngineError::system_message(format!("could not kill container {id}: {e}")))
    }

    /// Wait until the container's shim has exited; false on timeout.
    pub fn wait_shim_gone(&self, id: &ContainerId, timeout: Duration) -> bool {
        let paths = self.container_paths(id);
        let deadline = Instant::now() + timeout;
        while berth_shim::state::shim_alive(&paths) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// A signal as dockerd writes it in events: its number ("15"); as given when unknown.
fn signal_number(signal: &str) -> String {
    berth_shim::signals::parse(signal)
        .map(|s| (s as i32).to_string())
        .unwrap_or_else(|_| signal.to_string())
}
