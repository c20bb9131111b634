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
