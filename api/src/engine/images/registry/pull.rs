//! `docker pull`: manifest (a list or index is resolved to linux/<this arch>), config, then each
//! layer the store lacks, downloaded to a temp file with its digest checked, unpacked like a
//! loaded layer (the download is kept as the layer's blob), its diff id checked against the
//! config. Progress goes out as dockerd's JSON lines.

use super::client::{denied, error_text, read_small, Body, Client, Credentials};
use super::{progress_text, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST};
use super::{registry_error, short, Endpoint, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST};
use crate::engine::images::budget::Budget;
use crate::engine::images::import::NewLayer;
use crate::engine::images::platform::Platform;
use crate::engine::images::reference::{is_hex64, Reference};
use crate::engine::images::store::{hex_of, sha256_hex};
use crate::engine::{Engine, EngineError, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest;
use std::io::{Read, Write};
use ureq::http::Method;

const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
/// A progress line at most every this many bytes.
const PROGRESS_STEP: u64 = 512 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<DescPlatform>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DescPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Where a layer came from: written next to a pulled layer, read by push for blob mounts.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Source {
    pub version: u32,
    /// Digest of the blob file (the layer as the registry has it).
    pub digest: String,
    pub media_type: String,
    /// "127.0.0.1:5000" and "library/busybox".
    pub domain: String,
    pub repository: String,
}

fn check_digest(digest: &str) -> Result<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| is_hex64(h))
        .ok_or_else(|| registry_error(format!("unsupported digest {digest:?}")))
}

impl Engine {
    /// Pull `reference` ("busybox", "localhost:5000/app:1", "x@sha256:..."); each progress line
    /// goes to `out`.
    pub fn pull(
        &self,
        reference: &str,
        creds: Option<Credentials>,
        out: &mut dyn FnMut(Value),
    ) -> Result<()> {
        self.pull_platform(reference, creds, None, out)
    }

    /// A pull with `platform`: a manifest list's entry for that platform; a single manifest of
    /// another platform is pulled with dockerd's warning.
    pub fn pull_platform(
        &self,
        reference: &str,
        creds: Option<Credentials>,
        platform: Option<&Platform>,
        out: &mut dyn FnMut(Value),
    ) -> Result<()> {
        let want = platform.cloned().unwrap_or_else(Platform::host);
        let mut from_list = false;
        let r = Reference::parse(reference)?.with_default_tag();
        let ep = Endpoint::of(&r, &self.settings.registries)?;
        let mut c = Client::connect(ep.clone(), creds, "pull")?;
        let wanted = r.digest.clone().or(r.tag.clone()).unwrap_or_default();
        out(json!({"status": format!("Pulling from {}", ep.repository), "id": wanted}));

        let (bytes, media) = fetch_manifest(&mut c, &r, &wanted)?;
        let top_digest = format!("sha256:{}", sha256_hex(&bytes));
        if let Some(d) = &r.digest {
            if *d != top_digest {
                return Err(registry_error(format!(
                    "manifest verification failed for digest {d}"
                )));
            }
        }
        let mut m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| registry_error(format!("manifest of {}: {e}", r.familiar())))?;
        if media == MEDIA_DOCKER_LIST
            || media == MEDIA_OCI_INDEX
            || m.media_type == MEDIA_DOCKER_LIST
            || m.media_type == MEDIA_OCI_INDEX
            || !m.manifests.is_empty()
        {
            from_list = true;
            let pick = m
                .manifests
                .iter()
                .find(|d| {
                    d.platform.as_ref().is_some_and(|p| {
                        want.matches(&Platform::of(&p.os, &p.architecture, &p.variant))
                    })
                })
                .ok_or_else(|| {
                    EngineError::not_found(format!(
                        "no matching manifest for {want} in the manifest list entries"
                    ))
                })?;
            let digest = pick.digest.clone();
            let (b, _) = fetch_manifest(&mut c, &r, &digest)?;
            if format!("sha256:{}", sha256_hex(&b)) != digest {
                return Err(registry_error(format!(
                    "manifest {digest} does not match its digest"
                )));
            }
            m = serde_json::from_slice(&b)
                .map_err(|e| registry_error(format!("manifest {digest}: {e}")))?;
        }
        let config_desc = m.config.ok_or_else(|| {
            registry_error("the manifest has no config (schema 1 is not supported)")
        })?;
        check_digest(&config_desc.digest)?;
        let url = ep.url(&format!("blobs/{}", config_desc.digest));
        let mut resp = c.send(Method::GET, &url, &[], Body::Empty, &[])?;
        if !resp.status().is_success() {
            return Err(registry_error(format!(
                "config {}: {}",
                config_desc.digest,
                error_text(&mut resp)
            )));
        }
        let config = read_small(&mut resp, "image config")?;
        if format!("sha256:{}", sha256_hex(&config)) != config_desc.digest {
            return Err(registry_error(format!(
                "config {} does not match its digest",
                config_desc.digest
            )));
        }
        let diff_ids: Vec<String> = serde_json::from_slice::<Value>(&config)
            .ok()
            .and_then(|v| v.pointer("/rootfs/diff_ids").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| registry_error("the image config has no rootfs.diff_ids"))?;
        if diff_ids.len() != m.layers.len() {
            return Err(registry_error(format!(
                "the manifest lists {} layers, the config {}",
                m.layers.len(),
                diff_ids.len()
            )));
        }

