//! One container's status as `berth status` shows it: its state, pid, uptime or exit code,
//! restarts, memory, pids and CPU against their limits (from its cgroup), and what the eBPF
//! monitor counted. [`ContainerStatus::to_json`] is its JSON; the CLI prints it as lines too.

use super::syscalls::Syscalls;
use super::Engine;
use crate::engine::ids::ContainerId;
use crate::engine::time::since;
use crate::engine::{ErrorKind, Result};
use serde_json::{json, Value};

pub use berth_shim::cgroups::Stats;
pub use berth_shim::state::{State, Status};

/// What `berth status` shows of one container.
#[derive(Debug)]
pub struct ContainerStatus {
    pub id: ContainerId,
    /// Without its leading '/'.
    pub name: String,
    pub image: String,
    pub state: State,
    /// From its cgroup; None when it has none.
    pub stats: Option<Stats>,
    /// What the monitor counted (empty when it is unavailable).
    pub calls: Syscalls,
    /// Why the monitor has no figures, when it has none (the rest of the status still shows).
    pub unavailable: Option<String>,
    /// The monitor counts this container's system calls (the label berth.monitor=counts).
    pub counted: bool,
    /// The CPU limit in CPUs; None when unlimited.
    pub cpu_limit: Option<f64>,
    /// The host ids its user namespace maps 0-65535 to (start, size); None: the host's.
    pub userns_range: Option<(u32, u32)>,
}

impl Engine {
    /// The status of the container `reference` (a name, an id or a unique id prefix).
    pub fn container_status(&self, reference: &str) -> Result<ContainerStatus> {
        let id = self.lookup(reference)?;
        let record = self.record(&id)?;
        let state = self.state(&id)?;
        let stats = self.cgroup_stats(&id)?;
        let (calls, unavailable) = match self.syscalls(&id) {
            Ok(c) => (c, None),
            Err(e) if e.is(ErrorKind::Unavailable) => {
                (Default::default(), Some(e.message().to_string()))
            }
            Err(e) => return Err(e),
        };
        let label = record.config.labels.as_ref();
        let label = label.and_then(|l| l.get(berth_shim::monitor::LABEL));
        let counted = berth_shim::monitor::wants(label.map(String::as_str))
            & berth_monitor::events::WANT_COUNTS
            != 0;
        let h = &record.host_config;
        let userns_range = self
            .read_spec(&id)
            .ok()
            .and_then(|s| crate::engine::userns::shift_of(&s))
            .map(|s| (s.start, s.size));
        Ok(ContainerStatus {
            userns_range,
            name: record.name.trim_start_matches('/').to_string(),
            image: record.image_ref.clone(),
            cpu_limit: cpu_limit(h.nano_cpus, h.cpu_quota, h.cpu_period),
            id,
            state,
            stats,
            calls,
            unavailable,
            counted,
        })
    }
}

impl ContainerStatus {
    /// The health status ("none" without a check) and the failing streak.
    pub fn health(&self) -> (String, u32) {
        match &self.state.health {
            Some(h) => (h.status.to_string(), h.failing_streak),
            None => ("none".into(), 0),
        }
    }

    /// The status as one JSON object.
    pub fn to_json(&self) -> Value {
        let state = &self.state;
        let (health, failing) = self.health();
        let mut v = json!({
            "ID": self.id,
            "Name": self.name,
            "Image": self.image,
            "State": state.status.as_str(),
            "RestartCount": state.restart_count,
            "Health": health,
        });
        if let Some((start, size)) = self.userns_range {
            v["UsernsRange"] = json!({"Start": start, "Size": size});
        }
        if state.status.is_live() {
            v["Pid"] = json!(state.pid);
            v["StartedAt"] = json!(state.started_at);
            if let Some(d) = since(&state.started_at) {
                v["UptimeSeconds"] = json!(d.as_secs());
            }
        } else if state.status != Status::Created {
            v["ExitCode"] = json!(state.exit_code);
            v["FinishedAt"] = json!(state.finished_at);
            v["OOMKilled"] = json!(state.oom_killed);
            if !state.error.is_empty() {
                v["Error"] = json!(state.error);
            }
        }
        if let Some(s) = &self.stats {
            v["Memory"] = json!({"Usage": s.memory.usage, "Limit": s.memory.limit});
            v["Pids"] = json!({"Current": s.pids.current, "Limit": s.pids.limit});
            v["Cpu"] =
                json!({"UsageNanoseconds": s.cpu.usage_total_ns, "LimitCpus": self.cpu_limit});
        }
        if state.health.is_some() {
            v["FailingStreak"] = json!(failing);
        }
        let calls = &self.calls;
        if let Some(cause) = &self.unavailable {
            v["Syscalls"] = json!({"Error": cause});
            v["Network"] = json!({"Error": cause});
        } else {
            let (total, errors) = calls.totals();
            v["Syscalls"] = json!({"Calls": total, "Errors": errors, "Top": calls.syscalls.iter().take(5).collect::<Vec<_>>()});
            v["Network"] = json!(calls.network);
            v["DroppedEvents"] = json!(calls.dropped_events);
        }
        v
    }
}

/// The CPU limit in CPUs: --cpus, else a CFS quota over its period; None when unlimited.
fn cpu_limit(nano_cpus: i64, quota: i64, period: i64) -> Option<f64> {
    if nano_cpus > 0 {
        Some(nano_cpus as f64 / 1e9)
    } else if quota > 0 {
        let period = if period > 0 { period } else { 100_000 };
        Some(quota as f64 / period as f64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limits_in_cpus() {
        assert_eq!(cpu_limit(1_500_000_000, 0, 0), Some(1.5));
        assert_eq!(cpu_limit(0, 50_000, 100_000), Some(0.5));
        assert_eq!(cpu_limit(0, 200_000, 0), Some(2.0));
        assert_eq!(cpu_limit(0, 0, 0), None);
    }
}
