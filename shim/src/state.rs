//! The container's state record (`state.json`): written by write-temp, fsync, rename under the
//! state lock, read by anyone. A reader that finds a live status but no live shim (its lock is
//! free, or the run directory was emptied by a reboot) sees the container as exited.

use crate::fsutil::{self, FileLock};
use crate::paths::ContainerPaths;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

/// Schema version of `state.json`.
pub const STATE_VERSION: u32 = 1;

/// Docker's zero time, used for StartedAt/FinishedAt that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no such container: {id}")]
    NotFound { id: String },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("decoding {path}: {source}")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} has state version {found}, this berth reads {STATE_VERSION}")]
    Version { path: PathBuf, found: u32 },
}

pub type Result<T> = std::result::Result<T, StateError>;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

impl Status {
    /// Docker's word for it (`State.Status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// A shim owns the container and its processes may exist.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
    pub fn can_start(self) -> bool {
        matches!(self, Status::Created | Status::Exited)
    }
    pub fn can_pause(self) -> bool {
        matches!(self, Status::Running)
    }
    pub fn can_unpause(self) -> bool {
        matches!(self, Status::Paused)
    }
    pub fn can_stop(self) -> bool {
        self.is_live()
    }
    pub fn can_exec(self) -> bool {
        matches!(self, Status::Running)
    }
}

/// How the container's root was entered.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RootMode {
    #[default]
    PivotRoot,
    /// pivot_root was impossible (the parent mount is shared with no way to make it private).
    Chroot,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct State {
    pub version: u32,
    /// Incremented by every write, so a reader can tell records apart.
    pub generation: u64,
    pub status: Status,
    /// The container's pid 1 as the host sees it; 0 when not running.
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat: with the pid it names one process, never a reused pid.
    pub pid_start_time: u64,
    pub shim_pid: i32,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: i32,
    pub oom_killed: bool,
    /// Why the last start failed (Docker's State.Error).
    pub error: String,
    pub restart_count: u32,
    /// Stopped by a user: restart policies other than `always` after a reboot do not apply.
    pub manually_stopped: bool,
    pub root_mode: RootMode,
    /// The cgroup v2 inode that eBPF reports for the container (0 when unknown).
    pub cgroup_id: u64,
    /// The container's live shim loaded a seccomp filter that kills calls of other
    /// architectures (it started with deny rules): rules set while it lives cover every call.
    pub seccomp_native_only: bool,
    /// Docker's State.Health, when the container has a health check.
    pub health: Option<HealthState>,
}

/// Docker's State.Health.Status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthLog>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            generation: 0,
            status: Status::Created,
            pid: 0,
            pid_start_time: 0,
            shim_pid: 0,
            started_at: ZERO_TIME.to_string(),
            finished_at: ZERO_TIME.to_string(),
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            restart_count: 0,
            manually_stopped: false,
            root_mode: RootMode::PivotRoot,
            cgroup_id: 0,
            seccomp_native_only: false,
            health: None,
        }
    }
}

/// Exit code reported for a container whose shim vanished without recording an exit
/// (a reboot or a killed shim), as dockerd reports containers it finds dead.
pub const LOST_EXIT_CODE: i32 = 255;

/// Read the state as written, with no liveness check.
pub fn read_raw(paths: &ContainerPaths) -> Result<State> {
    let path = paths.state();
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if paths.dir.exists() {
                return Ok(State::default());
            }
            return Err(StateError::NotFound {
                id: paths.id.clone(),
            });
        }
        Err(source) => return Err(StateError::Read { path, source }),
    };
    let state: State = serde_json::from_slice(&data).map_err(|source| StateError::Decode {
        path: path.clone(),
        source,
    })?;
    if state.version != STATE_VERSION {
        return Err(StateError::Version {
            path,
            found: state.version,
        });
    }
    Ok(state)
}

/// Read the state as a client should see it: a live status whose shim is gone reads as exited.
pub fn read(paths: &ContainerPaths) -> Result<State> {
    let mut state = read_raw(paths)?;
    if state.status.is_live() && !shim_alive(paths) {
        // Re-read under the lock: the shim may have finished its last write just now.
        let held = lock(paths)?;
        state = read_raw(paths)?;
        if state.status.is_live() && !shim_alive(paths) {
            lost(&mut state);
            // Recorded, so that every later read tells the same exit (its FinishedAt above
            // all): nobody else will, the shim being gone. A reader that may not write still
            // tells it.
            match update_held(paths, &held, lost) {
                Ok(written) => state = written,
                Err(e) => tracing::debug!("recording the lost exit of {}: {e}", paths.id),
            }
        }
    }
    Ok(state)
}

