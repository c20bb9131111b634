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
