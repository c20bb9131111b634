//! The one way the shim owns a process it started: the container's first process
//! (`supervise`), an exec's process (`exec`), and so a health probe (`health` runs each probe
//! as an exec and reads its output as an attached client). The steps they share:
//! - the signal descriptor that reports their exits, and the reaping ([`signal_fd`], [`reap`]);
//! - the error pipe, close-on-exec, on which the process says how it entered its root and why
//!   it failed before its exec ([`report_root_mode`], [`report_failure`], [`read_report`]);
//! - the one report on the caller's ready pipe ([`ready`]);
//! - the request or hello line of a client of the control or attach socket, and the answer
//!   ([`read_first_line`], [`answer`]);
//! - the output the process wrote just before it ended, drained at its exit ([`drain_output`]).
//!
//! Entering the container (a clone with new namespaces, or setns into a running container's),
//! its security (`init::become_process`, on a `Prepared`) and stdio (`stdio`) are each one
//! function already, called by both.

use crate::control::{read_line_exact, ErrorKind, Response};
use crate::state::RootMode;
use crate::sys;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::Write;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A failure before execve: Docker's message and the exit code `docker run` returns.
#[derive(Debug)]
pub struct InitFailure {
    pub message: String,
    pub exit_code: i32,
}

/// A setup step that failed: exit code 127, as runc's failures before exec give.
pub(crate) fn fail(step: &str, e: impl std::fmt::Display) -> InitFailure {
    InitFailure {
        message: format!("{step}: {e}"),
        exit_code: 127,
    }
}

/// Block `signals` (SIGCHLD among them) and take them on a descriptor instead, to poll; the
/// shim becomes the subreaper of what its processes leave behind.
pub(crate) fn signal_fd(signals: &[Signal]) -> Result<SignalFd, InitFailure> {
    let mut mask = SigSet::empty();
    for s in signals {
        mask.add(*s);
    }
    mask.thread_block()
        .map_err(|e| fail("blocking signals", e))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| fail("signalfd", e))?;
    let _ = nix::sys::prctl::set_child_subreaper(true);
    Ok(sigfd)
}

/// Reap every child that has ended: `on_exit(pid, status)` for each.
pub(crate) fn reap(mut on_exit: impl FnMut(i32, i32)) {
    while let Ok(Some((pid, status))) = sys::waitpid(-1, libc::WNOHANG) {
        on_exit(pid, status);
    }
}

/// At most this many reads of each stream take the output left at a process's exit.
const LAST_READS: usize = 64;

/// The output a process wrote just before it ended: `read(stream)` (1 stdout, 2 stderr) until
/// it reads nothing more, within [`LAST_READS`] reads of each.
pub(crate) fn drain_output(mut read: impl FnMut(u8) -> bool) {
    for stream in [1u8, 2] {
        for _ in 0..LAST_READS {
            if !read(stream) {
                break;
            }
        }
    }
}

impl InitFailure {
    /// The failure as the control protocol carries it (the ready pipe, the error pipe).
    pub(crate) fn into_response(self) -> Response {
        Response::Error {
            message: self.message,
            exit_code: Some(self.exit_code),
            kind: ErrorKind::Failed,
        }
    }
}

/// Write the caller's one report on its ready pipe, if it waits for one.
pub(crate) fn ready(ready: &mut Option<OwnedFd>, r: &Response) {
    if let Some(fd) = ready.take() {
        crate::spawn::report(fd, r);
    }
}

/// The first thing on the error pipe: how the process entered its root, a byte.
pub(crate) fn report_root_mode(errors: RawFd, mode: RootMode) -> std::io::Result<()> {
    let mark: &[u8] = match mode {
        RootMode::PivotRoot => b"P",
        RootMode::Chroot => b"C",
    };
    sys::write_all(errors, mark)
}

/// The last thing on the error pipe: why the process could not exec (it exits after).
pub(crate) fn report_failure(errors: RawFd, failure: InitFailure) {
    if let Ok(data) = serde_json::to_vec(&failure.into_response()) {
        let _ = sys::write_all(errors, &data);
    }
}

