//! What a container is made of: the record the caller writes to `config.json` in the container's
//! directory before it spawns the shim. Every field the shim obeys is here; the API and CLI
//! translate Docker's Config/HostConfig into it.

use serde::{Deserialize, Serialize};

/// The mount options of a [`MountSpec`] beyond mount(8)'s: Docker's read-only kinds.
pub mod mount_options {
    pub use crate::bind_flags::{RO_FORCE_RECURSIVE, RO_NON_RECURSIVE};
}
use std::path::PathBuf;

/// The version written in every `config.json`; a shim refuses records it does not know.
pub const SPEC_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContainerSpec {
    pub version: u32,
    /// 64 hex digits.
    pub id: String,
    /// Docker name without the leading slash.
    pub name: String,
    pub process: ProcessSpec,
    pub rootfs: RootfsSpec,
    pub hostname: String,
    pub domainname: String,
    pub namespaces: Namespaces,
    pub resources: Resources,
    pub network: NetworkFiles,
    /// The container's endpoints on bridge networks (eth0, eth1, ... in this order), plugged
    /// in by the shim before the process runs, at every start. Empty for host, none and
    /// container:<id> network modes.
    pub endpoints: Vec<EndpointSpec>,
    pub mounts: Vec<MountSpec>,
    /// Propagation of the container's mounts (dockerd's RootfsPropagation).
    pub root_propagation: RootPropagation,
    /// /dev/shm's size in bytes (0: 64 MiB), for a tmpfs of the container's own.
    pub shm_size: u64,
    /// Where /dev/shm comes from.
    pub shm_source: ShmSource,
    /// Anonymous volumes (names under `<root>/volumes/`) to remove with an auto-removed
    /// container, as `docker run --rm` does, when no other container uses them.
    pub anonymous_volumes: Vec<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub log: LogSpec,
    pub restart: RestartPolicy,
    /// Remove the container (its directories and cgroups) when it ends and will not restart.
    pub auto_remove: bool,
    /// Parent of the container's cgroup, relative to each hierarchy's root.
    pub cgroup_parent: String,
    /// A health check the shim runs on its schedule.
    pub healthcheck: Option<HealthSpec>,
    /// Published ports (`-p`, `-P`): host ports the shim reserves at start and forwards to the
    /// container's address once its endpoint is up.
    pub ports: Vec<PortSpec>,
    /// Bandwidth limits on the container's interface.
    pub bandwidth: Bandwidth,
    /// Sysctls of the container's own namespaces (`kernel.shmmax`, `net.*`, ...), written
    /// before its root is entered; the caller has checked that each is namespaced.
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// `--device`: host devices made in the container and allowed (resolved at each start).
    pub devices: Vec<crate::devices::DeviceMapping>,
    /// `--device-cgroup-rule`: allow rules beyond dockerd's default list.
    pub device_cgroup_rules: Vec<crate::devices::DeviceRule>,
    /// The host's settings (the monitor, cgroups, the log level), as the API read them.
    pub settings: crate::settings::Settings,
}

/// Propagation of the container's mounts (dockerd's RootfsPropagation). The JSON keeps the
/// strings of old records: "", "rslave", "shared".
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum RootPropagation {
    /// Every mount rprivate.
    #[default]
    #[serde(rename = "")]
    Private,
    /// A mount asks for slave: host mounts reach the container, not back.
    #[serde(rename = "rslave")]
    Slave,
    /// A mount asks for shared: the bind sources stay peers of the host's mounts, both ways.
    #[serde(rename = "shared")]
    Shared,
}

/// Where /dev/shm comes from. The JSON keeps the strings of old records: "" a tmpfs of its own,
/// "none", "shareable", any other value a path to bind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(from = "String", into = "String")]
pub enum ShmSource {
    /// A tmpfs of its own, `shm_size` big.
    #[default]
    Private,
    /// No /dev/shm.
    None,
    /// The tmpfs the caller mounted under the run dir (`shm::prepare_shareable`).
    Shareable,
    /// Bind this path: another container's shareable /dev/shm, or the host's /dev/shm.
    Bind(PathBuf),
}

