//! docker resize: the container's terminal, through its shim.

use crate::engine::{Engine, EngineError, Result};
use berth_shim::control::Request;

impl Engine {
    pub fn resize(&self, reference: &str, rows: u16, cols: u16) -> Result<()> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        if !state.status.is_live() && !berth_shim::state::shim_alive(&self.container_paths(&id)) {
            return Err(EngineError::conflict(format!(
                "container {id} is not running"
            )));
        }
        self.ask(&id, Request::Resize { rows, cols })?;
        let size = [("height", rows.to_string()), ("width", cols.to_string())];
        self.container_event(&id, "resize", &size);
        Ok(())
    }
}
