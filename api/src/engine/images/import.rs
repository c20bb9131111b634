//! `docker import`: one layer from a tarball, a config made from `--change` lines; and the two
//! steps every way of adding an image shares: unpack a layer aside, then commit under the lock.

use super::budget::Budget;
use super::reference::Reference;
use super::store::{sha256_hex, LayerMeta, Store, TmpDir, RECORD_VERSION};
use super::unpack::{unpack_layer, Limits, UnpackError, Unpacked};
use super::{changes, host_arch, Image, ImageConfig};
use crate::engine::{Engine, EngineError, Result};
use std::io::Read;

/// A layer an image needs: unpacked aside (to be moved in) or found in the store already.
pub(crate) struct NewLayer {
    pub hex: String,
    pub tmp: Option<TmpDir>,
}

/// What a commit did to the references.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    pub id: String,
    /// (familiar reference, previous image id) for each tag moved off another image.
    pub moved: Vec<(String, String)>,
}

impl Engine {
    pub fn import(
        &self,
        tar: impl Read,
        repo_tag: Option<&str>,
        changes: &[String],
        message: &str,
    ) -> Result<Image> {
        let tag = repo_tag
            .filter(|s| !s.is_empty())
            .map(|s| Reference::parse(s).map(Reference::with_default_tag))
            .transpose()?;
        if tag.as_ref().is_some_and(|t| t.digest.is_some()) {
            return Err(EngineError::invalid_parameter(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let mut config = ImageConfig::default();
        changes::apply(&mut config, changes)?;
        let (tmp, unpacked) = self.unpack_aside(tar)?;
        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let message = if message.is_empty() {
            "Imported from -"
        } else {
            message
        };
        let file = serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": now,
            "author": "",
            "comment": message,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [unpacked.diff_id]},
            "history": [{"created": now, "comment": message}],
        });
        let bytes =
            serde_json::to_vec(&file).map_err(|e| EngineError::system("image config", e))?;
        let layer = NewLayer {
            hex: super::store::hex_of(&unpacked.diff_id).to_string(),
            tmp: Some(tmp),
        };
        let tags: Vec<Reference> = tag.into_iter().collect();
        let done = match self.commit_image(vec![layer], &bytes, "", &tags)? {
            Ok(c) => c,
            Err(missing) => {
                return Err(EngineError::system_message(format!(
                    "layers vanished while committing: {missing:?}"
                )))
            }
        };
        let name = tags
            .first()
            .map(|t| t.familiar())
            .unwrap_or_else(|| done.id.clone());
        self.image_event(&done.id, "import", &name);
        self.image(&done.id)
    }

    /// Unpack a layer into a private temp dir: `<tmp>/layer/{diff,blob,layer.json}`; the bytes
    /// read are kept as they came in `blob`. The tar (decompressed) and the blob together may
    /// fill one [`Budget`]; past it, its refusal of "the imported tarball" and the temporary
    /// directory goes.
    pub(super) fn unpack_aside(&self, r: impl Read) -> Result<(TmpDir, Unpacked)> {
        const WHAT: &str = "the imported tarball";
        let store = self.store();
        let tmp = store.tmp_dir()?;
        let mut budget = Budget::for_dir(&tmp.path, self.settings.load_max_bytes.as_deref())?;
        // The bytes as they came are written too (the blob): bounded by the same budget.
        let (r, over) = budget.reader(r);
        let layer = tmp.path.join("layer");
        let diff = layer.join("diff");
        std::fs::create_dir_all(&diff).map_err(|e| EngineError::system(diff.display(), e))?;
        let blob_path = layer.join("blob");
        let blob = std::fs::File::create(&blob_path)
            .map_err(|e| EngineError::system(blob_path.display(), e))?;
        let mut tee = Tee {
            inner: r,
            copy: std::io::BufWriter::with_capacity(1 << 20, blob),
            failed: None,
        };
        let limits = Limits {
            max_bytes: Limits::default().max_bytes.min(budget.left()),
            ..Limits::default()
        };
        let unpacked = unpack_layer(&mut tee, &diff, &limits);
        if let Some(e) = tee.failed.take() {
            return Err(EngineError::system(blob_path.display(), e));
        }
        let unpacked = match unpacked {
            Err(UnpackError::TooLarge(_)) => return Err(budget.refusal(WHAT)),
            Err(_) if over.get() => return Err(budget.refusal(WHAT)),
            u => u?,
        };
        budget.take(unpacked.tar_size, WHAT)?;
        // Whatever follows the tar's end marker (gzip padding) is kept too.
        std::io::copy(&mut tee, &mut std::io::sink()).map_err(|e| {
            if over.get() {
                budget.refusal(WHAT)
            } else {
                EngineError::system(blob_path.display(), e)
            }
        })?;
        budget.take(tee.inner.read_bytes(), WHAT)?;
        tee.copy
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(|e| EngineError::system(blob_path.display(), e))?;
        self.finish_aside(tmp, unpacked)
    }

