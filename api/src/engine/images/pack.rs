//! Packing directories back into tars: the reverse of [`super::unpack`].
//!
//! One walk serves three callers. It reads a stack of overlay directories (top first) as overlayfs
//! would merge them: the top-most entry of a name wins, a 0:0 character device hides the name
//! below, a directory with `trusted.overlay.opaque=y` hides the directories below it.
//! - [`pack_layer`]: one directory (a container's upper dir) as a layer tar, its overlay whiteouts
//!   turned back into `.wh.<name>` files and `.wh..wh..opq` entries (`docker commit`).
//! - [`pack_merged`]: the merge of a container's layers and upper dir, whiteouts applied
//!   (`docker export`), with no mount.
//!
//! Every directory is opened relative to its parent's fd with `O_NOFOLLOW`, and files with
//! `O_NOFOLLOW` too: a running container that swaps a directory for a symlink in its upper dir
//! while we read cannot make us read outside it.

use super::unpack::{OPAQUE_WHITEOUT, WHITEOUT_PREFIX};
use crate::engine::layers::IdShift;
use crate::engine::regular_file::open_regular_at;
use crate::engine::tree_depth;
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// overlayfs' own bookkeeping (origin, impure, redirect, ...), never part of an image.
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

fn nix_io(what: &str) -> impl Fn(Errno) -> io::Error + '_ {
    move |e| io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}

/// A layer tar of `dir` (whiteouts back as `.wh.` entries) written to `out`. Paths in `skip`
/// ("etc/hosts", "proc") are left out when they are an empty file or directory: the mount points
/// berth makes in a container's upper dir.
///
/// `shift`: the user namespace range of the container that wrote `dir`, whose ids are shifted
/// back to the container's own (host 100000 becomes 0), so that the layer is the one a container
/// without a user namespace would have made.
pub fn pack_layer<W: Write>(
    dir: &Path,
    skip: &BTreeSet<String>,
    shift: Option<IdShift>,
    out: W,
) -> io::Result<W> {
    pack(&[dir], true, skip, shift, out)
}

/// A tar of the merged view of `dirs` (top first), whiteouts applied, written to `out`; with
/// `shift`, `dirs[0]` is a container's upper dir written through that user namespace range.
pub fn pack_merged<W: Write, P: AsRef<Path>>(
    dirs: &[P],
    shift: Option<IdShift>,
    out: W,
) -> io::Result<W> {
    pack(dirs, false, &BTreeSet::new(), shift, out)
}

