//! `mode=non-blocking` of the json-file log: the container's output never waits for the disk.
//!
//! The shim stays single-threaded (it forks: see `sys::fork`), so the file is written by a
//! process of its own, forked when the log is opened. The shim encodes each entry as it reads
//! it and queues it, up to `max-buffer-size` bytes. An entry that does not fit is dropped and
//! counted, as dockerd's ring buffer drops it. The poll loop hands the queue to the writer
//! through a socket whenever the socket has room (the socket's own buffer adds to the bound).
//! The writer appends to the file and rotates it.
//!
//! When the container ends, the shim waits until the writer has written everything it was
//! given ([`Ring::sync`]), so that `docker logs` after the exit holds the last lines. dockerd
//! drains its buffer the same way when a container stops. A writer that outlives its shim
//! (a SIGKILL) sees the end of the socket, writes what it holds and exits.

use super::{LogError, Result, Sink};
use crate::spec::LogSpec;
use crate::sys;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

/// Marks a sync request in the stream of entries (entries are JSON lines: a raw NUL is never
/// part of one).
const SYNC: u8 = 0;

pub(crate) struct Ring {
    /// The shim's end of the socket to the writer (non-blocking).
    to_writer: UnixStream,
    writer: libc::pid_t,
    /// Encoded entries the writer has not taken yet.
    queue: VecDeque<u8>,
    /// `max-buffer-size`.
    max: usize,
    /// Entries dropped since the last sync.
    dropped: u64,
    /// `,"attrs":{...}` of every line.
    attrs: Vec<u8>,
}

impl Ring {
    /// Forks the writer, which takes `sink` (the live file, opened by the caller so that a
    /// file that cannot be opened fails the create, not the writer).
    pub(crate) fn start(sink: Sink, spec: &LogSpec) -> Result<Ring> {
        let path = sink.path().to_path_buf();
        let fail = |source| LogError::Open {
            path: path.clone(),
            source,
        };
        let (ours, theirs) = UnixStream::pair().map_err(fail)?;
        let attrs = sink.attrs().to_vec();
        match sys::fork().map_err(fail)? {
            sys::Forked::Child => {
                drop(ours);
                writer_main(theirs, sink)
            }
            sys::Forked::Parent { child } => {
                drop(theirs);
                drop(sink);
                ours.set_nonblocking(true).map_err(fail)?;
                Ok(Ring {
                    to_writer: ours,
                    writer: child,
                    queue: VecDeque::new(),
                    max: usize::try_from(spec.max_buffer_size).unwrap_or(usize::MAX),
                    dropped: 0,
                    attrs,
                })
            }
        }
    }

    pub(crate) fn attrs(&self) -> &[u8] {
        &self.attrs
    }

    /// Queues one encoded entry, or drops it when the buffer is full (an entry larger than the
    /// whole buffer still goes through an empty one, as dockerd's ring takes it).
    pub(crate) fn enqueue(&mut self, entry: &[u8]) {
        if !self.queue.is_empty() && self.queue.len() + entry.len() > self.max {
            self.dropped += 1;
            return;
        }
        self.queue.extend(entry);
        self.feed();
    }

    /// The socket, while entries wait for room in it.
    pub(crate) fn wants_room(&self) -> Option<RawFd> {
        (!self.queue.is_empty()).then(|| self.to_writer.as_raw_fd())
    }

    /// Hands the writer what the socket has room for, without waiting.
    pub(crate) fn feed(&mut self) {
        while !self.queue.is_empty() {
            let (front, _) = self.queue.as_slices();
            match (&self.to_writer).write(front) {
                Ok(n) => {
                    self.queue.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::error!("log writer (pid {}) is gone: {e}", self.writer);
                    self.dropped += 1;
                    self.queue.clear();
                    return;
                }
            }
        }
    }

    /// Waits until the writer has written every entry queued so far.
    pub(crate) fn sync(&mut self) {
        self.queue.push_back(SYNC);
        while !self.queue.is_empty() {
            self.feed();
            if !self.queue.is_empty() {
                wait_for(self.to_writer.as_fd(), libc::POLLOUT);
            }
        }
        let mut ack = [0u8; 1];
        loop {
            match (&self.to_writer).read(&mut ack) {
                Ok(0) => {
                    tracing::error!("log writer (pid {}) ended before a sync", self.writer);
                    break;
                }
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_for(self.to_writer.as_fd(), libc::POLLIN);
                }
                Err(e) => {
                    tracing::error!("log writer (pid {}): {e}", self.writer);
                    break;
                }
            }
        }
        if self.dropped > 0 {
            tracing::warn!(
                "log: {} entries dropped: the buffer (max-buffer-size {} bytes) was full",
                self.dropped,
                self.max
            );
            self.dropped = 0;
        }
    }

    /// The last entries written, then the writer gone (reaped).
    pub(crate) fn close(mut self) {
        self.sync();
        let writer = self.writer;
        drop(self);
        if let Err(e) = sys::waitpid(writer, 0) {
            tracing::debug!("reaping the log writer {writer}: {e}");
        }
    }
}

/// Blocks until `fd` is ready for `events` (or is closed).
fn wait_for(fd: std::os::fd::BorrowedFd<'_>, events: libc::c_short) {
    let mut pfd = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    if let Err(e) = sys::poll(&mut pfd, -1) {
        if e.kind() != io::ErrorKind::Interrupted {
            tracing::error!("log: poll: {e}");
        }
    }
}

/// The writer process: appends what comes from the shim to the file, a whole entry at a time,
/// answers each sync once what came before it is written, and ends with the socket.
fn writer_main(from_shim: UnixStream, sink: Sink) -> ! {
    // The shim's descriptors (its lock, its sockets, the container's pipes) are not the
    // writer's to hold: a lock held here would outlive the shim.
    // SAFETY: from here this process uses only `from_shim` (kept) and what it opens next, and
    // it never returns or drops an owner of the closed descriptors: the sink's file is let go
    // of without a close (`reopened`), and the process ends in exit_now.
    #[allow(unsafe_code)]
    let closed = unsafe { sys::close_all_but(from_shim.as_raw_fd()) };
    if closed.is_err() {
        sys::exit_now(1);
    }
    let code = match sink.reopened() {
        Ok(sink) => copy_entries(from_shim, sink),
        Err(_) => 1,
    };
    sys::exit_now(code)
}

fn copy_entries(mut from_shim: UnixStream, mut sink: Sink) -> i32 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let n = match from_shim.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return 1,
        };
        for &b in &buf[..n] {
            if b == SYNC {
                if (&from_shim).write_all(&[1]).is_err() {
                    return 1;
                }
                continue;
            }
            partial.push(b);
            if b == b'\n' {
                // A full disk loses the entry, as it would lose it in blocking mode; the next
                // one is tried again.
                let _lost = sink.write_encoded(&partial);
                partial.clear();
            }
        }
    }
}