impl From<String> for ShmSource {
    fn from(s: String) -> ShmSource {
        match s.as_str() {
            "" => ShmSource::Private,
            "none" => ShmSource::None,
            "shareable" => ShmSource::Shareable,
            _ => ShmSource::Bind(PathBuf::from(s)),
        }
    }
}

impl From<ShmSource> for String {
    fn from(s: ShmSource) -> String {
        match s {
            ShmSource::Private => String::new(),
            ShmSource::None => "none".into(),
            ShmSource::Shareable => "shareable".into(),
            ShmSource::Bind(p) => p.to_string_lossy().into_owned(),
        }
    }
}

/// A published port's protocol. Docker accepts sctp; the shim publishes tcp and udp.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// "tcp", "udp" or "sctp"; None for anything else.
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`MountSpec`] mounts. The JSON keeps the strings of old records: "bind", "tmpfs", or
/// the filesystem type of a volume made with `type=...`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(from = "String", into = "String")]
pub enum MountKind {
    Bind,
    Tmpfs,
    /// mount(2) of this filesystem type (a local volume's `type` option: nfs, ext4, ...).
    Filesystem(String),
}

impl From<String> for MountKind {
    fn from(s: String) -> MountKind {
        match s.as_str() {
            "bind" => MountKind::Bind,
            "tmpfs" => MountKind::Tmpfs,
            _ => MountKind::Filesystem(s),
        }
    }
}

impl From<MountKind> for String {
    fn from(k: MountKind) -> String {
        match k {
            MountKind::Bind => "bind".into(),
            MountKind::Tmpfs => "tmpfs".into(),
            MountKind::Filesystem(t) => t,
        }
    }
}

/// One published port. A host port of 0 is picked by the kernel at start; a range
/// (`host_port`..=`host_port_end`) takes the first free port in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct PortSpec {
    pub proto: Proto,
    pub container_port: u16,
    /// An IPv4 address of the host; "" (all of them) is 0.0.0.0.
    pub host_ip: String,
    pub host_port: u16,
    /// The end of a host port range; 0 when `host_port` alone is asked for.
    pub host_port_end: u16,
}

/// Bandwidth limits in bits per second, as the labels `berth.net.egress` and `berth.net.ingress`
/// give them; 0 is no limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct Bandwidth {
    /// What the container sends.
    pub egress_bps: u64,
    /// What the container receives.
    pub ingress_bps: u64,
}

/// Docker's HEALTHCHECK, durations in nanoseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HealthSpec {
    /// The command, ready to exec (CMD-SHELL already turned into /bin/sh -c).
    pub test: Vec<String>,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub start_interval_ns: u64,
    pub retries: u32,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            test: Vec::new(),
            interval_ns: 30_000_000_000,
            timeout_ns: 30_000_000_000,
            start_period_ns: 0,
            start_interval_ns: 5_000_000_000,
            retries: 3,
        }
    }
}

impl Default for ContainerSpec {
    fn default() -> Self {
        ContainerSpec {
            version: SPEC_VERSION,
            id: String::new(),
            name: String::new(),
            process: ProcessSpec::default(),
            rootfs: RootfsSpec::default(),
            hostname: String::new(),
            domainname: String::new(),
            namespaces: Namespaces::default(),
            resources: Resources::default(),
            network: NetworkFiles::default(),
            endpoints: Vec::new(),
            mounts: Vec::new(),
            root_propagation: RootPropagation::Private,
            shm_size: 0,
            shm_source: ShmSource::Private,
            anonymous_volumes: Vec::new(),
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            log: LogSpec::default(),
            restart: RestartPolicy::default(),
            auto_remove: false,
            cgroup_parent: "berth".to_string(),
            healthcheck: None,
            ports: Vec::new(),
            bandwidth: Bandwidth::default(),
            sysctls: Default::default(),
            devices: Vec::new(),
            device_cgroup_rules: Vec::new(),
            settings: Default::default(),
        }
    }
}

