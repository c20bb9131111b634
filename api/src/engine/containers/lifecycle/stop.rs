//! docker stop.

use super::signal_number;
use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::control::Request;
use berth_shim::fsutil::FileLock;
use berth_shim::state::Status;
use std::time::{Duration, Instant};

impl Engine {
    /// docker stop: the stop signal, SIGKILL after the timeout. 304 when not running.
    pub fn stop(
        &self,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> Result<()> {
        let id = self.lookup(reference)?;
        let op = self.op_lock(&id)?;
        self.stop_locked(&id, timeout, signal, false, op)
    }

    /// `keep`: a restart's stop (an auto-removed container is kept, as dockerd does). `op`, the
    /// container's operation lock, is let go once the stop signal is on its way: the wait for the
    /// exit (endless with t=-1) holds up no other verb, as none is held up in dockerd. A second
    /// stop then shortens the wait, and a forced remove or a SIGKILL ends it.
    pub(super) fn stop_locked(
        &self,
        id: &ContainerId,
        timeout: Option<i64>,
        signal: Option<String>,
        keep: bool,
        op: FileLock,
    ) -> Result<()> {
        let state = self.state(id)?;
        let paths = self.container_paths(id);
        let alive = berth_shim::state::shim_alive(&paths);
        let orphaned = !alive && !berth_shim::orphans::orphans(&paths).is_empty();
        if !orphaned && (!alive || !(state.status.is_live() || state.status == Status::Created)) {
            return Err(EngineError::not_modified(
                "container already stopped".into(),
            ));
        }
        let timeout = timeout.map(|t| if t < 0 { u32::MAX } else { t as u32 });
        // dockerd's order: kill (with the stop signal), die (the shim's), stop.
        let stop_signal = signal
            .clone()
            .or_else(|| self.record(id).ok().and_then(|r| r.config.stop_signal))
            .unwrap_or_else(|| "SIGTERM".into());
        self.container_event(id, "kill", &[("signal", signal_number(&stop_signal))]);
        if orphaned {
            // Its shim was killed: the stop signal, then SIGKILL after the timeout, from here.
            let sig = berth_shim::signals::parse(&stop_signal)
                .map_err(|e| EngineError::invalid_parameter(e.to_string()))?;
            self.kill_orphans(id, sig)?;
            drop(op);
            let grace = Duration::from_secs(timeout.unwrap_or(10).min(3600).into());
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && !berth_shim::orphans::orphans(&paths).is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill_orphans(id, nix::sys::signal::Signal::SIGKILL)?;
            self.container_event(id, "stop", &[]);
            return Ok(());
        }
        // The shim answers once the container has stopped. A verb let in meanwhile finds it
        // running (start: 304) or ends it (rm -f, kill), as in dockerd.
        drop(op);
        let request = Request::Stop {
            timeout,
            // A signal the shim cannot read was SIGTERM when it parsed the name itself.
            signal: signal.map(|s| {
                berth_shim::signals::parse(&s).unwrap_or(nix::sys::signal::Signal::SIGTERM)
            }),
            keep,
        };
        match berth_shim::control::request(&paths, &request) {
            Ok(answer) => drop(super::response(id, answer)?),
            // A shim ending (its container stopped by another verb meanwhile) closes the
            // connections it has not taken yet unanswered: once it is gone, the container is
            // stopped, which is what was asked.
            Err(e) => {
                let gone = self.wait_shim_gone(id, Duration::from_secs(5));
                if !gone || self.state(id)?.status.is_live() {
                    return Err(e.into());
                }
            }
        }
        self.wait_shim_gone(id, Duration::from_secs(30));
        self.container_event(id, "stop", &[]);
        Ok(())
    }
}