/// A live record whose shim is gone: exited, with 255 unless an exit was recorded, finished now
/// unless a finish was recorded.
fn lost(state: &mut State) {
    if state.status.is_live() {
        state.status = Status::Exited;
        state.pid = 0;
        if state.exit_code == 0 {
            state.exit_code = LOST_EXIT_CODE;
        }
        if state.finished_at == ZERO_TIME {
            state.finished_at = now_rfc3339();
        }
    }
}

/// True while the container's shim holds its lock.
pub fn shim_alive(paths: &ContainerPaths) -> bool {
    fsutil::is_locked(&paths.shim_lock())
}

pub fn lock(paths: &ContainerPaths) -> Result<FileLock> {
    let path = paths.state_lock();
    FileLock::acquire(&path).map_err(|source| StateError::Write { path, source })
}

/// Read-modify-write the state under the state lock; returns the new record.
pub fn update(paths: &ContainerPaths, f: impl FnOnce(&mut State)) -> Result<State> {
    let held = lock(paths)?;
    update_held(paths, &held, f)
}

/// [`update`] under the state lock `_held` that the caller took (from [`lock`]) to do more
/// under it.
pub fn update_held(
    paths: &ContainerPaths,
    _held: &FileLock,
    f: impl FnOnce(&mut State),
) -> Result<State> {
    let mut state = read_raw(paths)?;
    f(&mut state);
    state.version = STATE_VERSION;
    state.generation += 1;
    write_locked(paths, &state)?;
    Ok(state)
}

fn write_locked(paths: &ContainerPaths, state: &State) -> Result<()> {
    let path = paths.state();
    let data = serde_json::to_vec_pretty(state).map_err(|source| StateError::Decode {
        path: path.clone(),
        source,
    })?;
    fsutil::write_atomic(&path, &data).map_err(|source| StateError::Write { path, source })
}

/// Now, as Docker writes times: RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {

    #[test]
    fn health_status_keeps_its_json() {
        for json in [r#""starting""#, r#""healthy""#, r#""unhealthy""#] {
            let v: HealthStatus = serde_json::from_str(json).unwrap();
            let back = serde_json::to_string(&v).unwrap();
            assert_eq!(back, json, "expected {v:?} to write as {json}, got {back}");
            assert_eq!(
                format!("\"{v}\""),
                json,
                "expected Display to match the JSON"
            );
        }
    }
    use super::*;
    use crate::paths::Paths;

    #[test]
    fn update_then_read_round_trips_and_counts_generations() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run")).container("c1");
        std::fs::create_dir_all(&paths.dir).unwrap();
        let s = update(&paths, |s| {
            s.status = Status::Exited;
            s.exit_code = 3;
        })
        .unwrap();
        assert_eq!(s.generation, 1);
        let s2 = update(&paths, |s| s.restart_count = 2).unwrap();
        assert_eq!(s2.generation, 2);
        let r = read(&paths).unwrap();
        assert_eq!(r.exit_code, 3);
        assert_eq!(r.restart_count, 2);
        assert_eq!(r.status, Status::Exited);
    }

    #[test]
    fn running_without_a_shim_reads_as_exited() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run")).container("c2");
        std::fs::create_dir_all(&paths.dir).unwrap();
        update(&paths, |s| {
            s.status = Status::Running;
            s.pid = 12345;
        })
        .unwrap();
        let r = read(&paths).unwrap();
        assert_eq!(r.status, Status::Exited, "no shim lock held: {r:?}");
        assert_eq!(r.exit_code, LOST_EXIT_CODE);
        assert_eq!(r.pid, 0);
        // Recorded: a later read tells the same exit, at the same time.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let again = read(&paths).unwrap();
        assert_eq!(
            (again.status, &again.finished_at),
            (Status::Exited, &r.finished_at),
            "expected the same exit at the second read, got {again:?} after {r:?}"
        );
        let on_disk = read_raw(&paths).unwrap();
        assert_eq!(on_disk.status, Status::Exited, "not recorded: {on_disk:?}");
    }

    #[test]
    fn missing_directory_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path(), tmp.path()).container("nope");
        assert!(matches!(read(&paths), Err(StateError::NotFound { .. })));
    }

    #[test]
    fn status_predicates_follow_docker() {
        assert!(Status::Exited.can_start());
        assert!(!Status::Running.can_start());
        assert!(Status::Running.can_pause());
        assert!(!Status::Paused.can_pause());
        assert!(Status::Paused.can_unpause());
        assert!(!Status::Exited.can_exec());
    }
}
