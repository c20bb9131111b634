//! Unpacking one layer tar (plain, gzip or zstd) into a directory overlayfs can use as a lower
//! dir, and computing its diff id (the sha256 of the uncompressed tar) on the way.
//!
//! Every entry is created relative to the layer directory with `*at` calls: parent directories are
//! opened one component at a time with `O_NOFOLLOW`, so a symlink in the archive can never carry a
//! later entry outside the layer. Absolute paths, `..`, symlinked parents, hardlinks to anything
//! outside the layer and duplicate entries are refused; the caller unpacks into a private
//! temporary directory and throws it away on error.
//!
//! Docker whiteouts become overlayfs ones: `.wh.<name>` a 0:0 character device at `<name>`,
//! `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory.
//!
//! Bound: a layer may expand to [`Limits::max_bytes`] of uncompressed tar (64 GiB by default) and
//! [`Limits::max_entries`] entries (one million); past either the unpack fails, so a gzip or zstd
//! bomb costs at most that much disk before it is thrown away.

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use tar::EntryType;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of uncompressed tar stream.
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 1_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("unsafe path in layer: {path:?} ({why})")]
    UnsafePath { path: String, why: &'static str },
    #[error("hardlink {path:?} points outside the layer or at nothing: {target:?}")]
    BadHardlink { path: String, target: String },
    #[error("duplicate entry in layer: {0:?}")]
    Duplicate(String),
    #[error("layer expands beyond the limit of {0} bytes")]
    TooLarge(u64),
    #[error("layer has more than {0} entries")]
    TooManyEntries(u64),
    #[error("unsupported layer compression: {0}")]
    Compression(&'static str),
    #[error("invalid layer archive: {0}")]
    Archive(io::Error),
    #[error("unpacking {path:?}: {source}")]
    Write { path: String, source: io::Error },
}

impl UnpackError {
    /// Failures of the archive are the client's (400); failures to write are ours (500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, UnpackError::Write { .. })
    }
}

impl From<UnpackError> for crate::engine::EngineError {
    fn from(e: UnpackError) -> Self {
        if e.is_client_error() {
            crate::engine::EngineError::invalid_parameter(e.to_string())
        } else {
            crate::engine::EngineError::system_message(e.to_string())
        }
    }
}

type Result<T> = std::result::Result<T, UnpackError>;

/// What an unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// "sha256:<hex>" of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of regular files.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
}

/// Wrap `r` in the decompressor its first bytes call for.
pub fn decompress<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::new(r);
    let head = r.fill_buf().map_err(UnpackError::Archive)?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(r)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(UnpackError::Archive)?)
        }
        [b'B', b'Z', b'h', ..] => return Err(UnpackError::Compression("bzip2")),
        [0xfd, b'7', b'z', b'X', b'Z', ..] => return Err(UnpackError::Compression("xz")),
        _ => Box::new(r),
    })
}

/// Counts, hashes and bounds the uncompressed stream; remembers its last 512 bytes so the end of
/// archive marker can be checked.
struct Tap<R> {
    inner: R,
    sha: Sha256,
    count: u64,
    max: u64,
    tail: Vec<u8>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.max {
            return Err(io::Error::other(TooLargeMarker));
        }
        self.sha.update(&buf[..n]);
        self.tail.extend_from_slice(&buf[..n]);
        if self.tail.len() > 512 {
            self.tail.drain(..self.tail.len() - 512);
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct TooLargeMarker;
impl std::fmt::Display for TooLargeMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("layer too large")
    }
}
impl std::error::Error for TooLargeMarker {}

fn archive_error(e: io::Error, max: u64) -> UnpackError {
    if e.get_ref().is_some_and(|i| i.is::<TooLargeMarker>()) {
        UnpackError::TooLarge(max)
    } else {
        UnpackError::Archive(e)
    }
}

