//! A container's cgroups: where the hierarchies are mounted ([`detect`]), and one container's
//! group in each of them ([`Cgroup`]): create, limits, processes, freezer, OOM count, stats,
//! removal. Its shim has a group of its own elsewhere ([`ShimGroup`]).
//!
//! Two layouts are handled. Pure cgroup v2 ([`Layout::Unified`]) holds everything in one tree.
//! The hybrid layout ([`Layout::Hybrid`]) mounts each v1 controller on its own and may add an
//! empty v2 tree; limits then go to v1 and the v2 group exists only so that eBPF programs can
//! tell the container apart by `bpf_get_current_cgroup_id()`. A legacy machine is a hybrid one
//! without the v2 tree.
//!
//! Everything is plain reads and writes of cgroupfs files; no unsafe code.

mod delegate;
mod devices;
mod layout;
mod shim_group;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

pub use devices::attach_filter as attach_device_filter;
pub use layout::{
    detect, favor_dynamic_modifications, has_favordynmods, hierarchies, parse_mountinfo, Hierarchy,
    Layout,
};
pub use shim_group::{ShimGroup, SHIM_PARENT};
pub use stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats, Throttling};

use crate::spec::Resources;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The v1 controllers a container uses. net_cls and net_prio are deliberately absent.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
];

/// The v2 controllers enabled down to a container's group on a pure v2 machine.
pub const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "io", "cpuset"];

/// How long `freeze` and `thaw` wait for the kernel to report the new state.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `remove` retries a group that is still busy.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} holds {text:?}, which is not what was expected")]
    Parse { path: PathBuf, text: String },
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("creating cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("delegating cgroup {path} to the container's root: {source}")]
    Delegate { path: PathBuf, source: io::Error },
    #[error("removing cgroup {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("{path} did not reach {state} within {timeout:?}")]
    FreezeTimeout {
        path: PathBuf,
        state: &'static str,
        timeout: Duration,
    },
    #[error("no cgroup hierarchy is mounted for {what}")]
    NoHierarchy { what: &'static str },
    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("device {path}: {source}")]
    Device { path: String, source: io::Error },
    #[error("device {path} is not a block device")]
    NotBlockDevice { path: String },
    #[error("{setting} cannot be set here: {reason}")]
    Unsupported {
        setting: &'static str,
        reason: &'static str,
    },
    #[error("invalid {setting}: {reason}")]
    InvalidValue {
        setting: &'static str,
        reason: String,
    },
    #[error("the device filter for {path}: {source}")]
    DeviceFilter {
        path: PathBuf,
        source: berth_monitor::devices::DeviceFilterError,
    },
    #[error("attaching the device filter to {path}: {source}")]
    DeviceAttach { path: PathBuf, source: io::Error },
    #[error("sending {signal} to pid {pid}: {source}")]
    Kill {
        pid: i32,
        signal: Signal,
        source: nix::Error,
    },
}

pub type Result<T> = std::result::Result<T, CgroupError>;

/// Can a container's group here take per-device block weights? v1 needs CFQ's or BFQ's
/// weight_device file (looked for at the blkio root); v2 needs the io controller.
pub fn supports_weight_device(layout: &Layout) -> bool {
    match layout {
        Layout::Hybrid { v1, .. } => v1
            .get("blkio")
            .is_some_and(|root| v1::weight_device_file(root).is_some()),
        Layout::Unified { root } => fs::read_to_string(root.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "io")),
    }
}

/// Is memory.swappiness there to set (v1's memory controller)? v2 has none.
pub fn supports_swappiness(layout: &Layout) -> bool {
    match layout {
        Layout::Hybrid { v1, .. } => v1
            .get("memory")
            .is_some_and(|root| root.join("memory.swappiness").exists()),
        Layout::Unified { .. } => false,
    }
}

/// One container's group in every hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    layout: Layout,
    /// `<parent>/<id>`, relative to each hierarchy's root.
    rel: PathBuf,
}

