//! The host's side of a user-namespaced container's root, made before the container starts.

use crate::paths::ContainerPaths;
use crate::spec::ContainerSpec;
use std::io;
use std::path::Path;

/// With a user namespace the container's root is an unprivileged id on the host: give it the
/// upper and work dirs, and make from the host side the mount points it could not make itself
/// in a root whose image files belong to ids outside its map.
pub fn prepare_for_userns(spec: &ContainerSpec, paths: &ContainerPaths) -> io::Result<()> {
    let Some(userns) = &spec.namespaces.user else {
        return Ok(());
    };
    let host = |map: &[crate::spec::IdMap]| {
        map.iter()
            .find(|m| m.container_id == 0)
            .map(|m| m.host_id)
            .unwrap_or(0)
    };
    let (uid, gid) = (host(&userns.uid_map), host(&userns.gid_map));
    // Its root mounts the container's root by paths through berth's roots, which only root may
    // search: let that one id search them (and nothing more).
    let roots = [
        paths.dir.parent().and_then(Path::parent),
        paths.run.parent(),
        Some(paths.run.as_path()),
    ];
    for dir in roots.into_iter().flatten() {
        crate::acl::grant_search(dir, uid)?;
    }
    let upper = paths.upper();
    // The kernel filesystems' mount points, unless the image has something else there: a
    // directory made here would hide the image's symlink or file, which the container's own
    // mounts then refuse by name as they do without a user namespace (rootfs/kernel.rs).
    let points: Vec<_> = ["proc", "dev", "sys"]
        .into_iter()
        .filter(|name| !image_has_non_directory(spec, name))
        .map(|name| upper.join(name))
        .collect();
    for d in [upper.clone(), paths.work()].iter().chain(&points) {
        std::fs::create_dir_all(d)?;
    }
    std::fs::create_dir_all(upper.join("etc"))?;
    for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        let p = upper.join(f);
        if !p.exists() {
            std::fs::write(&p, b"")?;
        }
    }
    for p in [upper.clone(), paths.work(), upper.join("etc")]
        .iter()
        .chain(&points)
    {
        nix::unistd::chown(p, Some(uid.into()), Some(gid.into())).map_err(io::Error::from)?;
    }
    Ok(())
}

/// Whether the image's root has at `name` an entry that is not a directory, as the overlay will
/// show it: the top-most layer (the last) with an entry there decides; a whiteout hides it.
fn image_has_non_directory(spec: &ContainerSpec, name: &str) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for layer in spec.rootfs.layers.iter().rev() {
        match std::fs::symlink_metadata(layer.join(name)) {
            Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => return false,
            Ok(m) => return !m.is_dir(),
            Err(_) => continue,
        }
    }
    false
}
