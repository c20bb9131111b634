//! Waiting for a container to stop or to go (`POST /containers/{id}/wait`, an attached
//! `berth run`): its state is read again whenever its directory changes ([`ContainerWatch`]),
//! and now and then in between for what leaves no trace there (a killed shim).

use super::watch::ContainerWatch;
use super::Engine;
use crate::engine::ids::ContainerId;
use crate::engine::{EngineError, Result};
use berth_shim::state::Status;
use std::time::Duration;

/// dockerd's wait conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Stopped (or never started): the default.
    NotRunning,
    /// Stopped after the state the wait began in.
    NextExit,
    /// Removed.
    Removed,
}

impl WaitCondition {
    /// dockerd's names; empty is `not-running`.
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(EngineError::invalid_parameter(format!(
                "invalid condition: \"{s}\""
            ))),
        }
    }
}

/// One wait under way: [`Waiter::check`] and [`Waiter::pause`] in turn until the check gives
/// the exit code, so that an async caller can stop between steps; [`Waiter::wait`] does both.
///
/// Dropping it closes its inotify instance, which waits for an SRCU grace period (~10 ms
/// here): an async caller drops it off its runtime's workers, after its answer.
pub struct Waiter {
    engine: Engine,
    id: ContainerId,
    condition: WaitCondition,
    initial: berth_shim::State,
    last_code: i32,
    delay: Duration,
    watch: Option<ContainerWatch>,
}

impl Engine {
    /// Begin waiting for `condition` on container `id`; NotFound when there is no such
    /// container. The watch is set before the state is read, so that no change falls between.
    pub fn waiter(&self, id: &ContainerId, condition: WaitCondition) -> Result<Waiter> {
        let watch = self.watch_container(id);
        let initial = self.state(id)?;
        Ok(Waiter {
            engine: self.clone(),
            id: id.clone(),
            condition,
            last_code: initial.exit_code,
            initial,
            delay: Duration::from_millis(1),
            watch,
        })
    }

    /// Block until container `id` has stopped; its exit code (once it is gone, the code its
    /// shim kept for an auto-removed container).
    pub fn wait_exit(&self, id: &ContainerId) -> i32 {
        match self.waiter(id, WaitCondition::NotRunning) {
            Ok(w) => w.wait(),
            Err(_) => berth_shim::remove::last_exit(&self.container_paths(id)).unwrap_or(0),
        }
    }
}

impl Waiter {
    /// Read the state once: the exit code when the condition is met.
    pub fn check(&mut self) -> Option<i32> {
        let Ok(st) = self.engine.state(&self.id) else {
            // Gone: removed (the condition `removed` waits for exactly this). An auto-removed
            // container's shim left its exit code behind.
            let paths = self.engine.container_paths(&self.id);
            return Some(berth_shim::remove::last_exit(&paths).unwrap_or(self.last_code));
        };
        self.last_code = st.exit_code;
        // A created container whose shim waits for start (an attach came first) is about to
        // run, not stopped.
        let waiting_for_start = st.status == Status::Created
            && berth_shim::state::shim_alive(&self.engine.container_paths(&self.id));
        let stopped = !st.status.is_live() && !waiting_for_start;
        // An exit since the wait began, even one a restart policy follows with a new start
        // (the state `restarting`, or running again by now): dockerd wakes its waiters at
        // every exit, so `wait` on a container with a restart policy answers.
        let exited = st.finished_at != self.initial.finished_at;
        let met = match self.condition {
            WaitCondition::NextExit => {
                exited
                    || (stopped && st.generation != self.initial.generation && !st.error.is_empty())
            }
            WaitCondition::Removed => false,
            WaitCondition::NotRunning => stopped || exited,
        };
        met.then_some(st.exit_code)
    }

    /// Block until the container's directory changes or the next poll is due. Short waits
    /// first, then at most 50 ms: a shim killed while it waited for start leaves no trace in
    /// the directory.
    pub fn pause(&mut self) {
        match &self.watch {
            Some(w) => {
                w.wait(self.delay);
            }
            None => std::thread::sleep(self.delay),
        }
        self.delay = (self.delay * 2).min(Duration::from_millis(50));
    }

    /// Check and pause until the condition is met; the exit code.
    pub fn wait(mut self) -> i32 {
        loop {
            if let Some(code) = self.check() {
                // Not closed before the caller has its answer (see the type's comment).
                if let Some(w) = self.watch.take() {
                    std::thread::spawn(move || drop(w));
                }
                return code;
            }
            self.pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_as_dockerd_names_them() {
        for (name, want) in [
            ("", WaitCondition::NotRunning),
            ("not-running", WaitCondition::NotRunning),
            ("next-exit", WaitCondition::NextExit),
            ("removed", WaitCondition::Removed),
        ] {
            let got = WaitCondition::parse(name).unwrap();
            assert_eq!(
                got, want,
                "condition {name:?}: expected {want:?}, got {got:?}"
            );
        }
        let err = WaitCondition::parse("soon").unwrap_err().to_string();
        assert_eq!(
            err, "invalid condition: \"soon\"",
            "the error for a bad condition"
        );
    }
}