/// dockerd's masked paths (hidden behind /dev/null or an empty read-only tmpfs).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// dockerd's read-only paths.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProcessSpec {
    /// argv; args[0] is looked up in the container's PATH when it has no slash.
    pub args: Vec<String>,
    /// KEY=VALUE.
    pub env: Vec<String>,
    /// Working directory inside the container; created when missing, as dockerd does.
    pub cwd: String,
    /// Docker's `User`: "", "name", "uid", "name:group", "uid:gid".
    pub user: String,
    /// Docker's `GroupAdd`: names or numbers.
    pub additional_groups: Vec<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// Initial terminal size (rows, columns).
    pub console_size: Option<(u16, u16)>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub seccomp: SeccompSpec,
    /// The AppArmor profile the process is put under at execve (None: none, AppArmor off or
    /// the container unconfined). Exec'd processes get the container's.
    pub apparmor_profile: Option<String>,
    /// Run a minimal reaper as pid 1 that forwards signals to the command.
    pub init: bool,
    /// Signal name ("SIGTERM", "TERM") or number, sent by stop.
    pub stop_signal: String,
    /// Seconds between the stop signal and SIGKILL.
    pub stop_timeout: u32,
    /// Written to the first process's /proc/<pid>/oom_score_adj before exec (-1000..1000);
    /// None (records made before it) inherits the shim's.
    pub oom_score_adj: Option<i32>,
    /// Legacy links' variables (`DB_PORT=tcp://...`, `DB_NAME=/web/db`, ...), written by the
    /// caller at every start; `env` wins over them for the same name (dockerd's order).
    pub link_env: Vec<String>,
}

impl ProcessSpec {
    /// The environment the process gets: `env`, with the link variables it does not set put
    /// after PATH and HOSTNAME (where dockerd puts them).
    pub fn full_env(&self) -> Vec<String> {
        let key = |e: &str| e.split('=').next().unwrap_or_default().to_string();
        let mut env = self.env.clone();
        let at = env
            .iter()
            .take_while(|e| e.starts_with("PATH=") || e.starts_with("HOSTNAME="))
            .count();
        let links: Vec<String> = self
            .link_env
            .iter()
            .filter(|l| !self.env.iter().any(|e| key(e) == key(l)))
            .cloned()
            .collect();
        env.splice(at..at, links);
        env
    }
}

