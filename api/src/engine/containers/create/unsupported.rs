//! The create settings berth does not have: refused with a 400 naming the field unless they
//! hold their zero (null, 0, "", false, an empty list or map), which is what the docker CLI and
//! docker-py send when the user did not ask for them. Every other field of the API's
//! ContainerConfig and HostConfig is honoured elsewhere in `create/`; `api/tests/create_fields.rs`
//! checks that the two lists cover the swagger.

use super::invalid;
use crate::engine::wire::{is_zero, CreateBody, DockerConfig, HostConfig};
use crate::engine::Result;
use serde_json::Value;

/// `field: berth does not support it (why)`.
fn refused(field: &str, why: &str) -> crate::engine::EngineError {
    invalid(format!("{field}: berth does not support it ({why})"))
}

/// Refuse the settings of `body` berth has not, before anything else is checked.
pub(super) fn refuse(body: &CreateBody) -> Result<()> {
    config(&body.config)?;
    host_config(&body.host_config)
}

fn config(c: &DockerConfig) -> Result<()> {
    if c.args_escaped {
        return Err(refused("ArgsEscaped", "it is for Windows containers"));
    }
    if c.network_disabled {
        return Err(refused(
            "NetworkDisabled",
            "use HostConfig.NetworkMode \"none\" for a container without a network",
        ));
    }
    if c.on_build.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(refused("OnBuild", "it is an image build setting"));
    }
    if c.shell.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(refused("Shell", "it is an image build setting"));
    }
    unknown("Config", &c.unknown)
}

/// A field the API does not have (an older API's `KernelMemory`): accepted at its zero only.
fn unknown(object: &str, map: &serde_json::Map<String, Value>) -> Result<()> {
    match map.iter().find(|(_, v)| !is_zero(v)) {
        Some((k, _)) => Err(refused(
            &format!("{object}.{k}"),
            "it is not a field of the Docker API berth serves",
        )),
        None => Ok(()),
    }
}

fn host_config(h: &HostConfig) -> Result<()> {
    let checks: [(&str, bool, &str); 11] = [
        (
            "HostConfig.Cgroup",
            !h.cgroup.is_empty(),
            "a container cannot join another's cgroup",
        ),
        (
            "HostConfig.Annotations",
            h.annotations.as_ref().is_some_and(|a| !a.is_empty()),
            "there is no OCI runtime to pass annotations to",
        ),
        (
            "HostConfig.StorageOpt",
            h.storage_opt.as_ref().is_some_and(|a| !a.is_empty()),
            "the overlay root has no size quota",
        ),
        (
            "HostConfig.CpuRealtimePeriod",
            h.cpu_realtime_period != 0,
            "real-time CPU scheduling",
        ),
        (
            "HostConfig.CpuRealtimeRuntime",
            h.cpu_realtime_runtime != 0,
            "real-time CPU scheduling",
        ),
        (
            "HostConfig.DeviceRequests",
            h.device_requests.as_ref().is_some_and(|a| !a.is_empty()),
            "no device driver such as GPUs is available",
        ),
        (
            "HostConfig.KernelMemoryTCP",
            h.kernel_memory_tcp != 0,
            "kernel memory limits are gone from the kernel's cgroup v2 and deprecated in v1",
        ),
        (
            "HostConfig.CpuCount",
            h.cpu_count != 0,
            "it is for Windows containers",
        ),
        (
            "HostConfig.CpuPercent",
            h.cpu_percent != 0,
            "it is for Windows containers",
        ),
        (
            "HostConfig.IOMaximumIOps",
            h.io_maximum_iops != 0,
            "it is for Windows containers",
        ),
        (
            "HostConfig.IOMaximumBandwidth",
            h.io_maximum_bandwidth != 0,
            "it is for Windows containers",
        ),
    ];
    if let Some((field, _, why)) = checks.iter().find(|(_, set, _)| *set) {
        return Err(refused(field, why));
    }
    // dockerd reads field names in any case: docker-py spells CpuRealtime* `CPURealtime*`.
    // Such a name is refused for its field's reason.
    for (k, _) in h.unknown.iter().filter(|(_, v)| !is_zero(v)) {
        let same = checks.iter().find(|(field, _, _)| {
            field
                .strip_prefix("HostConfig.")
                .is_some_and(|f| f.eq_ignore_ascii_case(k))
        });
        if let Some((_, _, why)) = same {
            return Err(refused(&format!("HostConfig.{k}"), why));
        }
    }
    unknown("HostConfig", &h.unknown)
}

/// HostConfig.Runtime: berth's processes are made as runc makes them, so "runc" is the one
/// runtime it has (dockerd's words for another).
pub(super) fn runtime(h: &HostConfig) -> Result<()> {
    match h.runtime.as_str() {
        "" | "runc" => Ok(()),
        other => Err(invalid(format!("unknown or invalid runtime name: {other}"))),
    }
}

/// HostConfig.Isolation: Linux has only the default (dockerd's words).
pub(super) fn isolation(h: &HostConfig) -> Result<()> {
    match h.isolation.as_str() {
        "" | "default" => Ok(()),
        other => Err(invalid(format!(
            "Invalid isolation: {other:?} - linux only supports 'default'"
        ))),
    }
}

/// HostConfig.VolumeDriver: the driver of the volumes the container makes; berth has `local`.
pub(super) fn volume_driver(h: &HostConfig) -> Result<()> {
    match h.volume_driver.as_str() {
        "" | "local" => Ok(()),
        other => Err(refused(
            "HostConfig.VolumeDriver",
            &format!("volume driver {other:?}: berth has only the local volume driver"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_zeros_pass_and_a_value_is_refused_by_name() {
        let body: CreateBody = serde_json::from_str(crate::engine::wire::CLI_RUN_RM_BODY).unwrap();
        assert_eq!(refuse(&body), Ok(()));
        let mut b = body.clone();
        b.host_config.cpu_realtime_runtime = 950_000;
        let e = refuse(&b).unwrap_err();
        assert!(
            e.to_string().contains("HostConfig.CpuRealtimeRuntime")
                && e.to_string().contains("berth does not support it"),
            "expected a refusal naming the field, got {e}"
        );
        // docker-py's spelling, which dockerd reads as the field: refused for the field's reason.
        let mut b = body.clone();
        b.host_config
            .unknown
            .insert("CPURealtimeRuntime".into(), serde_json::json!(950_000));
        assert_eq!(
            refuse(&b).map_err(|e| e.to_string()),
            Err("HostConfig.CPURealtimeRuntime: berth does not support it (real-time CPU scheduling)".into()),
            "expected docker-py's spelling refused for the field's reason"
        );
        let mut b = body.clone();
        b.host_config
            .unknown
            .insert("KernelMemory".into(), serde_json::json!(0));
        assert_eq!(refuse(&b), Ok(()), "a legacy field at zero passes");
        b.host_config
            .unknown
            .insert("KernelMemory".into(), serde_json::json!(4096));
        assert!(refuse(&b)
            .unwrap_err()
            .to_string()
            .contains("HostConfig.KernelMemory"));
    }

    #[test]
    fn runtime_and_isolation_as_dockerd() {
        let mut h = HostConfig::default();
        assert_eq!(runtime(&h), Ok(()));
        h.runtime = "runc".into();
        assert_eq!(runtime(&h), Ok(()));
        h.runtime = "kata".into();
        assert_eq!(
            runtime(&h),
            Err(invalid("unknown or invalid runtime name: kata"))
        );
        h.isolation = "hyperv".into();
        assert!(isolation(&h).is_err());
    }
}
