//! docker update: new resource limits (applied to the live cgroup at once) and a new restart
//! policy (the shim reads it again at the next exit).

use crate::engine::wire::HostConfig;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::spec::ContainerSpec;

/// The HostConfig keys `docker update` may change: what dockerd's `UpdateContainer` copies
/// from UpdateConfig (its Resources and RestartPolicy).
const UPDATABLE: &[&str] = &[
    "BlkioWeight",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "PidsLimit",
    "RestartPolicy",
];

/// Update keys berth cannot apply: a non-zero value is refused, not recorded and ignored.
const UNSUPPORTED: &[&str] = &["CpuRealtimePeriod", "CpuRealtimeRuntime", "KernelMemory"];

impl Engine {
    /// Apply the non-zero fields of `update` (Docker's update body: resources and
    /// RestartPolicy) to the container.
    pub fn update(&self, reference: &str, update: &serde_json::Value) -> Result<Vec<String>> {
        let id = self.lookup(reference)?;
        let _op = self.op_lock(&id)?;
        if let Some(k) = UNSUPPORTED.iter().find(|k| {
            update
                .get(**k)
                .is_some_and(|v| !v.is_null() && v != &serde_json::json!(0))
        }) {
            return Err(EngineError::invalid_parameter(format!(
                "{k} cannot be updated: berth does not support it"
            )));
        }
        let mut record = self.record(&id)?;
        // Overlay the sent fields on the current HostConfig, then check the result as a whole.
        let mut merged = serde_json::to_value(&record.host_config)
            .map_err(|e| EngineError::system("encoding", e))?;
        if let (Some(m), Some(u)) = (merged.as_object_mut(), update.as_object()) {
            // dockerd decodes the body into UpdateConfig (Resources and RestartPolicy) and
            // ignores every other key: a PidMode or NetworkMode sent here never reaches the
            // record that the next start obeys.
            for (k, v) in u.iter().filter(|(k, _)| UPDATABLE.contains(&k.as_str())) {
                let zero = v.is_null() || v == &serde_json::json!(0) || v == &serde_json::json!("");
                // The docker CLI always sends RestartPolicy; an empty name leaves it as it is.
                let empty_policy = k == "RestartPolicy"
                    && v.get("Name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("")
                        .is_empty();
                if !zero && !empty_policy {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        let host: HostConfig = serde_json::from_value(merged)
            .map_err(|e| EngineError::invalid_parameter(format!("invalid update: {e}")))?;
        let resources = super::create::resources::resources(&host)?;
        let restart = super::create::resources::restart_policy(
            &host.restart_policy.name,
            host.restart_policy.maximum_retry_count,
        )?;
        if host.auto_remove && restart.name != berth_shim::spec::RestartName::No {
            return Err(EngineError::invalid_parameter(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        let paths = self.container_paths(&id);
        let data =
            std::fs::read(paths.config()).map_err(|e| EngineError::system("config.json", e))?;
        let mut spec: ContainerSpec =
            serde_json::from_slice(&data).map_err(|e| EngineError::system("config.json", e))?;
        spec.resources = resources.clone();
        spec.restart = restart;
        let state = self.state(&id)?;
        if state.status.is_live() {
            let layout = berth_shim::cgroups::detect()
                .map_err(|e| EngineError::system("finding cgroups", e))?;
            let cg = berth_shim::cgroups::Cgroup::new(&layout, &spec.cgroup_parent, &id)
                .map_err(|e| EngineError::system("cgroup", e))?;
            cg.apply(&resources).map_err(|e| {
                EngineError::system_message(format!("Cannot update container {id}: {e}"))
            })?;
        }
        let data =
            serde_json::to_vec_pretty(&spec).map_err(|e| EngineError::system("encoding", e))?;
        berth_shim::fsutil::write_atomic(&paths.config(), &data)
            .map_err(|e| EngineError::system("config.json", e))?;
        record.host_config = host;
        self.write_record(&record)?;
        Ok(Vec::new())
    }
}
