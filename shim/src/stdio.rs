//! The container's standard streams: pipes (stdout and stderr apart) or one pseudo-terminal, and
//! the attached clients that read them and write stdin.

use crate::control::{frame, AttachHello};
use crate::spec::ProcessSpec;
use nix::fcntl::OFlag;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The shim's ends.
pub struct ShimIo {
    /// Where attached stdin goes (None: the container has no stdin, or it was closed).
    pub stdin: Option<OwnedFd>,
    /// Output to read: stdout (or the terminal), and stderr when there is no terminal.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The terminal's master side, for resizes.
    pub tty: Option<OwnedFd>,
    /// With a terminal: where the container's process sends the master it opened.
    tty_socket: Option<OwnedFd>,
    open_stdin: bool,
}

/// The container's ends: pipes that become its fds 0, 1 and 2, or (with a terminal) a socket
/// to send the shim the master of a terminal it opens in its own /dev/pts.
pub struct ChildIo {
    pipes: Option<[OwnedFd; 3]>,
    tty_socket: Option<OwnedFd>,
    console_size: Option<(u16, u16)>,
}

/// Make the streams for one run of the container's process.
pub fn create(p: &ProcessSpec) -> io::Result<(ShimIo, ChildIo)> {
    if p.tty {
        let (shim_end, child_end) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        return Ok((
            ShimIo {
                stdin: None,
                stdout: None,
                stderr: None,
                tty: None,
                tty_socket: Some(shim_end),
                open_stdin: p.open_stdin,
            },
            ChildIo {
                pipes: None,
                tty_socket: Some(child_end),
                console_size: p.console_size,
            },
        ));
    }
    let (stdin_child, stdin_shim) = if p.open_stdin {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        (r, Some(w))
    } else {
        let null = std::fs::OpenOptions::new().read(true).open("/dev/null")?;
        (OwnedFd::from(null), None)
    };
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    crate::sys::set_nonblocking(out_r.as_raw_fd())?;
    crate::sys::set_nonblocking(err_r.as_raw_fd())?;
    Ok((
        ShimIo {
            stdin: stdin_shim,
            stdout: Some(out_r),
            stderr: Some(err_r),
            tty: None,
            tty_socket: None,
            open_stdin: p.open_stdin,
        },
        ChildIo {
            pipes: Some([stdin_child, out_w, err_w]),
            tty_socket: None,
            console_size: None,
        },
    ))
}

impl ChildIo {
    /// In the container's process, inside its mount namespace: make fds 0, 1 and 2 and a
    /// session of its own. With a terminal: open one in the container's /dev/pts (so that
    /// `tty` names it), make it the controlling terminal, and send the master to the shim.
    pub fn install(self) -> io::Result<()> {
        if let Some(pipes) = self.pipes {
            for (fd, target) in pipes.iter().zip(crate::sys::StdStream::ALL) {
                crate::sys::replace_std_stream(fd.as_fd(), target)?;
            }
            drop(pipes);
            nix::unistd::setsid().map_err(io::Error::from)?;
            return Ok(());
        }
        let socket = self
            .tty_socket
            .ok_or_else(|| io::Error::other("no terminal socket"))?;
        let (master, slave) = crate::sys::open_pty("/dev/ptmx")?;
        if let Some((rows, cols)) = self.console_size {
            crate::sys::set_winsize(master.as_raw_fd(), rows, cols)?;
        }
        crate::sys::send_fd(socket.as_raw_fd(), master.as_raw_fd())?;
        drop(master);
        for target in crate::sys::StdStream::ALL {
            crate::sys::replace_std_stream(slave.as_fd(), target)?;
        }
        drop(slave);
        nix::unistd::setsid().map_err(io::Error::from)?;
        crate::sys::set_controlling_tty(0)
    }
}

impl ShimIo {
    /// With a terminal: receive the master the container's process opened. Returns without
    /// one (and the caller learns why from the error pipe) when the process died first.
    pub fn receive_terminal(&mut self) -> io::Result<()> {
        let Some(socket) = self.tty_socket.take() else {
            return Ok(());
        };
        let Some(master) = crate::sys::recv_fd(socket.as_raw_fd())? else {
            return Ok(());
        };
        crate::sys::set_cloexec(master.as_raw_fd(), true)?;
        crate::sys::set_nonblocking(master.as_raw_fd())?;
        self.stdin = if self.open_stdin {
            Some(master.try_clone()?)
        } else {
            None
        };
        self.stdout = Some(master.try_clone()?);
        self.tty = Some(master);
        Ok(())
    }
}

