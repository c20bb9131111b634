//! The flags `berth create` and `berth run` share, spelled as the docker CLI's, and the
//! parsers of their values into the create body's typed fields (the docker CLI's words for a
//! bad value). `--mount` and the other storage, device and health flags have their own modules.

use super::{CliError, Result};
use crate::engine::sizes::parse_size;
use crate::engine::wire::PortBindingJson;
use crate::engine::wire::{RestartPolicyJson, UlimitJson};
use clap::{ArgAction, Args};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The flags `create` and `run` share. `-h` is the hostname, as in the docker CLI; help is
/// `--help` only.
#[derive(Debug, Clone, Args)]
pub struct CreateFlags {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open (and attach it when running attached).
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container (and its writable layer) when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable: KEY=VALUE, or KEY to pass this shell's value.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Bind mount a host path: SRC:DST[:ro|rw].
    #[arg(short, long = "volume", value_name = "SRC:DST[:OPTS]")]
    pub volume: Vec<String>,
    /// Memory limit, in bytes or with a unit (k, m, g): 512m.
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (fractions allowed: 1.5).
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long, value_name = "INT")]
    pub cpu_shares: Option<i64>,
    /// Maximum number of processes (-1 or 0 for unlimited).
    #[arg(long, value_name = "INT", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Network: bridge (the default), host, none, container:NAME or a user-defined network.
    #[arg(long, visible_alias = "net", value_name = "MODE")]
    pub network: Option<String>,
    /// Publish a container's port on the host: [IP:][HOST_PORT:]PORT[/udp] (ranges allowed).
    #[arg(short, long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Publish every exposed port on a random host port.
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port (or a range) without publishing it: PORT[/udp].
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// A network-scoped name of the container on --network (repeat for more).
    #[arg(long, visible_alias = "net-alias", value_name = "NAME")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on --network (a user-defined one).
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// The container's IPv6 address on --network (a user-defined one with IPv6).
    #[arg(long, value_name = "IP")]
    pub ip6: Option<String>,
    /// Restart policy: no, always, unless-stopped, on-failure[:MAX-RETRIES].
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Run as this user: NAME|UID[:GROUP|GID].
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Replace the image's entrypoint.
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,
    /// Set a label: KEY=VALUE (or KEY for an empty value).
    #[arg(short, long = "label", value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// Add a Linux capability (CAP_NET_ADMIN or NET_ADMIN; ALL).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability (ALL for every one).
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container every capability, every device and no seccomp filter.
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Run a tiny init as pid 1 that forwards signals and reaps zombies.
    #[arg(long)]
    pub init: bool,
    /// Security options: no-new-privileges, seccomp=unconfined|PROFILE.json.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Resource limit: NAME=SOFT[:HARD] (nofile=1024:2048).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Container host name.
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub storage: super::storage_flags::StorageFlags,
    #[command(flatten)]
    pub devices: super::device_flags::DeviceFlags,
    #[command(flatten)]
    pub health: super::health_flags::HealthFlags,
    /// The image (NAME[:TAG], NAME@DIGEST or an id), then the command and its arguments (the
    /// image's by default). Flags end at the image, as with the docker CLI.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    pub image_and_command: Vec<String>,
}

impl CreateFlags {
    pub fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    pub fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }
}

