//! Step 2 of the root: overlayfs of the image layers and the container's upper dir.

use super::{do_mount, ensure_dir, Result, RootfsError};
use crate::paths::ContainerPaths;
use crate::spec::ContainerSpec;
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// `volatile`: mount it `volatile` when the kernel can (see below), for a root thrown away at exit.
pub(super) fn mount_root(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    root: &Path,
    volatile: bool,
) -> Result<()> {
    let upper = paths.upper();
    let work = paths.work();
    ensure_dir(&upper)?;
    ensure_dir(&work)?;
    if spec.rootfs.layers.is_empty() {
        return do_mount(
            upper.to_str(),
            root,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        );
    }
    // overlayfs lists lower dirs top-most first.
    let lower: Vec<String> = spec
        .rootfs
        .layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        return Err(RootfsError::TooManyLayers {
            layers: spec.rootfs.layers.len(),
        });
    }
    // An auto-removed container's upper dir is thrown away when it exits, so it need not
    // survive a host crash: `volatile` skips overlayfs's syncs, among them the sync of the
    // whole host filesystem that the unmount at the container's exit makes (3 to 15 ms of a
    // `docker run --rm` here, far more while the host writes a lot), before the shim even
    // hears of the exit. Without support for it (Linux < 5.10) the mount is made as before.
    if volatile {
        clear_volatile_marker(&work);
        let volatile = format!("{data},volatile");
        if mount(
            Some("overlay"),
            root,
            Some("overlay"),
            MsFlags::empty(),
            Some(volatile.as_str()),
        )
        .is_ok()
        {
            return Ok(());
        }
    }
    do_mount(
        Some("overlay"),
        root,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    )
}

/// overlayfs leaves `<workdir>/work/incompat/volatile/` (holding a file `dirty`) behind a
/// `volatile` mount and refuses
/// to mount that work dir again while it is there, since after a host crash the upper dir may
/// be torn. One made since this boot only says that the dir was mounted volatile before (a
/// restart of the container, or a copy out of it) and unmounted with nothing lost: remove it.
/// One older than the boot stays, and the mount fails, as overlayfs means it to.
pub fn clear_volatile_marker(work: &Path) {
    let marker = work.join("work/incompat/volatile");
    let Ok(made) = std::fs::symlink_metadata(&marker).and_then(|m| m.modified()) else {
        return;
    };
    if boot_time().is_some_and(|boot| made >= boot) {
        // The kernel puts a `dirty` file in it.
        crate::cleanup::cleanup(
            format!("removing {}", marker.display()),
            std::fs::remove_dir_all(&marker),
        );
    }
}

/// When this boot began (`btime` of /proc/stat).
fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volatile_marker_of_this_boot_is_cleared_and_an_older_one_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        let marker = work.join("work/incompat/volatile");
        std::fs::create_dir_all(&marker).unwrap();
        // As overlayfs leaves it: a `dirty` file inside.
        std::fs::write(marker.join("dirty"), b"").unwrap();
        clear_volatile_marker(&work);
        assert!(!marker.exists(), "a marker made now was left in place");
        assert!(
            work.join("work/incompat").is_dir(),
            "more than the marker was removed"
        );
        std::fs::create_dir_all(&marker).unwrap();
        let before_boot =
            boot_time().expect("btime in /proc/stat") - std::time::Duration::from_secs(60);
        std::fs::File::open(&marker)
            .unwrap()
            .set_modified(before_boot)
            .unwrap();
        clear_volatile_marker(&work);
        assert!(marker.exists(), "a marker older than the boot was removed");
        clear_volatile_marker(&tmp.path().join("nothing-here"));
    }
}
