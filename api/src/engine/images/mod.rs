//! Images: a content-addressed store of layers unpacked once into directories that overlayfs
//! uses as lower dirs, and image records naming them (layout in [`store`]). One file per verb:
//! `import.rs`, `load.rs`, `save.rs`, `tag.rs`, `remove.rs`; lookups are here.

pub mod budget;
pub mod changes;
pub mod commit;
pub(crate) mod import;
mod load;
pub mod pack;
pub mod platform;
pub mod prune;
pub mod reference;
pub mod registry;
mod remove;
pub mod save;
pub mod store;
mod tag;
pub mod unpack;
#[cfg(test)]
mod unpack_tests;
pub mod views;

use crate::engine::{Engine, EngineError, Result};
use reference::{Lookup, Reference};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use store::{hex_of, Record, Store};

/// An image as the engine uses it.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// "v8" for arm64/v8 and the like; often empty.
    pub variant: String,
    /// The config's `history`, as stored.
    pub history: Vec<serde_json::Value>,
    /// Bytes of each layer, in the order of `diff_ids`.
    pub layer_sizes: Vec<u64>,
    /// The image a commit was made on; empty for pulled, loaded and imported images.
    pub parent: String,
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

/// The parts of an image config JSON berth reads (Docker's and OCI's spelling).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfigFile {
    architecture: String,
    variant: String,
    os: String,
    created: String,
    author: String,
    comment: String,
    config: Option<ImageConfig>,
    rootfs: RootFs,
    history: Vec<serde_json::Value>,
}

