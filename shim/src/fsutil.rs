//! Crash-safe file writes: a record is either the old one or the new one, never half of either.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The mode of the records written here (configurations with a container's environment,
/// states, policies): root's alone. Files a container reads (its /etc/hosts ...) are written
/// with [`write_replace`].
pub const RECORD_MODE: u32 = 0o600;

/// Write `data` to `path` by write-temp, fsync, rename, fsync of the directory; mode
/// [`RECORD_MODE`].
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(RECORD_MODE)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        crate::cleanup::cleanup(format!("removing {}", tmp.display()), fs::remove_file(&tmp));
    }
    result
}

/// Write a new file `path` in a directory that nobody reads yet (one built aside, to be renamed
/// into place whole): written and fsynced, with no temporary file. The caller fsyncs the
/// directory once, after its last file ([`sync_dir`]), before renaming it into place.
pub fn write_new_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(RECORD_MODE)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// fsync a directory: the entries made in it so far survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replace `path` with `data` atomically (temp file and rename) but without fsync: for files
/// that are made anew at every start, where a crash may lose the write but never half-write it.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    fs::write(&tmp, data)
        .and_then(|_| fs::rename(&tmp, path))
        .inspect_err(|_| {
            crate::cleanup::cleanup(format!("removing {}", tmp.display()), fs::remove_file(&tmp));
        })
}

/// An exclusive flock on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Block until the lock is ours.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(FileLock { file })
    }

    /// Take the lock if nobody holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(FileLock { file })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        match crate::sys::flock(file.as_raw_fd(), op) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// True when another process holds the lock at `path` (false when the file does not exist).
pub fn is_locked(path: &Path) -> bool {
    path.exists() && open_lock_file(path).is_ok_and(|file| probe(&file).unwrap_or(false))
}

/// Whether the lock on `file` is held elsewhere. When the probe takes it, it releases it
/// explicitly before the descriptor is closed: a process forked meanwhile (another thread
/// spawning a shim) shares the descriptor until it execs, and a lock only closed would stay
/// held through that copy, so that the shim started next finds its own lock taken and says
/// "already running".
fn probe(file: &File) -> io::Result<bool> {
    match flock(file, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => flock(file, libc::LOCK_UN).map(|()| false),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forked process shares its parent's descriptors until it execs; a duplicate shares the
    /// open file description the same way. A probe made while such a copy exists must not leave
    /// the lock held through it.
    #[test]
    fn a_probe_leaves_no_lock_behind_in_a_shared_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let file = open_lock_file(&path).unwrap();
        let inherited = file.try_clone().unwrap();
        assert!(!probe(&file).unwrap(), "nobody holds the lock yet");
        drop(file);
        let taken = FileLock::try_acquire(&path).unwrap();
        assert!(
            taken.is_some(),
            "the probe's lock is still held through the shared descriptor"
        );
        drop(inherited);
        assert!(is_locked(&path), "the lock just taken reads as held");
    }
}

/// Remove the tree at `path` (not following symlinks) in constant stack and with two
/// descriptors, however deep it is: std's `remove_dir_all` recurses once per level, and a
/// container's upper dir may be made 100k levels deep, which overflows any thread's stack.
/// Each round lists the top directory, unlinks what is not a directory, removes the empty
/// directories and lifts the entries of the others into the top (under fresh names); so every
/// level moves up until nothing is left. A missing `path` is an error of kind NotFound.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    use nix::fcntl::{openat, renameat2, AtFlags, OFlag, RenameFlags};
    use nix::sys::stat::{fstatat, Mode, SFlag};
    use nix::unistd::{unlinkat, UnlinkatFlags};
    if !fs::symlink_metadata(path)?.is_dir() {
        return fs::remove_file(path);
    }
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let top = nix::fcntl::open(path, dir_flags, Mode::empty())?;
    let names = |fd: &std::os::fd::OwnedFd| -> io::Result<Vec<std::ffi::OsString>> {
        let mut d = nix::dir::Dir::from_fd(fd.try_clone()?)?;
        Ok(d.iter()
            .filter_map(|e| e.ok())
            .map(|e| {
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                    e.file_name().to_bytes(),
                )
                .to_os_string()
            })
            .filter(|n: &std::ffi::OsString| n != "." && n != "..")
            .collect())
    };
    let mut fresh = 0u64;
    loop {
        let entries = names(&top)?;
        if entries.is_empty() {
            break;
        }
        for name in entries {
            let st = match fstatat(&top, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFDIR {
                unlinkat(&top, name.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
                continue;
            }
            let sub = openat(&top, name.as_os_str(), dir_flags, Mode::empty())?;
            let children = names(&sub)?;
            if children.is_empty() {
                drop(sub);
                unlinkat(&top, name.as_os_str(), UnlinkatFlags::RemoveDir)?;
                continue;
            }
            for child in children {
                loop {
                    fresh += 1;
                    let to = format!(".berth-rm-{fresh}");
                    match renameat2(
                        &sub,
                        child.as_os_str(),
                        &top,
                        to.as_str(),
                        RenameFlags::RENAME_NOREPLACE,
                    ) {
                        Err(nix::errno::Errno::EEXIST) => continue,
                        Err(nix::errno::Errno::ENOENT) | Ok(()) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
    drop(top);
    fs::remove_dir(path)
}

#[cfg(test)]
mod remove_tree_tests {
    use super::*;

    #[test]
    fn a_tree_deeper_than_any_stack_and_a_wide_one_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("t");
        fs::create_dir(&top).unwrap();
        let dir_flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY;
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o755);
        let mut cur = nix::fcntl::open(&top, dir_flags, mode).unwrap();
        // Deep enough that std's remove_dir_all overflows the small stack below (the API test
        // removes a 100k-level tree).
        for i in 0..20_000 {
            nix::sys::stat::mkdirat(&cur, "d", mode).unwrap();
            if i % 1000 == 0 {
                // Names a lifted entry might take, and files beside the chain.
                let _file = fs::File::from(
                    nix::fcntl::openat(
                        &cur,
                        ".berth-rm-1",
                        nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_WRONLY,
                        mode,
                    )
                    .unwrap(),
                );
                std::os::unix::fs::symlink("/", format!("/proc/self/fd/{}/l", cur.as_raw_fd()))
                    .unwrap();
            }
            cur = nix::fcntl::openat(&cur, "d", dir_flags, mode).unwrap();
        }
        for i in 0..300 {
            fs::create_dir_all(top.join(format!("w{i}/x/y"))).unwrap();
            fs::write(top.join(format!("w{i}/x/f")), b"f").unwrap();
        }
        // Run on a thread with a small stack: std's remove_dir_all overflows it.
        let t = top.clone();
        let r = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || remove_tree(&t))
            .unwrap()
            .join()
            .unwrap();
        r.unwrap_or_else(|e| panic!("expected the tree removed, got {e}"));
        assert!(!top.exists(), "expected {} gone", top.display());
        assert!(tmp.path().exists(), "its parent stays");
    }
}
