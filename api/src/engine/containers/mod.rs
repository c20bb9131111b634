//! Containers as Docker clients see them. Each is a directory `<root>/containers/<id>/` holding
//! `container.json` (Docker's Config and HostConfig as created, written once and on rename or
//! update), the shim's `config.json` (what the shim obeys) and the shim's `state.json`.

pub mod apparmor;
pub mod archive;
mod archive_fs;
pub mod attach;
pub mod boundary;
pub mod create;
pub(crate) mod devices;
pub mod export;
pub mod inspect;
pub mod lifecycle;
pub mod links;
pub mod list;
mod log_tail;
pub mod logs;
pub mod mounts;
pub mod ports;
pub mod prune;
pub mod row_json;
pub mod stats;
pub mod status;
pub mod summary;
pub mod syscalls;
pub mod top;
pub mod update;
pub mod wait;
pub mod watch;

use crate::engine::wire::{DockerConfig, HostConfig};

use super::ids::{is_hex_prefix, ContainerId};
use super::{Engine, EngineError, Result};
use berth_shim::ContainerPaths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema version of `container.json`.
pub const RECORD_VERSION: u32 = 1;

/// The Docker-level record of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub version: u32,
    pub id: ContainerId,
    /// With the leading slash, as Docker shows it.
    pub name: String,
    pub created: String,
    /// The image as the client named it ("busybox").
    pub image_ref: String,
    /// "sha256:..." (named "Image" on disk, which the image store reads to find users).
    #[serde(rename = "Image")]
    pub image_id: String,
    /// Entrypoint + Cmd, split as Docker's Path and Args.
    pub path: String,
    pub args: Vec<String>,
    pub config: DockerConfig,
    pub host_config: HostConfig,
    #[serde(default)]
    pub networking_config: serde_json::Value,
    /// The mounts as inspect shows them (volumes resolved to their names).
    #[serde(default)]
    pub mount_points: Vec<mounts::MountPoint>,
    /// NetworkSettings.Networks as `docker ps` lists them (by network name), written at create
    /// and at every connect and disconnect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, serde_json::Value>,
    /// Legacy links on the default bridge (HostConfig.Links, checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<links::Link>,
}

impl Engine {
    pub fn container_paths(&self, id: &ContainerId) -> ContainerPaths {
        self.paths.container(id)
    }

    fn names(&self) -> super::names::Names {
        super::names::Names::new(&self.paths.root)
    }

    /// Every container id (directories of 64 hex digits).
    pub fn container_ids(&self) -> Vec<ContainerId> {
        let Ok(entries) = std::fs::read_dir(self.paths.containers()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| ContainerId::parse(e.file_name().to_str()?))
            .collect()
    }

    /// Delete what a process killed mid-way left behind, none of which clients ever see:
    /// containers being created (`.creating-<id>`, older than a minute, so that a create in
    /// progress is not touched), removal tombstones (`.removing-<id>`), and the network
    /// addresses of containers that are gone; and the containers whose removal was cut short
    /// (marked, with nobody at it), which are removed now.
    pub fn sweep(&self) {
        for id in self.container_ids() {
            let paths = self.container_paths(&id);
            if berth_shim::remove::marked_for_removal(&paths)
                && !berth_shim::state::shim_alive(&paths)
            {
                if let Err(e) = self.remove(&id, true) {
                    tracing::warn!("finishing the removal of {id}: {e}");
                }
            }
        }
        self.sweep_networks();
        self.sweep_builds();
        let Ok(entries) = std::fs::read_dir(self.paths.containers()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale_create = name.starts_with(".creating-")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 60);
            if stale_create || name.starts_with(berth_shim::remove::TOMBSTONE_PREFIX) {
                let path = e.path();
                berth_shim::cleanup::cleanup(
                    format!("removing {}", path.display()),
                    berth_shim::fsutil::remove_tree(&path),
                );
            }
        }
    }

    /// Find a container by full id, name (with or without '/') or unique id prefix: the door
    /// through which every client reference passes. Anything else is dockerd's 404.
    pub fn lookup(&self, reference: &str) -> Result<ContainerId> {
        let not_found = || EngineError::not_found(format!("No such container: {reference}"));
        if let Some(id) = ContainerId::parse(reference) {
            if self.paths.container(&id).dir.is_dir() {
                return Ok(id);
            }
        }
        if let Some(id) = self.names().get(reference) {
            return Ok(id);
        }
        if is_hex_prefix(reference) {
            let lower = reference.to_ascii_lowercase();
            let mut matches = self
                .container_ids()
                .into_iter()
                .filter(|id| id.starts_with(&lower));
            match (matches.next(), matches.next()) {
                (Some(id), None) => return Ok(id),
                (None, _) => {}
                (Some(_), Some(_)) => {
                    return Err(EngineError::invalid_parameter(format!(
                        "multiple IDs found with provided prefix: {reference}"
                    )))
                }
            }
        }
        Err(not_found())
    }

    /// Serialise the operations that change one container (start, stop, restart, remove,
    /// update): held for the operation, released on drop. Different containers never wait on
    /// each other; signals, pause and resize go straight to the shim, which serialises them.
    pub(crate) fn op_lock(&self, id: &ContainerId) -> Result<berth_shim::fsutil::FileLock> {
        let path = self.container_paths(id).dir.join("op.lock");
        let not_found = || EngineError::not_found(format!("No such container: {id}"));
        let lock = berth_shim::fsutil::FileLock::acquire(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                not_found()
            } else {
                EngineError::system(path.display(), e)
            }
        })?;
        // A removal that held the lock while this waited took the container's files with the
        // lock file: the lock is then on a file no longer there, and the container is gone.
        if !path.exists() {
            return Err(not_found());
        }
        Ok(lock)
    }

    pub fn record(&self, id: &ContainerId) -> Result<ContainerRecord> {
        let path = self.container_paths(id).dir.join("container.json");
        let data = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EngineError::not_found(format!("No such container: {id}"))
            } else {
                EngineError::system(path.display(), e)
            }
        })?;
        serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))
    }

    pub(crate) fn write_record(&self, record: &ContainerRecord) -> Result<()> {
        let path = self.container_paths(&record.id).dir.join("container.json");
        let data =
            serde_json::to_vec_pretty(record).map_err(|e| EngineError::system("encoding", e))?;
        berth_shim::fsutil::write_atomic(&path, &data)
            .map_err(|e| EngineError::system(path.display(), e))?;
        // The listing's cache of the record; a failure only makes `docker ps` read the record.
        let dir = self.container_paths(&record.id).dir;
        if let Err(e) = summary::write(&dir, record) {
            tracing::warn!("writing the summary of {}: {e}", record.id);
        }
        Ok(())
    }

    pub fn state(&self, id: &ContainerId) -> Result<berth_shim::State> {
        Ok(berth_shim::state::read(&self.container_paths(id))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_tombstones_and_old_creates_only() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::new(berth_shim::Paths::new(tmp.path(), tmp.path().join("run")));
        let c = engine.paths.containers();
        for d in [
            ".removing-aaa/upper",
            ".creating-new",
            ".creating-old",
            "0123",
        ] {
            std::fs::create_dir_all(c.join(d)).unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        std::fs::File::open(c.join(".creating-old"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        engine.sweep();
        let mut left: Vec<String> = std::fs::read_dir(&c)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec![".creating-new", "0123"]);
    }
}
