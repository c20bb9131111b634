//! Images: a content-addressed store of layers unpacked once into directories that overlayfs
//! uses as lower dirs, and image records naming them. (The image issue grows this store:
//! load, save, commit, pull, push.)

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// An image as the engine uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// "sha256:<64 hex>": the digest of the image config.
    pub id: String,
    /// Normalised: "docker.io/library/busybox:latest" is shown as "busybox:latest".
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// RFC 3339.
    pub created: String,
    pub author: String,
    pub comment: String,
    pub os: String,
    pub architecture: String,
    pub config: ImageConfig,
    /// The layers' uncompressed digests, base first ("sha256:...").
    pub diff_ids: Vec<String>,
    /// The unpacked layer directories, base first: the container's overlay lower dirs.
    pub layers: Vec<PathBuf>,
    /// Bytes of all layers.
    pub size: u64,
}

/// The `config` object of a Docker/OCI image config, as Docker spells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
}