        let store = self.store();
        store.ensure_dirs()?;
        let mut budget = Budget::for_dir(&store.layers(), self.settings.load_max_bytes.as_deref())?;
        let mut layers = Vec::new();
        for (d, diff_id) in m.layers.iter().zip(&diff_ids) {
            let hex = hex_of(diff_id).to_string();
            if !is_hex64(&hex) {
                return Err(registry_error(format!("bad diff id {diff_id}")));
            }
            let id = short(&d.digest);
            if store.layer_meta(&hex)?.is_some() {
                out(json!({"status": "Already exists", "progressDetail": {}, "id": id}));
                layers.push(NewLayer { hex, tmp: None });
                continue;
            }
            out(json!({"status": "Pulling fs layer", "progressDetail": {}, "id": id}));
            let tmp = store.tmp_dir()?;
            let file = tmp.path.join("blob");
            download(&mut c, &ep, d, &file, &mut budget, out)?;
            out(json!({"status": "Verifying Checksum", "progressDetail": {}, "id": id}));
            out(json!({"status": "Download complete", "progressDetail": {}, "id": id}));
            out(
                json!({"status": "Extracting", "progressDetail": {"current": d.size, "total": d.size},
                "progress": progress_text(d.size, d.size), "id": id}),
            );
            let what = format!("layer {}", d.digest);
            let (layer_tmp, got) = self.unpack_aside_file(&file, Some((&budget, &what)))?;
            budget.take(got.tar_size, &what)?;
            if got.diff_id != *diff_id {
                return Err(registry_error(format!(
                    "layer {} has diff id {}, the config says {diff_id}",
                    d.digest, got.diff_id
                )));
            }
            let source = Source {
                version: 1,
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                domain: ep.domain.clone(),
                repository: ep.repository.clone(),
            };
            let p = layer_tmp.path.join("layer").join("source.json");
            let b = serde_json::to_vec(&source).map_err(|e| EngineError::system("source", e))?;
            std::fs::write(&p, b).map_err(|e| EngineError::system(p.display(), e))?;
            out(json!({"status": "Pull complete", "progressDetail": {}, "id": id}));
            layers.push(NewLayer {
                hex,
                tmp: Some(layer_tmp),
            });
        }

