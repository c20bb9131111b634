//! docker kill.

use super::signal_number;
use crate::engine::{Engine, EngineError, ErrorKind, Result};
use berth_shim::control::Request;
use berth_shim::state::Status;

impl Engine {
    /// docker kill. 409 when not running.
    pub fn kill(&self, reference: &str, signal: Option<String>) -> Result<()> {
        let id = self.lookup(reference)?;
        let signal = signal
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGKILL".into());
        let sig = berth_shim::signals::parse(&signal)
            .map_err(|e| EngineError::invalid_parameter(e.to_string()))?;
        let paths = self.container_paths(&id);
        if !berth_shim::state::shim_alive(&paths)
            && !berth_shim::orphans::orphans(&paths).is_empty()
        {
            // Its shim was killed: the signal goes from here, to every process of its cgroup.
            self.container_event(&id, "kill", &[("signal", signal_number(&signal))]);
            return self.kill_orphans(&id, sig).map(drop);
        }
        let state = self.state(&id)?;
        if !matches!(
            state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) {
            return Err(EngineError::conflict(format!(
                "cannot kill container: {reference}: container {id} is not running"
            )));
        }
        // Logged before the signal goes, so that it comes before the `die` it may cause.
        self.container_event(&id, "kill", &[("signal", signal_number(&signal))]);
        self.ask(&id, Request::Kill { signal: sig })
            .map_err(|e| match e {
                e if e.is(ErrorKind::Conflict) => EngineError::conflict(format!(
                    "cannot kill container: {reference}: container {id} is not running"
                )),
                other => other,
            })
            .map(drop)
    }
}
