//! Removing a container's files: first renamed out of sight (an atomic step, so no client ever
//! sees half a container), then deleted. A crash between the two leaves only a tombstone, which
//! the next removal or store scan deletes.
//!
//! What a container holds that others may want (its addresses, its peers' /etc/hosts entries;
//! its host ports and their rules, which its shim or the API's rm drop first) is released
//! before its files go, since a client waiting for the removal (`docker run --rm`) may reuse
//! them at once. The container is marked first ([`REMOVING_MARKER`]): a process killed between
//! the release and the files leaves a marked container, which the next API sweep removes.

use crate::paths::ContainerPaths;
use std::io;
use std::path::{Path, PathBuf};

/// The prefix of tombstones in the containers directory.
pub const TOMBSTONE_PREFIX: &str = ".removing-";

/// A file in a container's directory: its removal has begun.
pub const REMOVING_MARKER: &str = "removing";

/// Has the removal of this container begun (and been cut short, if nobody is at it)?
pub fn marked_for_removal(cpaths: &ContainerPaths) -> bool {
    cpaths.dir.join(REMOVING_MARKER).exists()
}

/// The first step of a removal: the container marked, then its addresses released (and its
/// peers' /etc/hosts rewritten). False when the container is gone already.
pub fn begin_removal(root: &Path, cpaths: &ContainerPaths) -> io::Result<bool> {
    match std::fs::write(cpaths.dir.join(REMOVING_MARKER), b"") {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    crate::net::release_container(root, &cpaths.id).map_err(io::Error::other)?;
    Ok(true)
}

/// Remove a container that no process runs any more: [`begin_removal`], then its files (even
/// when the addresses could not be released: a sweep reclaims those of a container that is
/// gone). A container gone already is fine. `settings`: where its monitor counts are.
pub fn remove_container(
    root: &Path,
    cpaths: &ContainerPaths,
    settings: &crate::Settings,
) -> io::Result<()> {
    let begun = begin_removal(root, cpaths);
    if matches!(begun, Ok(false)) {
        return Ok(());
    }
    remove_container_files(cpaths, settings)?;
    begun.map(drop)
}

pub fn remove_container_files(
    cpaths: &ContainerPaths,
    settings: &crate::Settings,
) -> io::Result<()> {
    let parent = cpaths
        .dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let tomb = parent.join(format!("{TOMBSTONE_PREFIX}{}", cpaths.id));
    let cgroup_id = crate::state::read_raw(cpaths).map_or(0, |s| s.cgroup_id);
    crate::shm::release(cpaths);
    // Only the process whose rename succeeds deletes: two removers at once (a shim's
    // auto-remove and a client's rm) never delete the same tree concurrently.
    match std::fs::rename(&cpaths.dir, &tomb) {
        Ok(()) => {
            // The container's syscall counts go with it.
            crate::monitor::forget(cgroup_id, settings);
            match crate::fsutil::remove_tree(&tomb) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match std::fs::remove_dir_all(&cpaths.run) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Before an auto-remove: delete the container's anonymous volumes that no other container's
/// record names (so that a client waiting for the removal finds them gone too), under the
/// volume store's lock (the engine's `volumes.lock`), each renamed aside first so that it
/// disappears whole. Returns the names of the volumes removed.
pub fn remove_anonymous_volumes(cpaths: &ContainerPaths, names: &[String]) -> Vec<String> {
    let mut removed = Vec::new();
    let Some(root) = cpaths.dir.parent().and_then(|c| c.parent()) else {
        return removed;
    };
    let (volumes, containers) = (root.join("volumes"), root.join("containers"));
    let Ok(_lock) = crate::fsutil::FileLock::acquire(&volumes.join("volumes.lock")) else {
        return removed;
    };
    let records: Vec<String> = std::fs::read_dir(&containers)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path() != cpaths.dir)
                .filter_map(|e| std::fs::read_to_string(e.path().join("container.json")).ok())
                .collect()
        })
        .unwrap_or_default();
    for name in names {
        let valid = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid || records.iter().any(|r| r.contains(name.as_str())) {
            continue;
        }
        let aside = volumes.join(format!(".removing-{name}"));
        if std::fs::rename(volumes.join(name), &aside).is_ok() {
            crate::cleanup::cleanup(
                format!("removing {}", aside.display()),
                std::fs::remove_dir_all(&aside),
            );
            removed.push(name.clone());
        }
    }
    removed
}

/// Where the exit code of an auto-removed container is kept: in the run root (gone at reboot),
/// as `exits/<id>`.
fn last_exit_path(cpaths: &ContainerPaths) -> Option<PathBuf> {
    let containers = cpaths.run.parent()?;
    Some(containers.parent()?.join("exits").join(&cpaths.id))
}

/// Record the exit code of a container about to be auto-removed. Old records (an hour) are
/// dropped at the same time, so the directory stays small.
pub fn record_last_exit(cpaths: &ContainerPaths, exit_code: i32) {
    let Some(path) = last_exit_path(cpaths) else {
        return;
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 3600);
                if old {
                    let path = e.path();
                    crate::cleanup::cleanup(
                        format!("removing {}", path.display()),
                        std::fs::remove_file(&path),
                    );
                }
            }
        }
    }
    let _ = crate::fsutil::write_replace(&path, exit_code.to_string().as_bytes());
}

