//! What `GET /info` and `GET /version` report about this engine and its host, read from disk and
//! from /proc and /sys at each call: no figure is cached, since other berth processes may share
//! the root.

use super::{Engine, EngineError, Result};
use berth_shim::fsutil::{self, FileLock};
use berth_shim::Status;
use std::fs;
use std::io;
use std::path::Path;

/// How many containers are in each state, as dockerd counts them: "restarting", "created",
/// "exited" and "dead" are all stopped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ContainerCounts {
    pub total: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
}

/// The cgroup hierarchy and which resource limits it can enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupInfo {
    /// "1" or "2".
    pub version: &'static str,
    pub memory: bool,
    /// Swap limits (v1: memory.memsw; v2: the memory controller).
    pub swap: bool,
    pub cpu: bool,
    pub cpuset: bool,
    pub pids: bool,
}

impl Engine {
    /// Counts every container directory (`<root>/containers/<64 hex>`) by its state.
    pub fn container_counts(&self) -> Result<ContainerCounts> {
        let mut counts = ContainerCounts::default();
        for id in container_ids(&self.paths.containers())? {
            let state = match berth_shim::state::read(&self.paths.container(&id)) {
                Ok(s) => s,
                // Removed between the listing and the read.
                Err(berth_shim::state::StateError::NotFound { .. }) => continue,
                Err(e) => return Err(EngineError::system_message(e.to_string())),
            };
            counts.total += 1;
            match state.status {
                Status::Running => counts.running += 1,
                Status::Paused => counts.paused += 1,
                _ => counts.stopped += 1,
            }
        }
        Ok(counts)
    }

    /// The number of image records (`<root>/images/records/*.json`); 0 before any image exists.
    pub fn count_images(&self) -> Result<usize> {
        count_images(&self.paths.root)
    }

    /// Makes the root and run root with their modes, tightening looser ones
    /// (berth_shim::Paths::secure): every berth process that works on the state calls it first.
    pub fn secure_roots(&self) -> Result<()> {
        self.paths
            .secure()
            .map_err(|e| EngineError::system(format!("securing {}", self.paths.root.display()), e))
    }

    /// This engine's ID: made once per root and kept in `<root>/engine-id`.
    pub fn engine_id(&self) -> Result<String> {
        let path = self.paths.root.join("engine-id");
        if let Some(id) = read_trimmed(&path)? {
            return Ok(id);
        }
        let root = &self.paths.root;
        fs::create_dir_all(root).map_err(|e| EngineError::system(root.display(), e))?;
        let lock_path = root.join(".engine-id.lock");
        let _lock = FileLock::acquire(&lock_path)
            .map_err(|e| EngineError::system(lock_path.display(), e))?;
        if let Some(id) = read_trimmed(&path)? {
            return Ok(id);
        }
        let id = read_trimmed(Path::new("/proc/sys/kernel/random/uuid"))?.ok_or_else(|| {
            EngineError::system_message("/proc/sys/kernel/random/uuid is empty".into())
        })?;
        fsutil::write_atomic(&path, id.as_bytes())
            .map_err(|e| EngineError::system(path.display(), e))?;
        Ok(id)
    }
}

/// The names under `dir` that look like container IDs (64 lowercase hex digits).
fn container_ids(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EngineError::system(dir.display(), e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::system(dir.display(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_container_id(&name) && entry.path().is_dir() {
            ids.push(name);
        }
    }
    Ok(ids)
}

fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The number of `*.json` records under `<root>/images/records/` (hidden files are temporaries).
pub fn count_images(root: &Path) -> Result<usize> {
    let dir = root.join("images").join("records");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(EngineError::system(dir.display(), e)),
    };
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::system(dir.display(), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && name.ends_with(".json") {
            n += 1;
        }
    }
    Ok(n)
}

/// A file's content without surrounding whitespace; None when missing or empty.
fn read_trimmed(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::system(path.display(), e)),
    }
}

/// Facts about the host, each read where the kernel publishes it. A fact that cannot be read is
/// reported empty (or 0) rather than failing `docker info`.
pub mod host {
    use super::CgroupInfo;
    use std::fs;
    use std::path::Path;

    fn read(path: &str) -> String {
        fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// `uname -r`.
    pub fn kernel_version() -> String {
        read("/proc/sys/kernel/osrelease")
    }

    pub fn hostname() -> String {
        read("/proc/sys/kernel/hostname")
    }

    /// Go's name for this architecture (`Arch` in `/version`).
    pub fn go_arch() -> &'static str {
        crate::engine::images::host_arch()
    }

    /// `PRETTY_NAME` from /etc/os-release, else "Linux".
    pub fn operating_system() -> String {
        pretty_name(&read("/etc/os-release")).unwrap_or_else(|| "Linux".to_string())
    }

    pub(crate) fn pretty_name(os_release: &str) -> Option<String> {
        os_release.lines().find_map(|line| {
            let value = line.strip_prefix("PRETTY_NAME=")?;
            let value = value.trim().trim_matches('"').trim_matches('\'');
            (!value.is_empty()).then(|| value.to_string())
        })
    }

