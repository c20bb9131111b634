//! The calls of the API crate that std and nix do not wrap safely, each behind a safe function.
//! This is the one module of the crate allowed to use `unsafe`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

static LISTEN_FD_TAKEN: AtomicBool = AtomicBool::new(false);

/// The first descriptor systemd passed this process (sd_listen_fds(3)), when `LISTEN_PID` names
/// this process and `LISTEN_FDS` is at least 1, and only the first time it is asked for. The
/// environment is left as is: children check `LISTEN_PID` and so ignore it.
pub fn take_systemd_listen_fd() -> Option<OwnedFd> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if !ours || count == 0 || LISTEN_FD_TAKEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    // SAFETY: LISTEN_PID is our pid, so the process that exec'd us left fds 3..3+LISTEN_FDS open
    // for us. Nothing in this process closes an fd it did not open and the kernel hands out only
    // free fds, so fd 3 is still that socket; LISTEN_FD_TAKEN makes this the only OwnedFd made
    // from it.
    Some(unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) })
}

/// Bytes sent on the socket `fd` that the peer has not read yet (SIOCOUTQ, which Linux spells
/// TIOCOUTQ). `fd` is only read: a descriptor that is no socket gives an error.
pub fn unread_output(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: the ioctl writes one c_int through the pointer, which points at `n`, live and
    // writable for the call. Whatever `fd` names (or none), the call fails or reports a size and
    // touches no memory of ours but `n`; it neither closes nor takes the descriptor.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Rows and columns of the terminal on `fd`; None when it is no terminal or has no size.
pub fn terminal_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes exactly one `struct winsize` through the pointer, which points
    // to `ws`, alive and exclusively borrowed for the call; `fd` is an open descriptor borrowed
    // for the call, and on a descriptor that is no terminal the kernel returns ENOTTY without
    // writing.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Give SIGPIPE its default disposition (end the process).
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE and no handler function is installed,
    // so no code runs in signal context; signal(2) changes the process's disposition atomically,
    // whatever other threads do.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
