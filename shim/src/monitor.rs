//! The shim's part in the eBPF monitor: it watches its container's cgroup from the moment the
//! first process is placed in it until the container ends; whoever removes the container
//! drops its counts ([`forget`], from `remove::remove_container_files`). Every failure is logged and ignored: a machine without BPF (or a
//! kernel that refuses the programs) still runs containers, only without counts.
//!
//! Exec events, for a container created with the label `berth.monitor` naming `exec`
//! (`berth.monitor=exec`; off by default, so that a busy script cannot rotate the lifecycle
//! events out of the log): the shim creates its container's own ring buffer and drains it in its poll
//! loop into the events log (`process_exec` events of type container), so events need no API
//! process, every `/events` reader sees them, and an API restart loses none. Execs that find
//! the ring full (or missing) are counted as the container's DroppedEvents.
//!
//! The programs are pinned under bpffs by whoever needs them first (berth_monitor::
//! ensure_loaded); the shim loads them itself only when nothing is pinned yet, and otherwise
//! only opens the pinned maps, so a shim's memory stays small.

use berth_monitor::{Exec, ExecRing, Monitor};
use std::os::fd::{AsFd, AsRawFd, RawFd};
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

/// The label that asks for events, and the value (one of its comma-separated words) for execs.
pub const LABEL: &str = "berth.monitor";

/// Does the label's value ask for exec events?
pub fn wants_execs(label: Option<&str>) -> bool {
    label.is_some_and(|v| v.split(',').any(|w| w.trim() == "exec"))
}

/// One container's watch.
pub struct Watch {
    id: String,
    execs: bool,
    monitor: Option<Monitor>,
    cgroup_id: u64,
    ring: Option<ExecRing>,
}

impl Watch {
    /// `execs`: the container asked for exec events.
    pub fn new(id: &str, execs: bool) -> Watch {
        Watch {
            id: id.to_string(),
            execs,
            monitor: None,
            cgroup_id: 0,
            ring: None,
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
            // The ring first: an exec between the two would otherwise find none.
            if self.execs {
                match m.open_ring(cgroup_id) {
                    Ok(r) => self.ring = Some(r),
                    Err(e) => eprintln!("berth-shim {}: exec events ring: {e}", self.id),
                }
            }
            match m.watch(cgroup_id, &self.id) {
                Ok(()) => self.cgroup_id = cgroup_id,
                Err(e) => eprintln!("berth-shim {}: watching cgroup {cgroup_id}: {e}", self.id),
            }
        }
    }

    /// The descriptor to poll for exec events.
    pub fn ring_fd(&self) -> Option<RawFd> {
        self.ring.as_ref().map(|r| r.as_fd().as_raw_fd())
    }

    /// The exec events not read yet.
    pub fn drain(&mut self) -> Vec<Exec> {
        self.ring.as_mut().map(ExecRing::drain).unwrap_or_default()
    }

    /// Stops counting (the counts stay readable) and drops the ring: read it first.
    pub fn stop(&mut self) {
        self.ring = None;
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_label_asks_for_execs() {
        assert!(super::wants_execs(Some("exec")));
        assert!(super::wants_execs(Some("net, exec")));
        assert!(!super::wants_execs(Some("executable")));
        assert!(!super::wants_execs(Some("")));
        assert!(!super::wants_execs(None));
    }
}
