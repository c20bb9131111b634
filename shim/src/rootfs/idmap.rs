//! The image layers (and named volumes) of a user-namespaced container, idmapped into its user namespace: the shim
//! (root on the host) makes a detached, idmapped copy of each layer's mount once the namespace
//! has its maps, and hands the descriptors to the container's first process over a socket; that
//! process attaches each over the layer's own path in its private mount namespace, and the
//! overlay is built on them. No layer is copied or chowned: a file the image gives to root is
//! root's inside, and the host sees what the container writes as its range's ids.

use crate::spec::ContainerSpec;
use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    #[error("opening the user namespace of process {pid}: {source}")]
    Namespace { pid: i32, source: io::Error },
    #[error("cloning the mount of layer {layer}: {source}")]
    Clone { layer: PathBuf, source: io::Error },
    /// The kernel refuses to idmap this filesystem (EINVAL: its type does not support
    /// idmapped mounts).
    #[error("the filesystem of layer {layer} ({fstype}) cannot be idmapped into the container's user namespace: {source}; run the container with --userns=host, or keep berth's root on a filesystem that supports idmapped mounts (ext4, xfs, btrfs, tmpfs)")]
    Unsupported {
        layer: PathBuf,
        fstype: String,
        source: io::Error,
    },
    #[error("passing the idmapped layer {layer} to the container: {source}")]
    Send { layer: PathBuf, source: io::Error },
    #[error("receiving idmapped layer {index} of {count} from the shim: {reason}")]
    Receive {
        index: usize,
        count: usize,
        reason: String,
    },
    #[error("{0}")]
    Subpath(Box<super::RootfsError>),
    #[error("attaching the idmapped layer on {layer}: {source}")]
    Attach { layer: PathBuf, source: io::Error },
}

pub type Result<T> = std::result::Result<T, IdmapError>;

/// How many idmapped mounts the shim sends for `spec`: one per layer, then one per named
/// volume.
pub fn count(spec: &ContainerSpec) -> usize {
    spec.rootfs.layers.len() + spec.mounts.iter().filter(|m| m.idmap).count()
}

/// The shim's side: idmap every layer, then every named volume, into the user namespace of
/// `pid` (whose maps are written) and send the mounts, in that order, over `socket`.
pub fn send_layers(pid: i32, spec: &ContainerSpec, socket: impl AsFd) -> Result<()> {
    let ns_path = format!("/proc/{pid}/ns/user");
    let userns =
        std::fs::File::open(&ns_path).map_err(|source| IdmapError::Namespace { pid, source })?;
    let sources = spec.rootfs.layers.iter().map(PathBuf::as_path).chain(
        spec.mounts
            .iter()
            .filter(|m| m.idmap)
            .map(|m| Path::new(&m.source)),
    );
    for (tree, what) in trees(spec, userns.as_fd())?.into_iter().zip(sources) {
        sys::send_fd(socket.as_fd().as_raw_fd(), tree.as_raw_fd()).map_err(|source| {
            IdmapError::Send {
                layer: what.to_path_buf(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Every layer, then every named volume of `spec`, idmapped into `userns`: [`count`] mounts.
pub fn trees(spec: &ContainerSpec, userns: std::os::fd::BorrowedFd<'_>) -> Result<Vec<OwnedFd>> {
    let mut out = Vec::with_capacity(count(spec));
    for layer in &spec.rootfs.layers {
        out.push(idmapped(layer, userns)?);
    }
    for m in spec.mounts.iter().filter(|m| m.idmap) {
        // A subpath is resolved beneath the volume here too, and cloned through its fd.
        let sub = (!m.subpath.is_empty())
            .then(|| super::user_mounts::open_subpath(&m.source, &m.subpath))
            .transpose()
            .map_err(|e| IdmapError::Subpath(Box::new(e)))?;
        let path = match &sub {
            Some(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            None => PathBuf::from(&m.source),
        };
        out.push(idmapped(&path, userns)?);
    }
    Ok(out)
}

/// A detached copy of `layer`'s mount, idmapped through `userns`.
pub fn idmapped(layer: &Path, userns: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    let tree = sys::open_tree_clone(layer).map_err(|source| IdmapError::Clone {
        layer: layer.to_path_buf(),
        source,
    })?;
    sys::set_idmap(tree.as_fd(), userns).map_err(|source| IdmapError::Unsupported {
        layer: layer.to_path_buf(),
        fstype: fs_type(layer),
        source,
    })?;
    Ok(tree)
}

/// The name of the filesystem type under `path`, for the error that says it cannot be
/// idmapped.
fn fs_type(path: &Path) -> String {
    use nix::sys::statfs::*;
    let Ok(st) = statfs(path) else {
        return "unknown".into();
    };
    let t = st.filesystem_type();
    let known = [
        (EXT4_SUPER_MAGIC, "ext4"),
        (TMPFS_MAGIC, "tmpfs"),
        (BTRFS_SUPER_MAGIC, "btrfs"),
        (FsType(0x5846_5342), "xfs"),
        (OVERLAYFS_SUPER_MAGIC, "overlay"),
        (NFS_SUPER_MAGIC, "nfs"),
        (FUSE_SUPER_MAGIC, "fuse"),
    ];
    known
        .iter()
        .find(|(m, _)| *m == t)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("type {:#x}", t.0))
}

/// The container's side: receive the [`count`] idmapped mounts from the shim.
pub fn receive_layers(socket: &OwnedFd, count: usize) -> Result<Vec<OwnedFd>> {
    (0..count)
        .map(|index| {
            let err = |reason: String| IdmapError::Receive {
                index,
                count,
                reason,
            };
            match sys::recv_fd(socket.as_raw_fd()) {
                Ok(Some(fd)) => Ok(fd),
                Ok(None) => Err(err("the shim sent none".into())),
                Err(e) => Err(err(e.to_string())),
            }
        })
        .collect()
}

/// Attach each idmapped layer over its own path (in the container's private mount namespace,
/// so the host never sees it), so that the overlay's lower dirs are the idmapped ones.
pub fn attach_layers(layers: &[PathBuf], trees: &[OwnedFd]) -> Result<()> {
    for (layer, tree) in layers.iter().zip(trees) {
        sys::move_mount_to(tree.as_fd(), layer).map_err(|source| IdmapError::Attach {
            layer: layer.clone(),
            source,
        })?;
    }
    Ok(())
}
