//! Containers as Docker clients see them. Each is a directory `<root>/containers/<id>/` holding
//! `container.json` (Docker's Config and HostConfig as created, written once and on rename or
//! update), the shim's `config.json` (what the shim obeys) and the shim's `state.json`.

pub mod create;
mod docker;
pub mod inspect;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod update;

pub use docker::{CreateBody, DockerConfig, HostConfig, StringOrList};

use super::{Engine, EngineError, Result};
use berth_shim::ContainerPaths;
use serde::{Deserialize, Serialize};

/// Schema version of `container.json`.
pub const RECORD_VERSION: u32 = 1;

/// The Docker-level record of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub version: u32,
    pub id: String,
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
}

impl Engine {
    pub fn container_paths(&self, id: &str) -> ContainerPaths {
        self.paths.container(id)
    }

    fn names(&self) -> super::names::Names {
        super::names::Names::new(&self.paths.root)
    }

    /// Every container id (directories of 64 hex digits).
    pub fn container_ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.paths.containers()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect()
    }

    /// Find a container by full id, name (with or without '/') or unique id prefix.
    pub fn lookup(&self, reference: &str) -> Result<String> {
        let not_found = || EngineError::NotFound(format!("No such container: {reference}"));
        if reference.is_empty() {
            return Err(not_found());
        }
        if reference.len() == 64 && self.paths.container(reference).dir.is_dir() {
            return Ok(reference.to_string());
        }
        if let Some(id) = self.names().get(reference) {
            return Ok(id);
        }
        if reference.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = reference.to_ascii_lowercase();
            let matches: Vec<String> = self
                .container_ids()
                .into_iter()
                .filter(|id| id.starts_with(&lower))
                .collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().unwrap_or_default()),
                0 => {}
                _ => {
                    return Err(EngineError::InvalidParameter(format!(
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
    pub(crate) fn op_lock(&self, id: &str) -> Result<berth_shim::fsutil::FileLock> {
        let path = self.container_paths(id).dir.join("op.lock");
        berth_shim::fsutil::FileLock::acquire(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EngineError::NotFound(format!("No such container: {id}"))
            } else {
                EngineError::system(path.display(), e)
            }
        })
    }

    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        let path = self.container_paths(id).dir.join("container.json");
        let data = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EngineError::NotFound(format!("No such container: {id}"))
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
            .map_err(|e| EngineError::system(path.display(), e))
    }

    pub fn state(&self, id: &str) -> Result<berth_shim::State> {
        berth_shim::state::read(&self.container_paths(id)).map_err(|e| match e {
            berth_shim::state::StateError::NotFound { .. } => {
                EngineError::NotFound(format!("No such container: {id}"))
            }
            other => EngineError::system("reading state", other),
        })
    }
}
