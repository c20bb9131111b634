//! `docker push`: each layer's blob (the gzip blob kept at pull or load, or the layer gzipped now
//! when it came plain or as zstd) unless the registry has it (HEAD) or can mount it from the
//! repository it was pulled from; then the config and a Docker schema2 manifest.

use super::client::{error_text, Body, Client, Credentials};
use super::pull::Source;
use super::{progress_text, registry_error, short, Endpoint};
use super::{MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_MANIFEST};
use crate::engine::images::reference::Reference;
use crate::engine::images::save::Checked;
use crate::engine::images::store::{hex_of, sha256_hex, TmpDir};
use crate::engine::images::unpack::decompress;
use crate::engine::{Engine, EngineError, Result};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use ureq::http::Method;

/// A blob ready to go: a file, its digest and size.
struct Blob {
    path: PathBuf,
    digest: String,
    size: u64,
    /// The repository (same registry) it may be mounted from.
    mount_from: Option<String>,
    _tmp: Option<TmpDir>,
}

/// Reports upload progress as it is read.
struct Progress<'a, R> {
    inner: R,
    out: &'a mut dyn FnMut(Value),
    id: String,
    done: u64,
    shown: u64,
    total: u64,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.shown >= 512 * 1024 || (n > 0 && self.done == self.total) {
            self.shown = self.done;
            (self.out)(json!({"status": "Pushing",
                "progressDetail": {"current": self.done, "total": self.total},
                "progress": progress_text(self.done, self.total), "id": self.id}));
        }
        Ok(n)
    }
}

