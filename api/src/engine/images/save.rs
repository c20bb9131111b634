//! `docker save`: images as one tar, in the layout dockerd 25+ writes, which both the old and the
//! new loaders read: `manifest.json` ([{Config, RepoTags, Layers}]) and `repositories` for
//! `docker load`, plus `oci-layout`, `index.json` and OCI manifests for OCI tools. Every file is a
//! blob under `blobs/sha256/`; a layer is its uncompressed tar, so its blob digest is its diff id.
//!
//! Layer tars are served from the blob kept at load time (decompressed on the way), never rebuilt
//! from the unpacked dir: a rebuilt tar would not hash to the recorded diff id. A layer stored
//! before blobs were kept is rebuilt and served only if it happens to hash right.

use super::pack::pack_layer;
use super::reference::{Lookup, Reference};
use super::store::{hex_of, sha256_hex, Store};
use super::unpack::decompress;
use crate::engine::{Engine, EngineError, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};

/// What a save will write, decided (and every name resolved) before the first byte goes out.
#[derive(Debug)]
pub struct SavePlan {
    store: Store,
    /// Image id -> its config bytes, its diff ids and the references to save it under.
    images: BTreeMap<String, Saved>,
    /// Order of first mention.
    order: Vec<String>,
}

/// One image of a save: its config bytes, diff ids (hex) and the references to save it under.
type Saved = (Vec<u8>, Vec<String>, Vec<Reference>);

impl Engine {
    /// Resolve `names` as dockerd does: an id saves the image without tags, `name:tag` that tag,
    /// a bare repository name every tag of it.
    pub fn plan_save(&self, names: &[String]) -> Result<SavePlan> {
        self.plan_save_platform(names, None)
    }

    /// `docker save --platform` (API 1.48): every image named must be of that platform, or
    /// the save fails with dockerd's words.
    pub fn plan_save_platform(
        &self,
        names: &[String],
        platform: Option<&super::platform::Platform>,
    ) -> Result<SavePlan> {
        let store = self.store();
        let index = store.read_index()?;
        let mut plan = SavePlan {
            store: store.clone(),
            images: BTreeMap::new(),
            order: Vec::new(),
        };
        if names.is_empty() {
            return Err(EngineError::invalid_parameter("no images to save".into()));
        }
        for name in names {
            let mut picked: Vec<(String, Option<Reference>)> = Vec::new();
            if let Ok(Lookup::Named(r)) = Lookup::parse(name) {
                if r.tag.is_none() && r.digest.is_none() {
                    let prefix = format!("{}:", r.name());
                    for (key, id) in &index.references {
                        if key.starts_with(&prefix) {
                            if let Ok(t) = Reference::parse(key) {
                                picked.push((id.clone(), Some(t)));
                            }
                        }
                    }
                }
            }
            if picked.is_empty() {
                let img = self.image(name)?;
                let tag = match Lookup::parse(name) {
                    Ok(Lookup::Named(r))
                        if img
                            .repo_tags
                            .contains(&r.clone().with_default_tag().familiar()) =>
                    {
                        Some(r.with_default_tag())
                    }
                    _ => None,
                };
                picked.push((img.id, tag));
            }
            for (id, tag) in picked {
                if let Some(want) = platform {
                    let img = self.image(&id)?;
                    if !want.matches(&super::platform::Platform::of_image(&img)) {
                        return Err(EngineError::system_message(format!(
                            "no suitable export target found for platform {want}"
                        )));
                    }
                }
                if !plan.images.contains_key(&id) {
                    let rec = store
                        .read_record(hex_of(&id))?
                        .ok_or_else(|| EngineError::not_found(format!("No such image: {name}")))?;
                    let diff_ids = super::store::diff_ids_of(&rec)?;
                    plan.images.insert(
                        id.clone(),
                        (rec.config.get().as_bytes().to_vec(), diff_ids, Vec::new()),
                    );
                    plan.order.push(id.clone());
                }
                if let (Some(t), Some(entry)) = (tag, plan.images.get_mut(&id)) {
                    if !entry.2.contains(&t) {
                        entry.2.push(t);
                    }
                }
            }
        }
        Ok(plan)
    }
}

fn tar_err(e: io::Error) -> EngineError {
    EngineError::system("writing the image archive", e)
}

fn add_file(b: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = file_header(data.len() as u64);
    b.append_data(&mut h, path, data).map_err(tar_err)
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h
}

