//! `docker container prune`: remove the containers that are not running, narrowed by dockerd's
//! prune filters (`label`, `label!`, `until`); any other key is refused.

use crate::engine::filters::{self, Filters};
use crate::engine::ids::ContainerId;
use crate::engine::{Engine, Result};

/// The filter keys dockerd's container prune accepts.
const ACCEPTED: &[&str] = &["label", "label!", "until"];

impl Engine {
    /// Remove every stopped container the filters select; the ids removed and the bytes of
    /// their writable layers.
    pub fn prune_containers(&self, f: &Filters) -> Result<(Vec<String>, u64)> {
        filters::validate(f, ACCEPTED)?;
        let until = filters::prune_until(f)?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for id in self.container_ids() {
            let Ok(state) = self.state(&id) else { continue };
            if state.status.is_live() || berth_shim::state::shim_alive(&self.container_paths(&id)) {
                continue;
            }
            if !f.is_empty() && !self.prunable(&id, f, until) {
                continue;
            }
            reclaimed += crate::engine::sizes::dir_size(&self.container_paths(&id).upper());
            if self.remove(&id, false).is_ok() {
                deleted.push(id.into());
            }
        }
        Ok((deleted, reclaimed))
    }

    /// Whether the container's record passes the labels and was created before `until`.
    fn prunable(&self, id: &ContainerId, f: &Filters, until: Option<i64>) -> bool {
        let Ok(rec) = self.record(id) else {
            return false;
        };
        let created = crate::engine::images::created_unix(&rec.created);
        if until.is_some_and(|u| created > u) {
            return false;
        }
        filters::prune_labels_pass(f, &rec.config.labels.clone().unwrap_or_default())
    }
}
