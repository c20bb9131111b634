//! Step 3 of the root, devices: the nodes every container has (made in its own /dev tmpfs through
//! that directory's fd), the /dev links, and berth's null device that the masks are bound from.

use super::{do_mount, existing, prep, target, Result, RootfsError};
use crate::mount_target::Target;
use crate::spec::ContainerSpec;
use nix::fcntl::AtFlags;
use nix::mount::MsFlags;
use nix::sys::stat::{fchmodat, fstatat, major, makedev, minor, mknodat, FchmodatFlags};
use nix::sys::stat::{Mode, SFlag};
use std::path::{Path, PathBuf};

/// The device nodes every container has, and the /dev links.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn device_path(name: &str) -> PathBuf {
    Path::new("/dev").join(name)
}

pub(super) fn make_devices(spec: &ContainerSpec, root: &Path) -> Result<()> {
    // The container's own tmpfs, mounted on a directory checked in step 3.
    let dev = target(root, "/dev", false)?;
    for (name, major, minor) in DEVICES {
        let made = mknodat(
            dev.fd(),
            *name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        );
        match made {
            // mknod is subject to the umask; set the mode dockerd gives.
            Ok(()) => fchmodat(
                dev.fd(),
                *name,
                Mode::from_bits_truncate(0o666),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|source| RootfsError::Device {
                path: device_path(name),
                source,
            })?,
            // In a user namespace device nodes cannot be made: bind the host's.
            Err(nix::Error::EPERM) => {
                let at = target(root, &format!("/dev/{name}"), true)?;
                do_mount(
                    device_path(name).to_str(),
                    &at.path(),
                    None,
                    MsFlags::MS_BIND,
                    None,
                )?;
            }
            Err(source) => {
                return Err(RootfsError::Device {
                    path: device_path(name),
                    source,
                })
            }
        }
    }
    if spec.process.privileged {
        copy_host_devices(&dev)?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        nix::unistd::symlinkat(to, dev.fd(), link).map_err(|source| RootfsError::Device {
            path: device_path(link),
            source,
        })?;
    }
    Ok(())
}

/// A `--device` node: made with the host node's type, numbers, mode and owner in its directory
/// resolved inside the root; bound from the host where a user namespace cannot make nodes. A
/// path a privileged container already has from the host's /dev is left as it is.
pub(super) fn make_mapped_device(root: &Path, node: &crate::devices::DeviceNode) -> Result<()> {
    let destination = node.path.to_string_lossy().into_owned();
    if existing(root, &destination)?.is_some() {
        return Ok(());
    }
    let device_error = |source| RootfsError::Device {
        path: node.path.clone(),
        source,
    };
    let name = node
        .path
        .file_name()
        .ok_or_else(|| device_error(nix::Error::EINVAL))?;
    let parent = node.path.parent().unwrap_or(Path::new("/"));
    let dir = target(root, &parent.to_string_lossy(), false)?;
    let kind = match node.kind {
        crate::devices::DeviceKind::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFCHR,
    };
    let mode = Mode::from_bits_truncate(node.mode);
    let dev = makedev(u64::from(node.major), u64::from(node.minor));
    match mknodat(dir.fd(), name, kind, mode, dev) {
        Ok(()) => {
            nix::unistd::fchownat(
                dir.fd(),
                name,
                Some(nix::unistd::Uid::from_raw(node.uid)),
                Some(nix::unistd::Gid::from_raw(node.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(device_error)?;
            // mknod is subject to the umask: give the host node's mode.
            fchmodat(dir.fd(), name, mode, FchmodatFlags::NoFollowSymlink).map_err(device_error)
        }
        Err(nix::Error::EPERM) => {
            let at = target(root, &destination, true)?;
            do_mount(
                node.host_path.to_str(),
                &at.path(),
                None,
                MsFlags::MS_BIND,
                None,
            )
        }
        Err(source) => Err(device_error(source)),
    }
}

/// A privileged container sees the host's device nodes.
fn copy_host_devices(dev: &Target) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let entries = prep(Path::new("/dev"), std::fs::read_dir("/dev"))?;
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            continue;
        };
        // /dev/ptmx is the container's own devpts's (a symlink made after this).
        let name = entry.file_name();
        if name == "ptmx"
            || fstatat(dev.fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).is_ok()
        {
            continue;
        }
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        mknodat(dev.fd(), name.as_os_str(), kind, mode, meta.rdev()).map_err(|source| {
            RootfsError::Device {
                path: device_path(&name.to_string_lossy()),
                source,
            }
        })?;
    }
    Ok(())
}

/// The container's /dev/null, made by berth in step 3 and checked to be char 1:3, held open so
/// that the masks of step 7 are bound from it and from nothing an image could name.
pub(super) struct NullDevice {
    at: Target,
}

impl NullDevice {
    pub(super) fn open(root: &Path) -> Result<NullDevice> {
        let not_null = || RootfsError::NotNull {
            path: device_path("null"),
        };
        let at = existing(root, "/dev/null")?.ok_or_else(not_null)?;
        let st = at.stat().map_err(|source| RootfsError::Device {
            path: device_path("null"),
            source,
        })?;
        let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
        if !is_char || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
            return Err(not_null());
        }
        Ok(NullDevice { at })
    }

    /// A path naming the checked node while this lives.
    pub(super) fn path(&self) -> PathBuf {
        self.at.path()
    }
}
