//! A container's layers: its overlay upper dir over its image's layer dirs, read straight from
//! the dirs and merged as overlayfs would merge them (no mount), and what the upper dir changes.
//! The export and diff of a container and the commit of an image read them.

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use serde::Serialize;
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// dockerd's change kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// "/etc/passwd"
    pub path: String,
    pub kind: ChangeKind,
}

/// A container's layers, as the export and diff need them.
#[derive(Debug)]
pub struct Stack {
    pub upper: PathBuf,
    /// Image layers, base first.
    pub layers: Vec<PathBuf>,
    /// Paths (relative, "etc/hosts") berth itself creates in the upper dir as mount points:
    /// not the container's changes when they are empty.
    pub mount_points: BTreeSet<String>,
    /// The user namespace range the container wrote its upper dir through: shifted back to
    /// the container's own ids by commit and export.
    pub shift: Option<IdShift>,
}

impl Stack {
    /// What the upper dir changes, in dockerd's order (a depth-first walk, names sorted, a
    /// directory before its children).
    pub fn changes(&self) -> std::io::Result<Vec<Change>> {
        let upper = open_dir(None, self.upper.as_os_str())?;
        let mut lowers = Vec::new();
        for l in self.layers.iter().rev() {
            lowers.push(Some(open_dir(None, l.as_os_str())?));
        }
        let mut out = Vec::new();
        changes_in(&upper, &lowers, "", &self.mount_points, &mut out, 0)?;
        Ok(out)
    }
}

fn open_dir(parent: Option<&OwnedFd>, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    match parent {
        Some(p) => openat(p, name, flags | OFlag::O_NOFOLLOW, Mode::empty()),
        None => nix::fcntl::open(name, flags, Mode::empty()),
    }
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn is_whiteout(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

fn names(dir: &OwnedFd) -> nix::Result<Vec<OsString>> {
    let mut d = nix::dir::Dir::from_fd(dir.try_clone().map_err(|_| Errno::EBADF)?)?;
    let mut v: Vec<OsString> = d
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    Ok(v)
}

fn lstat(dir: &OwnedFd, name: &OsStr) -> nix::Result<Option<FileStat>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The stat of `name` as the lower layers (top first) show it; None when absent or whited out.
fn in_lower(lowers: &[Option<OwnedFd>], name: &OsStr) -> nix::Result<Option<FileStat>> {
    for l in lowers.iter().flatten() {
        if let Some(st) = lstat(l, name)? {
            return Ok((!is_whiteout(&st)).then_some(st));
        }
    }
    Ok(None)
}

fn is_empty(dir: &OwnedFd, name: &OsStr, st: &FileStat) -> bool {
    match kind(st) {
        SFlag::S_IFREG => st.st_size == 0,
        SFlag::S_IFDIR => open_dir(Some(dir), name)
            .and_then(|d| names(&d))
            .is_ok_and(|n| n.is_empty()),
        _ => false,
    }
}

fn changes_in(
    upper: &OwnedFd,
    lowers: &[Option<OwnedFd>],
    rel: &str,
    mount_points: &BTreeSet<String>,
    out: &mut Vec<Change>,
    depth: usize,
) -> std::io::Result<()> {
    crate::engine::tree_depth::check_io(depth, rel)?;
    for name in names(upper)? {
        let Some(st) = lstat(upper, &name)? else {
            continue;
        };
        let rel_path = format!("{rel}{}", name.to_string_lossy());
        let path = format!("/{rel_path}");
        if mount_points.contains(&rel_path) && is_empty(upper, &name, &st) {
            continue;
        }
        if is_whiteout(&st) {
            out.push(Change {
                path,
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let below = in_lower(lowers, &name)?;
        if kind(&st) != SFlag::S_IFDIR {
            out.push(Change {
                path,
                kind: if below.is_some() {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                },
            });
            continue;
        }
        let Ok(sub) = open_dir(Some(upper), &name) else {
            continue; // swapped while we read
        };
        let opaque = std::fs::File::from(sub.try_clone().map_err(|_| Errno::EBADF)?);
        let opaque = matches!(
            xattr::FileExt::get_xattr(&opaque, "trusted.overlay.opaque"),
            Ok(Some(v)) if v == b"y"
        );
        // The lower dirs of this directory, top first, as far as they show through.
        let mut sub_lowers = Vec::new();
        if !opaque && below.as_ref().is_some_and(|b| kind(b) == SFlag::S_IFDIR) {
            for l in lowers {
                let d = match l {
                    Some(l) => match lstat(l, &name)? {
                        Some(s) if is_whiteout(&s) || kind(&s) != SFlag::S_IFDIR => break,
                        Some(_) => open_dir(Some(l), &name).ok(),
                        None => None,
                    },
                    None => None,
                };
                sub_lowers.push(d);
            }
        }
        let mut children = Vec::new();
        changes_in(
            &sub,
            &sub_lowers,
            &format!("{rel_path}/"),
            mount_points,
            &mut children,
            depth + 1,
        )?;
        let meta_changed = match &below {
            None => true,
            Some(b) => {
                kind(b) != SFlag::S_IFDIR
                    || opaque
                    || b.st_mode != st.st_mode
                    || b.st_uid != st.st_uid
                    || b.st_gid != st.st_gid
            }
        };
        if meta_changed || !children.is_empty() {
            out.push(Change {
                path,
                kind: if below.is_some() {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                },
            });
        }
        out.extend(children);
    }
    Ok(())
}

/// A user namespace's range: host ids `start..start + size` are the container's `0..size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdShift {
    pub start: u32,
    pub size: u32,
}

impl IdShift {
    /// The container's id for host id `id` (an id outside the range is kept).
    pub fn back(&self, id: u32) -> u32 {
        if id >= self.start && id - self.start < self.size {
            id - self.start
        } else {
            id
        }
    }

    /// The host id of the container's `id`; one past the range is the range's `nobody`.
    pub fn forward(&self, id: u32) -> u32 {
        if id < self.size {
            self.start + id
        } else {
            self.start + 65_534.min(self.size.saturating_sub(1))
        }
    }
}

#[cfg(test)]
mod id_shift_tests {
    use super::IdShift;

    #[test]
    fn ids_shift_back_within_the_range_only_and_forward_to_its_nobody_past_it() {
        let s = IdShift {
            start: 100_000,
            size: 65_536,
        };
        for (host, back) in [
            (100_000, 0),
            (101_000, 1000),
            (165_535, 65_535),
            (0, 0),
            (165_536, 165_536),
            (99_999, 99_999),
        ] {
            assert_eq!(s.back(host), back, "host id {host}");
        }
        for (id, host) in [
            (0, 100_000),
            (1000, 101_000),
            (65_535, 165_535),
            (70_000, 165_534),
        ] {
            assert_eq!(s.forward(id), host, "container id {id}");
        }
    }
}
