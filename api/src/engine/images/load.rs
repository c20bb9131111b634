//! `docker load`: a `docker save` archive (manifest.json: Config, RepoTags, Layers) or an OCI image
//! layout (index.json -> manifests -> config and layers). The archive is read in one pass, so its
//! files are first spooled to a private temp dir (by number: names in the archive never become
//! paths), then each image's layers are unpacked and checked against the config's diff ids.
//! The spool and the layers' tar together may fill at most one [`Budget`]: past it the load is
//! refused with the limit named, before any image of the archive is committed when the spool
//! overflows, and the temporary directory (spool and unpacked layers) goes either way.

use super::budget::Budget;
use super::import::NewLayer;
use super::reference::Reference;
use super::store::{hex_of, sha256_hex};
use crate::engine::{Engine, EngineError, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Bound on manifest.json, index.json and configs read into memory.
const MAX_JSON: u64 = 16 << 20;
/// A commit retries this often when a layer it found is collected under it.
const COMMIT_TRIES: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Debug, Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciManifest {
    #[serde(default)]
    media_type: String,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// One image found in the archive: archive paths of its config and layers, its tags.
struct Found {
    config: String,
    layers: Vec<String>,
    tags: Vec<String>,
}

fn bad(why: impl std::fmt::Display) -> EngineError {
    EngineError::invalid_parameter(format!("invalid image archive: {why}"))
}

/// Archive path to a normal form ("./a/../b" -> "b"); None when it climbs out.
fn norm(p: &Path) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(out.join("/"))
}

struct Spool {
    dir: PathBuf,
    files: HashMap<String, PathBuf>,
    links: HashMap<String, String>,
}

impl Spool {
    fn path(&self, name: &str) -> Result<&Path> {
        let mut name = norm(Path::new(name)).ok_or_else(|| bad(format!("bad path {name}")))?;
        for _ in 0..16 {
            if let Some(p) = self.files.get(&name) {
                return Ok(p);
            }
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => break,
            }
        }
        Err(bad(format!("missing file {name}")))
    }

    fn open(&self, name: &str) -> Result<File> {
        let p = self.path(name)?;
        File::open(p).map_err(|e| EngineError::system(p.display(), e))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<(T, Vec<u8>)> {
        let mut b = Vec::new();
        self.open(name)?
            .take(MAX_JSON)
            .read_to_end(&mut b)
            .map_err(|e| EngineError::system(name, e))?;
        let v = serde_json::from_slice(&b).map_err(|e| bad(format!("{name}: {e}")))?;
        Ok((v, b))
    }

    fn has(&self, name: &str) -> bool {
        self.path(name).is_ok()
    }
}

fn blob(digest: &str) -> Result<String> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| super::reference::is_hex64(h))
        .ok_or_else(|| bad(format!("unsupported digest {digest}")))?;
    Ok(format!("blobs/sha256/{hex}"))
}

impl Engine {
    /// Load every image in the archive; returns dockerd's "Loaded image: busybox:latest" lines
    /// ("Loaded image ID: sha256:..." for an image without tags).
    pub fn load(&self, tar: impl Read) -> Result<Vec<String>> {
        self.load_platform(tar, None)
    }

    /// `docker load --platform` (API 1.48): the archive's images of another platform are
    /// skipped, as dockerd's loader skips them.
    pub fn load_platform(
        &self,
        tar: impl Read,
        platform: Option<&super::platform::Platform>,
    ) -> Result<Vec<String>> {
        let store = self.store();
        let tmp = store.tmp_dir()?;
        let mut budget = Budget::for_dir(&tmp.path, self.settings.load_max_bytes.as_deref())?;
        let spool = spool(tar, &tmp.path, &mut budget)?;
        let found = if spool.has("manifest.json") {
            let (ms, _): (Vec<SaveManifest>, _) = spool.json("manifest.json")?;
            ms.into_iter()
                .map(|m| Found {
                    config: m.config,
                    layers: m.layers,
                    tags: m.repo_tags.unwrap_or_default(),
                })
                .collect()
        } else if spool.has("index.json") {
            oci_images(&spool)?
        } else {
            return Err(bad("neither manifest.json nor index.json found"));
        };
        if found.is_empty() {
            return Err(bad("no images in the archive"));
        }
        let mut lines = Vec::new();
        for f in found {
            if let Some(want) = platform {
                let (cfg, _): (serde_json::Value, _) = spool.json(&f.config)?;
                let field = |k: &str| cfg[k].as_str().unwrap_or("").to_string();
                let have = super::platform::Platform::of(
                    &field("os"),
                    &field("architecture"),
                    &field("variant"),
                );
                if !want.matches(&have) {
                    continue;
                }
            }
            let tags = f
                .tags
                .iter()
                .map(|t| Reference::parse(t).map(Reference::with_default_tag))
                .collect::<Result<Vec<_>>>()?;
            let id = self.load_one(&spool, &f, &tags, &mut budget)?;
            self.image_event(&id, "load", &id);
            for t in &tags {
                self.image_event(&id, "tag", &t.familiar());
            }
            if tags.is_empty() {
                lines.push(format!("Loaded image ID: {id}"));
            }
            for t in tags {
                lines.push(format!("Loaded image: {}", t.familiar()));
            }
        }
        Ok(lines)
    }

