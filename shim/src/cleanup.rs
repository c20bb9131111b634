//! Clean-up that may fail without failing the caller (a temporary directory, a socket file, an
//! undo after an error): the failure is logged (a warning of berth's one log, [`crate::log`]),
//! in one place, instead of dropped.

use std::error::Error;
use std::fmt::Display;

/// Log a clean-up that failed: a warning, "clean-up failed: <what>: <error>", in the span of
/// the request or container it was for.
pub fn log_cleanup(what: impl Display, err: &dyn Display) {
    tracing::warn!("clean-up failed: {what}: {err}");
}

/// Log `result` if it failed for a reason other than the thing being gone already (a missing
/// file is what a removal wants; another process may have cleaned up first).
pub fn cleanup<T, E: Error + 'static>(what: impl Display, result: Result<T, E>) {
    if let Err(e) = result {
        if !is_gone(&e) {
            log_cleanup(what, &e);
        }
    }
}

/// Whether `e` says the thing is not there: no such file (ENOENT), or no such process (ESRCH:
/// a signal for a process that has ended).
fn is_gone(e: &(dyn Error + 'static)) -> bool {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return io.kind() == std::io::ErrorKind::NotFound || io.raw_os_error() == Some(libc::ESRCH);
    }
    matches!(
        e.downcast_ref::<nix::errno::Errno>(),
        Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_no_failure_and_others_are() {
        let gone = std::fs::remove_file("/nonexistent/berth-cleanup-test").unwrap_err();
        assert!(is_gone(&gone), "expected ENOENT to count as gone: {gone}");
        assert!(is_gone(&nix::errno::Errno::ENOENT));
        assert!(
            is_gone(&nix::errno::Errno::ESRCH),
            "a process already ended is gone"
        );
        let busy = std::io::Error::from_raw_os_error(libc::EBUSY);
        assert!(!is_gone(&busy), "expected EBUSY to be logged: {busy}");
        assert!(!is_gone(&nix::errno::Errno::EINVAL));
    }
}
