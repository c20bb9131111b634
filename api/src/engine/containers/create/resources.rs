//! The resources part of the spec (the cgroup's limits) and the restart policy: what docker
//! update may change too, checked as dockerd checks them.

use super::invalid;
use crate::engine::wire::HostConfig;
use crate::engine::{EngineError, Result};
use berth_shim::cgroups::Layout;
use berth_shim::spec::{RestartName, RestartPolicy, ThrottleDevice, WeightDevice};

/// dockerd's smallest memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The restart policy `name` with at most `max` retries.
pub fn restart_policy(name: &str, max: i64) -> Result<RestartPolicy> {
    let name = match name {
        "" | "no" => RestartName::No,
        "always" => RestartName::Always,
        "unless-stopped" => RestartName::UnlessStopped,
        "on-failure" => RestartName::OnFailure,
        other => return Err(invalid(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"))),
    };
    if max < 0 {
        return Err(invalid(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    if max > 0 && name != RestartName::OnFailure {
        return Err(invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    Ok(RestartPolicy {
        name,
        maximum_retry_count: max as u32,
    })
}

/// HostConfig.CgroupParent as the shim's parent, relative to each hierarchy's root: "" is
/// berth's own `berth`; an absolute or relative path is taken from the root (berth has no
/// daemon's cgroup for a relative one to hang under); `.` and `..` are refused.
pub fn cgroup_parent(p: &str) -> Result<String> {
    if p.is_empty() {
        return Ok(berth_shim::spec::ContainerSpec::default().cgroup_parent);
    }
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == "." || *c == "..") {
        return Err(invalid(format!(
            "invalid CgroupParent {p:?}: a cgroup parent may not contain . or .."
        )));
    }
    Ok(parts.join("/"))
}

/// HostConfig.OomScoreAdj, dockerd's range and words. A negative score can be set only with
/// CAP_SYS_RESOURCE (the kernel refuses to lower a process's score without it): where the
/// bounding set that berth and its shims run under lacks it, the create is refused, rather
/// than accepted and failing at every start.
pub fn oom_score_adj(adj: i64) -> Result<i32> {
    if !(-1000..=1000).contains(&adj) {
        return Err(invalid(format!(
            "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
        )));
    }
    if adj < 0 {
        let bounding = berth_shim::security::caps::current_bounding()
            .map_err(|e| EngineError::system("reading the capability bounding set", e))?;
        if !bounding.contains_name("CAP_SYS_RESOURCE") {
            return Err(invalid(format!(
                "OomScoreAdj {adj}: a negative OOM score needs CAP_SYS_RESOURCE, which is not in this host's capability bounding set"
            )));
        }
    }
    Ok(adj as i32)
}

/// The settings this machine's cgroups cannot take, which dockerd discards with a warning:
/// memory swappiness on v2 is discarded so (as dockerd does), per-device weights without a
/// weight_device file are refused (a setting berth cannot honour is not dropped). Returns the
/// warnings.
pub fn fit_to_kernel(r: &mut berth_shim::spec::Resources, layout: &Layout) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if r.memory_swappiness.is_some() && !berth_shim::cgroups::supports_swappiness(layout) {
        warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".to_string());
        r.memory_swappiness = None;
    }
    if !r.blkio_weight_device.is_empty() && !berth_shim::cgroups::supports_weight_device(layout) {
        return Err(invalid(
            "HostConfig.BlkioWeightDevice: Your kernel does not support Block I/O weight_device or the cgroup is not mounted (no CFQ or BFQ I/O scheduler): berth does not support it here",
        ));
    }
    Ok(warnings)
}

/// The resources part of HostConfig, checked as dockerd checks it.
pub fn resources(h: &HostConfig) -> Result<berth_shim::spec::Resources> {
    if h.memory != 0 && h.memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if h.memory_swap > 0 && h.memory > 0 && h.memory_swap < h.memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if h.memory_swap > 0 && h.memory == 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if h.memory_reservation != 0 && h.memory_reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if h.memory > 0 && h.memory_reservation > h.memory {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if h.nano_cpus != 0 && (h.cpu_period != 0 || h.cpu_quota != 0) {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if h.nano_cpus < 0 {
        return Err(invalid(
            "Range of CPUs is from 0.01 to the number of CPUs available",
        ));
    }
    if h.cpu_shares < 0 {
        return Err(invalid("invalid CPU shares: must be 0 or more"));
    }
    if h.cpu_period != 0 && !(1000..=1_000_000).contains(&h.cpu_period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if h.cpu_quota > 0 && h.cpu_quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if h.blkio_weight != 0 && !(10..=1000).contains(&h.blkio_weight) {
        return Err(invalid("Range of blkio weight is from 10 to 1000"));
    }
    let memory_swappiness = match h.memory_swappiness {
        None | Some(-1) => None,
        Some(s @ 0..=100) => Some(s as u64),
        Some(s) => {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )))
        }
    };
    let mut blkio_weight_device = Vec::new();
    for d in h.blkio_weight_device.iter().flatten() {
        if !(10..=1000).contains(&d.weight) {
            return Err(invalid(format!(
                "invalid weight for device {}: {}: range of blkio weight is from 10 to 1000",
                d.path, d.weight
            )));
        }
        blkio_weight_device.push(WeightDevice {
            path: d.path.clone(),
            weight: d.weight,
        });
    }
    let (cpu_quota, cpu_period) = if h.nano_cpus > 0 {
        (h.nano_cpus / 10_000, 100_000)
    } else {
        (h.cpu_quota, h.cpu_period.max(0) as u64)
    };
    let throttle = |v: &Option<Vec<crate::engine::wire::ThrottleJson>>| {
        v.iter()
            .flatten()
            .map(|t| ThrottleDevice {
                path: t.path.clone(),
                rate: t.rate,
            })
            .collect::<Vec<_>>()
    };
    Ok(berth_shim::spec::Resources {
        memory: h.memory,
        memory_swap: h.memory_swap,
        memory_reservation: h.memory_reservation,
        cpu_shares: h.cpu_shares as u64,
        cpu_quota,
        cpu_period,
        cpuset_cpus: h.cpuset_cpus.clone(),
        cpuset_mems: h.cpuset_mems.clone(),
        pids_limit: h.pids_limit.unwrap_or(0),
        blkio_weight: h.blkio_weight,
        blkio_device_read_bps: throttle(&h.blkio_device_read_bps),
        blkio_device_write_bps: throttle(&h.blkio_device_write_bps),
        blkio_device_read_iops: throttle(&h.blkio_device_read_iops),
        blkio_device_write_iops: throttle(&h.blkio_device_write_iops),
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        memory_swappiness,
        blkio_weight_device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineError;

    #[test]
    fn restart_policies_are_checked() {
        assert!(restart_policy("always", 0).is_ok());
        assert_eq!(
            restart_policy("on-failure", 3).unwrap().maximum_retry_count,
            3
        );
        assert!(restart_policy("sometimes", 0).is_err());
        assert!(restart_policy("always", 2).is_err());
    }

    #[test]
    fn resources_are_checked_as_dockerd_does() {
        let mut h = HostConfig {
            memory: 1024,
            ..Default::default()
        };
        assert_eq!(
            resources(&h).unwrap_err(),
            EngineError::invalid_parameter("Minimum memory limit allowed is 6MB".into())
        );
        h.memory = 64 << 20;
        h.nano_cpus = 1_500_000_000;
        let r = resources(&h).unwrap();
        assert_eq!((r.cpu_quota, r.cpu_period), (150_000, 100_000));
        h.cpu_quota = 5000;
        assert!(resources(&h).is_err(), "NanoCpus with CpuQuota conflicts");
    }
}