    /// Unpack a layer from a file that is moved (by hard link) into the layer as its blob; its
    /// tar may expand to what `budget` has left, when there is one (then past it, the budget's
    /// refusal of `what`, e.g. "layer <digest>").
    pub(crate) fn unpack_aside_file(
        &self,
        file: &std::path::Path,
        budget: Option<(&Budget, &str)>,
    ) -> Result<(TmpDir, Unpacked)> {
        let store = self.store();
        let tmp = store.tmp_dir()?;
        let layer = tmp.path.join("layer");
        let diff = layer.join("diff");
        std::fs::create_dir_all(&diff).map_err(|e| EngineError::system(diff.display(), e))?;
        let blob_path = layer.join("blob");
        if std::fs::hard_link(file, &blob_path).is_err() {
            std::fs::copy(file, &blob_path)
                .map_err(|e| EngineError::system(blob_path.display(), e))?;
        }
        let f = std::fs::File::open(&blob_path)
            .map_err(|e| EngineError::system(blob_path.display(), e))?;
        let mut limits = Limits::default();
        if let Some((b, _)) = budget {
            limits.max_bytes = limits.max_bytes.min(b.left());
        }
        let unpacked =
            unpack_layer(std::io::BufReader::new(f), &diff, &limits).map_err(|e| {
                match (e, budget) {
                    (UnpackError::TooLarge(_), Some((b, what))) => b.refusal(what),
                    (e, _) => e.into(),
                }
            })?;
        self.finish_aside(tmp, unpacked)
    }

    fn finish_aside(&self, tmp: TmpDir, unpacked: Unpacked) -> Result<(TmpDir, Unpacked)> {
        let layer = tmp.path.join("layer");
        let meta = LayerMeta {
            version: RECORD_VERSION,
            diff_id: unpacked.diff_id.clone(),
            size: unpacked.size,
            tar_size: Some(unpacked.tar_size),
        };
        let p = layer.join("layer.json");
        let b = serde_json::to_vec(&meta).map_err(|e| EngineError::system(p.display(), e))?;
        std::fs::write(&p, b).map_err(|e| EngineError::system(p.display(), e))?;
        // Everything of the layer reaches the disk before its rename can.
        let d = std::fs::File::open(&layer).map_err(|e| EngineError::system(layer.display(), e))?;
        nix::unistd::syncfs(&d).map_err(|e| EngineError::system(layer.display(), e))?;
        Ok((tmp, unpacked))
    }

    /// Under the store lock: move unpacked layers into place, check the others are still there,
    /// write the record and point `tags` at it. `Ok(Err(missing))` when a layer that was in the
    /// store is gone (collected meanwhile): the caller unpacks it again and retries.
    pub(crate) fn commit_image(
        &self,
        layers: Vec<NewLayer>,
        config: &[u8],
        parent: &str,
        tags: &[Reference],
    ) -> Result<std::result::Result<Committed, Vec<String>>> {
        let store: Store = self.store();
        let lock = store.lock()?;
        let missing: Vec<String> = layers
            .iter()
            .filter(|l| l.tmp.is_none() && store.layer_meta(&l.hex).ok().flatten().is_none())
            .map(|l| l.hex.clone())
            .collect();
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
        for l in &layers {
            if let Some(tmp) = &l.tmp {
                store.commit_layer(&tmp.path.join("layer"), &l.hex, &lock)?;
            }
        }
        let hex = store.write_record(config, parent, &lock)?;
        let id = format!("sha256:{hex}");
        let mut done = Committed {
            id: id.clone(),
            moved: Vec::new(),
        };
        if !tags.is_empty() {
            let mut index = store.read_index()?;
            for t in tags {
                if let Some(old) = index.references.insert(t.key(), id.clone()) {
                    if old != id {
                        done.moved.push((t.familiar(), old));
                    }
                }
            }
            store.write_index(&index, &lock)?;
        }
        debug_assert_eq!(sha256_hex(config), hex);
        Ok(Ok(done))
    }
}

/// A reader that copies what it reads into `copy`; a failed write is kept for the caller (the
/// read goes on so that the unpacker's own error, if any, is the one reported).
struct Tee<R, W> {
    inner: R,
    copy: W,
    failed: Option<std::io::Error>,
}

impl<R: Read, W: std::io::Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.failed.is_none() {
            if let Err(e) = self.copy.write_all(&buf[..n]) {
                self.failed = Some(e);
            }
        }
        Ok(n)
    }
}
