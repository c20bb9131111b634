//! Where a user's mount lands: its destination resolved inside the container's root, symlinks
//! included, as if the root were "/" (`openat2(RESOLVE_IN_ROOT)`), missing directories (or the
//! file of a file bind) created on the way. The mount is then made on `/proc/self/fd/<n>` of
//! that fd (as runc does), so an image's symlink (`/data -> /run/host-thing`) can never put a
//! mount on a host path, which a shared propagation would carry back to the host.

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

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
}

/// Resolve (and create as needed) `dest` under `root`: a directory, or a file when `file`. A
/// symlink on the way whose target is missing (inside the root) is refused with ENOENT.
pub fn resolve(root: &Path, dest: &str, file: bool) -> nix::Result<Target> {
    let rootfd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names: Vec<String> = Path::new(dest)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let mut prefix = String::new();
    for (i, name) in names.iter().enumerate() {
        let parent = open_in_root(&rootfd, &prefix)?;
        let last = i + 1 == names.len();
        let created = if last && file {
            let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            match openat(
                &parent,
                name.as_str(),
                flags,
                Mode::from_bits_truncate(0o644),
            ) {
                Ok(_) | Err(Errno::EEXIST) | Err(Errno::ELOOP) | Err(Errno::EISDIR) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            match mkdirat(&parent, name.as_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => Ok(()),
                Err(e) => Err(e),
            }
        };
        created?;
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(name);
    }
    Ok(Target {
        fd: open_in_root(&rootfd, &prefix)?,
    })
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
        // A dangling symlink (its target missing inside the root) is refused.
        assert_eq!(resolve(&root, "/evil/x", false).unwrap_err(), Errno::ENOENT);
        std::fs::create_dir_all(root.join(outside.strip_prefix("/").unwrap())).unwrap();
        let t = resolve(&root, "/evil/x/y", false).unwrap();
        let real = std::fs::read_link(t.path()).unwrap();
        assert_eq!(
            real,
            root.join(outside.strip_prefix("/").unwrap()).join("x/y")
        );
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "wrote outside the root"
        );
        let f = resolve(&root, "/etc/conf", true).unwrap();
        assert!(std::fs::metadata(f.path()).unwrap().is_file());
    }
}
