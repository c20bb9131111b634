//! The file work of `docker cp`, on directory fds only: every step opens one name relative to a
//! held directory fd with `O_NOFOLLOW`, so nothing a container does to its tree meanwhile can
//! redirect it (see `archive.rs`).

use crate::engine::layers::IdShift;
use crate::engine::regular_file::{open_regular, open_regular_at};
use crate::engine::tree_depth;
use crate::engine::{EngineError, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, mknodat, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Reopen an `O_PATH` fd for reading (the same inode, whatever its path is now).
fn reopen(fd: &OwnedFd, flags: OFlag) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
        flags | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// `shift`: a user-namespaced container's range, whose host ids are written as the container's.
fn header_for(st: &FileStat, shift: Option<IdShift>) -> tar::Header {
    let back = |id: u32| shift.map_or(id, |s| s.back(id));
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(back(st.st_uid) as u64);
    h.set_gid(back(st.st_gid) as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// A tar of the file or tree at `top` (an `O_PATH` fd), named `name` in the archive.
pub fn write_tar(
    top: &OwnedFd,
    name: &str,
    shift: Option<IdShift>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let st = nix::sys::stat::fstat(top).map_err(io_err)?;
    match kind(&st) {
        SFlag::S_IFDIR => {
            let dir = reopen(top, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(io_err)?;
            add_dir(&mut b, &dir, &st, name, shift, 0)?;
        }
        SFlag::S_IFREG => match open_regular(top)? {
            Some((f, _)) => add_file(&mut b, f.into(), name, shift)?,
            None => add_special(&mut b, &st, name, shift)?,
        },
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(top, "").map_err(io_err)?;
            let mut h = header_for(&st, shift);
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, name, Path::new(&target))?;
        }
        _ => add_special(&mut b, &st, name, shift)?,
    }
    b.into_inner()?.flush()
}

fn add_file<W: Write>(
    b: &mut tar::Builder<W>,
    f: OwnedFd,
    name: &str,
    shift: Option<IdShift>,
) -> io::Result<()> {
    let file = std::fs::File::from(f);
    let st = nix::sys::stat::fstat(&file).map_err(io_err)?;
    let mut h = header_for(&st, shift);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(st.st_size.max(0) as u64);
    b.append_data(&mut h, name, file.take(st.st_size.max(0) as u64))
}

fn add_special<W: Write>(
    b: &mut tar::Builder<W>,
    st: &FileStat,
    name: &str,
    shift: Option<IdShift>,
) -> io::Result<()> {
    let mut h = header_for(st, shift);
    let t = match kind(st) {
        SFlag::S_IFCHR => tar::EntryType::Char,
        SFlag::S_IFBLK => tar::EntryType::Block,
        SFlag::S_IFIFO => tar::EntryType::Fifo,
        _ => return Ok(()), // sockets are not archived
    };
    h.set_entry_type(t);
    h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32)?;
    h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32)?;
    b.append_data(&mut h, name, io::empty())
}

fn add_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &OwnedFd,
    st: &FileStat,
    name: &str,
    shift: Option<IdShift>,
    depth: usize,
) -> io::Result<()> {
    tree_depth::check_io(depth, name)?;
    let mut h = header_for(st, shift);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, format!("{name}/"), io::empty())?;
    let mut names: Vec<OsString> = {
        let dup = dir.try_clone()?;
        let mut d = nix::dir::Dir::from_fd(dup).map_err(io_err)?;
        d.iter()
            .flatten()
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n != "." && n != "..")
            .collect()
    };
    names.sort();
    for n in names {
        let child = format!("{name}/{}", n.to_string_lossy());
        // Gone meanwhile, or swapped for another kind: left out.
        let Ok(cst) = fstatat(dir, n.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        match kind(&cst) {
            SFlag::S_IFDIR => {
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
                if let Ok(sub) = openat(dir, n.as_os_str(), flags | OFlag::O_CLOEXEC, Mode::empty())
                {
                    add_dir(b, &sub, &cst, &child, shift, depth + 1)?;
                }
            }
            SFlag::S_IFREG => {
                // Swapped meanwhile for a FIFO or a device: not opened, left out.
                if let Ok(Some((f, _))) = open_regular_at(dir, n.as_os_str()) {
                    add_file(b, f.into(), &child, shift)?;
                }
            }
            SFlag::S_IFLNK => {
                if let Ok(target) = nix::fcntl::readlinkat(dir, n.as_os_str()) {
                    let mut h = header_for(&cst, shift);
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, &child, Path::new(&target))?;
                }
            }
            _ => add_special(b, &cst, &child, shift)?,
        }
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::invalid_parameter(msg.into())
}

fn sys(what: &Path, e: impl std::error::Error + Send + Sync + 'static) -> EngineError {
    EngineError::system(what.display(), e)
}

/// The parent directory of `rel` under `dest` (created as needed, never through a symlink) and
/// the last name.
fn parent_of(dest: &OwnedFd, rel: &Path) -> Result<(OwnedFd, OsString)> {
    let names: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Ok(n)),
            Component::CurDir | Component::RootDir => None,
            _ => Some(Err(())),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(format!("invalid path in the archive: {}", rel.display())))?;
    let Some((last, dirs)) = names.split_last() else {
        return Err(bad("an empty path in the archive"));
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut cur = dest.try_clone().map_err(|e| sys(rel, e))?;
    for d in dirs {
        match mkdirat(&cur, *d, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(sys(rel, e)),
        }
        cur = openat(&cur, *d, flags, Mode::empty()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => bad(format!(
                "{}: a parent in the container is not a directory (symlinks are not followed)",
                rel.display()
            )),
            e => sys(rel, e),
        })?;
    }
    Ok((cur, last.to_os_string()))
}

