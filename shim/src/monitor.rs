//! The shim's part in the eBPF monitor: it watches its container's cgroup from the moment the
//! first process is placed in it until the container ends; whoever removes the container
//! drops its counts ([`forget`], from `remove::remove_container_files`). Every failure is logged and ignored: a machine without BPF (or a
//! kernel that refuses the programs) still runs containers, only without counts.
//!
//! The programs are pinned under bpffs by whoever needs them first (berth_monitor::
//! ensure_loaded); the shim loads them itself only when nothing is pinned yet, and otherwise
//! only opens the pinned maps, so a shim's memory stays small.

use berth_monitor::Monitor;
use std::path::PathBuf;

/// Where the programs are pinned: `BERTH_BPF_DIR`, or /sys/fs/bpf/berth.
/// `BERTH_MONITOR=0` turns the monitor off.
pub fn pin_dir() -> Option<PathBuf> {
    if std::env::var("BERTH_MONITOR").is_ok_and(|v| v == "0") {
        return None;
    }
    Some(
        std::env::var_os("BERTH_BPF_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(berth_monitor::DEFAULT_DIR)),
    )
}

/// One container's watch.
pub struct Watch {
    id: String,
    monitor: Option<Monitor>,
    cgroup_id: u64,
}

impl Watch {
    pub fn new(id: &str) -> Watch {
        Watch {
            id: id.to_string(),
            monitor: None,
            cgroup_id: 0,
        }
    }

    /// Starts counting for `cgroup_id` (0: the cgroup has no v2 id, nothing to watch).
    pub fn start(&mut self, cgroup_id: u64) {
        if cgroup_id == 0 {
            return;
        }
        let Some(dir) = pin_dir() else { return };
        if self.monitor.is_none() {
            match Monitor::ensure(&dir) {
                Ok(m) => self.monitor = Some(m),
                Err(e) => {
                    eprintln!("berth-shim {}: eBPF monitor unavailable: {e}", self.id);
                    return;
                }
            }
        }
        if let Some(m) = &mut self.monitor {
            match m.watch(cgroup_id, &self.id) {
                Ok(()) => self.cgroup_id = cgroup_id,
                Err(e) => eprintln!("berth-shim {}: watching cgroup {cgroup_id}: {e}", self.id),
            }
        }
    }

    /// Stops counting; the counts stay readable.
    pub fn stop(&mut self) {
        if self.cgroup_id == 0 {
            return;
        }
        if let Some(m) = &mut self.monitor {
            if let Err(e) = m.unwatch(self.cgroup_id) {
                eprintln!("berth-shim {}: unwatching: {e}", self.id);
            }
        }
    }
}

/// Drops the counts of a removed container whose shim is gone (best effort).
pub fn forget(cgroup_id: u64) {
    let Some(dir) = pin_dir() else { return };
    if cgroup_id == 0 {
        return;
    }
    if let Ok(mut m) = Monitor::open(&dir) {
        let _ = m.unwatch(cgroup_id);
        let _ = m.forget(cgroup_id);
    }
}