impl Cgroup {
    /// The group `<parent>/<id>`. Nothing is touched on disk. `parent` may be empty or have
    /// several components ("berth", "system.slice/berth"); neither may climb with "..".
    pub fn new(layout: &Layout, parent: &str, id: &str) -> Result<Cgroup> {
        check_component(id)?;
        let mut rel = PathBuf::new();
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            if part == "." || part == ".." {
                return Err(CgroupError::InvalidName {
                    name: parent.to_string(),
                    reason: "a parent may not contain . or ..",
                });
            }
            rel.push(part);
        }
        rel.push(id);
        Ok(Cgroup {
            layout: layout.clone(),
            rel,
        })
    }

    /// The group's path relative to each hierarchy's root.
    pub fn relative_path(&self) -> &Path {
        &self.rel
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Is this a pure v2 machine?
    pub fn is_unified(&self) -> bool {
        matches!(self.layout, Layout::Unified { .. })
    }

    /// The group's directory in one v1 controller's hierarchy, if that controller is mounted.
    fn v1_dir(&self, controller: &str) -> Option<PathBuf> {
        match &self.layout {
            Layout::Hybrid { v1, .. } => v1.get(controller).map(|root| root.join(&self.rel)),
            Layout::Unified { .. } => None,
        }
    }

    /// Controller name -> the group's directory, for every mounted v1 controller.
    fn v1_dirs(&self) -> BTreeMap<String, PathBuf> {
        match &self.layout {
            Layout::Hybrid { v1, .. } => v1
                .iter()
                .map(|(c, root)| (c.clone(), root.join(&self.rel)))
                .collect(),
            Layout::Unified { .. } => BTreeMap::new(),
        }
    }

    /// The group's directory in the v2 tree (pure v2 or hybrid).
    pub fn v2_path(&self) -> Option<PathBuf> {
        match &self.layout {
            Layout::Unified { root } => Some(root.join(&self.rel)),
            Layout::Hybrid { v2, .. } => v2.as_ref().map(|root| root.join(&self.rel)),
        }
    }

    /// Every directory of the group: one per distinct v1 mount, then the v2 one.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for dir in self.v1_dirs().into_values() {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
        out.extend(self.v2_path());
        out
    }

    /// Make the group's directory in every hierarchy, with what it needs to accept tasks.
    pub fn create(&self) -> Result<()> {
        match &self.layout {
            Layout::Unified { root } => v2::create(root, &self.rel, true),
            Layout::Hybrid { v1, v2 } => {
                v1::create(v1, &self.rel)?;
                match v2 {
                    Some(root) => v2::create(root, &self.rel, false),
                    None => Ok(()),
                }
            }
        }
    }

    /// Give the group to host ids `uid`:`gid` (a user namespace's root): its directory in
    /// every hierarchy and the files that move processes in it ([`delegate`]).
    pub fn delegate(&self, uid: u32, gid: u32) -> Result<()> {
        let (v1, v2) = (delegate::v1_files(), delegate::v2_files());
        let mut seen = Vec::new();
        for dir in self.v1_dirs().into_values() {
            if !seen.contains(&dir) {
                delegate::chown_group(&dir, &v1, uid, gid)?;
                seen.push(dir);
            }
        }
        match self.v2_path() {
            Some(dir) => delegate::chown_group(&dir, &v2, uid, gid),
            None => Ok(()),
        }
    }

    /// Write the limits in `r`; fields that are zero or empty are left as they are.
    pub fn apply(&self, r: &Resources) -> Result<()> {
        match &self.layout {
            Layout::Unified { .. } => {
                let dir = self
                    .v2_path()
                    .ok_or(CgroupError::NoHierarchy { what: "v2" })?;
                v2::apply(&dir, r)
            }
            Layout::Hybrid { .. } => v1::apply(&self.v1_dirs(), r),
        }
    }

    /// Set which devices the group's tasks may use: v1's devices files where that hierarchy
    /// is mounted, else a device filter on the v2 group. Done before any task joins.
    pub fn set_devices(&self, policy: &crate::devices::Policy) -> Result<()> {
        if let Some(dir) = self.v1_dir("devices") {
            return devices::set_v1(&dir, policy);
        }
        let dir = self
            .v2_path()
            .ok_or(CgroupError::NoHierarchy { what: "devices" })?;
        devices::attach_filter(&dir, policy)
    }

    /// Move a process (all its threads) into the group in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for dir in self.paths() {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Where to freeze: v1's freezer when it is mounted, else the v2 group.
    fn freezer(&self) -> Result<Freezer> {
        if let Some(dir) = self.v1_dir("freezer") {
            return Ok(Freezer::V1(dir));
        }
        self.v2_path()
            .map(Freezer::V2)
            .ok_or(CgroupError::NoHierarchy { what: "freezer" })
    }

    /// Stop every task of the group and wait until the kernel says they are stopped.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Freezer::V1(dir) => v1::set_frozen(&dir, true),
            Freezer::V2(dir) => v2::set_frozen(&dir, true),
        }
    }

    /// Let the group's tasks run again.
    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Freezer::V1(dir) => v1::set_frozen(&dir, false),
            Freezer::V2(dir) => v2::set_frozen(&dir, false),
        }
    }

    pub fn is_frozen(&self) -> bool {
        match self.freezer() {
            Ok(Freezer::V1(dir)) => v1::is_frozen(&dir),
            Ok(Freezer::V2(dir)) => v2::is_frozen(&dir),
            Err(_) => false,
        }
    }

    /// How many tasks of the group the OOM killer has killed (0 when unknown).
    pub fn oom_kills(&self) -> u64 {
        match &self.layout {
            Layout::Unified { .. } => self.v2_path().map(|d| v2::oom_kills(&d)),
            Layout::Hybrid { .. } => self.v1_dir("memory").map(|d| v1::oom_kills(&d)),
        }
        .unwrap_or(0)
    }

    /// The processes in the group (empty when it cannot be read).
    pub fn pids(&self) -> Vec<i32> {
        let dir = match &self.layout {
            Layout::Unified { .. } => self.v2_path(),
            Layout::Hybrid { .. } => self
                .v1_dir("pids")
                .or_else(|| self.v2_path())
                .or_else(|| self.paths().into_iter().next()),
        };
        let Some(dir) = dir else {
            return Vec::new();
        };
        match fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(text) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Send `signal` to every process of the group. For SIGKILL the group is frozen while the
    /// signals go out, so that no process can fork a child that escapes, and the v2 group's
    /// `cgroup.kill` is used when the kernel has it; a group found empty after it (the common
    /// case: a container whose first process exited with its pid namespace) is not frozen.
    pub fn kill_all(&self, signal: Signal) -> Result<()> {
        let mut froze = false;
        if signal == Signal::SIGKILL {
            if let Some(dir) = self.v2_path() {
                let file = dir.join("cgroup.kill");
                if file.exists() {
                    write_file(&file, "1")?;
                    if self.pids().is_empty() {
                        return Ok(());
                    }
                }
            }
            if !self.is_frozen() && self.freezer().is_ok() {
                froze = self.freeze().is_ok();
            }
        }
        let mut result = Ok(());
        for pid in self.pids() {
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(source) => {
                    result = Err(CgroupError::Kill {
                        pid,
                        signal,
                        source,
                    });
                }
            }
        }
        if froze {
            self.thaw()?;
        }
        result
    }

    /// The v2 group's inode number: what `bpf_get_current_cgroup_id()` reports for its tasks.
    pub fn cgroup_id(&self) -> Option<u64> {
        fs::metadata(self.v2_path()?).ok().map(|m| m.ino())
    }

    /// Remove the group's directory from every hierarchy. A group that is gone already is
    /// fine; a busy one is retried for [`REMOVE_TIMEOUT`]. The parent is left in place.
    pub fn remove(&self) -> Result<()> {
        let mut result = Ok(());
        for dir in self.paths() {
            if let Err(e) = remove_dir(&dir) {
                result = Err(e);
            }
        }
        result
    }

    /// Usage counters, read from whichever hierarchy holds the limits.
    pub fn stats(&self) -> Result<Stats> {
        match &self.layout {
            Layout::Unified { .. } => {
                let dir = self
                    .v2_path()
                    .ok_or(CgroupError::NoHierarchy { what: "v2" })?;
                v2::stats(&dir)
            }
            Layout::Hybrid { .. } => v1::stats(&self.v1_dirs()),
        }
    }
}

