//! Removing a container's files: first renamed out of sight (an atomic step, so no client ever
//! sees half a container), then deleted. A crash between the two leaves only a tombstone, which
//! the next removal or store scan deletes.

use crate::paths::ContainerPaths;
use std::io;
use std::path::PathBuf;

/// The prefix of tombstones in the containers directory.
pub const TOMBSTONE_PREFIX: &str = ".removing-";

pub fn remove_container_files(cpaths: &ContainerPaths) -> io::Result<()> {
    let parent = cpaths
        .dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let tomb = parent.join(format!("{TOMBSTONE_PREFIX}{}", cpaths.id));
    match std::fs::rename(&cpaths.dir, &tomb) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if tomb.exists() {
        std::fs::remove_dir_all(&tomb)?;
    }
    match std::fs::remove_dir_all(&cpaths.run) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    #[test]
    fn removal_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Paths::new(tmp.path().join("root"), tmp.path().join("run")).container("abc");
        std::fs::create_dir_all(c.dir.join("upper/x")).unwrap();
        std::fs::create_dir_all(&c.run).unwrap();
        remove_container_files(&c).unwrap();
        assert!(!c.dir.exists());
        assert!(!c.run.exists());
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("root/containers"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "tombstone left behind: {left:?}");
        remove_container_files(&c).unwrap();
    }
}
