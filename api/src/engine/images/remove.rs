//! `docker rmi`, in dockerd's order (daemon/images/image_delete.go): a name untags first and
//! deletes the image only when no reference is left; an id deletes the image with its references.
//! Containers hold an image: a stopped one unless `force`, a running one always. An image removed
//! by force while a container still uses it is retired, not deleted, so its layers stay until the
//! last such container is gone.

use super::reference::{Lookup, Reference};
use super::store::{hex_of, Index, Store};
use crate::engine::{Engine, EngineError, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A container using an image.
#[derive(Debug, Clone)]
pub(crate) struct User {
    id: String,
    running: bool,
}

fn short(id: &str) -> &str {
    let hex = hex_of(id);
    &hex[..hex.len().min(12)]
}

impl Engine {
    /// The containers using each image id, from `<root>/containers/<id>/container.json`'s
    /// `"Image"`, and whether each runs (its shim's state). Unreadable records are skipped.
    pub(crate) fn image_users(&self) -> BTreeMap<String, Vec<User>> {
        let mut out: BTreeMap<String, Vec<User>> = BTreeMap::new();
        let Ok(rd) = std::fs::read_dir(self.paths.containers()) else {
            return out;
        };
        for e in rd.flatten() {
            let Ok(b) = std::fs::read(e.path().join("container.json")) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&b) else {
                continue;
            };
            let Some(image) = v.get("Image").and_then(Value::as_str) else {
                continue;
            };
            let id = e.file_name().to_string_lossy().into_owned();
            let running = berth_shim::state::read(&self.paths.container(&id))
                .map(|s| s.status.is_live())
                .unwrap_or(false);
            out.entry(image.to_string())
                .or_default()
                .push(User { id, running });
        }
        out
    }

    /// Remove an image or one of its references; returns dockerd's
    /// `[{"Untagged": ...}, {"Deleted": ...}]` list. With `prune` (dockerd's default; `noprune`
    /// turns it off), a deleted image's untagged parents (`docker commit` records them) go too,
    /// each while nothing else holds it.
    pub fn remove_image_with(
        &self,
        reference: &str,
        force: bool,
        prune: bool,
    ) -> Result<Vec<Value>> {
        let img = self.image(reference)?;
        let mut records = self.remove_image_records(reference, force)?;
        self.image_removal_events(&img.id, &records);
        let deleted =
            |records: &[Value], id: &str| records.iter().any(|r| r["Deleted"].as_str() == Some(id));
        let mut parent = img.parent.clone();
        let mut last = img.id.clone();
        while prune && deleted(&records, &last) && !parent.is_empty() {
            let Some(p) = self.prunable_parent(&parent) else {
                break;
            };
            let Ok(more) = self.remove_image_records(&p.id, false) else {
                break;
            };
            self.image_removal_events(&p.id, &more);
            records.extend(more);
            last = p.id;
            parent = p.parent;
        }
        Ok(records)
    }

    /// [`Engine::remove_image_with`] with dockerd's default: parents pruned.
    pub fn remove_image(&self, reference: &str, force: bool) -> Result<Vec<Value>> {
        self.remove_image_with(reference, force, true)
    }

    /// dockerd logs untag for each reference and delete for the image (not its layers).
    fn image_removal_events(&self, id: &str, records: &[Value]) {
        for r in records {
            if let Some(name) = r["Untagged"].as_str() {
                self.image_event(id, "untag", name);
            }
            if r["Deleted"].as_str() == Some(id) {
                self.image_event(id, "delete", id);
            }
        }
    }

    /// A parent that dockerd's prune deletes: there, with no reference, no container and no
    /// other child.
    fn prunable_parent(&self, id: &str) -> Option<super::Image> {
        let all = self.images().ok()?;
        let p = all.iter().find(|i| i.id == id)?;
        let held = !p.repo_tags.is_empty()
            || !p.repo_digests.is_empty()
            || all.iter().any(|i| i.parent == id)
            || self.image_users().contains_key(id);
        (!held).then(|| p.clone())
    }

    fn remove_image_records(&self, reference: &str, force: bool) -> Result<Vec<Value>> {
        let img = self.image(reference)?;
        let id = img.id.clone();
        // An image that is another's parent (commit records it) is not deleted.
        let has_child = self.images()?.iter().any(|i| i.parent == id);
        let store = self.store();
        let lock = store.lock()?;
        if store.read_record(hex_of(&id))?.is_none() {
            return Err(EngineError::not_found(format!(
                "No such image: {reference}"
            )));
        }
        let users = self.image_users().remove(&id).unwrap_or_default();
        let mut index = store.read_index()?;
        let mut records = Vec::new();
        let refs = |index: &Index| -> Vec<Reference> {
            index
                .references
                .iter()
                .filter(|(_, v)| **v == id)
                .filter_map(|(k, _)| Reference::parse(k).ok())
                .collect()
        };
        let given = reference.strip_prefix("sha256:").unwrap_or(reference);
        let by_id =
            matches!(Lookup::parse(reference), Ok(Lookup::Id(_))) || hex_of(&id).starts_with(given);

        if !by_id {
            let r = Reference::parse(reference)?.with_default_tag();
            if !force && single_reference(&refs(&index)) {
                if let Some(u) = users.first() {
                    return Err(EngineError::conflict(format!(
                        "conflict: unable to remove repository reference \"{reference}\" (must \
                         force) - container {} is using its referenced image {}",
                        short(&u.id),
                        short(&id)
                    )));
                }
            }
            index.references.remove(&r.key());
            records.push(json!({"Untagged": r.familiar()}));
            let left = refs(&index);
            // Untagging the last tag of a repository also drops its digests.
            if r.digest.is_none()
                && !left
                    .iter()
                    .any(|x| x.digest.is_none() && x.name() == r.name())
            {
                for d in left.iter().filter(|x| x.name() == r.name()) {
                    index.references.remove(&d.key());
                    records.push(json!({"Untagged": d.familiar()}));
                }
            }
            if !refs(&index).is_empty() {
                store.write_index(&index, &lock)?;
                return Ok(records);
            }
        } else if single_reference(&refs(&index)) {
            conflicts(&id, &users, force)?;
            for r in refs(&index) {
                index.references.remove(&r.key());
                records.push(json!({"Untagged": r.familiar()}));
            }
        }

        if has_child {
            // dockerd: untagging its last name leaves an image with a child in place; naming
            // it by id is a hard conflict.
            if !by_id {
                store.write_index(&index, &lock)?;
                return Ok(records);
            }
            return Err(EngineError::conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image has dependent child \
                 images",
                short(&id)
            )));
        }

        // Delete the image itself.
        let left = refs(&index);
        if !force && !left.is_empty() {
            return Err(EngineError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in \
                 multiple repositories",
                short(&id)
            )));
        }
        conflicts(&id, &users, force)?;
        for r in left {
            index.references.remove(&r.key());
            records.push(json!({"Untagged": r.familiar()}));
        }
        store.write_index(&index, &lock)?;
        store.remove_record(hex_of(&id), !users.is_empty(), &lock)?;
        records.push(json!({"Deleted": id}));
        let removed = self.collect_layers(&store, &lock)?;
        // dockerd names released layers by chain id.
        let mut chain = String::new();
        for d in &img.diff_ids {
            chain = if chain.is_empty() {
                d.clone()
            } else {
                format!(
                    "sha256:{}",
                    super::store::sha256_hex(format!("{chain} {d}").as_bytes())
                )
            };
            if removed.iter().any(|h| h == hex_of(d)) {
                records.push(json!({"Deleted": chain}));
            }
        }
        Ok(records)
    }

    fn collect_layers(
        &self,
        store: &Store,
        lock: &berth_shim::fsutil::FileLock,
    ) -> Result<Vec<String>> {
        let in_use: BTreeSet<String> = self
            .image_users()
            .into_keys()
            .map(|id| hex_of(&id).to_string())
            .collect();
        store.collect(&in_use, lock)
    }
}

/// dockerd's isSingleReference: at most one tag, and every reference in one repository.
fn single_reference(refs: &[Reference]) -> bool {
    let tags = refs.iter().filter(|r| r.digest.is_none()).count();
    let names: BTreeSet<String> = refs.iter().map(Reference::name).collect();
    tags <= 1 && names.len() <= 1
}

/// A running container always blocks; a stopped one unless `force`.
fn conflicts(id: &str, users: &[User], force: bool) -> Result<()> {
    if let Some(u) = users.iter().find(|u| u.running) {
        return Err(EngineError::conflict(format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running \
             container {}",
            short(id),
            short(&u.id)
        )));
    }
    if !force {
        if let Some(u) = users.first() {
            return Err(EngineError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by stopped \
                 container {}",
                short(id),
                short(&u.id)
            )));
        }
    }
    Ok(())
}