impl Default for ProcessSpec {
    fn default() -> Self {
        ProcessSpec {
            args: Vec::new(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ],
            cwd: "/".to_string(),
            user: String::new(),
            additional_groups: Vec::new(),
            tty: false,
            open_stdin: false,
            stdin_once: false,
            console_size: None,
            rlimits: Vec::new(),
            no_new_privileges: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            seccomp: SeccompSpec::Default,
            apparmor_profile: None,
            init: false,
            stop_signal: "SIGTERM".to_string(),
            stop_timeout: 10,
            oom_score_adj: None,
            link_env: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rlimit {
    /// Docker's name: "nofile", "nproc", "core", ... (also "RLIMIT_NOFILE").
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum SeccompSpec {
    /// dockerd's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// A profile in Docker's JSON format (the file's content, read by the caller).
    Profile(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct RootfsSpec {
    /// Image layer directories, lowest (base) layer first. Empty means `upper` alone is the root.
    pub layers: Vec<PathBuf>,
    pub readonly: bool,
}

/// How one namespace is obtained.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "snake_case", tag = "mode", content = "path")]
pub enum NsMode {
    /// A new namespace of its own.
    #[default]
    Private,
    /// The host's (the shim's) namespace.
    Host,
    /// Join the namespace of another container's first process, once it is checked to be that
    /// process still.
    Join(Donor),
}

/// Another container's first process, whose namespace a container joins: its pid and that pid's
/// start time (field 22 of /proc/<pid>/stat) when it was recorded, since a pid alone may be
/// another process's by the time it is opened.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Donor {
    /// The donor container's id, for the error when it is gone.
    pub container: String,
    pub pid: i32,
    pub start_time: u64,
}

impl<'de> Deserialize<'de> for Donor {
    /// A record of an older berth holds a bare `/proc/<pid>/ns/<kind>` path: read as a donor that
    /// is gone (pid 0), which a start refuses until the API records the donor again.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Donor {
                container: String,
                pid: i32,
                start_time: u64,
            },
            #[allow(dead_code)] // read to be dropped
            Path(PathBuf),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Donor {
                container,
                pid,
                start_time,
            } => Donor {
                container,
                pid,
                start_time,
            },
            Stored::Path(_) => Donor {
                container: String::new(),
                pid: 0,
                start_time: 0,
            },
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Namespaces {
    pub pid: NsMode,
    pub net: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    /// Private or host only (a container's cgroup namespace is rooted at its own cgroup).
    pub cgroup: NsMode,
    pub user: Option<UserNamespace>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserNamespace {
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
}

impl UserNamespace {
    /// The host uid and gid of the namespace's root, if both maps give it one.
    pub fn root_ids(&self) -> Option<(u32, u32)> {
        let host = |maps: &[IdMap]| {
            maps.iter()
                .find(|m| m.container_id == 0 && m.size > 0)
                .map(|m| m.host_id)
        };
        Some((host(&self.uid_map)?, host(&self.gid_map)?))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// Limits, in Docker's units. Zero or None means "not set".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Resources {
    /// Bytes.
    pub memory: i64,
    /// Memory plus swap, bytes; -1 unlimited swap.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// Relative weight, cgroup v1 scale (2..262144, default 1024).
    pub cpu_shares: u64,
    /// Microseconds per period; from `--cpus` the caller sets quota and period.
    pub cpu_quota: i64,
    pub cpu_period: u64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// 0 unset, -1 unlimited.
    pub pids_limit: i64,
    /// 10..1000, 0 unset.
    pub blkio_weight: u16,
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    pub oom_kill_disable: bool,
    /// v1 memory.swappiness (0..100); None leaves the kernel's. v2 has none (dockerd ignores it).
    pub memory_swappiness: Option<u64>,
    /// Per-device weights (10..1000): v1 blkio.weight_device, v2 io.weight.
    pub blkio_weight_device: Vec<WeightDevice>,
}

/// A block device's relative weight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WeightDevice {
    /// A device node path such as /dev/vda.
    pub path: String,
    pub weight: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThrottleDevice {
    /// A device node path such as /dev/vda.
    pub path: String,
    pub rate: u64,
}

/// The per-container files mounted at /etc/hostname, /etc/hosts and /etc/resolv.conf.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct NetworkFiles {
    /// Extra "host:ip" entries (Docker's ExtraHosts).
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// Legacy links on the default bridge: "ip\tnames" lines (the linked container's alias,
    /// hostname and name), written by the caller at every start from the linked containers.
    pub links: Vec<String>,
}

/// One endpoint of a container on a bridge network: what the shim needs to plug it in with no
/// API process alive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct EndpointSpec {
    pub network_id: String,
    pub network_name: String,
    /// The network's Linux bridge.
    pub bridge: String,
    /// The container's IPv4 address and the subnet's prefix length.
    pub address: String,
    pub prefix_len: u8,
    /// The network's gateway (the bridge's address).
    pub gateway: String,
    /// An internal network: no default route out.
    pub internal: bool,
    /// "02:42:..." (or the one the client asked for).
    pub mac: String,
    pub aliases: Vec<String>,
    /// IPAMConfig.LinkLocalIPs: more IPv4 addresses on the interface, each a /16 (dockerd's).
    pub link_local: Vec<String>,
    /// DriverOpts `com.docker.network.endpoint.sysctls`: keys name the interface `IFNAME`
    /// (`net.ipv4.conf.IFNAME.forwarding`), written once the interface has its name.
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// The network's `com.docker.network.driver.mtu`; 0: the kernel's default.
    pub mtu: u32,
    /// On a network with IPv6: the container's IPv6 address, the subnet's prefix length and
    /// the network's IPv6 gateway; empty otherwise.
    pub address6: String,
    pub prefix_len6: u8,
    pub gateway6: String,
}

/// A mount inside the container (bind, tmpfs, ...); volumes are resolved to binds by the caller.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountSpec {
    pub kind: MountKind,
    pub source: String,
    pub destination: String,
    /// mount(8)-style options: "ro", "rbind", "rprivate", "size=64m", "mode=1777", ...
    pub options: Vec<String>,
    /// A bind of `source`'s subdirectory (a volume's Subpath): resolved beneath `source` at
    /// mount time, never leading out of it (no `..`, no symlink out).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    /// A named volume's data: in a container with a user namespace it is bound idmapped into
    /// that namespace, so that the volume's files keep the ids they have without one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idmap: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LogSpec {
    /// Docker's json-file driver; "none" keeps no log.
    pub driver: String,
    /// Rotate after this many bytes; 0 never.
    pub max_size: u64,
    /// Files kept, the live one included (at least 1).
    pub max_file: u32,
    /// Rotated files are gzipped (`<path>.k.gz`), as dockerd's `compress`.
    pub compress: bool,
    /// dockerd's `attrs` on every line: the `tag` and the labels and env asked for.
    pub attrs: std::collections::BTreeMap<String, String>,
    /// `mode=non-blocking`: the bytes of entries that may wait for the disk (dockerd's
    /// `max-buffer-size`); what does not fit is dropped. 0: `mode=blocking`, the container's
    /// output waits for the log.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_buffer_size: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            driver: "json-file".to_string(),
            max_size: 0,
            max_file: 1,
            compress: false,
            attrs: Default::default(),
            max_buffer_size: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartName {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct RestartPolicy {
    pub name: RestartName,
    /// For on-failure: 0 means no limit.
    pub maximum_retry_count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_variables_follow_path_and_hostname_and_yield_to_env() {
        let p = ProcessSpec {
            env: vec![
                "PATH=/bin".into(),
                "HOSTNAME=h".into(),
                "DB_NAME=mine".into(),
            ],
            link_env: vec!["DB_PORT=tcp://10.0.0.2:80".into(), "DB_NAME=/web/db".into()],
            ..ProcessSpec::default()
        };
        assert_eq!(
            p.full_env(),
            [
                "PATH=/bin",
                "HOSTNAME=h",
                "DB_PORT=tcp://10.0.0.2:80",
                "DB_NAME=mine"
            ],
            "expected the links' variables after PATH and HOSTNAME, the container's own winning"
        );
    }

    #[test]
    fn a_join_records_its_donor_and_an_older_bare_path_reads_as_a_gone_donor() {
        let d = Donor {
            container: "abc".into(),
            pid: 42,
            start_time: 7,
        };
        let text = serde_json::to_string(&NsMode::Join(d.clone())).unwrap();
        assert_eq!(
            serde_json::from_str::<NsMode>(&text).unwrap(),
            NsMode::Join(d)
        );
        let old: NsMode =
            serde_json::from_str(r#"{"mode":"join","path":"/proc/42/ns/net"}"#).unwrap();
        let NsMode::Join(gone) = old else {
            panic!("expected a join, got {old:?}");
        };
        assert_eq!(gone.pid, 0, "a bare path must not keep its pid: {gone:?}");
    }

    /// Each contract enum reads every string old records hold and writes it back byte for byte.
    fn round_trips<T: serde::de::DeserializeOwned + Serialize + std::fmt::Debug>(old: &[&str]) {
        for json in old {
            let v: T = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("expected {json} to read as a value, got {e}"));
            let back = serde_json::to_string(&v).unwrap();
            assert_eq!(&back, json, "expected {v:?} to write as {json}, got {back}");
        }
    }

    #[test]
    fn contract_enums_keep_their_json() {
        round_trips::<RootPropagation>(&[r#""""#, r#""rslave""#, r#""shared""#]);
        round_trips::<ShmSource>(&[
            r#""""#,
            r#""none""#,
            r#""shareable""#,
            r#""/dev/shm""#,
            r#""/run/berth/containers/abc/shm""#,
        ]);
        round_trips::<Proto>(&[r#""tcp""#, r#""udp""#, r#""sctp""#]);
        round_trips::<MountKind>(&[r#""bind""#, r#""tmpfs""#, r#""nfs""#, r#""ext4""#]);
        assert_eq!(
            serde_json::from_str::<ShmSource>(r#""/dev/shm""#).unwrap(),
            ShmSource::Bind("/dev/shm".into())
        );
        assert_eq!(
            serde_json::from_str::<MountKind>(r#""nfs""#).unwrap(),
            MountKind::Filesystem("nfs".into())
        );
    }
}
