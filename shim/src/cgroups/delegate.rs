//! Delegation of a container's group to the root of its user namespace (issue 23): the group's
//! directories and the files the kernel lists as delegatable are chowned to the range's first
//! id, as crun does for a user-namespaced container, so that inside the container its own
//! cgroup belongs to its root (and not to `nobody`). The limits stay the host's: the files that
//! hold them (memory.max, cpu.max, ...) keep the host root's ownership, and the hierarchies are
//! mounted read-only in the container as dockerd mounts them.

use super::{CgroupError, Result};
use nix::fcntl::{AtFlags, AT_FDCWD};
use nix::unistd::{fchownat, Gid, Uid};
use std::io;
use std::path::Path;

/// The kernel's list of the v2 files a delegatee may own (cgroups(7), "Delegation").
const V2_LIST: &str = "/sys/kernel/cgroup/delegate";
/// What the kernel lists where it has no such file (before 4.15).
const V2_DEFAULT: &[&str] = &["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"];
/// A v1 group's files that move tasks in it: delegated with its directory.
const V1_FILES: &[&str] = &["cgroup.procs", "tasks"];

/// The v2 files to delegate: the kernel's list, or its historic one.
pub(super) fn v2_files() -> Vec<String> {
    match std::fs::read_to_string(V2_LIST) {
        Ok(text) => text.split_whitespace().map(String::from).collect(),
        Err(_) => V2_DEFAULT.iter().map(|s| s.to_string()).collect(),
    }
}

pub(super) fn v1_files() -> Vec<String> {
    V1_FILES.iter().map(|s| s.to_string()).collect()
}

/// Chown `dir` and those of `files` it has to `uid`:`gid`. A listed file the group does not
/// have (a controller not enabled there) is skipped; cgroupfs holds no symlinks, and none is
/// followed.
pub(super) fn chown_group(dir: &Path, files: &[String], uid: u32, gid: u32) -> Result<()> {
    let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    let chown = |p: &Path| fchownat(AT_FDCWD, p, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW);
    chown(dir).map_err(|e| CgroupError::Delegate {
        path: dir.to_path_buf(),
        source: io::Error::from(e),
    })?;
    for f in files {
        let p = dir.join(f);
        match chown(&p) {
            Ok(()) | Err(nix::Error::ENOENT) => {}
            Err(e) => {
                return Err(CgroupError::Delegate {
                    path: p,
                    source: io::Error::from(e),
                })
            }
        }
    }
    Ok(())
}