/// [`read_available`] into `buf`'s spare capacity (see [`crate::sys::read_to_spare`]); what was
/// read is then `buf`'s content.
pub fn read_available_to_spare(fd: &OwnedFd, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    available(crate::sys::read_to_spare(fd.as_raw_fd(), buf))
}

/// Read what is there now without blocking. `Ok(None)`: the stream ended.
pub fn read_available(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    available(nix::unistd::read(fd, buf).map_err(io::Error::from))
}

/// What a non-blocking read of an output stream means: `Some(n)` bytes (0 when nothing is there
/// yet), or `None` when the stream ended.
fn available(read: io::Result<usize>) -> io::Result<Option<usize>> {
    match read {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(Some(0)),
            // A terminal whose other side is gone reports EIO: that is its end.
            Some(libc::EIO) => Ok(None),
            _ => Err(e),
        },
    }
}

/// Output held for a client that reads slower than its container writes; past this much the
/// client is dropped, as a reader that stopped reading, and never waited for.
pub const CLIENT_BUFFER: usize = 4 << 20;

/// One attached client.
pub struct Client {
    pub stream: UnixStream,
    pub hello: AttachHello,
    /// The client has closed its stdin side (or never wanted stdin).
    pub stdin_done: bool,
    /// Output the client has not taken yet (its stream is non-blocking).
    pending: Vec<u8>,
    /// Its stream failed, or it fell [`CLIENT_BUFFER`] behind: to be dropped.
    gone: bool,
}

impl Client {
    pub fn new(stream: UnixStream, hello: AttachHello) -> Client {
        Client {
            stream,
            stdin_done: !hello.stdin,
            hello,
            pending: Vec::new(),
            gone: false,
        }
    }

    /// Send output of `stream` (1 or 2) if the client asked for it, raw or framed as its hello
    /// says (by `tty` when it does not); false when the client is gone. On a non-blocking stream what the client does not take now is kept for
    /// [`Client::flush`].
    pub fn send(&mut self, stream: u8, data: &[u8], tty: bool) -> bool {
        let wanted = match stream {
            1 => self.hello.stdout,
            _ => self.hello.stderr,
        };
        if !wanted || self.gone {
            return !self.gone;
        }
        if self.hello.raw.unwrap_or(tty) {
            self.pending.extend_from_slice(data);
        } else {
            self.pending.extend_from_slice(&frame(stream, data)[..]);
        }
        self.flush()
    }

    /// Writes what is pending, as much as the client takes now; false when it is gone.
    pub fn flush(&mut self) -> bool {
        while !self.pending.is_empty() && !self.gone {
            match self.stream.write(&self.pending) {
                Ok(0) => self.gone = true,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.gone = true,
            }
        }
        if self.pending.len() > CLIENT_BUFFER {
            self.gone = true;
        }
        if self.pending.is_empty() {
            self.pending.shrink_to(4096);
        }
        !self.gone
    }

    /// Output waits for the client.
    pub fn wants_write(&self) -> bool {
        !self.pending.is_empty() && !self.gone
    }

    /// Dropped: its stream failed or it fell too far behind.
    pub fn gone(&self) -> bool {
        self.gone
    }

    /// The last of its output, waiting at most `limit` for the client to take it.
    pub fn drain(&mut self, limit: std::time::Duration) {
        if !self.wants_write() {
            return;
        }
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_write_timeout(Some(limit));
        let _ = self.stream.write_all(&self.pending);
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_carry_output() {
        let p = ProcessSpec::default();
        let (shim, child) = create(&p).unwrap();
        assert!(shim.stdin.is_none(), "no stdin unless OpenStdin");
        let [stdin, stdout, stderr] = child.pipes.unwrap();
        let mut w = std::fs::File::from(stdout);
        w.write_all(b"out").unwrap();
        drop(w);
        let mut buf = [0u8; 16];
        let n = read_available(shim.stdout.as_ref().unwrap(), &mut buf).unwrap();
        assert_eq!(n, Some(3));
        drop((stdin, stderr));
        assert_eq!(
            read_available(shim.stdout.as_ref().unwrap(), &mut buf).unwrap(),
            None
        );
    }
}
