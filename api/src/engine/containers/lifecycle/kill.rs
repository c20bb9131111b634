//! docker kill.

use super::signal_number;
use crate::engine::{Engine, EngineError, ErrorKind, Result};
use berth_shim::control::Request;
use berth_shim::state::Status;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// How long a SIGKILL's answer waits for the exit to be recorded (dockerd's Kill waits too).
const KILL_EXIT_WAIT: Duration = Duration::from_secs(10);

impl Engine {
    /// docker kill. 409 when not running. After SIGKILL the answer waits, as dockerd's does,
    /// until the exit is recorded, so that an inspect right after shows it.
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
        // Watched before the signal goes, so that the exit cannot fall before the watch.
        let watch = (sig == Signal::SIGKILL).then(|| self.watch_container(&id));
        // Logged before the signal goes, so that it comes before the `die` it may cause.
        self.container_event(&id, "kill", &[("signal", signal_number(&signal))]);
        self.ask(&id, Request::Kill { signal: sig })
            .map_err(|e| match e {
                e if e.is(ErrorKind::Conflict) => EngineError::conflict(format!(
                    "cannot kill container: {reference}: container {id} is not running"
                )),
                other => other,
            })?;
        let Some(watch) = watch else {
            return Ok(());
        };
        // Stopped, or stopped and restarting (a new finish time): dockerd's waiters fire on both.
        let deadline = Instant::now() + KILL_EXIT_WAIT;
        loop {
            let Ok(now) = self.state(&id) else {
                return Ok(()); // removed (auto-remove): its exit was recorded on the way
            };
            if !matches!(now.status, Status::Running | Status::Paused)
                || now.finished_at != state.finished_at
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(EngineError::system_message(
                    "tried to kill container, but did not receive an exit event".into(),
                ));
            }
            match &watch {
                Some(w) => {
                    w.wait(Duration::from_millis(50));
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}