/// A container id as a cgroup name: one path component.
fn check_component(id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        return Err(CgroupError::InvalidName {
            name: id.to_string(),
            reason: "an id is one non-empty path component",
        });
    }
    Ok(())
}

enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

/// rmdir, retrying EBUSY; a missing directory counts as removed.
fn remove_dir(dir: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < REMOVE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Docker's cpu shares (v1 scale, 2..262144) as a v2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Docker's blkio weight (10..1000) as a v2 io.weight (1..10000), as runc maps it.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// Parse "key value" lines (memory.stat, cpu.stat, cgroup.events, memory.oom_control, ...).
/// Lines whose value is not a number are skipped.
pub fn parse_flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.trim().split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A device node's (major, minor), for the throttle files.
fn device_numbers(path: &str) -> Result<(u64, u64)> {
    let meta = fs::metadata(path).map_err(|source| CgroupError::Device {
        path: path.to_string(),
        source,
    })?;
    if !meta.file_type().is_block_device() {
        return Err(CgroupError::NotBlockDevice {
            path: path.to_string(),
        });
    }
    let rdev = meta.rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

/// Write `value` to an existing cgroup file in one write(2).
fn write_file(path: &Path, value: &str) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| CgroupError::Write {
            path: path.to_path_buf(),
            value: value.to_string(),
            source,
        })
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Like [`read_file`], but a missing file is `None`.
fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A file holding one number, or "max" (returned as `None`); a missing file reads as `None`.
fn read_u64_or_max(path: &Path) -> Result<Option<u64>> {
    let Some(text) = read_opt(path)? else {
        return Ok(None);
    };
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        text: text.to_string(),
    })
}

