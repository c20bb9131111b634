//! The container's stdin, as its attached clients feed it: written without blocking, with what
//! the container has not read yet kept here, up to [`STDIN_BUFFER`]. While that is full the
//! shim stops reading its clients' input, so a container that never reads its stdin stalls
//! the clients that write to it (their socket buffers fill), never the shim's loop: stop,
//! kill, logs and rm go on.

use super::*;

/// How much of its clients' input the shim holds for a container that is not reading it.
pub(super) const STDIN_BUFFER: usize = 64 * 1024;

/// Input taken from clients and not yet written to the container.
#[derive(Debug, Default)]
pub(super) struct StdinQueue {
    pending: Vec<u8>,
    /// Close stdin once `pending` is written (a client closed it, with StdinOnce).
    close_when_flushed: bool,
}

impl Supervisor {
    /// Whether clients' input may be read now: the container has stdin and room is left.
    pub(super) fn stdin_has_room(&self) -> bool {
        let open = self.io.as_ref().is_some_and(|io| io.stdin.is_some());
        open && self.stdin.pending.len() < STDIN_BUFFER
    }

    /// The stdin descriptor to poll for room, while input waits for it.
    pub(super) fn stdin_to_flush(&self) -> Option<RawFd> {
        if self.stdin.pending.is_empty() {
            return None;
        }
        let io = self.io.as_ref()?;
        io.stdin.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Queue `data` for the container and write what it takes now.
    pub(super) fn feed_stdin(&mut self, data: &[u8]) {
        self.stdin.pending.extend_from_slice(data);
        self.flush_stdin();
    }

    /// A client closed its stdin with StdinOnce: the container's stdin closes once what is
    /// queued is written.
    pub(super) fn close_stdin_when_flushed(&mut self) {
        self.stdin.close_when_flushed = true;
        self.flush_stdin();
    }

    /// Write what is queued, as much as the container's stdin takes without blocking. A
    /// container that closed its end (EPIPE) loses the rest, and stdin closes.
    pub(super) fn flush_stdin(&mut self) {
        let Some(io) = self.io.as_mut() else {
            self.stdin = StdinQueue::default();
            return;
        };
        let Some(fd) = io.stdin.as_ref() else {
            self.stdin = StdinQueue::default();
            return;
        };
        while !self.stdin.pending.is_empty() {
            match sys::write_some(std::os::fd::AsFd::as_fd(fd), &self.stdin.pending) {
                Ok(n) => {
                    self.stdin.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    io.stdin = None;
                    self.stdin = StdinQueue::default();
                    return;
                }
            }
        }
        if self.stdin.close_when_flushed {
            io.stdin = None;
            self.stdin = StdinQueue::default();
        }
        // Give back a large buffer once drained.
        self.stdin.pending.shrink_to(4096);
    }
}
