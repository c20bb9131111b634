//! The kernel calls that std and nix do not wrap, each behind a safe function. This is the one
//! module of the shim allowed to use `unsafe`.

use std::io;
use std::os::fd::RawFd;

/// flock(2) on a descriptor the caller owns.
pub fn flock(fd: RawFd, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock only reads its integer arguments; an invalid fd is reported as EBADF.
    let rc = unsafe { libc::flock(fd, op) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// keyctl(KEYCTL_GET_KEYRING_ID, keyring, create): the serial number of one of the caller's
/// special keyrings (`KEY_SPEC_*`, negative). Used to probe whether the seccomp filter lets
/// the keyring calls through.
pub fn keyctl_get_keyring_id(keyring: i32, create: bool) -> io::Result<i64> {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers and no pointers: the kernel reads and
    // writes none of our memory, and every argument value is accepted or rejected with an errno.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            libc::c_long::from(keyring),
            libc::c_long::from(create),
        )
    };
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Run `f` in a forked child and report its outcome: `Ok` when it returned `Ok`, otherwise the
/// message it returned (or that it panicked), as the tests that change process state need
/// (youki's `test_in_child_process`). The child never returns into the caller: it ends with
/// `_exit` after `f`.
#[cfg(test)]
pub(crate) fn in_child<F>(f: F) -> Result<(), String>
where
    F: FnOnce() -> Result<(), String>,
{
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe, ForkResult};
    use std::fs::File;
    use std::io::{Read, Write};

    let (rd, wr) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the test harness is multi-threaded, so the child may only rely on what survives a
    // fork: it runs `f` (tests keep to syscalls and glibc malloc, whose locks glibc resets in
    // the child) and leaves through `_exit`, never unwinding into the harness's frames.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(rd);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err("the child panicked".to_string()));
            let code = match outcome {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = File::from(wr).write_all(msg.as_bytes());
                    1
                }
            };
            // SAFETY: _exit ends the process at once without running atexit handlers or
            // destructors that belong to the parent's copy of the harness.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            let _ = File::from(rd).read_to_string(&mut msg);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(status) => Err(format!("{msg} (child ended: {status:?})")),
                Err(e) => Err(format!("waitpid: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_child_reports_failure_and_panic() {
        assert_eq!(in_child(|| Ok(())), Ok(()));
        let err = in_child(|| Err("wanted 1, got 2".to_string())).unwrap_err();
        assert!(err.starts_with("wanted 1, got 2"), "got {err:?}");
        let err = in_child(|| panic!("boom")).unwrap_err();
        assert!(err.starts_with("the child panicked"), "got {err:?}");
    }
}
