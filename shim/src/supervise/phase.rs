//! Where the container's life is, as the shim sees it: one phase at a time, each with only
//! what it needs (a process, its pause, a stop's deadline; a restart's time), so that a
//! paused container without a process or a restart while one runs cannot be written down.
//!
//! ```text
//!   AwaitingStart --start--> Running --exit--> Restarting --time--> Running ...
//!         |                     |                   |
//!         +--stop--> Done <-----+--exit (no restart)+--stop
//! ```
//! A start that fails, from any phase, leads to `Done`.

use std::time::Instant;

/// The shim's phase.
#[derive(Debug)]
pub(super) enum Phase {
    /// Set up, waiting for a control `Start` (`--wait-start`), so that clients can attach
    /// before the first byte of output.
    AwaitingStart,
    /// The container's process runs.
    Running(Running),
    /// The process ended and the restart policy starts it again at `at`.
    Restarting { at: Instant },
    /// Nothing runs or will: the shim cleans up and ends.
    Done,
}

/// The container's running process.
#[derive(Debug)]
pub(super) struct Running {
    pub pid: i32,
    pub started: Instant,
    /// Frozen (pause): no health probe runs.
    pub paused: bool,
    pub stop: Stop,
}

/// How far a caller's stop of the running process has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// None asked for.
    NotAsked,
    /// The stop signal was sent; SIGKILL follows at `kill_at`.
    Signalled { kill_at: Instant },
    /// SIGKILL was sent.
    Killed,
}

/// Whether a caller stopped the container (a stop, or a kill with SIGKILL or SIGTERM): it then
/// does not restart by policy, and its state says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum ManualStop {
    #[default]
    No,
    /// `keep`: a stop for dockerd's restart of an auto-removed container, which keeps it.
    Yes { keep: bool },
}

impl Running {
    pub fn new(pid: i32) -> Running {
        Running {
            pid,
            started: Instant::now(),
            paused: false,
            stop: Stop::NotAsked,
        }
    }
}

impl Phase {
    /// The running process, if one runs.
    pub fn running(&self) -> Option<&Running> {
        match self {
            Phase::Running(r) => Some(r),
            _ => None,
        }
    }

    pub fn running_mut(&mut self) -> Option<&mut Running> {
        match self {
            Phase::Running(r) => Some(r),
            _ => None,
        }
    }

    /// A process runs and is not frozen: its health is probed.
    pub fn runs_unpaused(&self) -> bool {
        self.running().is_some_and(|r| !r.paused)
    }

    pub fn is_paused(&self) -> bool {
        self.running().is_some_and(|r| r.paused)
    }

    /// When the phase's own timer fires: a stop's SIGKILL, or a restart.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Running(Running {
                stop: Stop::Signalled { kill_at },
                ..
            }) => Some(*kill_at),
            Phase::Restarting { at } => Some(*at),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Phase::Done)
    }
}

impl ManualStop {
    pub fn is_manual(self) -> bool {
        self != ManualStop::No
    }

    /// The container is kept at its end though it is auto-removed.
    pub fn keeps(self) -> bool {
        self == ManualStop::Yes { keep: true }
    }

    /// A caller stopped it; `keep` adds to a keep asked for before.
    pub fn stopped(self, keep: bool) -> ManualStop {
        ManualStop::Yes {
            keep: keep || self.keeps(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_process_has_a_pause_and_only_a_stop_or_a_restart_a_deadline() {
        let now = Instant::now();
        let mut running = Running::new(7);
        assert_eq!((running.paused, running.stop), (false, Stop::NotAsked));
        running.paused = true;
        let phase = Phase::Running(running);
        assert!(phase.is_paused() && !phase.runs_unpaused());
        assert_eq!(
            phase.deadline(),
            None,
            "a running process with no stop asked"
        );
        let stopping = Phase::Running(Running {
            stop: Stop::Signalled { kill_at: now },
            ..Running::new(7)
        });
        assert_eq!(stopping.deadline(), Some(now), "a stop's SIGKILL");
        assert_eq!(Phase::Restarting { at: now }.deadline(), Some(now));
        for idle in [Phase::AwaitingStart, Phase::Done] {
            assert!(
                idle.running().is_none() && !idle.is_paused() && idle.deadline().is_none(),
                "{idle:?} has a process, a pause or a deadline"
            );
        }
        assert!(Phase::Done.is_done() && !Phase::AwaitingStart.is_done());
    }

    #[test]
    fn a_keep_once_asked_for_stays() {
        let m = ManualStop::No;
        assert!(!m.is_manual() && !m.keeps());
        let m = m.stopped(true);
        assert!(m.is_manual() && m.keeps());
        let m = m.stopped(false);
        assert!(m.keeps(), "a later stop without keep dropped it: {m:?}");
        assert!(!ManualStop::No.stopped(false).keeps());
    }
}
