//! dockerd's copy-up: the first time an empty volume is mounted over a path of the image, the
//! image's content at that path is copied into it. The image is read from its unpacked layer
//! dirs, merged as overlayfs would (base first; a whiteout removes, an opaque directory hides
//! what is below), with no mount. No path component is followed through a symlink: content
//! reached through one is not copied.
//!
//! The layers are berth's own and are read by path. The volume is not: a container that has it
//! mounted may change it while the copy runs (swap a directory just made for a symlink to a host
//! path). So it is written only through directory fds, one name at a time: `mkdirat`, `openat2`
//! with `O_NOFOLLOW` and `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, `O_CREAT | O_EXCL` for files,
//! `symlinkat`, and owner and mode set on the fds made (`fchownat(AT_SYMLINK_NOFOLLOW)` for a
//! symlink). A symlink planted in the volume is never followed: the copy fails instead.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyUpError {
    #[error("reading the image's {path}: {source}")]
    Image { path: PathBuf, source: io::Error },
    #[error("writing {path} in the volume: {source}")]
    Volume { path: PathBuf, source: Errno },
    #[error("copying {path} into the volume: {source}")]
    Content { path: PathBuf, source: io::Error },
}

pub type Result<T> = std::result::Result<T, CopyUpError>;

fn image_err(path: &Path) -> impl FnOnce(io::Error) -> CopyUpError + '_ {
    move |source| CopyUpError::Image {
        path: path.to_path_buf(),
        source,
    }
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// A directory of the volume, held open, and its path inside the volume (for errors).
struct DestDir {
    fd: OwnedFd,
    rel: PathBuf,
}

impl DestDir {
    fn err(&self, name: &OsStr) -> impl FnOnce(Errno) -> CopyUpError {
        let path = self.rel.join(name);
        move |source| CopyUpError::Volume { path, source }
    }

    /// `name` in this directory, opened with `flags`, never through a symlink.
    fn open(&self, name: &OsStr, flags: OFlag, mode: Mode) -> Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        openat2(&self.fd, name, how).map_err(self.err(name))
    }

    fn open_dir(&self, name: &OsStr) -> Result<DestDir> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        Ok(DestDir {
            fd: self.open(name, flags, Mode::empty())?,
            rel: self.rel.join(name),
        })
    }

    /// What `name` is (a symlink as itself); None when it is not there.
    fn kind(&self, name: &OsStr) -> Result<Option<SFlag>> {
        match fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(SFlag::from_bits_truncate(
                st.st_mode & SFlag::S_IFMT.bits(),
            ))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.err(name)(e)),
        }
    }

    fn names(&self) -> Result<Vec<OsString>> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut dir =
            Dir::openat(&self.fd, ".", flags, Mode::empty()).map_err(self.err(OsStr::new("")))?;
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(self.err(OsStr::new("")))?;
            let name = e.file_name().to_bytes();
            if name != b"." && name != b".." {
                out.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(out)
    }

    /// Empty this directory (keep it).
    fn clear(&self) -> Result<()> {
        for name in self.names()? {
            self.remove(&name)?;
        }
        Ok(())
    }

    /// Remove `name`, a whole directory tree too; nothing there is fine.
    fn remove(&self, name: &OsStr) -> Result<()> {
        let flag = match self.kind(name)? {
            None => return Ok(()),
            Some(SFlag::S_IFDIR) => {
                self.open_dir(name)?.clear()?;
                UnlinkatFlags::RemoveDir
            }
            Some(_) => UnlinkatFlags::NoRemoveDir,
        };
        match unlinkat(&self.fd, name, flag) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(self.err(name)(e)),
        }
    }
}

/// True if `dir` has no entries (or does not exist).
pub fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Copy the merged content of `layers` (base first) at `path` ("/var/lib/app") into `dest`.
pub fn copy_up(layers: &[PathBuf], path: &str, dest: &Path) -> Result<()> {
    copy_up_observed(layers, path, dest, &mut |_| {})
}

