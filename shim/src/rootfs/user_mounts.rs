//! Step 5 of the root: the user's mounts (`-v`, `--mount`, `--tmpfs`), each on its destination
//! resolved inside the root.

use super::{do_mount, target, Result, RootfsError};
use crate::bind_flags::{self, BindFlags};
use crate::spec::{MountKind, MountSpec};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::MsFlags;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path};

/// Refuse a destination that is not absolute or has `..` (dockerd refuses them at create).
fn check_destination(dest: &str) -> Result<()> {
    let p = Path::new(dest);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(RootfsError::InvalidMount {
            destination: dest.to_string(),
            reason: "the destination must be an absolute path without ..".to_string(),
        });
    }
    Ok(())
}

/// A volume's subpath, opened beneath its directory: `RESOLVE_BENEATH` refuses `..`, absolute
/// symlinks and any symlink that leads out, even if the volume's tree changes meanwhile.
pub(super) fn open_subpath(source: &str, subpath: &str) -> Result<OwnedFd> {
    let dir_path = source;
    let err = |source: nix::Error| RootfsError::Subpath {
        source_dir: dir_path.to_string(),
        subpath: subpath.to_string(),
        source,
    };
    let dir = nix::fcntl::open(
        source,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(err)?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(&dir, subpath, how).map_err(err)
}

/// `idmapped`: the volume's mount idmapped into the container's user namespace by the shim,
/// attached in place of a bind of its source.
pub(super) fn mount_user(root: &Path, m: &MountSpec, idmapped: Option<&OwnedFd>) -> Result<()> {
    check_destination(&m.destination)?;
    // A subpath is bound through its fd, so that what was checked is what is mounted.
    let sub = (!m.subpath.is_empty() && idmapped.is_none())
        .then(|| open_subpath(&m.source, &m.subpath))
        .transpose()?;
    let source = match &sub {
        Some(fd) => format!("/proc/self/fd/{}", fd.as_raw_fd()),
        None => m.source.clone(),
    };
    let file_bind = m.kind == MountKind::Bind && !Path::new(&source).is_dir();
    let held = target(root, &m.destination, file_bind)?;
    let at = held.path();
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    let mut propagation = MsFlags::empty();
    let mut recursive = m.kind == MountKind::Bind;
    for o in &m.options {
        match o.as_str() {
            "ro" | "readonly" => flags |= MsFlags::MS_RDONLY,
            "rw" | bind_flags::RO_NON_RECURSIVE | bind_flags::RO_FORCE_RECURSIVE => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "exec" => flags.remove(MsFlags::MS_NOEXEC),
            "bind" => recursive = false,
            "rbind" => recursive = true,
            "private" => propagation = MsFlags::MS_PRIVATE,
            "rprivate" => propagation = MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "shared" => propagation = MsFlags::MS_SHARED,
            "rshared" => propagation = MsFlags::MS_SHARED | MsFlags::MS_REC,
            "slave" => propagation = MsFlags::MS_SLAVE,
            "rslave" => propagation = MsFlags::MS_SLAVE | MsFlags::MS_REC,
            other => data.push(other.to_string()),
        }
    }
    match &m.kind {
        MountKind::Bind => {
            let mut bflags = MsFlags::MS_BIND;
            if recursive {
                bflags |= MsFlags::MS_REC;
            }
            match idmapped {
                Some(tree) => {
                    crate::sys::move_mount_onto(std::os::fd::AsFd::as_fd(tree), held.fd()).map_err(
                        |e| RootfsError::Mount {
                            what: format!("idmapped {}", m.source),
                            target: at.to_path_buf(),
                            source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                        },
                    )?
                }
                None => do_mount(Some(&source), &at, None, bflags, None)?,
            }
            // The fd held names the directory under the mount: address the new mount. Read-only
            // reaches every mount under it unless asked otherwise, and the source's own flags
            // are kept.
            let top = target(root, &m.destination, file_bind)?;
            let wanted = BindFlags::from_options(&m.options);
            bind_flags::apply(&top, &wanted, &m.destination)?;
        }
        MountKind::Tmpfs => {
            let data = data.join(",");
            do_mount(
                Some("tmpfs"),
                &at,
                Some("tmpfs"),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        }
        MountKind::Filesystem(other) => {
            let data = data.join(",");
            do_mount(
                Some(&m.source),
                &at,
                Some(other),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        }
    }
    if !propagation.is_empty() {
        let top = target(root, &m.destination, file_bind)?;
        do_mount(None, &top.path(), None, propagation, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_destinations_stay_inside_the_root() {
        assert!(check_destination("/data").is_ok());
        assert!(check_destination("/../etc").is_err());
        assert!(check_destination("relative").is_err());
    }
}