    fn load_one(
        &self,
        spool: &Spool,
        f: &Found,
        tags: &[Reference],
        budget: &mut Budget,
    ) -> Result<String> {
        let store = self.store();
        let (cfg, bytes): (serde_json::Value, _) = spool.json(&f.config)?;
        // Read as the listings read it, so that no config loads that `docker images` cannot
        // read afterwards (a field given twice, a field of the wrong type).
        super::readable_config(&bytes).map_err(|e| bad(format!("{}: {e}", f.config)))?;
        let diff_ids: Vec<String> = cfg
            .pointer("/rootfs/diff_ids")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| bad(format!("{}: no rootfs.diff_ids", f.config)))?;
        if diff_ids.len() != f.layers.len() {
            return Err(bad(format!(
                "{}: {} diff ids for {} layers",
                f.config,
                diff_ids.len(),
                f.layers.len()
            )));
        }
        let mut unpack_all = false;
        for _ in 0..COMMIT_TRIES {
            let mut layers = Vec::new();
            for (name, diff_id) in f.layers.iter().zip(&diff_ids) {
                let hex = hex_of(diff_id).to_string();
                if !super::reference::is_hex64(&hex) {
                    return Err(bad(format!("bad diff id {diff_id}")));
                }
                if !unpack_all && store.layer_meta(&hex)?.is_some() {
                    layers.push(NewLayer { hex, tmp: None });
                    continue;
                }
                let what = format!("layer {name} of the image archive");
                let (tmp, got) =
                    self.unpack_aside_file(spool.path(name)?, Some((budget, &what)))?;
                budget.take(got.tar_size, &what)?;
                if got.diff_id != *diff_id {
                    return Err(bad(format!(
                        "layer {name} has diff id {}, the config says {diff_id}",
                        got.diff_id
                    )));
                }
                layers.push(NewLayer {
                    hex,
                    tmp: Some(tmp),
                });
            }
            match self.commit_image(layers, &bytes, "", tags)? {
                Ok(done) => return Ok(done.id),
                Err(_missing) => unpack_all = true,
            }
        }
        Err(EngineError::system_message(format!(
            "loading {}: layers kept vanishing under concurrent removals",
            f.config
        )))
    }
}

/// Copy the archive's regular files to numbered files in `dir`; remember symlinks by name. The
/// archive, decompressed, may be as long as `budget` has left.
fn spool(tar: impl Read, dir: &Path, budget: &mut Budget) -> Result<Spool> {
    let mut s = Spool {
        dir: dir.join("spool"),
        files: HashMap::new(),
        links: HashMap::new(),
    };
    std::fs::create_dir(&s.dir).map_err(|e| EngineError::system(s.dir.display(), e))?;
    const WHAT: &str = "the image archive";
    let (bounded, over) = budget.reader(super::unpack::decompress(tar)?);
    // A failure to read is the budget's refusal when the bound stopped the reading.
    let fail = |e: io::Error| {
        if over.get() {
            budget.refusal(WHAT)
        } else {
            bad(e)
        }
    };
    let mut archive = tar::Archive::new(bounded);
    let entries = archive.entries().map_err(fail)?;
    for (n, entry) in entries.enumerate() {
        let mut entry = entry.map_err(fail)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let Some(name) = norm(&raw) else {
            return Err(bad(format!("path {} climbs out", raw.display())));
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let p = s.dir.join(n.to_string());
                let mut out = File::create(&p).map_err(|e| EngineError::system(p.display(), e))?;
                io::copy(&mut entry, &mut out).map_err(fail)?;
                s.files.insert(name, p);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .ok_or_else(|| bad("link without target"))?
                    .into_owned();
                let resolved = if entry.header().entry_type() == tar::EntryType::Link {
                    norm(&target)
                } else {
                    let parent = Path::new(&name).parent().unwrap_or(Path::new(""));
                    norm(&parent.join(&target))
                };
                let resolved = resolved.ok_or_else(|| bad("link climbs out"))?;
                s.links.insert(name, resolved);
            }
            _ => {}
        }
    }
    let read = archive.into_inner().read_bytes();
    budget.take(read, WHAT)?;
    Ok(s)
}

fn is_index(media_type: &str) -> bool {
    media_type.ends_with("image.index.v1+json") || media_type.ends_with("manifest.list.v2+json")
}

/// Images of an OCI layout: each manifest of index.json (an index inside is followed to the
/// manifest for this machine).
fn oci_images(spool: &Spool) -> Result<Vec<Found>> {
    let (index, _): (OciIndex, _) = spool.json("index.json")?;
    let mut out = Vec::new();
    for d in index.manifests {
        let tag = d
            .annotations
            .get("io.containerd.image.name")
            .cloned()
            .or_else(|| {
                d.annotations
                    .get("org.opencontainers.image.ref.name")
                    .filter(|n| n.contains(['/', ':']) && Reference::parse(n).is_ok())
                    .cloned()
            });
        let (mut m, _): (OciManifest, _) = spool.json(&blob(&d.digest)?)?;
        if is_index(&d.media_type) || is_index(&m.media_type) || !m.manifests.is_empty() {
            let pick = m
                .manifests
                .iter()
                .find(|x| {
                    x.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == super::host_arch())
                })
                .or(m.manifests.first())
                .ok_or_else(|| bad("an empty image index"))?;
            m = spool.json(&blob(&pick.digest)?)?.0;
        }
        let config = m.config.ok_or_else(|| bad("manifest without config"))?;
        let config_path = blob(&config.digest)?;
        let mut b = Vec::new();
        spool
            .open(&config_path)?
            .take(MAX_JSON)
            .read_to_end(&mut b)
            .map_err(|e| EngineError::system(&config_path, e))?;
        if format!("sha256:{}", sha256_hex(&b)) != config.digest {
            return Err(bad(format!(
                "config {} does not match its digest",
                config.digest
            )));
        }
        out.push(Found {
            config: config_path,
            layers: m
                .layers
                .iter()
                .map(|l| blob(&l.digest))
                .collect::<Result<_>>()?,
            tags: tag.into_iter().collect(),
        });
    }
    Ok(out)
}
