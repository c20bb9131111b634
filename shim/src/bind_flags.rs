//! The flags of a bind mount once it is made: read-only over the whole tree (dockerd 25's
//! default; the top mount only or an error on request), nosuid, nodev, noexec; and the flags the
//! source mount had (nosuid, nodev, noexec, read-only, atime), which a plain remount would drop
//! (or fail on, with EPERM, in a user namespace where the kernel locks them).

use crate::mount_target::Target;
use crate::sys;
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statvfs::{fstatvfs, FsFlags};
use std::io;

/// `MountSpec` option: `ro` on the top mount only (BindOptions.ReadOnlyNonRecursive).
pub const RO_NON_RECURSIVE: &str = "ro-non-recursive";
/// `MountSpec` option: `ro` on every mount of the tree or an error
/// (BindOptions.ReadOnlyForceRecursive).
pub const RO_FORCE_RECURSIVE: &str = "ro-force-recursive";

#[derive(Debug, thiserror::Error)]
pub enum BindFlagsError {
    #[error("reading the flags of the mount on {destination}: {source}")]
    Statvfs { destination: String, source: Errno },
    #[error("remounting {destination}: {source}")]
    Remount { destination: String, source: Errno },
    #[error("making {destination} recursively read-only: {source}")]
    Recursive {
        destination: String,
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, BindFlagsError>;

/// How read-only a bind is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadOnly {
    #[default]
    No,
    /// Every mount of the tree; the top one only where the kernel has no mount_setattr(2).
    Recursive,
    /// The top mount only: mounts under it stay as they are.
    TopOnly,
    /// Every mount of the tree, or the mount fails.
    ForceRecursive,
}

/// What a bind's options ask for once it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BindFlags {
    pub readonly: ReadOnly,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl BindFlags {
    /// From mount(8)-style options; the others are not ours and are ignored here.
    pub fn from_options(options: &[String]) -> BindFlags {
        let mut f = BindFlags::default();
        let (mut ro, mut top_only, mut force) = (false, false, false);
        for o in options {
            match o.as_str() {
                "ro" | "readonly" => ro = true,
                RO_NON_RECURSIVE => top_only = true,
                RO_FORCE_RECURSIVE => force = true,
                "nosuid" => f.nosuid = true,
                "nodev" => f.nodev = true,
                "noexec" => f.noexec = true,
                _ => {}
            }
        }
        f.readonly = match (ro, top_only, force) {
            (false, _, _) => ReadOnly::No,
            (true, true, _) => ReadOnly::TopOnly,
            (true, false, true) => ReadOnly::ForceRecursive,
            (true, false, false) => ReadOnly::Recursive,
        };
        f
    }

    fn requested(&self) -> MsFlags {
        let mut m = MsFlags::empty();
        for (on, flag) in [
            (self.nosuid, MsFlags::MS_NOSUID),
            (self.nodev, MsFlags::MS_NODEV),
            (self.noexec, MsFlags::MS_NOEXEC),
        ] {
            if on {
                m |= flag;
            }
        }
        m
    }

    fn requested_attrs(&self) -> u64 {
        let mut a = 0;
        for (on, attr) in [
            (self.nosuid, sys::MOUNT_ATTR_NOSUID),
            (self.nodev, sys::MOUNT_ATTR_NODEV),
            (self.noexec, sys::MOUNT_ATTR_NOEXEC),
        ] {
            if on {
                a |= attr;
            }
        }
        a
    }
}

/// The flags of the mount `top` is on, as a bind remount must repeat them to keep them.
fn kept_flags(top: &Target, destination: &str) -> Result<MsFlags> {
    let st = fstatvfs(top.fd()).map_err(|source| BindFlagsError::Statvfs {
        destination: destination.to_string(),
        source,
    })?;
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (st_flag, ms) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(st_flag) {
            m |= ms;
        }
    }
    // Neither noatime nor relatime: strictatime, which a remount must name or get relatime.
    if !f.intersects(FsFlags::ST_NOATIME | FsFlags::ST_RELATIME) {
        m |= MsFlags::MS_STRICTATIME;
    }
    Ok(m)
}

/// Apply `flags` to the bind mount `top` (the new mount itself, resolved after it was made).
/// Nothing asked, nothing done.
pub fn apply(top: &Target, flags: &BindFlags, destination: &str) -> Result<()> {
    if flags.readonly == ReadOnly::No && flags.requested().is_empty() {
        return Ok(());
    }
    if matches!(
        flags.readonly,
        ReadOnly::Recursive | ReadOnly::ForceRecursive
    ) {
        match sys::set_tree_attrs(top.fd(), sys::MOUNT_ATTR_RDONLY | flags.requested_attrs()) {
            Ok(()) => return Ok(()),
            // A kernel before 5.12: the top mount only, as dockerd does, unless forced.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSYS)
                    && flags.readonly == ReadOnly::Recursive => {}
            Err(source) => {
                return Err(BindFlagsError::Recursive {
                    destination: destination.to_string(),
                    source,
                })
            }
        }
    }
    let mut ms = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | kept_flags(top, destination)?;
    ms |= flags.requested();
    if flags.readonly != ReadOnly::No {
        ms |= MsFlags::MS_RDONLY;
    }
    nix::mount::mount(None::<&str>, &top.path(), None::<&str>, ms, None::<&str>).map_err(|source| {
        BindFlagsError::Remount {
            destination: destination.to_string(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn read_only_is_recursive_unless_asked_otherwise() {
        let ro = |o: &[&str]| BindFlags::from_options(&opts(o)).readonly;
        assert_eq!(ro(&["rbind"]), ReadOnly::No);
        assert_eq!(ro(&["rbind", "ro"]), ReadOnly::Recursive);
        assert_eq!(ro(&["rbind", "ro", RO_NON_RECURSIVE]), ReadOnly::TopOnly);
        assert_eq!(
            ro(&["rbind", "ro", RO_FORCE_RECURSIVE]),
            ReadOnly::ForceRecursive
        );
        // The knobs alone do not make a mount read-only.
        assert_eq!(ro(&["rbind", RO_FORCE_RECURSIVE]), ReadOnly::No);
        let f = BindFlags::from_options(&opts(&["bind", "nosuid", "noexec"]));
        assert_eq!(f.requested(), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(
            f.requested_attrs(),
            sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC
        );
    }
}