/// Unpack a (possibly compressed) layer tar into `dest`, an existing empty directory.
pub fn unpack_layer(r: impl Read, dest: &Path, limits: &Limits) -> Result<Unpacked> {
    let tap = Tap {
        inner: decompress(r)?,
        sha: Sha256::new(),
        count: 0,
        max: limits.max_bytes,
        tail: Vec::with_capacity(1024),
    };
    let root = open_dir_path(dest)?;
    let mut layer = Layer {
        root,
        dirs: Vec::new(),
        size: 0,
    };
    let mut archive = tar::Archive::new(tap);
    let mut count = 0u64;
    let max = limits.max_bytes;
    for entry in archive.entries().map_err(|e| archive_error(e, max))? {
        let entry = entry.map_err(|e| archive_error(e, max))?;
        count += 1;
        if count > limits.max_entries {
            return Err(UnpackError::TooManyEntries(limits.max_entries));
        }
        layer.entry(entry).map_err(|e| match e {
            UnpackError::Archive(io) => archive_error(io, max),
            other => other,
        })?;
    }
    let mut tap = archive.into_inner();
    // The zero block that ended the entries must be the last thing read: otherwise the stream
    // stopped cleanly at a header boundary, which is a truncated archive.
    if tap.count == 0 || tap.count % 512 != 0 || tap.tail.iter().any(|b| *b != 0) {
        return Err(UnpackError::Archive(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "archive ends without its end-of-archive marker (truncated?)",
        )));
    }
    io::copy(&mut tap, &mut io::sink()).map_err(|e| archive_error(e, max))?;
    layer.finish_dirs()?;
    Ok(Unpacked {
        tar_size: tap.count,
        diff_id: format!("sha256:{}", hex::encode(tap.sha.finalize())),
        size: layer.size,
    })
}

struct Layer {
    root: OwnedFd,
    /// Directories and their mtimes, set last (creating children changes them).
    dirs: Vec<(Vec<OsString>, i64)>,
    size: u64,
}

fn write_err(path: &str) -> impl Fn(Errno) -> UnpackError + '_ {
    move |e| UnpackError::Write {
        path: path.to_string(),
        source: e.into(),
    }
}

fn open_dir_path(p: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        p,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(write_err(&p.to_string_lossy()))
}

/// The components of an archive path: relative, no `..`; "./" is the layer root (empty).
pub fn clean_path(raw: &Path) -> Result<Vec<OsString>> {
    let shown = || raw.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::UnsafePath {
                    path: shown(),
                    why: "absolute",
                })
            }
            Component::ParentDir => {
                return Err(UnpackError::UnsafePath {
                    path: shown(),
                    why: "contains ..",
                })
            }
        }
    }
    Ok(out)
}

fn exists(dir: &OwnedFd, name: &OsStr) -> Result<Option<SFlag>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(
            st.st_mode & SFlag::S_IFMT.bits(),
        ))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(write_err(&name.to_string_lossy())(e)),
    }
}