fn pack<W: Write, P: AsRef<Path>>(
    dirs: &[P],
    as_layer: bool,
    skip: &BTreeSet<String>,
    shift: Option<IdShift>,
    out: W,
) -> io::Result<W> {
    let mut fds = Vec::new();
    for d in dirs {
        let d = d.as_ref();
        let fd = nix::fcntl::open(
            d,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(nix_io(&d.to_string_lossy()))?;
        fds.push(fd);
    }
    let mut p = Packer {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        as_layer,
        skip: skip.clone(),
        shift,
    };
    p.walk(&fds, "", shift.is_some(), 0)?;
    p.b.into_inner()
}

struct Packer<W: Write> {
    b: tar::Builder<W>,
    /// (dev, ino) of files with several links -> the first path written.
    links: HashMap<(u64, u64), String>,
    as_layer: bool,
    skip: BTreeSet<String>,
    /// The upper dir's user namespace range, shifted back.
    shift: Option<IdShift>,
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn is_whiteout(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

fn open_child(parent: &OwnedFd, name: &OsStr, dir: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    if dir {
        flags |= OFlag::O_DIRECTORY;
    }
    openat(parent, name, flags, Mode::empty()).map_err(nix_io(&name.to_string_lossy()))
}

fn is_opaque(fd: &OwnedFd) -> bool {
    let Ok(f) = fd.try_clone().map(File::from) else {
        return false;
    };
    matches!(xattr::FileExt::get_xattr(&f, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// xattrs worth keeping in a tar (capabilities, ACLs, user xattrs); overlay's own are dropped.
fn xattrs(fd: &OwnedFd) -> Vec<(OsString, Vec<u8>)> {
    let Ok(f) = fd.try_clone().map(File::from) else {
        return Vec::new();
    };
    let Ok(names) = xattr::FileExt::list_xattr(&f) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in names {
        if n.as_bytes().starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
            continue;
        }
        if let Ok(Some(v)) = xattr::FileExt::get_xattr(&f, &n) {
            out.push((n, v));
        }
    }
    out.sort();
    out
}

fn is_empty(parent: &OwnedFd, name: &OsStr, st: &FileStat) -> bool {
    match kind(st) {
        SFlag::S_IFREG => st.st_size == 0,
        SFlag::S_IFDIR => open_child(parent, name, true)
            .and_then(|fd| Dir::from_fd(fd).map_err(nix_io("dir")))
            .is_ok_and(|mut d| {
                d.iter()
                    .flatten()
                    .all(|e| matches!(e.file_name().to_bytes(), b"." | b".."))
            }),
        _ => false,
    }
}

fn header(st: &FileStat, ty: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(ty);
    // The file's type bits too (0o100644 for a file), as moby's archive writes them (Go 1.8's
    // type bits, kept by dockerd for compatibility): `docker export`s list the same modes.
    h.set_mode(st.st_mode & (libc::S_IFMT | 0o7777));
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> Packer<W> {
    /// PAX records (`SCHILY.xattr.*`) for the entry that follows.
    fn pax(&mut self, path: &str, xattrs: &[(OsString, Vec<u8>)]) -> io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        for (k, v) in xattrs {
            let mut rec = b"SCHILY.xattr.".to_vec();
            rec.extend_from_slice(k.as_bytes());
            rec.push(b'=');
            rec.extend_from_slice(v);
            rec.push(b'\n');
            // "<len> <rec>": the length counts its own digits and the space.
            let mut len = rec.len() + 2;
            while format!("{len} ").len() + rec.len() != len {
                len = format!("{len} ").len() + rec.len();
            }
            body.extend_from_slice(format!("{len} ").as_bytes());
            body.extend_from_slice(&rec);
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        let name = format!("PaxHeaders/{}", path.trim_end_matches('/'));
        // A ustar name holds 99 bytes: cut there, or at the character before.
        let mut end = name.len().min(99);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let name = &name[..end];
        h.set_path(name)
            .or_else(|_| h.set_path("PaxHeaders/entry"))?;
        h.set_cksum();
        self.b.append(&h, &body[..])
    }

    /// Walk the directories `fds` (top first, all the same relative dir `rel`); `upper_first`:
    /// `fds[0]` is in the upper dir whose ids are shifted back.
    fn walk(
        &mut self,
        fds: &[OwnedFd],
        rel: &str,
        upper_first: bool,
        depth: usize,
    ) -> io::Result<()> {
        tree_depth::check_io(depth, rel)?;
        // name -> (layer index, stat), every layer where it exists.
        let mut names: BTreeMap<OsString, Vec<(usize, FileStat)>> = BTreeMap::new();
        for (i, fd) in fds.iter().enumerate() {
            let mut dir = Dir::from_fd(fd.try_clone()?).map_err(nix_io(rel))?;
            for e in dir.iter() {
                let e = e.map_err(nix_io(rel))?;
                let name = OsStr::from_bytes(e.file_name().to_bytes()).to_os_string();
                if name == "." || name == ".." {
                    continue;
                }
                match fstatat(fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(mut st) => {
                        if let Some(shift) = self.shift.filter(|_| upper_first && i == 0) {
                            st.st_uid = shift.back(st.st_uid);
                            st.st_gid = shift.back(st.st_gid);
                        }
                        names.entry(name).or_default().push((i, st))
                    }
                    Err(Errno::ENOENT) => {} // removed while we read (a running container)
                    Err(e) => return Err(nix_io(&name.to_string_lossy())(e)),
                }
            }
        }
        for (name, found) in names {
            let (top, st) = found[0];
            let path = format!("{rel}{}", name.to_string_lossy());
            if self.skip.contains(&path) && is_empty(&fds[top], &name, &st) {
                continue;
            }
            if is_whiteout(&st) {
                if self.as_layer {
                    let wh = format!("{rel}{WHITEOUT_PREFIX}{}", name.to_string_lossy());
                    let mut h = header(&st, tar::EntryType::Regular);
                    h.set_mode(0o600);
                    self.b.append_data(&mut h, wh, io::empty())?;
                }
                continue;
            }
            if kind(&st) == SFlag::S_IFDIR {
                let Ok(fd) = open_child(&fds[top], &name, true) else {
                    continue; // removed or swapped for a symlink while we read
                };
                let opaque = is_opaque(&fd);
                let mut below = vec![fd];
                if !opaque {
                    for (i, s) in found.iter().skip(1) {
                        if kind(s) != SFlag::S_IFDIR {
                            break;
                        }
                        let Ok(fd) = open_child(&fds[*i], &name, true) else {
                            break;
                        };
                        let stop = is_opaque(&fd);
                        below.push(fd);
                        if stop {
                            break;
                        }
                    }
                }
                let dir_path = format!("{path}/");
                self.pax(&dir_path, &xattrs(&below[0]))?;
                let mut h = header(&st, tar::EntryType::Directory);
                self.b.append_data(&mut h, &dir_path, io::empty())?;
                if opaque && self.as_layer {
                    let mut h = header(&st, tar::EntryType::Regular);
                    h.set_mode(0o600);
                    self.b.append_data(
                        &mut h,
                        format!("{dir_path}{OPAQUE_WHITEOUT}"),
                        io::empty(),
                    )?;
                }
                self.walk(&below, &dir_path, upper_first && top == 0, depth + 1)?;
                continue;
            }
            self.file(&fds[top], &name, &st, &path)?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        st: &FileStat,
        path: &str,
    ) -> io::Result<()> {
        let k = kind(st);
        if k != SFlag::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let mut h = header(st, tar::EntryType::Link);
                let first = first.clone();
                return self.b.append_link(&mut h, path, first);
            }
            self.links.insert(key, path.to_string());
        }
        match k {
            SFlag::S_IFREG => {
                // Removed, or swapped for a FIFO or a device while we read: not opened, left out.
                let Ok(Some((f, mut fresh))) = open_regular_at(parent, name) else {
                    return Ok(());
                };
                let fd = OwnedFd::from(f.try_clone()?);
                // The owner as the walk saw it (shifted back from a user namespace's range).
                (fresh.st_uid, fresh.st_gid) = (st.st_uid, st.st_gid);
                let st = fresh;
                self.pax(path, &xattrs(&fd))?;
                let mut h = header(&st, tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // A file that shrinks while we read (a running container) is padded with
                // zeros to the size in its header, as GNU tar does.
                let data = io::Read::chain(
                    io::Read::take(f, st.st_size as u64),
                    io::Read::take(io::repeat(0), st.st_size as u64),
                );
                let data = io::Read::take(data, st.st_size as u64);
                self.b.append_data(&mut h, path, data)
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(parent, name).map_err(nix_io(path))?;
                let mut h = header(st, tar::EntryType::Symlink);
                self.b.append_link(&mut h, path, Path::new(&target))
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK => {
                let ty = if k == SFlag::S_IFCHR {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = header(st, ty);
                h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32)?;
                h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32)?;
                self.b.append_data(&mut h, path, io::empty())
            }
            SFlag::S_IFIFO => {
                let mut h = header(st, tar::EntryType::Fifo);
                self.b.append_data(&mut h, path, io::empty())
            }
            _ => Ok(()), // sockets are not archived (as tar does)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20: a file a container names, whose PAX header name is cut at 99 bytes inside a
    /// character, packs (commit, export, save) with the name cut at the character before.
    #[test]
    fn a_long_name_with_xattrs_is_cut_at_a_character() {
        let dir = tempfile::tempdir().unwrap();
        // "PaxHeaders/a" then 'é's: byte 99 falls inside one.
        let name = format!("a{}", "é".repeat(50));
        let file = dir.path().join(&name);
        std::fs::write(&file, b"x").unwrap();
        xattr::set(&file, "user.berth", b"1").unwrap();
        let tar = pack_layer(dir.path(), &BTreeSet::new(), None, Vec::new())
            .unwrap_or_else(|e| panic!("expected the layer packed, got {e}"));
        let mut archive = tar::Archive::new(&tar[..]);
        let mut names = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            names.push(e.path().unwrap().to_string_lossy().into_owned());
        }
        assert!(
            names.iter().any(|n| n.ends_with(&name)),
            "expected {name:?} among the entries, got {names:?}"
        );
    }

    /// A file listed as regular, then swapped by a running container for a FIFO before it is
    /// opened (the walk's stat is handed in as it was): the packer never waits on it.
    #[test]
    fn a_file_swapped_for_a_fifo_is_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let parent = nix::fcntl::open(dir.path(), OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let listed = fstatat(&parent, "f", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
        std::fs::remove_file(dir.path().join("f")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("f"), Mode::from_bits_truncate(0o600)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut p = Packer {
                b: tar::Builder::new(Vec::new()),
                links: HashMap::new(),
                as_layer: true,
                skip: BTreeSet::new(),
                shift: None,
            };
            let r = p.file(&parent, OsStr::new("f"), &listed, "f");
            let _ = tx.send(r.map(|()| p.b.into_inner().unwrap()));
        });
        let tar = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("expected the packer to go past a FIFO; it is still waiting after 5 s")
            .unwrap_or_else(|e| panic!("expected the swapped file left out, got {e}"));
        let mut archive = tar::Archive::new(&tar[..]);
        assert_eq!(
            archive.entries().unwrap().count(),
            0,
            "nothing archived for it"
        );
    }
}
