//! docker pause and unpause: the container's cgroup frozen and thawed by its shim.

use crate::engine::{Engine, EngineError, Result};
use berth_shim::control::Request;
use berth_shim::state::Status;

impl Engine {
    pub fn pause(&self, reference: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        match state.status {
            Status::Paused => Err(EngineError::conflict(format!(
                "container {id} is already paused"
            ))),
            Status::Running => {
                self.ask(&id, Request::Pause)?;
                self.container_event(&id, "pause", &[]);
                Ok(())
            }
            _ => Err(EngineError::conflict(format!(
                "container {id} is not running"
            ))),
        }
    }

    pub fn unpause(&self, reference: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        if state.status != Status::Paused {
            return Err(EngineError::conflict(format!(
                "container {id} is not paused"
            )));
        }
        self.ask(&id, Request::Resume)?;
        self.container_event(&id, "unpause", &[]);
        Ok(())
    }
}