impl Layer {
    /// Open the directory `comps` names, one component at a time, never following a symlink;
    /// create missing directories (0755, as Docker does) when `create`.
    fn open_dir(&self, comps: &[OsString], create: bool, shown: &str) -> Result<OwnedFd> {
        let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let mut cur = self.root.try_clone().map_err(|e| UnpackError::Write {
            path: shown.into(),
            source: e,
        })?;
        for c in comps {
            let next = match openat(&cur, c.as_os_str(), flags, Mode::empty()) {
                Err(Errno::ENOENT) if create => {
                    mkdirat(&cur, c.as_os_str(), Mode::from_bits_truncate(0o755))
                        .map_err(write_err(shown))?;
                    openat(&cur, c.as_os_str(), flags, Mode::empty())
                }
                other => other,
            };
            cur = match next {
                Ok(fd) => fd,
                Err(Errno::ELOOP | Errno::ENOTDIR) => {
                    return Err(UnpackError::UnsafePath {
                        path: shown.into(),
                        why: "a parent is a symlink or not a directory",
                    })
                }
                Err(Errno::ENOENT) => {
                    return Err(UnpackError::UnsafePath {
                        path: shown.into(),
                        why: "a parent does not exist",
                    })
                }
                Err(e) => return Err(write_err(shown)(e)),
            };
        }
        Ok(cur)
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path().map_err(UnpackError::Archive)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let mut comps = clean_path(&raw)?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        // Go's archive/tar (which wrote most layers) reads an empty numeric field as 0.
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let owner = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));

        let Some(name) = comps.pop() else {
            // "./": the layer root itself.
            let root = self.open_dir(&[], false, &shown)?;
            fchown(&root, owner.0, owner.1).map_err(write_err(&shown))?;
            fchmod(&root, Mode::from_bits_truncate(mode)).map_err(write_err(&shown))?;
            self.dirs.push((Vec::new(), mtime));
            return Ok(());
        };
        let parent = self.open_dir(&comps, true, &shown)?;

        let name_bytes = name.as_bytes();
        if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&parent, &name, &shown);
        }
        let existing = exists(&parent, &name)?;
        if let Some(t) = existing {
            if !(t == SFlag::S_IFDIR && kind == EntryType::Directory) {
                return Err(UnpackError::Duplicate(shown));
            }
        }
        let werr = write_err(&shown);
        let perm = Mode::from_bits_truncate(mode);
        let time = TimeSpec::new(mtime, 0);
        match kind {
            EntryType::Directory => {
                if existing.is_none() {
                    mkdirat(&parent, name.as_os_str(), Mode::from_bits_truncate(0o700))
                        .map_err(&werr)?;
                }
                comps.push(name.clone());
                let dir = self.open_dir(&comps, false, &shown)?;
                fchown(&dir, owner.0, owner.1).map_err(&werr)?;
                fchmod(&dir, perm).map_err(&werr)?;
                set_pax_xattrs(&mut entry, dir.as_fd(), &shown)?;
                self.dirs.push((comps, mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = openat(
                    &parent,
                    name.as_os_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(&werr)?;
                set_pax_xattrs(&mut entry, fd.as_fd(), &shown)?;
                let mut file = File::from(fd);
                let n = copy_entry(&mut entry, &mut file, &shown)?;
                self.size += n;
                fchown(&file, owner.0, owner.1).map_err(&werr)?;
                fchmod(&file, perm).map_err(&werr)?;
                futimens(&file, &time, &time).map_err(&werr)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .ok_or_else(|| UnpackError::UnsafePath {
                        path: shown.clone(),
                        why: "symlink without a target",
                    })?;
                // The target is not followed here; it means something only inside the container.
                symlinkat(target.as_ref(), &parent, name.as_os_str()).map_err(&werr)?;
                fchownat(
                    &parent,
                    name.as_os_str(),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(&werr)?;
                utimensat(
                    &parent,
                    name.as_os_str(),
                    &time,
                    &time,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(&werr)?;
            }
            EntryType::Link => {
                let target = entry.link_name().map_err(UnpackError::Archive)?;
                let target = target.map(|t| t.into_owned()).unwrap_or_default();
                let bad = || UnpackError::BadHardlink {
                    path: shown.clone(),
                    target: target.to_string_lossy().into_owned(),
                };
                let mut tcomps = clean_path(&target).map_err(|_| bad())?;
                let tname = tcomps.pop().ok_or_else(bad)?;
                let tparent = self.open_dir(&tcomps, false, &shown).map_err(|_| bad())?;
                match exists(&tparent, &tname)? {
                    None | Some(SFlag::S_IFDIR) => return Err(bad()),
                    Some(_) => {}
                }
                linkat(
                    &tparent,
                    tname.as_os_str(),
                    &parent,
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(&werr)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let major = header.device_major().map_err(UnpackError::Archive)?;
                        let minor = header.device_minor().map_err(UnpackError::Archive)?;
                        let dev = nix::sys::stat::makedev(
                            major.unwrap_or(0).into(),
                            minor.unwrap_or(0).into(),
                        );
                        let f = if kind == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (f, dev)
                    }
                };
                mknodat(&parent, name.as_os_str(), sflag, perm, dev).map_err(&werr)?;
                fchownat(
                    &parent,
                    name.as_os_str(),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(&werr)?;
                // The node was made just now by us: it is not a symlink.
                fchmodat(
                    &parent,
                    name.as_os_str(),
                    perm,
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(&werr)?;
                utimensat(
                    &parent,
                    name.as_os_str(),
                    &time,
                    &time,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(&werr)?;
            }
            _ => {
                return Err(UnpackError::UnsafePath {
                    path: shown.clone(),
                    why: "unsupported entry type",
                })
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent: &OwnedFd, name: &OsStr, shown: &str) -> Result<()> {
        let werr = write_err(shown);
        if name == OPAQUE_WHITEOUT {
            let dir = File::from(parent.try_clone().map_err(|e| UnpackError::Write {
                path: shown.into(),
                source: e,
            })?);
            return xattr::FileExt::set_xattr(&dir, OPAQUE_XATTR, b"y").map_err(|e| {
                UnpackError::Write {
                    path: shown.into(),
                    source: e,
                }
            });
        }
        let hidden = &name.as_bytes()[WHITEOUT_PREFIX.len()..];
        if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // ".wh..wh.plnk" and friends: aufs bookkeeping, meaningless here.
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(UnpackError::UnsafePath {
                path: shown.into(),
                why: "whiteout of nothing",
            });
        }
        let hidden = OsStr::from_bytes(hidden);
        if exists(parent, hidden)?.is_some() {
            return Err(UnpackError::Duplicate(shown.into()));
        }
        mknodat(parent, hidden, SFlag::S_IFCHR, Mode::empty(), 0).map_err(&werr)?;
        fchownat(
            parent,
            hidden,
            Some(Uid::from_raw(0)),
            Some(Gid::from_raw(0)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(&werr)
    }

    fn finish_dirs(&mut self) -> Result<()> {
        for (comps, mtime) in std::mem::take(&mut self.dirs) {
            let shown = Path::new(".")
                .join(comps.iter().collect::<std::path::PathBuf>())
                .to_string_lossy()
                .into_owned();
            let dir = self.open_dir(&comps, false, &shown)?;
            let t = TimeSpec::new(mtime, 0);
            futimens(&dir, &t, &t).map_err(write_err(&shown))?;
        }
        Ok(())
    }
}

fn copy_entry<R: Read>(entry: &mut tar::Entry<'_, R>, file: &mut File, shown: &str) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Archive(e)),
        };
        io::Write::write_all(file, &buf[..n]).map_err(|e| UnpackError::Write {
            path: shown.into(),
            source: e,
        })?;
        total += n as u64;
    }
}

/// File capabilities and other xattrs recorded as PAX `SCHILY.xattr.<name>` records.
fn set_pax_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    fd: std::os::fd::BorrowedFd<'_>,
    shown: &str,
) -> Result<()> {
    let Some(exts) = entry.pax_extensions().map_err(UnpackError::Archive)? else {
        return Ok(());
    };
    let mut attrs = Vec::new();
    for ext in exts {
        let ext = ext.map_err(UnpackError::Archive)?;
        if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            attrs.push((
                OsStr::from_bytes(name).to_os_string(),
                ext.value_bytes().to_vec(),
            ));
        }
    }
    if attrs.is_empty() {
        return Ok(());
    }
    let file = File::from(fd.try_clone_to_owned().map_err(|e| UnpackError::Write {
        path: shown.into(),
        source: e,
    })?);
    for (name, value) in attrs {
        xattr::FileExt::set_xattr(&file, &name, &value).map_err(|e| UnpackError::Write {
            path: format!("{shown} (xattr {})", name.to_string_lossy()),
            source: e,
        })?;
    }
    Ok(())
}
