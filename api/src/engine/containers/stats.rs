//! A live container's usage counters, read from its cgroup (what `berth status` shows and what
//! Docker's stats endpoint will).

use crate::engine::{Engine, EngineError, Result};
use berth_shim::cgroups::{self, Cgroup, Stats};
use berth_shim::spec::ContainerSpec;

impl Engine {
    /// The counters of the container's cgroup; None when no process of it is alive.
    pub fn cgroup_stats(&self, reference: &str) -> Result<Option<Stats>> {
        let id = self.lookup(reference)?;
        if !self.state(&id)?.status.is_live() {
            return Ok(None);
        }
        let path = self.container_paths(&id).config();
        let data = std::fs::read(&path).map_err(|e| EngineError::system(path.display(), e))?;
        let spec: ContainerSpec =
            serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))?;
        let layout = cgroups::detect().map_err(|e| EngineError::system("finding cgroups", e))?;
        let cg = Cgroup::new(&layout, &spec.cgroup_parent, &id)
            .map_err(|e| EngineError::system("cgroup", e))?;
        cg.stats()
            .map(Some)
            .map_err(|e| EngineError::system(format!("reading the cgroup of {id}"), e))
    }
}