/// The exit code recorded for an auto-removed container.
pub fn last_exit(cpaths: &ContainerPaths) -> Option<i32> {
    std::fs::read_to_string(last_exit_path(cpaths)?)
        .ok()?
        .trim()
        .parse()
        .ok()
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
        remove_container_files(&c, &crate::Settings::default()).unwrap();
        assert!(!c.dir.exists());
        assert!(!c.run.exists());
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("root/containers"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "tombstone left behind: {left:?}");
        remove_container_files(&c, &crate::Settings::default()).unwrap();
    }

    #[test]
    fn addresses_are_free_before_the_files_go() {
        use crate::net::store::{NetworkRecord, Store};
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let id = "c".repeat(64);
        let c = Paths::new(&root, tmp.path().join("run")).container(&id);
        std::fs::create_dir_all(&c.dir).unwrap();
        let store = Store::new(&root);
        let mut net = NetworkRecord {
            id: "a".repeat(64),
            name: "n".into(),
            driver: "bridge".into(),
            subnet: "10.9.0.0/29".into(),
            gateway: "10.9.0.1".into(),
            ..NetworkRecord::default()
        };
        let containers = root.join("containers");
        let wish = crate::net::store::EndpointWish {
            ip: "10.9.0.2".into(),
            ..Default::default()
        };
        let locked = store.lock().unwrap();
        locked
            .allocate(&mut net, &containers, &id, "one", &wish)
            .unwrap();
        drop(locked);
        // A process killed after the release, before the files: the container is still
        // there, marked, and nobody holds its address.
        std::fs::write(c.dir.join(REMOVING_MARKER), b"").unwrap();
        crate::net::release_container(&root, &id).unwrap();
        assert!(marked_for_removal(&c) && c.dir.exists());
        assert!(store.get(&net.id).unwrap().endpoints.is_empty());
        // The whole removal, again: the order holds and a second one is harmless.
        let locked = store.lock().unwrap();
        let mut net = store.get(&net.id).unwrap();
        locked
            .allocate(&mut net, &containers, &id, "one", &wish)
            .unwrap();
        drop(locked);
        remove_container(&root, &c, &crate::Settings::default()).unwrap();
        assert!(!c.dir.exists());
        assert!(store.get(&net.id).unwrap().endpoints.is_empty());
        remove_container(&root, &c, &crate::Settings::default()).unwrap();
    }

    #[test]
    fn anonymous_volumes_go_unless_another_container_names_them() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
        let (mine, other) = (paths.container("mine"), paths.container("other"));
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        for c in [&mine, &other] {
            std::fs::create_dir_all(&c.dir).unwrap();
        }
        std::fs::write(mine.dir.join("container.json"), format!("{a} {b}")).unwrap();
        std::fs::write(other.dir.join("container.json"), &b).unwrap();
        for v in [&a, &b] {
            std::fs::create_dir_all(tmp.path().join("root/volumes").join(v).join("_data")).unwrap();
        }
        let removed = remove_anonymous_volumes(&mine, &[a.clone(), b.clone(), "../x".into()]);
        assert_eq!(removed, vec![a.clone()]);
        let vols = tmp.path().join("root/volumes");
        assert!(!vols.join(&a).exists(), "an unused anonymous volume stayed");
        assert!(
            vols.join(&b).exists(),
            "a volume another container uses went"
        );
    }
}