pub(super) fn bad_flag(value: &str, flag: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

/// go-units RAMInBytes, through the engine's parser: a size in bytes.
pub(super) fn mem_bytes(value: &str, flag: &str) -> Result<i64> {
    parse_size(value)
        .map(|n| n as i64)
        .ok_or_else(|| bad_flag(value, flag, format!("invalid size: '{value}'")))
}

/// The docker CLI's NanoCPUs: a decimal number of CPUs, in billionths.
pub fn nano_cpus(value: &str) -> Result<i64> {
    let cpus: f64 = value
        .parse()
        .map_err(|_| bad_flag(value, "--cpus", "failed to parse as a decimal"))?;
    let nanos = cpus * 1e9;
    if !nanos.is_finite() || (nanos - nanos.round()).abs() > 1e-3 {
        return Err(bad_flag(value, "--cpus", "value is too precise"));
    }
    Ok(nanos.round() as i64)
}

/// The docker CLI's restart policy parser: NAME[:MAX-RETRIES].
pub fn restart_policy(value: &str) -> Result<RestartPolicyJson> {
    let (name, count) = match value.split_once(':') {
        Some((n, c)) => {
            let c: i64 = c.parse().map_err(|_| {
                CliError::Usage(
                    "invalid restart policy format: maximum retry count must be an integer".into(),
                )
            })?;
            (n, c)
        }
        None => (value, 0),
    };
    Ok(RestartPolicyJson {
        name: name.to_string(),
        maximum_retry_count: count,
    })
}

/// The docker CLI's ValidateEnv: KEY=VALUE as is, KEY with the local value when there is one.
pub(super) fn env_entry(e: &str) -> Result<String> {
    let (key, _) = e.split_once('=').unwrap_or((e, ""));
    if key.is_empty() {
        return Err(CliError::Usage(format!(
            "invalid argument \"{e}\" for \"-e, --env\" flag: invalid environment variable: {e}"
        )));
    }
    if e.contains('=') {
        return Ok(e.to_string());
    }
    Ok(match std::env::var(key) {
        Ok(v) => format!("{key}={v}"),
        Err(_) => e.to_string(),
    })
}

/// go-units ParseUlimit: NAME=SOFT[:HARD].
pub(super) fn ulimit(value: &str) -> Result<UlimitJson> {
    let bad = |why: &str| bad_flag(value, "--ulimit", why);
    let (name, limits) = value
        .split_once('=')
        .ok_or_else(|| bad(&format!("invalid ulimit argument: {value}")))?;
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (s, h),
        None => (limits, limits),
    };
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(&format!("invalid ulimit value: {s}")))
    };
    Ok(UlimitJson {
        name: name.to_string(),
        soft: num(soft)?,
        hard: num(hard)?,
    })
}

/// The docker CLI's parseSecurityOpts: a seccomp profile file is sent as its content.
pub(super) fn security_opt(value: &str) -> Result<String> {
    let (k, v) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .unwrap_or((value, ""));
    if k == "seccomp" && !v.is_empty() && v != "unconfined" && v != "builtin" {
        let profile = std::fs::read_to_string(v)
            .map_err(|e| CliError::Usage(format!("opening seccomp profile ({v}) failed: {e}")))?;
        return Ok(format!("seccomp={profile}"));
    }
    Ok(value.to_string())
}

/// KEY=VALUE lines as a map; KEY alone maps to "".
pub(super) fn labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Config.ExposedPorts ("80/tcp" -> {}) and HostConfig.PortBindings.
pub(super) type Ports = (
    BTreeMap<String, Value>,
    BTreeMap<String, Option<Vec<PortBindingJson>>>,
);

/// ExposedPorts and PortBindings from `-p` and `--expose`, as the docker CLI makes them.
pub(super) fn ports(publish: &[String], expose: &[String]) -> Result<Ports> {
    use crate::engine::containers::ports::{parse_port_key, parse_publish};
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Option<Vec<PortBindingJson>>> = BTreeMap::new();
    for p in publish {
        for (key, b) in parse_publish(p).map_err(|e| bad_flag(p, "-p, --publish", e))? {
            exposed.insert(key.clone(), Value::Object(Map::new()));
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(b);
        }
    }
    for e in expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let bad = || bad_flag(e, "--expose", "invalid range format for --expose");
        let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        for port in a..=b {
            let (port, proto) = parse_port_key(&format!("{port}/{proto}"))
                .map_err(|err| bad_flag(e, "--expose", err))?;
            exposed.insert(format!("{port}/{proto}"), Value::Object(Map::new()));
        }
    }
    Ok((exposed, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fill_typed_fields() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            RestartPolicyJson {
                name: "on-failure".into(),
                maximum_retry_count: 3
            }
        );
        assert_eq!(
            ulimit("nofile=1:x").unwrap_err().to_string(),
            "invalid argument \"nofile=1:x\" for \"--ulimit\" flag: invalid ulimit value: x"
        );
    }
}
