//! Docker's wire types, for containers, images and networks alike (they import them from here,
//! downward): the `Config` and `HostConfig` objects as clients send them. Every field of the
//! API's ContainerConfig, HostConfig and Mount is typed: create honours it or refuses a value
//! other than its zero (`containers/create/unsupported.rs`). A field the API does not have
//! (an old client's `KernelMemory`) lands in `unknown`, which is never shown back and refused
//! unless it holds a zero.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DockerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StringOrList>,
    pub healthcheck: Option<Value>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    pub entrypoint: Option<StringOrList>,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// Windows only; refused when true.
    pub args_escaped: bool,
    /// Refused when true.
    pub network_disabled: bool,
    /// Deprecated since API 1.44: the main network's endpoint MacAddress.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// For builds; refused unless empty.
    pub on_build: Option<Vec<String>>,
    /// For builds; refused unless empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields the API does not have: never shown back, refused unless zero.
    #[serde(flatten, skip_serializing)]
    pub unknown: Map<String, Value>,
}

/// Cmd and Entrypoint arrive as a list, or (old clients) as one string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StringOrList {
    List(Vec<String>),
    One(String),
}

impl StringOrList {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            StringOrList::List(v) => v.clone(),
            StringOrList::One(s) if s.is_empty() => Vec::new(),
            StringOrList::One(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicyJson {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfigJson {
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct UlimitJson {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleJson {
    pub path: String,
    pub rate: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// Not Docker's JSON: the request came from a client before API 1.44, for which every
    /// read-only bind is read-only on its top mount only (dockerd's rule for older clients).
    #[serde(skip)]
    pub read_only_non_recursive_default: bool,
    pub binds: Option<Vec<String>>,
    pub network_mode: String,
    pub restart_policy: RestartPolicyJson,
    pub auto_remove: bool,
    pub log_config: LogConfigJson,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub pid_mode: String,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub shm_size: i64,
    pub console_size: Option<Vec<u16>>,
    pub init: Option<bool>,
    // Resources.
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub blkio_weight: u16,
    pub blkio_device_read_bps: Option<Vec<ThrottleJson>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleJson>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleJson>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleJson>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<UlimitJson>>,
    pub mounts: Option<Vec<MountJson>>,
    pub volumes_from: Option<Vec<String>>,
    /// "80/tcp" -> the host bindings (`-p`); a null or empty list publishes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBindingJson>>>>,
    /// `-P`: every exposed port on a random host port.
    pub publish_all_ports: bool,
    /// `--device`.
    pub devices: Option<Vec<DeviceMappingJson>>,
    /// `--device-cgroup-rule`.
    pub device_cgroup_rules: Option<Vec<String>>,
    /// The parent of the container's cgroups, from each hierarchy's root.
    pub cgroup_parent: String,
    /// `--blkio-weight-device`.
    pub blkio_weight_device: Option<Vec<WeightDeviceJson>>,
    /// v1 memory.swappiness, 0..100; null and -1 leave the kernel's.
    pub memory_swappiness: Option<i64>,
    /// -1000..1000, for the container's first process.
    pub oom_score_adj: i64,
    /// "" or "runc" (shown as "runc").
    pub runtime: String,
    /// "" or "default" on Linux.
    pub isolation: String,
    /// "" or "local": berth's one volume driver.
    pub volume_driver: String,
    /// "", "private" or "host".
    pub cgroupns_mode: String,
    /// "" or "host".
    pub userns_mode: String,
    /// Sysctls of the container's own namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// Replace the default masked and read-only paths when given.
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    /// Written by the client; nothing for the engine to do.
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    // Refused unless zero, null or empty.
    pub links: Option<Vec<String>>,
    pub cgroup: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub device_requests: Option<Vec<Value>>,
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "is_zero_i64")]
    pub kernel_memory_tcp: i64,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
    /// Fields the API does not have: never shown back, refused unless zero.
    #[serde(flatten, skip_serializing)]
    pub unknown: Map<String, Value>,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// True for JSON's zeros: null, false, 0, "", [] and {} (and a list or map of zeros).
pub fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// One entry of HostConfig.BlkioWeightDevice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDeviceJson {
    pub path: String,
    pub weight: u16,
}

/// Docker's HealthConfig (Config.Healthcheck) as the docker CLI sends it: durations in
/// nanoseconds; a field the client leaves out is left out. The engine keeps Config.Healthcheck
/// as sent, so this is what the CLI builds it from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfigJson {
    /// `["CMD-SHELL", cmd]`, `["CMD", ...]` or `["NONE"]`; null inherits the image's.
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// One entry of HostConfig.Devices.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMappingJson {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// One host binding of a published port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBindingJson {
    pub host_ip: String,
    pub host_port: String,
}

/// One entry of HostConfig.Mounts (`--mount`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountJson {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptionsJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptionsJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptionsJson>,
    /// For mounts of type image (API 1.48), which berth refuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptionsJson>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageOptionsJson {
    pub subpath: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptionsJson {
    pub propagation: String,
    pub non_recursive: bool,
    pub create_mountpoint: bool,
    /// `ro` on the top mount only (before API 1.44, every `ro` bind was so).
    pub read_only_non_recursive: bool,
    /// `ro` on every mount under it too, or the start fails.
    pub read_only_force_recursive: bool,
    /// berth's extension (podman's `idmap`): the source idmapped into the container's user
    /// namespace, so that its host ids are the container's (host root is the container's root).
    #[serde(rename = "IDMap", skip_serializing_if = "std::ops::Not::not")]
    pub idmap: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptionsJson {
    pub no_copy: bool,
    pub labels: Option<BTreeMap<String, String>>,
    pub driver_config: Option<DriverConfigJson>,
    pub subpath: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfigJson {
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptionsJson {
    pub size_bytes: i64,
    pub mode: u32,
    /// Extra mount options (API 1.46): `["noexec"]`, `["exec"]`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

/// The create request body: Config with HostConfig and NetworkingConfig inside.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBody {
    #[serde(flatten)]
    pub config: DockerConfig,
    #[serde(default)]
    pub host_config: HostConfig,
    #[serde(default)]
    pub networking_config: Value,
}

/// What the docker CLI 28 sends for `docker run --rm busybox true` (captured), for tests.
#[cfg(test)]
pub(crate) const CLI_RUN_RM_BODY: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,
            "AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,
            "StdinOnce":false,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{},
            "WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},
            "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
            "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
            "AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],
            "CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
            "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,
            "PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,
            "SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"",
            "CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,
            "BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],
            "BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,
            "CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",
            "Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
            "MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,
            "Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,
            "MaskedPaths":null,"ReadonlyPaths":null},
            "NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_create_body_decodes() {
        let body = CLI_RUN_RM_BODY;
        let b: CreateBody = serde_json::from_str(body).unwrap();
        assert_eq!(b.config.image, "busybox");
        assert_eq!(b.config.cmd, Some(StringOrList::List(vec!["true".into()])));
        assert!(b.host_config.auto_remove);
        assert_eq!(b.host_config.network_mode, "default");
        assert_eq!(b.host_config.port_bindings, Some(BTreeMap::new()));
        assert_eq!(b.host_config.memory_swappiness, Some(-1));
        assert!(
            b.host_config.unknown.is_empty() && b.config.unknown.is_empty(),
            "every field the CLI sends is typed, got unknown {:?} and {:?}",
            b.host_config.unknown,
            b.config.unknown
        );
    }
}
