//! The container's root filesystem, made inside its own mount namespace (so it vanishes with the
//! container and nothing is left mounted on the host): overlayfs of the image layers, the kernel
//! filesystems and devices, the per-container /etc files, user mounts, pivot_root, then Docker's
//! masked and read-only paths.
//!
//! Invariant: every mount target, and every file or directory made for one, is resolved inside
//! the root through [`crate::mount_target`] (never a joined host path), so that no symlink of an
//! image can put a mount or a file on the host. The one joined path is the root itself, which is
//! berth's.

mod devices;
mod enter;
mod idmap;
mod kernel;
mod masks;
mod network_files;
mod overlay;
mod user_mounts;
mod userns;

pub use idmap::{count as idmapped_count, receive_layers, send_layers, IdmapError};
pub use network_files::write_network_files;
pub use userns::prepare_for_userns;

use crate::mount_target::{self, Target};
use crate::paths::ContainerPaths;
use crate::spec::ContainerSpec;
use crate::state::RootMode;
use nix::mount::{mount, MsFlags};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A volume's Subpath that is missing or leads out of the volume.
    #[error("error while mounting volume with subpath {subpath:?} of {source_dir}: {source}")]
    Subpath {
        source_dir: String,
        subpath: String,
        source: nix::Error,
    },
    #[error("mounting {what} on {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: nix::Error,
    },
    #[error("preparing {path}: {source}")]
    Prepare { path: PathBuf, source: io::Error },
    #[error("resolving {destination} inside the container's root: {source}")]
    Resolve {
        destination: String,
        source: nix::Error,
    },
    #[error("creating device {path}: {source}")]
    Device { path: PathBuf, source: nix::Error },
    #[error("{path} is not berth's null device (char 1:3)")]
    NotNull { path: PathBuf },
    /// runc's wording for a kernel filesystem whose mount point is a symlink or a file.
    #[error("filesystem {fstype:?} must be mounted on ordinary directory (the image's {destination} is not a directory)")]
    NotADirectory {
        fstype: &'static str,
        destination: &'static str,
    },
    #[error("making {path} read-only: {source}")]
    Readonly { path: String, source: io::Error },
    #[error("pivot_root into {root}: {source}")]
    Pivot { root: PathBuf, source: nix::Error },
    #[error("overlay options for {layers} layers are longer than a page")]
    TooManyLayers { layers: usize },
    #[error(transparent)]
    Idmap(#[from] IdmapError),
    #[error(transparent)]
    Holder(#[from] crate::userns_holder::HolderError),
    #[error(transparent)]
    BindFlags(#[from] crate::bind_flags::BindFlagsError),
    #[error("invalid mount {destination}: {reason}")]
    InvalidMount { destination: String, reason: String },
}

pub type Result<T> = std::result::Result<T, RootfsError>;

fn do_mount(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, target, fstype, flags, data).map_err(|source| RootfsError::Mount {
        what: fstype.or(src).unwrap_or("remount").to_string(),
        target: target.to_path_buf(),
        source,
    })
}

fn prep<T>(path: &Path, r: io::Result<T>) -> Result<T> {
    r.map_err(|source| RootfsError::Prepare {
        path: path.to_path_buf(),
        source,
    })
}

fn ensure_dir(path: &Path) -> Result<()> {
    prep(path, std::fs::create_dir_all(path))
}

/// `dest` (an absolute path inside the container) resolved under `root`, made if missing (a
/// directory, or a file when `file`).
fn target(root: &Path, dest: &str, file: bool) -> Result<Target> {
    mount_target::resolve(root, dest, file).map_err(|source| RootfsError::Resolve {
        destination: dest.to_string(),
        source,
    })
}

/// `dest` resolved under `root` if it is there.
fn existing(root: &Path, dest: &str) -> Result<Option<Target>> {
    mount_target::find(root, dest).map_err(|source| RootfsError::Resolve {
        destination: dest.to_string(),
        source,
    })
}

/// A stopped container's root on `target`, for a copy into or out of it (`docker cp`): step 2's
/// overlay (never `volatile`: what a copy writes must last), then step 5's binds and volumes; a
/// tmpfs holds nothing while the container is stopped and is left out. Call it in a mount
/// namespace of the caller's own, made private, so that the host never sees these mounts.
pub fn mount_stopped_root(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    target: &Path,
) -> Result<()> {
    ensure_dir(target)?;
    // An auto-removed container's root was mounted `volatile`.
    overlay::clear_volatile_marker(&paths.work());
    // With a user namespace, its layers and named volumes are idmapped as at a start, into a
    // namespace with the same maps, and attached over the layers' paths (in the caller's own
    // mount namespace): the ids read and written here are the ones the container sees, and a
    // directory copied up for a file put in belongs to its range, as in the running container.
    let idmapped = match &spec.namespaces.user {
        Some(ns) => {
            let userns = crate::userns_holder::namespace_with(&spec.settings.shim_binary(), ns)?;
            idmap::trees(spec, std::os::fd::AsFd::as_fd(&userns))?
        }
        None => Vec::new(),
    };
    let (layers, volumes) = idmapped.split_at(spec.rootfs.layers.len().min(idmapped.len()));
    let mut volumes = volumes.iter();
    idmap::attach_layers(&spec.rootfs.layers, layers)?;
    overlay::mount_root(spec, paths, target, false)?;
    for m in spec
        .mounts
        .iter()
        .filter(|m| m.kind != crate::spec::MountKind::Tmpfs)
    {
        let tree = if m.idmap { volumes.next() } else { None };
        user_mounts::mount_user(target, m, tree)?;
    }
    Ok(())
}

/// Build the root and enter it. Runs in the container's first process, in its new mount
/// namespace, before any privilege is dropped. Each step is one call with its own error.
///
/// `idmapped`: the image layers, then the named volumes, idmapped into the container's user
/// namespace by the shim ([`send_layers`]), or none without a user namespace.
pub fn setup(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    mapped: &[crate::devices::DeviceNode],
    idmapped: &[std::os::fd::OwnedFd],
) -> Result<RootMode> {
    let root = paths.rootfs();
    // 1. Nothing we mount may propagate back to the host, except through a shared bind.
    enter::propagation(spec, &root)?;
    // 2. The root itself: overlayfs of the layers (each idmapped over its own path first, in a
    //    user namespace) plus the container's upper dir.
    let (layers, mut volumes) = if idmapped.is_empty() {
        (&[][..], [].iter())
    } else {
        let (l, v) = idmapped.split_at(spec.rootfs.layers.len().min(idmapped.len()));
        (l, v.iter())
    };
    idmap::attach_layers(&spec.rootfs.layers, layers)?;
    ensure_dir(&root)?;
    overlay::mount_root(spec, paths, &root, spec.auto_remove)?;
    // 3. Kernel filesystems and devices, on the image's /proc, /dev and /sys, which must be
    //    directories; berth's null device, held for the masks.
    kernel::mount_kernel_filesystems(spec, paths, &root)?;
    devices::make_devices(spec, &root)?;
    for node in mapped {
        devices::make_mapped_device(&root, node)?;
    }
    let null = devices::NullDevice::open(&root)?;
    // 4. The per-container files dockerd bind-mounts into /etc.
    for (file, dest) in [
        (paths.hostname(), "/etc/hostname"),
        (paths.hosts(), "/etc/hosts"),
        (paths.resolv_conf(), "/etc/resolv.conf"),
    ] {
        if file.exists() {
            let at = target(&root, dest, true)?;
            do_mount(file.to_str(), &at.path(), None, MsFlags::MS_BIND, None)?;
        }
    }
    // 5. The user's mounts.
    for m in &spec.mounts {
        let tree = if m.idmap { volumes.next() } else { None };
        user_mounts::mount_user(&root, m, tree)?;
    }
    // 6. Enter the root.
    let mode = enter::enter(&root)?;
    // 7. Docker's masked paths, bound from berth's null device only, then its read-only paths,
    //    each made read-only with every mount under it (masks included), so that nothing under
    //    a read-only path stays writable (not for privileged containers).
    if !spec.process.privileged {
        for p in &spec.masked_paths {
            masks::mask(p, &null)?;
        }
        for p in &spec.readonly_paths {
            masks::readonly(p)?;
        }
    }
    drop(null);
    // 8. A read-only root.
    if spec.rootfs.readonly {
        do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(mode)
}
