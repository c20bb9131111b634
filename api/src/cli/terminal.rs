//! The local terminal of an attached `berth run -t`: its size and raw mode, restored when the
//! guard drops; and what a closed stdout does to a command (SIGPIPE).

use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};

/// Rows and columns of the terminal on `fd`; None when it is no terminal or has no size.
pub fn size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    crate::sys::terminal_size(fd)
}

/// Let a write to a closed pipe end the command quietly, as it ends `cat` or the docker CLI
/// (`berth list | head`): Rust's runtime ignores SIGPIPE, which turns every later print into
/// a panic. Not for `berth serve`, whose writes to clients that left must fail, not kill it.
pub fn die_on_closed_stdout() {
    crate::sys::default_sigpipe();
}

/// The size of whichever of stdout and stdin is a terminal.
pub fn local_size() -> Option<(u16, u16)> {
    size(std::io::stdout().as_fd()).or_else(|| size(std::io::stdin().as_fd()))
}

/// Stdin in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Put stdin in raw mode when it is a terminal; None otherwise.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
