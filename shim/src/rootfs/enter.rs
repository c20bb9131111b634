//! Steps 1 and 6 of the root: mount propagation, and pivot_root into the root.

use super::{do_mount, prep, Result, RootfsError};
use crate::spec::{ContainerSpec, RootPropagation};
use crate::state::RootMode;
use nix::mount::{umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// Step 1 of [`setup`], by `root_propagation`:
/// - "" : every mount rprivate.
/// - "rslave": every mount a slave of the host's (host mounts reach the container, not back).
/// - "shared": the mounts stay as copied (peers of the host's shared mounts, so that a shared
///   bind carries mounts both ways); only "/" and the mount holding the container's root are made
///   private, so that the root's own mounts stay in this namespace (runc's
///   rootfsParentMountPrivate) and pivot_root accepts them.
pub(super) fn propagation(spec: &ContainerSpec, root: &Path) -> Result<()> {
    match spec.root_propagation {
        RootPropagation::Shared => {
            do_mount(None, Path::new("/"), None, MsFlags::MS_PRIVATE, None)?;
            let parent = root.parent().unwrap_or(root);
            let holder = crate::mountinfo::current_mount_of(parent).map_err(|source| {
                RootfsError::Prepare {
                    path: parent.to_path_buf(),
                    source,
                }
            })?;
            do_mount(None, &holder.mount_point, None, MsFlags::MS_PRIVATE, None)
        }
        RootPropagation::Slave => do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None,
        ),
        RootPropagation::Private => do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        ),
    }
}

/// pivot_root into `root` and detach the old root; chroot where pivot_root is refused.
pub(super) fn enter(root: &Path) -> Result<RootMode> {
    // The old root, to come back to after pivot_root: "." then names the new root (runc does
    // the same fchdir).
    let old_root = prep(Path::new("/"), std::fs::File::open("/"))?;
    prep(root, std::env::set_current_dir(root))?;
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => {
            // The old root is stacked under the new one at "/": make it rslave first (its
            // mounts may be peers of the host's, and an unmount would propagate there), then
            // detach it.
            nix::unistd::fchdir(&old_root).map_err(|source| RootfsError::Pivot {
                root: root.to_path_buf(),
                source,
            })?;
            do_mount(
                None,
                Path::new("."),
                None,
                MsFlags::MS_REC | MsFlags::MS_SLAVE,
                None,
            )?;
            drop(old_root);
            umount2(".", MntFlags::MNT_DETACH).map_err(|source| RootfsError::Mount {
                what: "old root".to_string(),
                target: PathBuf::from("/"),
                source,
            })?;
            prep(root, std::env::set_current_dir("/"))?;
            Ok(RootMode::PivotRoot)
        }
        Err(nix::Error::EINVAL) => {
            // The root is on a filesystem pivot_root cannot leave (initramfs): move and chroot.
            do_mount(Some("."), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
            nix::unistd::chroot(".").map_err(|source| RootfsError::Pivot {
                root: root.to_path_buf(),
                source,
            })?;
            prep(root, std::env::set_current_dir("/"))?;
            Ok(RootMode::Chroot)
        }
        Err(source) => Err(RootfsError::Pivot {
            root: root.to_path_buf(),
            source,
        }),
    }
}
