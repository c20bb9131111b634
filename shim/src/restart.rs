//! Restart policies, carried out by the shim itself (no daemon is alive to do it), with dockerd's
//! growing back-off: 100 ms, doubled after every restart, at most one minute, and back to 100 ms
//! once the container has run for ten seconds.

use crate::spec::{RestartName, RestartPolicy};
use std::time::Duration;

pub const FIRST_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether the container restarts after an exit.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    restart_count: u32,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name {
        RestartName::No => false,
        RestartName::Always | RestartName::UnlessStopped => true,
        RestartName::OnFailure => {
            exit_code != 0
                && (policy.maximum_retry_count == 0 || restart_count < policy.maximum_retry_count)
        }
    }
}

/// The wait before the next restart, given the previous wait and how long the container ran.
pub fn next_delay(previous: Option<Duration>, ran_for: Duration) -> Duration {
    match previous {
        None => FIRST_DELAY,
        Some(_) if ran_for >= RESET_AFTER => FIRST_DELAY,
        Some(d) => (d * 2).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: RestartName, max: u32) -> RestartPolicy {
        RestartPolicy {
            name,
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_follow_docker() {
        assert!(!should_restart(&policy(RestartName::No, 0), 1, 0, false));
        assert!(should_restart(&policy(RestartName::Always, 0), 0, 5, false));
        assert!(!should_restart(&policy(RestartName::Always, 0), 0, 5, true));
        assert!(should_restart(
            &policy(RestartName::UnlessStopped, 0),
            0,
            0,
            false
        ));
        assert!(!should_restart(
            &policy(RestartName::OnFailure, 0),
            0,
            0,
            false
        ));
        assert!(should_restart(
            &policy(RestartName::OnFailure, 0),
            1,
            100,
            false
        ));
        assert!(should_restart(
            &policy(RestartName::OnFailure, 2),
            1,
            1,
            false
        ));
        assert!(!should_restart(
            &policy(RestartName::OnFailure, 2),
            1,
            2,
            false
        ));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let short = Duration::from_millis(5);
        let d1 = next_delay(None, short);
        assert_eq!(d1, FIRST_DELAY);
        let d2 = next_delay(Some(d1), short);
        assert_eq!(d2, Duration::from_millis(200));
        assert_eq!(next_delay(Some(Duration::from_secs(50)), short), MAX_DELAY);
        assert_eq!(next_delay(Some(d2), RESET_AFTER), FIRST_DELAY);
    }
}
