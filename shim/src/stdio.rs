//! The container's standard streams: pipes (stdout and stderr apart) or one pseudo-terminal, and
//! the attached clients that read them and write stdin.

use crate::control::AttachHello;
use crate::spec::ProcessSpec;
use nix::fcntl::OFlag;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
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
}

/// The container's ends, which become its fds 0, 1 and 2.
pub struct ChildIo {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub tty: bool,
}

/// Make the streams for one run of the container's process.
pub fn create(p: &ProcessSpec) -> io::Result<(ShimIo, ChildIo)> {
    if p.tty {
        let size = p.console_size.map(|(rows, cols)| nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pty = nix::pty::openpty(size.as_ref(), None).map_err(io::Error::from)?;
        crate::sys::set_cloexec(pty.master.as_raw_fd(), true)?;
        crate::sys::set_cloexec(pty.slave.as_raw_fd(), true)?;
        crate::sys::set_nonblocking(pty.master.as_raw_fd())?;
        let shim = ShimIo {
            stdin: if p.open_stdin {
                Some(pty.master.try_clone()?)
            } else {
                None
            },
            stdout: Some(pty.master.try_clone()?),
            stderr: None,
            tty: Some(pty.master),
        };
        let child = ChildIo {
            stdin: pty.slave.try_clone()?,
            stdout: pty.slave.try_clone()?,
            stderr: pty.slave,
            tty: true,
        };
        return Ok((shim, child));
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
        },
        ChildIo {
            stdin: stdin_child,
            stdout: out_w,
            stderr: err_w,
            tty: false,
        },
    ))
}

/// Read what is there now without blocking. `Ok(None)`: the stream ended.
pub fn read_available(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match nix::unistd::read(fd, buf) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => Ok(Some(0)),
        // A terminal whose other side is gone reports EIO: that is its end.
        Err(nix::Error::EIO) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Docker's multiplexed frame: stream byte (1 stdout, 2 stderr), three zeros, big-endian size.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// One attached client.
pub struct Client {
    pub stream: UnixStream,
    pub hello: AttachHello,
    /// The client has closed its stdin side (or never wanted stdin).
    pub stdin_done: bool,
}

impl Client {
    /// Send output of `stream` (1 or 2) if the client asked for it; false when the client is gone.
    pub fn send(&mut self, stream: u8, data: &[u8], tty: bool) -> bool {
        let wanted = match stream {
            1 => self.hello.stdout,
            _ => self.hello.stderr,
        };
        if !wanted {
            return true;
        }
        let res = if tty {
            self.stream.write_all(data)
        } else {
            self.stream.write_all(&frame(stream, data))
        };
        res.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_headers() {
        assert_eq!(frame(2, b"hi"), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn pipes_carry_output() {
        let p = ProcessSpec::default();
        let (shim, child) = create(&p).unwrap();
        assert!(shim.stdin.is_none(), "no stdin unless OpenStdin");
        let mut w = std::fs::File::from(child.stdout);
        w.write_all(b"out").unwrap();
        drop(w);
        let mut buf = [0u8; 16];
        let n = read_available(shim.stdout.as_ref().unwrap(), &mut buf).unwrap();
        assert_eq!(n, Some(3));
        drop((child.stdin, child.stderr));
        assert_eq!(
            read_available(shim.stdout.as_ref().unwrap(), &mut buf).unwrap(),
            None
        );
    }
}