impl Engine {
    /// Push `name` (`tag`, or every tag of the repository when both are empty).
    pub fn push(
        &self,
        name: &str,
        tag: &str,
        creds: Option<Credentials>,
        out: &mut dyn FnMut(Value),
    ) -> Result<()> {
        let mut r = Reference::parse(name)?;
        if !tag.is_empty() {
            r.tag = Some(tag.to_string());
        }
        let store = self.store();
        let refs: Vec<Reference> = if r.tag.is_some() || r.digest.is_some() {
            vec![r.clone()]
        } else {
            let prefix = format!("{}:", r.name());
            store
                .read_index()?
                .references
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .filter_map(|k| Reference::parse(k).ok())
                .collect()
        };
        if refs.is_empty() {
            return Err(EngineError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )));
        }
        let images = refs
            .iter()
            .map(|t| self.image(&t.familiar()).map(|i| (t.clone(), i)))
            .collect::<Result<Vec<_>>>()?;
        let ep = Endpoint::of(&r, &self.settings.registries)?;
        out(json!({"status": format!("The push refers to repository [{}]", r.name())}));
        let mut c = Client::connect(ep.clone(), creds, "pull,push")?;
        for (t, img) in images {
            let mut layers = Vec::new();
            for d in &img.diff_ids {
                let blob = self.layer_blob_for_push(hex_of(d), &ep)?;
                let id = short(d);
                out(json!({"status": "Preparing", "progressDetail": {}, "id": id}));
                let how = upload(&mut c, &blob, &id, out)?;
                out(json!({"status": how, "progressDetail": {}, "id": id}));
                layers.push(json!({"mediaType": MEDIA_DOCKER_LAYER_GZIP, "size": blob.size, "digest": blob.digest}));
            }
            let rec = store.read_record(hex_of(&img.id))?.ok_or_else(|| {
                EngineError::not_found(format!("No such image: {}", t.familiar()))
            })?;
            let config = rec.config.get().as_bytes().to_vec();
            let tmp = store.tmp_dir()?;
            let cpath = tmp.path.join("config");
            std::fs::write(&cpath, &config).map_err(|e| EngineError::system(cpath.display(), e))?;
            let cblob = Blob {
                path: cpath,
                digest: img.id.clone(),
                size: config.len() as u64,
                mount_from: None,
                _tmp: Some(tmp),
            };
            upload(&mut c, &cblob, &short(&img.id), &mut |_| {})?;
            let manifest = serde_json::to_vec_pretty(&json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_DOCKER_MANIFEST,
                "config": {"mediaType": MEDIA_DOCKER_CONFIG, "size": config.len(), "digest": img.id},
                "layers": layers,
            }))
            .map_err(|e| EngineError::system("manifest", e))?;
            let wanted = t
                .digest
                .clone()
                .or(t.tag.clone())
                .unwrap_or_else(|| "latest".into());
            let url = ep.url(&format!("manifests/{wanted}"));
            let mut resp = c.send(
                Method::PUT,
                &url,
                &[("content-type", MEDIA_DOCKER_MANIFEST)],
                Body::Bytes(&manifest),
                &[],
            )?;
            if !resp.status().is_success() {
                return Err(registry_error(format!(
                    "manifest {wanted}: {}",
                    error_text(&mut resp)
                )));
            }
            let digest = format!("sha256:{}", sha256_hex(&manifest));
            out(json!({"status": format!("{wanted}: digest: {digest} size: {}", manifest.len())}));
            out(
                json!({"progressDetail": {}, "aux": {"Tag": wanted, "Digest": digest, "Size": manifest.len()}}),
            );
            let lock = store.lock()?;
            let mut index = store.read_index()?;
            let by_digest = Reference {
                tag: None,
                digest: Some(digest),
                ..t.clone()
            };
            index.references.insert(by_digest.key(), img.id.clone());
            store.write_index(&index, &lock)?;
        }
        Ok(())
    }

    /// The gzip blob of a layer: the one kept when it was pulled or loaded gzipped, or the
    /// layer gzipped now (a deterministic gzip: no name, no time).
    fn layer_blob_for_push(&self, hex: &str, ep: &Endpoint) -> Result<Blob> {
        let store = self.store();
        let path = store.layer_blob(hex);
        let source: Option<Source> = std::fs::read(store.layer_dir(hex).join("source.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut head = [0u8; 2];
        let gz = File::open(&path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && head == [0x1f, 0x8b];
        if gz {
            let size = std::fs::metadata(&path)
                .map_err(|e| EngineError::system(path.display(), e))?
                .len();
            let (digest, mount_from) = match source {
                Some(s) => {
                    let from = (s.domain == ep.domain && s.repository != ep.repository)
                        .then_some(s.repository);
                    (s.digest, from)
                }
                None => {
                    let mut c = Checked::new(
                        File::open(&path).map_err(|e| EngineError::system(path.display(), e))?,
                    );
                    io::copy(&mut c, &mut io::sink())
                        .map_err(|e| EngineError::system(path.display(), e))?;
                    (format!("sha256:{}", c.hex()), None)
                }
            };
            return Ok(Blob {
                path,
                digest,
                size,
                mount_from,
                _tmp: None,
            });
        }
        let tmp = store.tmp_dir()?;
        let out_path = tmp.path.join("layer.tar.gz");
        let f = File::create(&out_path).map_err(|e| EngineError::system(out_path.display(), e))?;
        let mut gz =
            flate2::write::GzEncoder::new(io::BufWriter::new(f), flate2::Compression::fast());
        let src: Box<dyn Read> = match File::open(&path) {
            Ok(f) => decompress(io::BufReader::new(f))?,
            Err(_) => {
                // A layer stored before blobs were kept: served only if it rebuilds exactly.
                let mut buf = Vec::new();
                self.plan_layer_tar(hex, &mut buf)?;
                Box::new(io::Cursor::new(buf))
            }
        };
        let mut src = src;
        io::copy(&mut src, &mut gz).map_err(|e| EngineError::system(out_path.display(), e))?;
        gz.finish()
            .and_then(|mut w| w.flush())
            .map_err(|e| EngineError::system(out_path.display(), e))?;
        let mut c = Checked::new(
            File::open(&out_path).map_err(|e| EngineError::system(out_path.display(), e))?,
        );
        io::copy(&mut c, &mut io::sink())
            .map_err(|e| EngineError::system(out_path.display(), e))?;
        Ok(Blob {
            path: out_path,
            digest: format!("sha256:{}", c.hex()),
            size: c.count,
            mount_from: None,
            _tmp: Some(tmp),
        })
    }

    /// A layer's tar rebuilt from its dir, when it hashes to its diff id.
    fn plan_layer_tar(&self, hex: &str, out: &mut Vec<u8>) -> Result<()> {
        let skip = std::collections::BTreeSet::new();
        *out = crate::engine::images::pack::pack_layer(
            &self.store().layer_diff(hex),
            &skip,
            None,
            Vec::new(),
        )
        .map_err(|e| EngineError::system(format!("layer {hex}"), e))?;
        if sha256_hex(out) != hex {
            return Err(EngineError::system_message(format!(
                "layer sha256:{hex} was stored without its tar and cannot be rebuilt byte for byte"
            )));
        }
        Ok(())
    }
}

/// Put one blob unless the registry has it; returns dockerd's status word.
fn upload(c: &mut Client, b: &Blob, id: &str, out: &mut dyn FnMut(Value)) -> Result<String> {
    let ep = c.ep.clone();
    let url = ep.url(&format!("blobs/{}", b.digest));
    let resp = c.send(Method::HEAD, &url, &[], Body::Empty, &[])?;
    if resp.status().is_success() {
        return Ok("Layer already exists".into());
    }
    let mut location = None;
    if let Some(from) = &b.mount_from {
        let url = ep.url(&format!("blobs/uploads/?mount={}&from={from}", b.digest));
        let scope = vec![format!("repository:{from}:pull")];
        let resp = c.send(Method::POST, &url, &[], Body::Empty, &scope)?;
        if resp.status() == 201 {
            return Ok(format!("Mounted from {from}"));
        }
        if resp.status() == 202 {
            location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
    }
    let location = match location {
        Some(l) => l,
        None => {
            let url = ep.url("blobs/uploads/");
            let mut resp = c.send(Method::POST, &url, &[], Body::Empty, &[])?;
            if resp.status() != 202 {
                return Err(registry_error(format!(
                    "starting an upload: {}",
                    error_text(&mut resp)
                )));
            }
            resp.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| registry_error("the registry gave no upload location"))?
        }
    };
    let mut put = c.absolute(&location);
    put.push(if put.contains('?') { '&' } else { '?' });
    put.push_str(&format!("digest={}", b.digest));
    let f = File::open(&b.path).map_err(|e| EngineError::system(b.path.display(), e))?;
    let mut reader = Progress {
        inner: io::BufReader::new(f),
        out,
        id: id.to_string(),
        done: 0,
        shown: 0,
        total: b.size,
    };
    let mut resp = c.send(
        Method::PUT,
        &put,
        &[("content-type", "application/octet-stream")],
        Body::Reader(&mut reader, b.size),
        &[],
    )?;
    if resp.status() != 201 {
        return Err(registry_error(format!(
            "uploading {}: {}",
            b.digest,
            error_text(&mut resp)
        )));
    }
    Ok("Pushed".into())
}