/// Whether an image config decodes as the listings decode it (what a load must check).
pub(crate) fn readable_config(bytes: &[u8]) -> std::result::Result<(), serde_json::Error> {
    serde_json::from_slice::<ConfigFile>(bytes).map(drop)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RootFs {
    diff_ids: Vec<String>,
}

impl Engine {
    pub(crate) fn store(&self) -> Store {
        Store::new(&self.paths.root)
    }

    /// Find an image as dockerd does: a name[:tag] or name@digest (normalised), a full id
    /// ("sha256:<hex>" or bare hex) or a unique prefix of an id.
    pub fn image(&self, reference: &str) -> Result<Image> {
        let store = self.store();
        let not_found = |shown: &str| EngineError::not_found(format!("No such image: {shown}"));
        let named = match Lookup::parse(reference) {
            Ok(Lookup::Id(hex)) => {
                return match store.read_record(&hex)? {
                    Some(r) => self.image_of(&store, &r, &store.read_index()?),
                    None => Err(not_found(reference)),
                };
            }
            Ok(Lookup::Named(r)) => Some(r.with_default_tag()),
            Err(e) => {
                if short_id(reference).is_none() {
                    return Err(e);
                }
                None
            }
        };
        let index = store.read_index()?;
        if let Some(r) = &named {
            if let Some(id) = index.references.get(&r.key()) {
                if let Some(rec) = store.read_record(hex_of(id))? {
                    return self.image_of(&store, &rec, &index);
                }
            }
        }
        if let Some(prefix) = short_id(reference) {
            let ids: Vec<String> = store
                .record_ids()?
                .into_iter()
                .filter(|h| h.starts_with(prefix))
                .collect();
            if let [hex] = ids.as_slice() {
                if let Some(rec) = store.read_record(hex)? {
                    return self.image_of(&store, &rec, &index);
                }
            }
        }
        Err(match named {
            Some(r) => not_found(&r.familiar()),
            None => not_found(reference),
        })
    }

    /// The image a container was created from, even after a forced rmi retired it.
    pub fn container_image(&self, image_id: &str) -> Result<Image> {
        let store = self.store();
        let hex = hex_of(image_id);
        match store.read_record_or_retired(hex)? {
            Some(rec) => self.image_of(&store, &rec, &store.read_index()?),
            None => Err(EngineError::not_found(format!("No such image: {image_id}"))),
        }
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<Image>> {
        let store = self.store();
        let index = store.read_index()?;
        let mut out = Vec::new();
        for hex in store.record_ids()? {
            // A record removed since the listing is simply not shown.
            if let Some(rec) = store.read_record(&hex)? {
                out.push(self.image_of(&store, &rec, &index)?);
            }
        }
        out.sort_by(|a, b| {
            created_unix(&b.created)
                .cmp(&created_unix(&a.created))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    fn image_of(&self, store: &Store, rec: &Record, index: &store::Index) -> Result<Image> {
        let cfg: ConfigFile = serde_json::from_str(rec.config.get())
            .map_err(|e| EngineError::system(format!("image {}", rec.id), e))?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        for (key, id) in &index.references {
            if id != &rec.id {
                continue;
            }
            let Ok(r) = Reference::parse(key) else {
                continue;
            };
            if r.digest.is_some() {
                repo_digests.push(r.familiar());
            } else {
                repo_tags.push(r.familiar());
            }
        }
        let mut layers = Vec::new();
        let mut layer_sizes = Vec::new();
        for d in &cfg.rootfs.diff_ids {
            let hex = hex_of(d);
            layer_sizes.push(store.layer_meta(hex)?.map_or(0, |m| m.size));
            layers.push(store.layer_diff(hex));
        }
        Ok(Image {
            id: rec.id.clone(),
            repo_tags,
            repo_digests,
            created: cfg.created,
            author: cfg.author,
            comment: cfg.comment,
            os: cfg.os,
            architecture: cfg.architecture,
            config: cfg.config.unwrap_or_default(),
            diff_ids: cfg.rootfs.diff_ids,
            layers,
            size: layer_sizes.iter().sum(),
            variant: cfg.variant,
            history: cfg.history,
            layer_sizes,
            parent: rec.parent.clone(),
        })
    }
}

/// "abc123" or "sha256:abc123": a candidate id prefix.
fn short_id(s: &str) -> Option<&str> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (!hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(hex)
        .filter(|h| h.bytes().all(|b| !b.is_ascii_uppercase()))
}

/// Seconds since the epoch of an RFC 3339 time ("2024-01-02T03:04:05.123Z", "+00:00" offsets
/// too); 0 when unreadable.
pub fn created_unix(created: &str) -> i64 {
    let s = created.trim();
    // The zone is the last six bytes, when they are whole characters: an image's config is
    // anyone's text ("€é€" has no char boundary six bytes from its end).
    let zone_at = s.len().checked_sub(6).filter(|&i| s.is_char_boundary(i));
    let (base, offset) = match zone_at.map(|i| s.split_at(i)) {
        Some((b, o)) if (o.starts_with('+') || o.starts_with('-')) && o.as_bytes()[3] == b':' => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let h: i64 = o[1..3].parse().unwrap_or(0);
            let m: i64 = o[4..6].parse().unwrap_or(0);
            (b.to_string() + "Z", sign * (h * 3600 + m * 60))
        }
        _ => (s.to_string(), 0),
    };
    match humantime::parse_rfc3339_weak(base.trim_end_matches('Z')) {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64 - offset,
            Err(e) => -(e.duration().as_secs() as i64) - offset,
        },
        Err(_) => 0,
    }
}

/// Go's GOARCH for this machine, as image configs spell it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_times() {
        assert_eq!(created_unix("1970-01-01T00:01:00Z"), 60);
        assert_eq!(created_unix("2024-01-02T03:04:05.123456789Z"), 1704164645);
        assert_eq!(created_unix("2024-01-02T04:04:05+01:00"), 1704164645);
        assert_eq!(created_unix("garbage"), 0);
    }

    /// Issue 20: a config's `created` that is not a time reads as 0, whatever its characters;
    /// "€é€" has no char boundary six bytes from its end, where the zone is looked for.
    #[test]
    fn created_of_any_text_is_a_number() {
        for s in ["€é€", "é", "€", "x€€", "+€:€", "2024-01-02T03:04:05+0€"] {
            assert_eq!(created_unix(s), 0, "expected 0 for {s:?}");
        }
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("abc"), Some("abc"));
        assert_eq!(short_id("sha256:abc"), Some("abc"));
        assert_eq!(short_id("busybox"), None);
        assert_eq!(short_id(""), None);
    }
}
