//! The build cache: which image a step made on which parent. One small index in the image store,
//! `images/build-cache.json` = `{"Version":1,"Entries":{"<parent hex>/<step key hash>":"sha256:.."}}`,
//! written atomically under the store lock. An entry is only as good as the image it names: a
//! lookup checks that image is still there with that parent, and each write drops the entries
//! whose image is gone, so the index is pruned with the images it points to.

use crate::engine::images::store::{hex_of, sha256_hex, Store};
use crate::engine::{Engine, EngineError, Result};
use berth_shim::fsutil::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Index {
    version: u32,
    entries: BTreeMap<String, String>,
}

fn path(store: &Store) -> std::path::PathBuf {
    store.records().with_file_name("build-cache.json")
}

fn read(store: &Store) -> Result<Index> {
    let p = path(store);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| EngineError::system(p.display(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(EngineError::system(p.display(), e)),
    }
}

fn key(parent: &str, step: &str) -> String {
    format!("{}/{}", hex_of(parent), sha256_hex(step.as_bytes()))
}

/// Which cached results a build may use.
#[derive(Debug, Clone)]
pub enum Policy {
    /// `nocache`: none.
    Off,
    /// Any image the index names.
    Local,
    /// `cachefrom`: only these images and the images they were built on.
    From(BTreeSet<String>),
}

impl Engine {
    /// The image a step `step` made on `parent` before, if the policy lets the build use it.
    pub(super) fn cache_lookup(
        &self,
        policy: &Policy,
        parent: &str,
        step: &str,
    ) -> Result<Option<String>> {
        if matches!(policy, Policy::Off) || parent.is_empty() {
            return Ok(None);
        }
        let store = self.store();
        let Some(child) = read(&store)?.entries.get(&key(parent, step)).cloned() else {
            return Ok(None);
        };
        let Some(rec) = store.read_record(hex_of(&child))? else {
            return Ok(None);
        };
        if rec.parent != parent {
            return Ok(None);
        }
        if let Policy::From(allowed) = policy {
            if !allowed.contains(&child) {
                return Ok(None);
            }
        }
        Ok(Some(child))
    }

    /// Remember that `step` on `parent` made `child`.
    pub(super) fn cache_store(&self, parent: &str, step: &str, child: &str) -> Result<()> {
        if parent.is_empty() {
            return Ok(());
        }
        let store = self.store();
        let lock = store.lock()?;
        let mut index = read(&store)?;
        index.version = VERSION;
        index
            .entries
            .retain(|_, id| matches!(store.read_record(hex_of(id)), Ok(Some(_))));
        index.entries.insert(key(parent, step), child.to_string());
        let p = path(&store);
        let b = serde_json::to_vec(&index).map_err(|e| EngineError::system(p.display(), e))?;
        write_atomic(&p, &b).map_err(|e| EngineError::system(p.display(), e))?;
        drop(lock);
        Ok(())
    }

    /// The images `cachefrom` names and every image they were built on.
    pub(super) fn cache_from(&self, refs: &[String]) -> Policy {
        let mut ids = BTreeSet::new();
        let store = self.store();
        for r in refs {
            let Ok(img) = self.image(r) else { continue };
            let mut next = img.id;
            while !next.is_empty() && ids.insert(next.clone()) {
                next = match store.read_record(hex_of(&next)) {
                    Ok(Some(rec)) => rec.parent,
                    _ => String::new(),
                };
            }
        }
        Policy::From(ids)
    }

    /// `POST /build/prune`: forget every cached step and remove the images only the cache kept
    /// (untagged, unused, no image built on them); the bytes of layers that went.
    pub fn prune_build_cache(&self) -> Result<u64> {
        let store = self.store();
        let cached: BTreeSet<String> = {
            let _lock = store.lock()?;
            let index = read(&store)?;
            let p = path(&store);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::system(p.display(), e)),
            }
            index.entries.into_values().collect()
        };
        let mut reclaimed = 0;
        loop {
            let images = self.images()?;
            let used = self.image_users();
            let parents: BTreeSet<&str> = images.iter().map(|i| i.parent.as_str()).collect();
            let Some(img) = images.iter().find(|i| {
                cached.contains(&i.id)
                    && i.repo_tags.is_empty()
                    && i.repo_digests.is_empty()
                    && !used.contains_key(&i.id)
                    && !parents.contains(i.id.as_str())
            }) else {
                break;
            };
            let before = self.layers_bytes()?;
            self.remove_image_with(&img.id, false, false)?;
            reclaimed += before.saturating_sub(self.layers_bytes()?);
        }
        Ok(reclaimed)
    }

    fn layers_bytes(&self) -> Result<u64> {
        let store = self.store();
        let mut total = 0;
        if let Ok(rd) = std::fs::read_dir(store.layers()) {
            for e in rd.flatten() {
                let hex = e.file_name().to_string_lossy().into_owned();
                if let Some(m) = store.layer_meta(&hex)? {
                    total += m.size;
                }
            }
        }
        Ok(total)
    }
}
