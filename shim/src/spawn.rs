//! The caller's side of a container start: spawn a detached `berth-shim` for one container and
//! wait for its one report on the ready pipe. The caller may die at any instant after the spawn;
//! the shim belongs to no caller (double fork, setsid) and goes on.

use crate::control::{ErrorKind, Ready, Response};
use crate::paths::Paths;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The descriptor on which the shim finds its ready pipe.
pub const READY_FD: i32 = 3;

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Prepare the container and report `Created`; run it only on a control `Start`
    /// (so that clients can attach before the first byte of output).
    pub wait_start: bool,
    /// The `berth-shim` binary; found next to the running executable when None
    /// ([`crate::Settings::shim_binary`]).
    pub shim_binary: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Running { pid: i32 },
    Created,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The container could not start; the message and exit code are Docker's.
    #[error("{message}")]
    Start {
        message: String,
        exit_code: Option<i32>,
        kind: ErrorKind,
    },
    #[error("running {path}: {source}")]
    Exec { path: PathBuf, source: io::Error },
    #[error("berth-shim ended without a report (see {log})")]
    Lost { log: PathBuf },
    #[error("ready pipe: {0}")]
    Pipe(io::Error),
}

pub type Result<T> = std::result::Result<T, SpawnError>;

/// Spawn the shim for container `id` (its `config.json` written already) and wait for it to
/// report. Returns when the container's process has exec'd, or with the reason it could not.
pub fn start(paths: &Paths, id: &str, opts: &StartOptions) -> Result<Started> {
    let mut args = vec!["run".to_string(), "--id".to_string(), id.to_string()];
    if opts.wait_start {
        args.push("--wait-start".to_string());
    }
    spawn(paths, id, &args, opts.shim_binary.clone())
}

/// Spawn the helper that runs exec `exec_id` in container `id`. With `wait_attach` the
/// process starts when the first client attaches (so that none of its output is lost).
/// `shim_binary`: the helper's binary, as [`StartOptions::shim_binary`].
pub fn start_exec(
    paths: &Paths,
    id: &str,
    exec_id: &str,
    wait_attach: bool,
    shim_binary: Option<PathBuf>,
) -> Result<Started> {
    let mut args = vec![
        "exec".to_string(),
        "--id".to_string(),
        id.to_string(),
        "--exec".to_string(),
        exec_id.to_string(),
    ];
    if wait_attach {
        args.push("--wait-start".to_string());
    }
    spawn(paths, id, &args, shim_binary)
}

fn spawn(paths: &Paths, id: &str, args: &[String], binary: Option<PathBuf>) -> Result<Started> {
    let binary = binary.unwrap_or_else(|| crate::Settings::default().shim_binary());
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SpawnError::Pipe(e.into()))?;
    let mut cmd = Command::new(&binary);
    cmd.args(&args[..1])
        .arg("--root")
        .arg(&paths.root)
        .arg("--run-root")
        .arg(&paths.run_root)
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::sys::pass_fd(&mut cmd, write_end.as_raw_fd(), READY_FD);
    let mut child = cmd.spawn().map_err(|source| SpawnError::Exec {
        path: binary.clone(),
        source,
    })?;
    drop(write_end);
    // The first process only forks and exits; reap it so it leaves no zombie.
    let _ = child.wait();
    let mut report = Vec::new();
    std::fs::File::from(read_end)
        .read_to_end(&mut report)
        .map_err(SpawnError::Pipe)?;
    let log = paths.container(id).dir.join("shim.log");
    let ready: Ready = match serde_json::from_slice(&report) {
        Ok(r) => r,
        Err(_) => return Err(SpawnError::Lost { log }),
    };
    match ready {
        Response::Started { pid } => Ok(Started::Running { pid }),
        Response::Ok => Ok(Started::Created),
        Response::Error {
            message,
            exit_code,
            kind,
        } => Err(SpawnError::Start {
            message,
            exit_code,
            kind,
        }),
    }
}

/// The shim's side of the ready pipe: write the one report and close it.
pub fn report(fd: std::os::fd::OwnedFd, ready: &Ready) {
    use std::io::Write;
    let mut f = std::fs::File::from(fd);
    if let Ok(data) = serde_json::to_vec(ready) {
        let _ = f.write_all(&data);
    }
}