/// What a process said on its error pipe, read to its end (the pipe is close-on-exec: the end
/// is its exec or its death).
#[derive(Debug, PartialEq)]
pub(crate) struct Report {
    /// How it entered its root, when it got that far.
    pub root_mode: Option<RootMode>,
    pub said: Said,
}

/// What followed the root mode.
#[derive(Debug, PartialEq)]
pub(crate) enum Said {
    /// Nothing: it exec'd, or died without a word.
    Nothing,
    /// A failure ([`report_failure`]).
    Failure {
        message: String,
        exit_code: Option<i32>,
    },
    /// Something else, as text.
    Other(String),
}

impl Said {
    /// The words, for a message.
    pub fn text(&self) -> &str {
        match self {
            Said::Nothing => "",
            Said::Failure { message, .. } => message,
            Said::Other(text) => text,
        }
    }
}

/// Read the error pipe `err_r` to its end.
pub(crate) fn read_report(err_r: OwnedFd) -> Report {
    let mut report = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(err_r), &mut report);
    parse_report(&report)
}

/// The words of an error pipe.
pub(crate) fn parse_report(report: &[u8]) -> Report {
    let root_mode = match report.first() {
        Some(b'C') => Some(RootMode::Chroot),
        Some(b'P') => Some(RootMode::PivotRoot),
        _ => None,
    };
    let rest = &report[usize::from(root_mode.is_some())..];
    let said = if rest.is_empty() {
        Said::Nothing
    } else {
        match serde_json::from_slice::<Response>(rest) {
            Ok(Response::Error {
                message, exit_code, ..
            }) => Said::Failure { message, exit_code },
            _ => Said::Other(String::from_utf8_lossy(rest).into_owned()),
        }
    };
    Report { root_mode, said }
}

/// How long a client of a control or attach socket has to send its line.
const LINE_TIMEOUT: Duration = Duration::from_secs(5);

/// The request (control) or hello (attach) line a client sends first, exactly: what it sends
/// right behind stays in the socket. The stream is left blocking, with the line's timeout (a
/// socket that refuses either is read as it is).
pub(crate) fn read_first_line(stream: &UnixStream) -> std::io::Result<Vec<u8>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(LINE_TIMEOUT));
    read_line_exact(stream)
}

/// Answer a control request: one line of JSON.
pub(crate) fn answer(stream: &mut UnixStream, r: &Response) -> std::io::Result<()> {
    let mut data = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    data.push(b'\n');
    stream.write_all(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_a_root_mode_then_a_failure_or_words() {
        let report = |root_mode, said| Report { root_mode, said };
        assert_eq!(
            parse_report(b"P"),
            report(Some(RootMode::PivotRoot), Said::Nothing)
        );
        assert_eq!(
            parse_report(b"C"),
            report(Some(RootMode::Chroot), Said::Nothing)
        );
        assert_eq!(parse_report(b""), report(None, Said::Nothing));
        let failure = InitFailure {
            message: "no such file".into(),
            exit_code: 127,
        };
        let mut said = b"P".to_vec();
        said.extend(serde_json::to_vec(&failure.into_response()).unwrap());
        assert_eq!(
            parse_report(&said),
            report(
                Some(RootMode::PivotRoot),
                Said::Failure {
                    message: "no such file".into(),
                    exit_code: Some(127)
                }
            )
        );
        let garbage = parse_report(b"Pgarbage");
        assert_eq!(
            garbage,
            report(Some(RootMode::PivotRoot), Said::Other("garbage".into()))
        );
        assert_eq!(garbage.said.text(), "garbage");
    }

    #[test]
    fn the_last_output_is_read_until_nothing_comes_within_a_bound() {
        let mut reads = Vec::new();
        drain_output(|stream| {
            reads.push(stream);
            // stdout has two reads left, stderr never stops.
            stream == 2 || reads.len() < 3
        });
        let (out, err) = reads.iter().partition::<Vec<u8>, _>(|s| **s == 1);
        assert_eq!(
            (out.len(), err.len()),
            (3, LAST_READS),
            "reads of stdout then stderr: {reads:?}"
        );
    }
}