/// [`copy_up`], calling `made_dir` with each directory's path inside the volume once it is
/// made there and before anything is put in it (where a test changes the volume under the copy).
pub fn copy_up_observed(
    layers: &[PathBuf],
    path: &str,
    dest: &Path,
    made_dir: &mut dyn FnMut(&Path),
) -> Result<()> {
    let rel: Vec<&OsStr> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let top = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| CopyUpError::Volume {
        path: PathBuf::from("."),
        source,
    })?;
    let top = DestDir {
        fd: top,
        rel: PathBuf::new(),
    };
    for layer in layers {
        // Walk down without following symlinks; a whiteout or a file on the way hides what
        // lower layers had there.
        let mut here = layer.clone();
        let mut hidden = false;
        let mut present = true;
        for name in &rel {
            here.push(name);
            match std::fs::symlink_metadata(&here) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    hidden = true;
                    break;
                }
                Err(_) => {
                    present = false;
                    break;
                }
            }
        }
        if hidden {
            top.clear()?;
            continue;
        }
        if !present {
            continue;
        }
        if is_opaque(&here) {
            top.clear()?;
        }
        merge(&here, &top, made_dir, 0)?;
    }
    Ok(())
}

/// Copy `src` over `dst`, applying whiteouts and opaque directories.
fn merge(src: &Path, dst: &DestDir, made_dir: &mut dyn FnMut(&Path), depth: usize) -> Result<()> {
    crate::engine::tree_depth::check_io(depth, &dst.rel.to_string_lossy())
        .map_err(image_err(src))?;
    for e in std::fs::read_dir(src).map_err(image_err(src))? {
        let e = e.map_err(image_err(src))?;
        let name = e.file_name();
        let from = e.path();
        let m = std::fs::symlink_metadata(&from).map_err(image_err(&from))?;
        let (uid, gid) = (Some(Uid::from_raw(m.uid())), Some(Gid::from_raw(m.gid())));
        let mode = Mode::from_bits_truncate(m.mode() & 0o7777);
        if is_whiteout(&m) {
            dst.remove(&name)?;
        } else if m.is_dir() {
            match dst.kind(&name)? {
                Some(SFlag::S_IFDIR) => {}
                other => {
                    if other.is_some() {
                        dst.remove(&name)?;
                    }
                    mkdirat(&dst.fd, name.as_os_str(), Mode::from_bits_truncate(0o700))
                        .map_err(dst.err(&name))?;
                    made_dir(&dst.rel.join(&name));
                }
            }
            let child = dst.open_dir(&name)?;
            if is_opaque(&from) {
                child.clear()?;
            }
            merge(&from, &child, made_dir, depth + 1)?;
            fchown(&child.fd, uid, gid).map_err(dst.err(&name))?;
            fchmod(&child.fd, mode).map_err(dst.err(&name))?;
        } else if m.file_type().is_symlink() {
            dst.remove(&name)?;
            let target = std::fs::read_link(&from).map_err(image_err(&from))?;
            symlinkat(target.as_path(), &dst.fd, name.as_os_str()).map_err(dst.err(&name))?;
            fchownat(
                &dst.fd,
                name.as_os_str(),
                uid,
                gid,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(dst.err(&name))?;
        } else if m.is_file() {
            dst.remove(&name)?;
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
            let out = dst.open(&name, flags, Mode::from_bits_truncate(0o600))?;
            let mut input = std::fs::File::open(&from).map_err(image_err(&from))?;
            let mut output = std::fs::File::from(out);
            io::copy(&mut input, &mut output).map_err(|source| CopyUpError::Content {
                path: dst.rel.join(&name),
                source,
            })?;
            // Owner first: a chown clears set-id bits that the mode then sets again.
            fchown(output.as_fd(), uid, gid).map_err(dst.err(&name))?;
            fchmod(output.as_fd(), mode).map_err(dst.err(&name))?;
        }
        // Devices, fifos and sockets are not copied up.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_merge_base_first_and_symlinks_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (
            tmp.path().join("l1"),
            tmp.path().join("l2"),
            tmp.path().join("out"),
        );
        std::fs::create_dir_all(l1.join("data/sub")).unwrap();
        std::fs::write(l1.join("data/a"), "a1").unwrap();
        std::fs::write(l1.join("data/b"), "b1").unwrap();
        std::fs::write(l1.join("data/sub/c"), "c1").unwrap();
        std::fs::create_dir_all(l2.join("data")).unwrap();
        std::fs::write(l2.join("data/a"), "a2").unwrap();
        std::os::unix::fs::symlink("/etc", l2.join("data/link")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        copy_up(&[l1.clone(), l2.clone()], "/data", &out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "a2");
        assert_eq!(std::fs::read_to_string(out.join("b")).unwrap(), "b1");
        assert_eq!(std::fs::read_to_string(out.join("sub/c")).unwrap(), "c1");
        assert_eq!(
            std::fs::read_link(out.join("link")).unwrap(),
            Path::new("/etc")
        );

        // A symlink on the way is not followed.
        let out2 = tmp.path().join("out2");
        std::fs::create_dir_all(&out2).unwrap();
        copy_up(&[l2], "/data/link", &out2).unwrap();
        assert!(is_empty(&out2), "content behind a symlink was copied");
    }

    /// An image layer with `data/a`, `data/sub/c` and `data/sub/deeper/d`.
    fn layer(tmp: &Path) -> PathBuf {
        let l = tmp.join("layer");
        std::fs::create_dir_all(l.join("data/sub/deeper")).unwrap();
        std::fs::write(l.join("data/a"), "a").unwrap();
        std::fs::write(l.join("data/sub/c"), "c").unwrap();
        std::fs::write(l.join("data/sub/deeper/d"), "d").unwrap();
        l
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_under_the_copy_leads_nothing_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let l = layer(tmp.path());
        let (out, outside) = (tmp.path().join("out"), tmp.path().join("outside"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // What a container with the volume mounted can do between two steps of the copy.
        let mut swap = |made: &Path| {
            if made == Path::new("sub") {
                std::fs::rename(out.join("sub"), out.join("sub.moved")).unwrap();
                std::os::unix::fs::symlink(&outside, out.join("sub")).unwrap();
            }
        };
        let r = copy_up_observed(&[l], "/data", &out, &mut swap);
        assert!(
            entries(&outside).is_empty(),
            "the copy wrote through a symlink planted in the volume: {:?} outside (result {r:?})",
            entries(&outside)
        );
        let err = r.expect_err("a copy into a directory swapped for a symlink must fail");
        assert!(
            matches!(&err, CopyUpError::Volume { path, source: Errno::ELOOP | Errno::ENOTDIR }
                if path == Path::new("sub")),
            "expected ELOOP on sub, got {err}"
        );
    }

    #[test]
    fn symlinks_planted_where_the_image_has_a_directory_or_a_file_are_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let l = layer(tmp.path());
        let (out, outside) = (tmp.path().join("out"), tmp.path().join("outside"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("a"), out.join("a")).unwrap();
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
        };
        mode(&l.join("data/sub"), 0o750);
        mode(&l.join("data/a"), 0o4640);
        copy_up(&[l], "/data", &out).unwrap();
        let mode_of = |p: &str| std::fs::symlink_metadata(out.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(
            (mode_of("sub"), mode_of("a")),
            (0o750, 0o4640),
            "modes (set-id bits included) as in the image"
        );
        assert!(
            entries(&outside).is_empty(),
            "written outside: {:?}",
            entries(&outside)
        );
        assert!(std::fs::symlink_metadata(out.join("sub")).unwrap().is_dir());
        assert_eq!(
            std::fs::read_to_string(out.join("sub/deeper/d")).unwrap(),
            "d"
        );
        assert!(std::fs::symlink_metadata(out.join("a")).unwrap().is_file());
    }
}
