//! `docker export` and `docker diff`: a container's filesystem read straight from its layer dirs
//! and its overlay upper dir (`engine/layers.rs`), with no mount; so both work on stopped and
//! running containers alike.

use crate::engine::images::pack::pack_merged;
use crate::engine::layers::{Change, Stack};
use crate::engine::{Engine, EngineError, Result};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

/// What berth mounts in every container, over paths it makes in the upper dir (dockerd keeps
/// these in a layer of their own, under the container's, so that no diff or commit shows them).
pub const RUNTIME_MOUNT_POINTS: [&str; 6] = [
    "proc",
    "sys",
    "dev",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
];

impl Engine {
    /// The layers of a container, for its export, its diff and its commit.
    pub fn container_stack(&self, reference: &str) -> Result<Stack> {
        let id = self.lookup(reference)?;
        let record = self.record(&id)?;
        let image = self.container_image(&record.image_id)?;
        let paths = self.container_paths(&id);
        let mut mount_points: BTreeSet<String> = RUNTIME_MOUNT_POINTS
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut shift = None;
        if let Ok(b) = std::fs::read(paths.config()) {
            if let Ok(spec) = serde_json::from_slice::<berth_shim::spec::ContainerSpec>(&b) {
                shift = crate::engine::userns::shift_of(&spec);
                for m in spec.mounts {
                    mount_points.insert(m.destination.trim_matches('/').to_string());
                }
            }
        }
        Ok(Stack {
            upper: paths.upper(),
            layers: image.layers,
            mount_points,
            shift,
        })
    }

    /// `docker export`: a tar of the merged filesystem, written to `out`.
    pub fn export_container(&self, stack: &Stack, out: impl Write) -> Result<()> {
        let mut dirs: Vec<&PathBuf> = vec![&stack.upper];
        dirs.extend(stack.layers.iter().rev());
        let shift = stack.shift.filter(|_| stack.upper.is_dir());
        let dirs: Vec<&PathBuf> = dirs.into_iter().filter(|d| d.is_dir()).collect();
        let mut w = pack_merged(&dirs, shift, out)
            .map_err(|e| EngineError::system("exporting the container", e))?;
        w.flush()
            .map_err(|e| EngineError::system("exporting the container", e))
    }

    /// `docker diff`: what the upper dir changes, in dockerd's order (a depth-first walk, names
    /// sorted, a directory before its children).
    pub fn container_changes(&self, stack: &Stack) -> Result<Vec<Change>> {
        stack
            .changes()
            .map_err(|e| EngineError::system(stack.upper.display(), e))
    }
}
