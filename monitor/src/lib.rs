//! berth's eBPF monitor.
//!
//! The programs, their loader and the per-container counters are the work of the eBPF issue
//! (#7); until it lands this crate only gives the one fact the runtime needs from it: how the
//! kernel names a container to eBPF (the inode of its cgroup v2 directory).
#![deny(unsafe_code)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The id `bpf_get_current_cgroup_id()` reports for processes in the cgroup v2 directory `dir`.
pub fn cgroup_id(dir: &Path) -> std::io::Result<u64> {
    Ok(std::fs::metadata(dir)?.ino())
}
