//! The typed messages between callers and a live shim, and the client side of its sockets.
//!
//! Control: one request per connection on `control.sock`, a JSON line each way.
//! Attach: `attach.sock`; the client sends one JSON [`AttachHello`] line, then stdin bytes (a
//! half-close ends stdin); the shim sends output, framed as Docker's multiplexed stream
//! (8-byte header: stream 1 or 2, three zero bytes, big-endian length) unless the container
//! has a TTY, in which case the bytes are raw. [`frame`] writes that framing, [`read_frame`] and
//! [`frames`] read it.
//! Exec helpers speak the same two protocols on their own sockets.

use crate::paths::ContainerPaths;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start a container whose shim was spawned with `wait_start`.
    Start,
    /// Send the stop signal, then SIGKILL after the timeout; no restart follows. `keep`: a
    /// restart's stop, after which the container is started again: not auto-removed.
    Stop {
        timeout: Option<u32>,
        #[serde(with = "crate::signals::opt_name")]
        signal: Option<Signal>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep: bool,
    },
    Kill {
        #[serde(with = "crate::signals::name")]
        signal: Signal,
    },
    Resize {
        rows: u16,
        cols: u16,
    },
    Pause,
    Resume,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    /// The container started: its pid 1 as the host sees it.
    Started {
        pid: i32,
    },
    Error {
        message: String,
        /// Docker's exit code when a start failed (126, 127, ...).
        exit_code: Option<i32>,
        #[serde(rename = "conflict")]
        kind: ErrorKind,
    },
}

/// Why a request failed. The JSON keeps the old `"conflict": true|false`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(from = "bool", into = "bool")]
pub enum ErrorKind {
    /// The request makes no sense in the container's state (dockerd's 409).
    Conflict,
    /// Anything else went wrong (dockerd's 500, or the exit code of a failed start).
    Failed,
}

impl From<bool> for ErrorKind {
    fn from(conflict: bool) -> ErrorKind {
        if conflict {
            ErrorKind::Conflict
        } else {
            ErrorKind::Failed
        }
    }
}

impl From<ErrorKind> for bool {
    fn from(k: ErrorKind) -> bool {
        k == ErrorKind::Conflict
    }
}

/// What a shim reports on its ready pipe, once.
pub type Ready = Response;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct AttachHello {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// How the client wants its output: raw (true) or in stdout/stderr frames (false). None:
    /// as the process's terminal says (raw with a TTY). dockerd frames an exec's output by the
    /// start request's `Tty`, not by the exec's own.
    pub raw: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("container {id} has no running shim")]
    NotRunning { id: String },
    #[error("talking to the shim of {id}: {source}")]
    Io { id: String, source: io::Error },
    #[error("the shim of {id} answered nonsense: {source}")]
    Decode {
        id: String,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, ControlError>;

/// Send one request to the container's shim and read its answer.
pub fn request(paths: &ContainerPaths, req: &Request) -> Result<Response> {
    request_at(&paths.control_socket(), &paths.id, req)
}

/// Send one request on the control socket `socket` (of the container or exec `id`) and read
/// its answer.
pub fn request_at(socket: &Path, id: &str, req: &Request) -> Result<Response> {
    let io_err = |source| ControlError::Io {
        id: id.to_string(),
        source,
    };
    let mut stream = match connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning { id: id.to_string() })
        }
        Err(e) => return Err(io_err(e)),
    };
    // A stop is answered once the container has stopped: allow for its timeout.
    let wait = match req {
        Request::Stop {
            timeout: Some(t), ..
        } if *t > 3600 => None,
        Request::Stop { timeout, .. } => {
            Some(Duration::from_secs(u64::from(timeout.unwrap_or(10)) + 60))
        }
        _ => Some(Duration::from_secs(60)),
    };
    stream.set_read_timeout(wait).map_err(io_err)?;
    let mut line = serde_json::to_vec(req).map_err(|source| ControlError::Decode {
        id: id.to_string(),
        source,
    })?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io_err)?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(io_err)?;
    if answer.is_empty() {
        return Err(ControlError::NotRunning { id: id.to_string() });
    }
    serde_json::from_str(&answer).map_err(|source| ControlError::Decode {
        id: id.to_string(),
        source,
    })
}

/// Open an attach connection; the caller then reads output and writes stdin on the stream.
pub fn attach(paths: &ContainerPaths, hello: AttachHello) -> io::Result<UnixStream> {
    attach_at(&paths.attach_socket(), hello)
}

/// Open an attach connection on the attach socket `socket` (a container's or an exec's).
pub fn attach_at(socket: &Path, hello: AttachHello) -> io::Result<UnixStream> {
    let mut stream = connect(socket)?;
    let mut line = serde_json::to_vec(&hello).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    Ok(stream)
}

/// sun_path holds 108 bytes; longer paths are reached through the directory's descriptor.
const SUN_PATH_MAX: usize = 100;

fn via_dir_fd<T>(path: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    if path.as_os_str().len() < SUN_PATH_MAX {
        return f(path);
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket path has no name"))?;
    let dirf = std::fs::File::open(dir)?;
    use std::os::fd::AsRawFd;
    let short = Path::new("/proc/self/fd")
        .join(dirf.as_raw_fd().to_string())
        .join(name);
    f(&short)
}

/// Connect to a unix socket, whatever the length of its path.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    via_dir_fd(path, |p| UnixStream::connect(p))
}

/// Bind a unix socket (replacing a stale one), whatever the length of its path.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    via_dir_fd(path, |p| UnixListener::bind(p))
}

/// Read one line (without its newline) and not a byte more: what follows belongs to the stream.
pub(crate) fn read_line_exact(mut stream: &UnixStream) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(line)
}