        let config_id = config_desc.digest.clone();
        let shown = r.familiar();
        let before = store.read_index()?.references.get(&r.key()).cloned();
        let mut tags = vec![r.clone()];
        if r.digest.is_none() {
            tags.push(Reference {
                tag: None,
                digest: Some(top_digest.clone()),
                ..r.clone()
            });
        }
        match self.commit_image(layers, &config, "", &tags)? {
            Ok(_) => {}
            Err(missing) => {
                return Err(EngineError::conflict(format!(
                    "layers {missing:?} were removed while pulling; pull again"
                )))
            }
        }
        out(json!({"status": format!("Digest: {top_digest}")}));
        if before.as_deref() == Some(config_id.as_str()) {
            out(json!({"status": format!("Status: Image is up to date for {shown}")}));
        } else {
            out(json!({"status": format!("Status: Downloaded newer image for {shown}")}));
        }
        if let (Some(p), false) = (platform, from_list) {
            let img = self.image(&config_id)?;
            if let Err(e) = crate::engine::images::platform::check(&shown, &img, Some(p)) {
                out(json!({"status": format!("WARNING: {}", e.message())}));
            }
        }
        Ok(())
    }
}

pub(super) fn fetch_manifest(
    c: &mut Client,
    r: &Reference,
    wanted: &str,
) -> Result<(Vec<u8>, String)> {
    let url = c.ep.url(&format!("manifests/{wanted}"));
    let mut resp = c.send(Method::GET, &url, &[("accept", ACCEPT)], Body::Empty, &[])?;
    match resp.status().as_u16() {
        200 => {}
        401 | 403 => return Err(denied(&c.ep)),
        404 => {
            return Err(EngineError::not_found(format!(
                "manifest for {} not found: manifest unknown: manifest unknown",
                r.familiar()
            )))
        }
        _ => {
            return Err(registry_error(format!(
                "manifest for {}: {}",
                r.familiar(),
                error_text(&mut resp)
            )))
        }
    }
    let media = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let b = read_small(&mut resp, "manifest")?;
    let _ = (MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST);
    Ok((b, media))
}

/// Download a blob to `file`, checking its digest; progress lines while it comes. At most its
/// manifest size is read; a blob whose manifest gives no size (0) may take what `budget` has
/// left, and either way what it took is counted there.
fn download(
    c: &mut Client,
    ep: &Endpoint,
    d: &Descriptor,
    file: &std::path::Path,
    budget: &mut Budget,
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let want = check_digest(&d.digest)?.to_string();
    let blob = format!("blob {}", d.digest);
    if d.size > budget.left() {
        return Err(budget.refusal(&format!("{blob} of {} bytes", d.size)));
    }
    let url = ep.url(&format!("blobs/{}", d.digest));
    let mut resp = c.send(Method::GET, &url, &[], Body::Empty, &[])?;
    if !resp.status().is_success() {
        return Err(registry_error(format!(
            "blob {}: {}",
            d.digest,
            error_text(&mut resp)
        )));
    }
    let total = if d.size > 0 {
        d.size
    } else {
        resp.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // What may be read: the manifest's size, else the budget (a Content-Length is the
    // registry's word, not the manifest's).
    let bound = if d.size > 0 { d.size } else { budget.left() };
    let id = short(&d.digest);
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(file).map_err(|e| EngineError::system(file.display(), e))?,
    );
    let mut r = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut got, mut shown) = (0u64, 0u64);
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| registry_error(format!("blob {}: {e}", d.digest)))?;
        if n == 0 {
            break;
        }
        // Nothing past the bound reaches the disk.
        if got + n as u64 > bound {
            if d.size == 0 {
                return Err(budget.refusal(&format!("{blob} (its manifest gives no size)")));
            }
            return Err(registry_error(format!(
                "blob {} is larger than its size {total}",
                d.digest
            )));
        }
        sha.update(&buf[..n]);
        f.write_all(&buf[..n])
            .map_err(|e| EngineError::system(file.display(), e))?;
        got += n as u64;
        if got - shown >= PROGRESS_STEP || got == total {
            shown = got;
            out(
                json!({"status": "Downloading", "progressDetail": {"current": got, "total": total},
                "progress": progress_text(got, total), "id": id}),
            );
        }
    }
    f.flush()
        .map_err(|e| EngineError::system(file.display(), e))?;
    budget.take(got, &blob)?;
    if hex::encode(sha.finalize()) != want {
        return Err(registry_error(format!(
            "filesystem layer verification failed for digest {}",
            d.digest
        )));
    }
    Ok(())
}