/// A file holding one number; a missing file reads as 0.
fn read_u64(path: &Path) -> Result<u64> {
    Ok(read_u64_or_max(path)?.unwrap_or(0))
}

/// Poll `done` every millisecond until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn shares_map_onto_the_weight_range() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(1), 1, "below the range clamps");
        assert_eq!(shares_to_weight(1 << 40), 10_000, "above the range clamps");
    }

    #[test]
    fn blkio_weight_maps_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(blkio_weight_to_io_weight(5), 1);
    }

    #[test]
    fn flat_keyed_files_parse() {
        let stat = "cache 4096\nrss 8192\ntotal_cache 12288\n";
        let m = parse_flat_keyed(stat);
        assert_eq!(m.get("cache"), Some(&4096));
        assert_eq!(m.get("total_cache"), Some(&12288));
        let events = parse_flat_keyed("populated 1\nfrozen 1\n");
        assert_eq!(events.get("frozen"), Some(&1));
        let oom = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(oom.get("oom_kill"), Some(&3));
    }

    #[test]
    fn names_may_not_climb() {
        let layout = Layout::Hybrid {
            v1: BTreeMap::from([("cpu".to_string(), PathBuf::from("/sys/fs/cgroup/cpu"))]),
            v2: Some(PathBuf::from("/sys/fs/cgroup/unified")),
        };
        assert!(Cgroup::new(&layout, "berth", "").is_err());
        assert!(Cgroup::new(&layout, "berth", "a/b").is_err());
        assert!(Cgroup::new(&layout, "../etc", "x").is_err());
        let cg = Cgroup::new(&layout, "/system.slice//berth/", "x").unwrap();
        assert_eq!(cg.relative_path(), Path::new("system.slice/berth/x"));
        assert_eq!(
            cg.v2_path().unwrap(),
            Path::new("/sys/fs/cgroup/unified/system.slice/berth/x")
        );
    }
}