/// Remove `name` under `dir`, a whole tree for a directory, never following a symlink.
fn remove_at(dir: &OwnedFd, name: &OsStr, depth: usize) -> Result<()> {
    let fail = |e: Errno| sys(Path::new(name), e);
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(fail)?;
    if kind(&st) != SFlag::S_IFDIR {
        return nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(fail);
    }
    tree_depth::check(depth, &name.to_string_lossy()).map_err(|e| sys(Path::new(name), e))?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let sub = openat(dir, name, flags, Mode::empty()).map_err(fail)?;
    let names: Vec<OsString> = {
        let dup = sub.try_clone().map_err(|e| sys(Path::new(name), e))?;
        let mut d = nix::dir::Dir::from_fd(dup).map_err(fail)?;
        d.iter()
            .flatten()
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n != "." && n != "..")
            .collect()
    };
    for n in names {
        remove_at(&sub, &n, depth + 1)?;
    }
    nix::unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir).map_err(fail)
}

/// Options of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
    /// A user-namespaced container's range: the archive's ids are the container's, written
    /// as the range's host ids (an id past the range as the range's `nobody`, 65534).
    pub shift: Option<IdShift>,
}

/// Extract `tar` (plain or gzip) into the directory `dest` (an `O_PATH` fd).
pub fn extract(dest: &OwnedFd, tar: &mut dyn Read, opts: &PutOptions) -> Result<()> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match tar.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(bad(format!("reading the archive: {e}"))),
        }
    }
    let chained = std::io::Read::chain(&head[..got], tar);
    let reader: Box<dyn Read> = if head == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(chained))
    } else {
        Box::new(chained)
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("reading the archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading the archive: {e}")))?;
        let rel = entry
            .path()
            .map_err(|e| bad(format!("reading the archive: {e}")))?
            .into_owned();
        if rel
            .components()
            .all(|c| matches!(c, Component::CurDir | Component::RootDir))
        {
            continue;
        }
        let h = entry.header().clone();
        let (parent, name) = parent_of(dest, &rel)?;
        let t = h.entry_type();
        let is_dir = t == tar::EntryType::Directory;
        let existing = fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).ok();
        if let Some(st) = &existing {
            let was_dir = kind(st) == SFlag::S_IFDIR;
            if opts.no_overwrite_dir_non_dir && was_dir != is_dir {
                let shown = format!("/{}", rel.display());
                return Err(bad(if was_dir {
                    format!("cannot overwrite directory {shown:?} with non-directory {shown:?}")
                } else {
                    format!("cannot overwrite non-directory {shown:?} with directory {shown:?}")
                }));
            }
            if !(was_dir && is_dir) {
                remove_at(&parent, &name, 0)?;
            }
        }
        let mode = Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777);
        let name = name.as_os_str();
        match t {
            tar::EntryType::Directory => {
                match mkdirat(&parent, name, mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(sys(&rel, e)),
                }
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
                let d = openat(&parent, name, flags | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(|e| sys(&rel, e))?;
                fchmod(&d, mode).map_err(|e| sys(&rel, e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
                let fd = openat(&parent, name, flags | OFlag::O_CLOEXEC, mode)
                    .map_err(|e| sys(&rel, e))?;
                let mut f = std::fs::File::from(fd);
                io::copy(&mut entry, &mut f).map_err(|e| sys(&rel, e))?;
                fchmod(&f, mode).map_err(|e| sys(&rel, e))?;
            }
            tar::EntryType::Symlink => {
                let target =
                    h.link_name().ok().flatten().ok_or_else(|| {
                        bad(format!("{}: a symlink without a target", rel.display()))
                    })?;
                nix::unistd::symlinkat(target.as_os_str(), &parent, name)
                    .map_err(|e| sys(&rel, e))?;
            }
            tar::EntryType::Link => {
                let target = h.link_name().ok().flatten().ok_or_else(|| {
                    bad(format!("{}: a hard link without a target", rel.display()))
                })?;
                let (tparent, tname) = parent_of(dest, &target)?;
                nix::unistd::linkat(&tparent, tname.as_os_str(), &parent, name, AtFlags::empty())
                    .map_err(|e| sys(&rel, e))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let k = match t {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = nix::sys::stat::makedev(
                    h.device_major().ok().flatten().unwrap_or(0) as u64,
                    h.device_minor().ok().flatten().unwrap_or(0) as u64,
                );
                mknodat(&parent, name, k, mode, dev).map_err(|e| sys(&rel, e))?;
            }
            // PAX and GNU long-name records are read by the tar crate itself.
            _ => continue,
        }
        let (uid, gid) = if opts.copy_uid_gid {
            (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32)
        } else {
            (0, 0)
        };
        let (uid, gid) = match opts.shift {
            Some(s) => (s.forward(uid), s.forward(gid)),
            None => (uid, gid),
        };
        fchownat(
            &parent,
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| sys(&rel, e))?;
        // chown clears setuid bits: set the mode again (never through a symlink).
        if t == tar::EntryType::Regular {
            let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            if let Ok(fd) = openat(&parent, name, flags, Mode::empty()) {
                if let Ok(Some((f, _))) = open_regular(&fd) {
                    let _ = fchmod(&f, mode);
                }
            }
        }
        if let Ok(mtime) = h.mtime() {
            let ts = TimeSpec::new(mtime as i64, 0);
            let _ = nix::sys::stat::utimensat(
                &parent,
                name,
                &ts,
                &ts,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            );
        }
    }
    Ok(())
}