    /// `VERSION_ID` from /etc/os-release.
    pub fn os_version() -> String {
        read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("VERSION_ID="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    }

    /// Bytes of RAM (`MemTotal` of /proc/meminfo).
    pub fn mem_total() -> u64 {
        mem_total_of(&read("/proc/meminfo"))
    }

    pub(crate) fn mem_total_of(meminfo: &str) -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kb| kb * 1024)
    }

    /// CPUs this process may run on.
    pub fn ncpu() -> usize {
        use nix::sched::{sched_getaffinity, CpuSet};
        match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
            Ok(set) => (0..CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count(),
            Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    pub fn ipv4_forwarding() -> bool {
        read("/proc/sys/net/ipv4/ip_forward") == "1"
    }

    /// cgroup v2 when /sys/fs/cgroup is the unified hierarchy, else v1; the controllers are those
    /// the root offers (v2) or those mounted (v1).
    pub fn cgroup() -> CgroupInfo {
        let root = Path::new("/sys/fs/cgroup");
        let controllers = root.join("cgroup.controllers");
        if controllers.exists() {
            let list = fs::read_to_string(&controllers).unwrap_or_default();
            let has = |c: &str| list.split_whitespace().any(|x| x == c);
            CgroupInfo {
                version: "2",
                memory: has("memory"),
                swap: has("memory"),
                cpu: has("cpu"),
                cpuset: has("cpuset"),
                pids: has("pids"),
            }
        } else {
            let has = |c: &str| root.join(c).is_dir();
            CgroupInfo {
                version: "1",
                memory: has("memory"),
                swap: root.join("memory/memory.memsw.limit_in_bytes").exists(),
                cpu: has("cpu"),
                cpuset: has("cpuset"),
                pids: has("pids"),
            }
        }
    }

    /// The filesystem under `path` as dockerd names it in `DriverStatus` ("Backing Filesystem").
    pub fn backing_filesystem(path: &Path) -> &'static str {
        use nix::sys::statfs::statfs;
        let Ok(st) = statfs(path) else {
            return "unknown";
        };
        // The type codes of linux/magic.h.
        match st.filesystem_type().0 as u64 {
            0xEF53 => "extfs",
            0x5846_5342 => "xfs",
            0x9123_683E => "btrfs",
            0x0102_1994 => "tmpfs",
            0x794C_7630 => "overlayfs",
            0x2FC1_2FC1 => "zfs",
            0x6969 => "nfs",
            0x5346_544E => "ntfs",
            _ => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use berth_shim::Paths;

    #[test]
    fn os_release_pretty_name() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            host::pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(host::pretty_name("NAME=x\n"), None);
    }

    #[test]
    fn meminfo_total_in_bytes() {
        let text = "MemTotal:        8000000 kB\nMemFree:  100 kB\n";
        assert_eq!(host::mem_total_of(text), 8_000_000 * 1024);
        assert_eq!(host::mem_total_of(""), 0);
    }

    #[test]
    fn counts_on_an_empty_root_are_zero() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::new(Paths::new(tmp.path().join("root"), tmp.path().join("run")));
        assert_eq!(
            engine.container_counts().unwrap(),
            ContainerCounts::default()
        );
        assert_eq!(engine.count_images().unwrap(), 0);
    }

    #[test]
    fn counts_containers_by_state_and_skips_other_names() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
        let engine = Engine::new(paths.clone());
        // A created container (no state.json yet) and an exited one; a hidden temporary and a
        // name that is no container ID are skipped.
        let created = "a".repeat(64);
        let exited = "b".repeat(64);
        fs::create_dir_all(paths.container(&created).dir).unwrap();
        fs::create_dir_all(paths.container(&exited).dir).unwrap();
        let mut state = berth_shim::State::default();
        state.version = berth_shim::state::STATE_VERSION;
        state.status = Status::Exited;
        fs::write(
            paths.container(&exited).state(),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        fs::create_dir_all(paths.containers().join(format!(".{}", "c".repeat(63)))).unwrap();
        fs::create_dir_all(paths.containers().join("not-an-id")).unwrap();
        let counts = engine.container_counts().unwrap();
        assert_eq!(
            counts,
            ContainerCounts {
                total: 2,
                running: 0,
                paused: 0,
                stopped: 2
            }
        );
    }

    #[test]
    fn counts_image_records() {
        let tmp = tempfile::tempdir().unwrap();
        let records = tmp.path().join("images/records");
        fs::create_dir_all(&records).unwrap();
        fs::write(records.join("a.json"), "{}").unwrap();
        fs::write(records.join("b.json"), "{}").unwrap();
        fs::write(records.join(".b.json.tmp.1"), "{}").unwrap();
        assert_eq!(count_images(tmp.path()).unwrap(), 2);
    }

    #[test]
    fn engine_id_is_made_once() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::new(Paths::new(tmp.path(), tmp.path().join("run")));
        let id = engine.engine_id().unwrap();
        assert_eq!(id.len(), 36, "a UUID, got {id:?}");
        assert_eq!(engine.engine_id().unwrap(), id);
    }
}