impl SavePlan {
    /// Write the archive to `out`.
    pub fn write(&self, out: impl Write) -> Result<()> {
        let mut b = tar::Builder::new(out);
        for d in ["blobs/", "blobs/sha256/"] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_mtime(0);
            b.append_data(&mut h, d, io::empty()).map_err(tar_err)?;
        }
        let mut written = BTreeSet::new();
        let mut manifest = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for id in &self.order {
            let (config, diff_ids, tags) = &self.images[id];
            let mut layer_paths = Vec::new();
            let mut descriptors = Vec::new();
            for d in diff_ids {
                let hex = hex_of(d);
                let path = format!("blobs/sha256/{hex}");
                let size = if written.contains(hex) {
                    self.store
                        .layer_meta(hex)?
                        .and_then(|m| m.tar_size)
                        .unwrap_or(0)
                } else {
                    let size = self.write_layer(&mut b, hex, &path)?;
                    written.insert(hex.to_string());
                    size
                };
                layer_paths.push(path);
                descriptors.push(json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{hex}"),
                    "size": size,
                }));
            }
            let chex = hex_of(id);
            if written.insert(chex.to_string()) {
                add_file(&mut b, &format!("blobs/sha256/{chex}"), config)?;
            }
            let m = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": id,
                    "size": config.len(),
                },
                "layers": descriptors,
            }))
            .map_err(|e| EngineError::system("manifest", e))?;
            let mhex = sha256_hex(&m);
            if written.insert(mhex.clone()) {
                add_file(&mut b, &format!("blobs/sha256/{mhex}"), &m)?;
            }
            let desc = |annotations: Value| {
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{mhex}"),
                    "size": m.len(),
                    "annotations": annotations,
                })
            };
            if tags.is_empty() {
                index.push(desc(json!({})));
            }
            for t in tags {
                index.push(desc(json!({
                    "io.containerd.image.name": t.full(),
                    "org.opencontainers.image.ref.name": t.tag.clone().unwrap_or_default(),
                })));
                if let (Some(tag), Some(top)) = (&t.tag, diff_ids.last()) {
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(tag.clone(), hex_of(top).to_string());
                }
            }
            manifest.push(json!({
                "Config": format!("blobs/sha256/{chex}"),
                "RepoTags": tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
                "Layers": layer_paths,
            }));
        }
        let js = |v: &Value| serde_json::to_vec(v).map_err(|e| EngineError::system("json", e));
        add_file(
            &mut b,
            "index.json",
            &js(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": index,
            }))?,
        )?;
        add_file(&mut b, "manifest.json", &js(&json!(manifest))?)?;
        add_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        if !repositories.is_empty() {
            add_file(&mut b, "repositories", &js(&json!(repositories))?)?;
        }
        b.into_inner().map_err(tar_err)?.flush().map_err(tar_err)
    }

    /// Write one layer's uncompressed tar as `path`; returns its size.
    fn write_layer(&self, b: &mut tar::Builder<impl Write>, hex: &str, path: &str) -> Result<u64> {
        let meta = self.store.layer_meta(hex)?.ok_or_else(|| {
            EngineError::system_message(format!("layer sha256:{hex} is missing from the store"))
        })?;
        let blob = self.store.layer_blob(hex);
        if let (Some(size), Ok(f)) = (meta.tar_size, File::open(&blob)) {
            let r = decompress(io::BufReader::new(f))?;
            let mut check = Checked::new(r.take(size));
            b.append_data(&mut file_header(size), path, &mut check)
                .map_err(tar_err)?;
            if check.count != size || check.hex() != hex {
                return Err(EngineError::system_message(format!(
                    "layer blob {} does not hash to its diff id sha256:{hex}",
                    blob.display()
                )));
            }
            return Ok(size);
        }
        // A layer stored before blobs were kept: rebuild it and serve it only if it hashes right.
        let tmp = self.store.tmp_dir()?;
        let p = tmp.path.join("layer.tar");
        let f = File::create(&p).map_err(|e| EngineError::system(p.display(), e))?;
        pack_layer(
            &self.store.layer_diff(hex),
            &BTreeSet::new(),
            None,
            io::BufWriter::new(f),
        )
        .and_then(|mut w| w.flush())
        .map_err(|e| EngineError::system(p.display(), e))?;
        let mut check =
            Checked::new(File::open(&p).map_err(|e| EngineError::system(p.display(), e))?);
        io::copy(&mut check, &mut io::sink()).map_err(|e| EngineError::system(p.display(), e))?;
        if check.hex() != hex {
            return Err(EngineError::system_message(format!(
                "layer sha256:{hex} was stored without its tar and cannot be rebuilt byte for \
                 byte; load or pull the image again to save it"
            )));
        }
        let size = check.count;
        let f = File::open(&p).map_err(|e| EngineError::system(p.display(), e))?;
        b.append_data(&mut file_header(size), path, f)
            .map_err(tar_err)?;
        Ok(size)
    }
}

/// Counts and hashes what is read through it.
pub(super) struct Checked<R> {
    inner: R,
    sha: sha2::Sha256,
    pub count: u64,
}

impl<R: Read> Checked<R> {
    pub fn new(inner: R) -> Self {
        use sha2::Digest;
        Checked {
            inner,
            sha: sha2::Sha256::new(),
            count: 0,
        }
    }
    pub fn hex(&self) -> String {
        use sha2::Digest;
        hex::encode(self.sha.clone().finalize())
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
