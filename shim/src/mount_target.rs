//! Where a mount lands: a path resolved inside the container's root, symlinks included, as if the
//! root were "/", missing directories (or the file of a file bind) created on the way through
//! directory fds (`mkdirat`, `openat(O_NOFOLLOW)`), never through a joined host path. The mount
//! is then made on `/proc/self/fd/<n>` of the `O_PATH` fd (as runc does), so an image's symlink
//! (`/etc/hostname -> /run/host-thing`) can never put a mount, or a new file, on a host path.
//!
//! The walk reads each symlink itself (at most 40, as the kernel) and goes on from the root for
//! an absolute target, so that a symlink whose target is missing gets that target made inside
//! the root; every open is `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the root fd,
//! so that even a tree changed while it is walked cannot lead out of the root.

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// The kernel's limit on symlinks in one path walk.
const MAX_SYMLINKS: usize = 40;

fn open_in_root(root: &OwnedFd, rel: &str) -> nix::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

/// A held destination: mount on [`Target::path`] while it lives.
#[derive(Debug)]
pub struct Target {
    fd: OwnedFd,
}

impl Target {
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// What the destination is (the file itself, never a symlink).
    pub fn stat(&self) -> nix::Result<FileStat> {
        fstat(&self.fd)
    }
}

/// What the walk makes when a name is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Make {
    Nothing,
    Dirs,
    DirsAndFile,
}

/// Resolve (and create as needed) `dest` under `root`: a directory, or a file when `file`.
pub fn resolve(root: &Path, dest: &str, file: bool) -> nix::Result<Target> {
    let make = if file { Make::DirsAndFile } else { Make::Dirs };
    walk(root, dest, make)?.ok_or(Errno::ENOENT)
}

/// Resolve `dest` under `root` if it is there; None when it (or a directory on the way) is not.
pub fn find(root: &Path, dest: &str) -> nix::Result<Option<Target>> {
    walk(root, dest, Make::Nothing)
}

/// The names of `path`: normal ones and `..` (which `open_in_root` keeps inside the root).
fn names(path: &Path) -> impl Iterator<Item = String> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
        Component::ParentDir => Some("..".to_string()),
        _ => None,
    })
}

fn walk(root: &Path, dest: &str, make: Make) -> nix::Result<Option<Target>> {
    let rootfd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut todo: VecDeque<String> = names(Path::new(dest)).collect();
    // The names resolved so far: real directories (and `..`), never a symlink.
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            done.push(name);
            continue;
        }
        let parent = open_in_root(&rootfd, &done.join("/"))?;
        let last = todo.is_empty();
        match fstatat(&parent, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = PathBuf::from(readlinkat(&parent, name.as_str())?);
                // An absolute target starts again at the root; a relative one where the link is.
                let mut next: VecDeque<String> = if target.is_absolute() {
                    VecDeque::new()
                } else {
                    done.drain(..).collect()
                };
                done.clear();
                next.extend(names(&target));
                next.extend(todo.drain(..));
                todo = next;
                continue;
            }
            Ok(_) => {}
            Err(Errno::ENOENT) if make == Make::Nothing => return Ok(None),
            Err(Errno::ENOENT) => {
                create(&parent, &name, last && make == Make::DirsAndFile)?;
                // Look again: what is there now (ours, or what won a race) is walked as above.
                todo.push_front(name);
                continue;
            }
            Err(e) => return Err(e),
        }
        done.push(name);
    }
    Ok(Some(Target {
        fd: open_in_root(&rootfd, &done.join("/"))?,
    }))
}

/// Make `name` in `parent`: an empty file (never through a symlink) or a directory.
fn create(parent: &OwnedFd, name: &str, file: bool) -> nix::Result<()> {
    let made = if file {
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(parent, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
    } else {
        mkdirat(parent, name, Mode::from_bits_truncate(0o755))
    };
    match made {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root_and_dirs_are_made() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        let inner = root.join(outside.strip_prefix("/").unwrap());
        let t = resolve(&root, "/evil/x/y", false).unwrap();
        let real = std::fs::read_link(t.path()).unwrap();
        assert_eq!(
            real,
            inner.join("x/y"),
            "the link was not followed in the root"
        );
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "wrote outside the root"
        );
        let f = resolve(&root, "/etc/conf", true).unwrap();
        assert!(std::fs::metadata(f.path()).unwrap().is_file());
    }

    #[test]
    fn a_dangling_symlink_gets_its_target_made_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let host = tmp.path().join("host/hostname");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink(&host, root.join("etc/hostname")).unwrap();
        std::os::unix::fs::symlink("../etc/hostname", root.join("etc/rel")).unwrap();
        let t = resolve(&root, "/etc/rel", true).unwrap();
        let real = std::fs::read_link(t.path()).unwrap();
        let inner = root.join(host.strip_prefix("/").unwrap());
        assert_eq!(
            real, inner,
            "expected the link's target made inside the root"
        );
        assert!(inner.is_file(), "expected a file at {inner:?}");
        assert!(
            !tmp.path().join("host").exists(),
            "expected nothing made at the host path {host:?}"
        );
    }

    #[test]
    fn find_makes_nothing_and_loops_end() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert!(find(root, "/a/b").unwrap().is_none());
        assert!(!root.join("a").exists(), "find made a directory");
        std::os::unix::fs::symlink("/loop", root.join("loop")).unwrap();
        assert_eq!(find(root, "/loop/x").unwrap_err(), Errno::ELOOP);
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        let t = find(root, "/up").unwrap().expect("the root itself");
        assert_eq!(std::fs::read_link(t.path()).unwrap(), root);
    }
}
