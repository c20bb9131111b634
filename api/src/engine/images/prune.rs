//! `docker image prune`: remove dangling images (no tags), or with `all` every image no container
//! uses; `until` and `label` narrow the set as in dockerd. Images are removed one by one through
//! [`Engine::remove_image`], so the store's lock and layer collection rules are the usual ones;
//! each with its unnamed parents that nothing else holds (a build's intermediate steps), as
//! dockerd's prune deletes them.

use super::created_unix;
use crate::engine::filters::{self, Filters};
use crate::engine::{Engine, EngineError, ErrorKind, Result};
use serde_json::Value;
use std::collections::BTreeMap;

/// What to prune.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneOptions {
    /// Every unused image, not only dangling ones (`dangling=false`).
    pub all: bool,
    /// Only images created before this (unix seconds).
    pub until: Option<i64>,
    /// The `label` and `label!` filters, read as dockerd's prunes read them.
    pub labels: Filters,
}

impl PruneOptions {
    /// From dockerd's `filters`: dangling, until, label, label!.
    pub fn from_filters(f: &Filters) -> Result<PruneOptions> {
        filters::validate(f, &["dangling", "until", "label", "label!"])?;
        let mut o = PruneOptions {
            until: filters::prune_until(f)?,
            labels: f.clone(),
            ..Default::default()
        };
        o.labels.retain(|k, _| k.starts_with("label"));
        for v in f.get("dangling").into_iter().flatten() {
            o.all = match v.as_str() {
                "true" | "1" => false,
                "false" | "0" => true,
                _ => {
                    return Err(EngineError::invalid_parameter(format!(
                        "invalid filter 'dangling={v}'"
                    )))
                }
            }
        }
        Ok(o)
    }
}

impl Engine {
    /// Returns dockerd's ImagesDeleted records and the bytes of layers freed.
    pub fn prune_images(&self, o: &PruneOptions) -> Result<(Vec<Value>, u64)> {
        let store = self.store();
        let layer_sizes = |names: &mut BTreeMap<String, u64>| -> Result<()> {
            let rd = match std::fs::read_dir(store.layers()) {
                Ok(rd) => rd,
                Err(_) => return Ok(()),
            };
            for e in rd.flatten() {
                let hex = e.file_name().to_string_lossy().into_owned();
                if let Some(m) = store.layer_meta(&hex)? {
                    names.insert(hex, m.size);
                }
            }
            Ok(())
        };
        let mut before = BTreeMap::new();
        layer_sizes(&mut before)?;
        let used = self.image_users();
        let mut records = Vec::new();
        let images = self.images()?;
        let parents: std::collections::BTreeSet<&str> =
            images.iter().map(|i| i.parent.as_str()).collect();
        for img in &images {
            if used.contains_key(&img.id) {
                continue;
            }
            let dangling = img.repo_tags.is_empty() && img.repo_digests.is_empty();
            // As dockerd: an unnamed image another is built on (a build's intermediate step)
            // is not pruned itself; it goes with the last image built on it.
            if dangling && parents.contains(img.id.as_str()) {
                continue;
            }
            if !o.all && !dangling {
                continue;
            }
            if o.until.is_some_and(|u| created_unix(&img.created) >= u) {
                continue;
            }
            let labels = img.config.labels.clone().unwrap_or_default();
            if !filters::prune_labels_pass(&o.labels, &labels) {
                continue;
            }
            match self.remove_image_with(&img.id, true, true) {
                Ok(r) => records.extend(r),
                // Removed or taken into use meanwhile: not ours to prune.
                Err(e) if e.is(ErrorKind::NotFound) || e.is(ErrorKind::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        let mut after = BTreeMap::new();
        layer_sizes(&mut after)?;
        let reclaimed = before
            .iter()
            .filter(|(h, _)| !after.contains_key(*h))
            .map(|(_, s)| s)
            .sum();
        Ok((records, reclaimed))
    }
}
