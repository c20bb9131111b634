//! A shareable container's /dev/shm (`--ipc shareable`): a tmpfs in the host's mount namespace,
//! under the container's run dir, so that a container joining its IPC namespace
//! (`--ipc container:<id>`) can bind the same /dev/shm (dockerd keeps it under
//! `containers/<id>/mounts/shm`). Made by the caller before the shim starts, since the shim's own
//! mounts never reach the host; unmounted when the container's files are removed.

use crate::paths::ContainerPaths;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io;
use std::path::PathBuf;

/// dockerd's default /dev/shm size.
pub const DEFAULT_SIZE: u64 = 64 << 20;

/// Where a shareable container's /dev/shm lives on the host.
pub fn shareable_path(paths: &ContainerPaths) -> PathBuf {
    paths.run.join("shm")
}

/// The tmpfs options of a /dev/shm of `size` bytes (0: the default).
pub fn options(size: u64) -> String {
    let size = if size == 0 { DEFAULT_SIZE } else { size };
    format!("mode=1777,size={}k", size.div_ceil(1024))
}

/// Mount the shareable /dev/shm unless it is there already (a restart keeps its content).
pub fn prepare_shareable(paths: &ContainerPaths, size: u64) -> io::Result<PathBuf> {
    let dir = shareable_path(paths);
    std::fs::create_dir_all(&dir)?;
    let mounted = crate::mountinfo::current_mount_of(&dir).is_ok_and(|m| m.mount_point == dir);
    if !mounted {
        mount(
            Some("shm"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(options(size).as_str()),
        )
        .map_err(io::Error::from)?;
    }
    Ok(dir)
}

/// Unmount the shareable /dev/shm, if any, and remove its directory. The removal is what frees
/// the host's mount when a shim auto-removes the container: the shim lives in a mount namespace
/// of its own, where the unmount only reaches its copy (unless propagation carries it), but
/// removing a directory detaches the mounts on it in every other namespace (Linux 3.18+).
pub fn release(paths: &ContainerPaths) {
    let dir = shareable_path(paths);
    // Not mounted (EINVAL) is the usual case: a container with no shareable /dev/shm.
    let _ = umount2(&dir, MntFlags::MNT_DETACH);
    crate::cleanup::cleanup(
        format!("removing {}", dir.display()),
        std::fs::remove_dir(&dir),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_kib_with_dockers_default() {
        assert_eq!(options(0), "mode=1777,size=65536k");
        assert_eq!(options(4 << 20), "mode=1777,size=4096k");
        assert_eq!(options(1000), "mode=1777,size=1k");
    }
}
