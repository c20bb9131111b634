//! Opening a file of a container's tree (its upper dir, a layer) for reading. Such a tree is
//! hostile and may change under a walk: what was a regular file when it was listed may be a
//! FIFO (whose open waits for a writer, for ever) or a device node (whose open may act on the
//! host's device) by the time it is opened. So a file is first opened `O_PATH | O_NOFOLLOW`
//! (which opens nothing), its kind is read from that fd, and only a regular file is reopened
//! for reading, through `/proc/self/fd` (the same inode, whatever its name is now), with
//! `O_NONBLOCK` as a last guard.

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// `name` under `dir` opened for reading with its stat, if it is a regular file now; None when
/// it is gone or anything else (a symlink, FIFO, device, socket or directory).
pub fn open_regular_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<(File, FileStat)>> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let path_fd = match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    open_regular(&path_fd)
}

/// The file an `O_PATH` fd holds, opened for reading, if it is a regular file.
pub fn open_regular(path_fd: &OwnedFd) -> io::Result<Option<(File, FileStat)>> {
    let st = fstat(path_fd)?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Ok(None);
    }
    let fd: OwnedFd = nix::fcntl::open(
        format!("/proc/self/fd/{}", path_fd.as_raw_fd()).as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(Some((File::from(fd), st)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{mknod, Mode as M};
    use std::io::Read;

    fn dir_fd(p: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(p, OFlag::O_DIRECTORY | OFlag::O_RDONLY, Mode::empty()).unwrap()
    }

    #[test]
    fn only_regular_files_are_opened() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("file"), b"data").unwrap();
        nix::unistd::mkfifo(&tmp.path().join("fifo"), M::from_bits_truncate(0o600)).unwrap();
        // /dev/full's numbers: opening it would succeed, so only a refusal keeps it shut.
        mknod(
            &tmp.path().join("dev"),
            SFlag::S_IFCHR,
            M::from_bits_truncate(0o600),
            nix::sys::stat::makedev(1, 7),
        )
        .unwrap();
        std::os::unix::fs::symlink("file", tmp.path().join("link")).unwrap();
        let dir = dir_fd(tmp.path());
        let (mut f, st) = open_regular_at(&dir, OsStr::new("file")).unwrap().unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), st.st_size), ("data", 4));
        for name in ["fifo", "dev", "link", "missing"] {
            let got = open_regular_at(&dir, OsStr::new(name)).unwrap();
            assert!(
                got.is_none(),
                "{name}: expected not opened, got {:?}",
                got.map(|g| g.0)
            );
        }
    }
}