/// The size of a multiplexed frame's header.
const FRAME_HEADER: usize = 8;

/// Docker's multiplexed frame: stream byte (1 stdout, 2 stderr), three zeros, big-endian size.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER + data.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// A frame header's stream byte and payload size.
fn frame_header(h: &[u8; FRAME_HEADER]) -> (u8, usize) {
    (h[0], u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize)
}

/// Read one frame from `r` into `payload`; its stream byte, or None when the stream ended
/// (or failed) before a whole frame.
pub fn read_frame(r: &mut impl Read, payload: &mut Vec<u8>) -> Option<u8> {
    let mut header = [0u8; FRAME_HEADER];
    r.read_exact(&mut header).ok()?;
    let (stream, len) = frame_header(&header);
    // The buffer grows with what arrives, not with what the header claims.
    payload.clear();
    r.take(len as u64).read_to_end(payload).ok()?;
    (payload.len() == len).then_some(stream)
}

/// The frames in `data`, in order, as (stream byte, payload); a truncated last frame gives what
/// it holds.
pub fn frames(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let header: &[u8; FRAME_HEADER] = data.get(..FRAME_HEADER)?.try_into().ok()?;
        let (stream, len) = frame_header(header);
        let end = (FRAME_HEADER + len).min(data.len());
        let payload = &data[FRAME_HEADER..end];
        data = &data[end..];
        Some((stream, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let s = serde_json::to_string(&Request::Stop {
            timeout: Some(3),
            signal: None,
            keep: false,
        })
        .unwrap();
        assert_eq!(s, r#"{"op":"stop","timeout":3,"signal":null}"#);
        let r: Response = serde_json::from_str(r#"{"result":"started","pid":42}"#).unwrap();
        assert_eq!(r, Response::Started { pid: 42 });
    }

    /// The typed signal and error kind write the JSON the strings and the bool wrote.
    #[test]
    fn signals_and_error_kinds_keep_their_json() {
        for json in [
            r#"{"op":"kill","signal":"SIGKILL"}"#,
            r#"{"op":"kill","signal":"SIGUSR1"}"#,
            r#"{"op":"stop","timeout":3,"signal":"SIGQUIT"}"#,
            r#"{"op":"stop","timeout":null,"signal":null,"keep":true}"#,
            r#"{"result":"error","message":"m","exit_code":null,"conflict":true}"#,
            r#"{"result":"error","message":"m","exit_code":127,"conflict":false}"#,
        ] {
            let back = match serde_json::from_str::<Request>(json) {
                Ok(r) => serde_json::to_string(&r).unwrap(),
                Err(_) => {
                    serde_json::to_string(&serde_json::from_str::<Response>(json).unwrap()).unwrap()
                }
            };
            assert_eq!(back, json, "expected {json} back, got {back}");
        }
        // Every spelling dockerd accepts still reads, as the one signal it names.
        for (old, want) in [
            ("9", Signal::SIGKILL),
            ("term", Signal::SIGTERM),
            ("KILL", Signal::SIGKILL),
        ] {
            let json = format!(r#"{{"op":"kill","signal":"{old}"}}"#);
            let r: Request = serde_json::from_str(&json).unwrap();
            assert_eq!(
                r,
                Request::Kill { signal: want },
                "expected {old} to read as {want}"
            );
        }
        let r: Response = serde_json::from_str(
            r#"{"result":"error","message":"m","exit_code":null,"conflict":true}"#,
        )
        .unwrap();
        assert!(
            matches!(
                r,
                Response::Error {
                    kind: ErrorKind::Conflict,
                    ..
                }
            ),
            "expected a conflict, got {r:?}"
        );
    }

    #[test]
    fn long_socket_paths_bind_and_connect() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a".repeat(60)).join("b".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join("control.sock");
        assert!(path.as_os_str().len() > 108);
        let listener = bind(&path).unwrap();
        let _client = connect(&path).unwrap();
        let (_server, _) = listener.accept().unwrap();
    }

    #[test]
    fn frames_have_docker_headers() {
        assert_eq!(frame(2, b"hi"), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn frames_round_trip() {
        let mut data = frame(1, b"ok ");
        data.extend(frame(2, b"warn"));
        let all: Vec<(u8, &[u8])> = frames(&data).collect();
        assert_eq!(
            all,
            vec![(1, &b"ok "[..]), (2, &b"warn"[..])],
            "frames read back"
        );
        let mut r = &data[..];
        let mut payload = Vec::new();
        assert_eq!(read_frame(&mut r, &mut payload), Some(1));
        assert_eq!(payload, b"ok ");
        assert_eq!(read_frame(&mut r, &mut payload), Some(2));
        assert_eq!(payload, b"warn");
        assert_eq!(
            read_frame(&mut r, &mut payload),
            None,
            "a frame past the end"
        );
        let cut = &data[..data.len() - 2];
        let last = frames(cut).last();
        assert_eq!(last, Some((2, &b"wa"[..])), "a truncated last frame");
    }

    /// Issue 20: a header's size is the peer's word; memory grows with the bytes that come,
    /// not with the size a header claims.
    #[test]
    fn a_frame_claiming_more_than_it_holds_allocates_what_it_holds() {
        let mut data = vec![1, 0, 0, 0];
        data.extend_from_slice(&(256u32 << 20).to_be_bytes());
        data.extend_from_slice(b"abc");
        let mut payload = Vec::new();
        assert_eq!(
            read_frame(&mut &data[..], &mut payload),
            None,
            "a cut frame"
        );
        assert!(
            payload.capacity() < 1 << 20,
            "expected a small buffer for 3 bytes, got a capacity of {}",
            payload.capacity()
        );
    }
}
