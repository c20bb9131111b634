//! `berth create`, and the create half of `berth run` (`run.rs`): flags spelled as the docker
//! CLI's, translated into the create body exactly as the docker CLI fills Config and HostConfig
//! (so that `docker inspect` shows the same thing for either), then handed to the engine's create.

use super::{terminal, CliError, Global, Result};
use crate::engine::containers::create::parse_size;
use crate::engine::containers::CreateBody;
use crate::engine::{Engine, EngineError};
use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

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

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
}

fn bad_flag(value: &str, flag: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

/// go-units RAMInBytes, through the engine's parser: a size in bytes.
fn mem_bytes(value: &str, flag: &str) -> Result<i64> {
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
pub fn restart_policy(value: &str) -> Result<Value> {
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
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// The docker CLI's ValidateEnv: KEY=VALUE as is, KEY with the local value when there is one.
fn env_entry(e: &str) -> Result<String> {
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
fn ulimit(value: &str) -> Result<Value> {
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
    Ok(json!({"Name": name, "Soft": num(soft)?, "Hard": num(hard)?}))
}

/// The docker CLI's parseSecurityOpts: a seccomp profile file is sent as its content.
fn security_opt(value: &str) -> Result<String> {
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
fn labels(list: &[String]) -> Map<String, Value> {
    list.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

/// ExposedPorts and PortBindings from `-p` and `--expose`, as the docker CLI makes them.
fn ports(publish: &[String], expose: &[String]) -> Result<(Value, Value)> {
    use crate::engine::containers::ports::{parse_port_key, parse_publish};
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for p in publish {
        for (key, b) in parse_publish(p).map_err(|e| bad_flag(p, "-p, --publish", e))? {
            exposed.insert(key.clone(), json!({}));
            let list = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(json!(b));
            }
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
            exposed.insert(format!("{port}/{proto}"), json!({}));
        }
    }
    Ok((Value::Object(exposed), Value::Object(bindings)))
}

/// HostConfig as the docker CLI (28) sends it when no flag is given.
const HOST_DEFAULTS: &str = r#"{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
    "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
    "AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],
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
    "MaskedPaths":null,"ReadonlyPaths":null}"#;

/// The create body the docker CLI (28) sends for these flags, keys and defaults included.
/// `detach` clears the attach flags as `docker run -d` does; `console` is the local terminal
/// size for a TTY.
pub fn create_body(f: &CreateFlags, detach: bool, console: Option<(u16, u16)>) -> Result<Value> {
    let env: Vec<String> = f.env.iter().map(|e| env_entry(e)).collect::<Result<_>>()?;
    let cmd = (!f.command().is_empty()).then(|| f.command().to_vec());
    let entrypoint = match f.entrypoint.as_deref() {
        None => Value::Null,
        // An empty --entrypoint resets the image's; the engine spells that as an empty list.
        Some("") => json!([]),
        Some(e) => json!([e]),
    };
    // `-v /path` (no source) is an anonymous volume: Config.Volumes, as the docker CLI.
    let anonymous: Map<String, Value> = f
        .volume
        .iter()
        .filter(|v| !v.contains(':'))
        .map(|v| (v.clone(), json!({})))
        .collect();
    let attach_std = !detach;
    let attach_stdin = f.interactive && !detach;
    let config = json!({
        "Hostname": f.hostname.clone().unwrap_or_default(),
        "Domainname": "",
        "User": f.user.clone().unwrap_or_default(),
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_std,
        "AttachStderr": attach_std,
        "Tty": f.tty,
        "OpenStdin": f.interactive,
        "StdinOnce": attach_stdin,
        "Env": if env.is_empty() { Value::Null } else { json!(env) },
        "Cmd": cmd,
        "Image": f.image(),
        "Volumes": anonymous,
        "WorkingDir": f.workdir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": labels(&f.label),
    });
    let binds: Vec<String> = f
        .volume
        .iter()
        .filter(|v| v.contains(':'))
        .map(|v| {
            // A relative host path starting with "." is made absolute, as the docker CLI does.
            match v.split_once(':') {
                Some((host, rest)) if host.starts_with('.') => std::path::absolute(host)
                    .map(|abs| format!("{}:{rest}", abs.display()))
                    .unwrap_or_else(|_| v.clone()),
                _ => v.clone(),
            }
        })
        .collect();
    let memory = match &f.memory {
        Some(m) => mem_bytes(m, "-m, --memory")?,
        None => 0,
    };
    let memory_swap = match f.memory_swap.as_deref() {
        Some("-1") => -1,
        Some(m) => mem_bytes(m, "--memory-swap")?,
        None => 0,
    };
    let nano = match &f.cpus {
        Some(c) => nano_cpus(c)?,
        None => 0,
    };
    let restart = restart_policy(f.restart.as_deref().unwrap_or("no"))?;
    if f.rm && restart["Name"] != "no" {
        return Err(CliError::Usage(
            "Conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    let network = f.network.clone().unwrap_or_else(|| "default".into());
    let ulimits: Vec<Value> = f.ulimit.iter().map(|u| ulimit(u)).collect::<Result<_>>()?;
    let security: Vec<String> = f
        .security_opt
        .iter()
        .map(|s| security_opt(s))
        .collect::<Result<_>>()?;
    let list_or_null = |v: &[String]| {
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    let (exposed, bindings) = ports(&f.publish, &f.expose)?;
    let console = console.filter(|_| f.tty).unwrap_or((0, 0));
    let mut host: Value =
        serde_json::from_str(HOST_DEFAULTS).map_err(|e| CliError::Usage(e.to_string()))?;
    for (k, v) in [
        ("Binds", list_or_null(&binds)),
        ("NetworkMode", json!(network)),
        ("RestartPolicy", restart),
        ("AutoRemove", json!(f.rm)),
        ("ConsoleSize", json!([console.0, console.1])),
        ("CapAdd", list_or_null(&f.cap_add)),
        ("CapDrop", list_or_null(&f.cap_drop)),
        ("Privileged", json!(f.privileged)),
        ("ReadonlyRootfs", json!(f.read_only)),
        ("SecurityOpt", list_or_null(&security)),
        ("CpuShares", json!(f.cpu_shares.unwrap_or(0))),
        ("Memory", json!(memory)),
        ("NanoCpus", json!(nano)),
        ("MemorySwap", json!(memory_swap)),
        ("PidsLimit", json!(f.pids_limit.unwrap_or(0))),
        ("Ulimits", json!(ulimits)),
        ("PortBindings", bindings),
        ("PublishAllPorts", json!(f.publish_all)),
    ] {
        host[k] = v;
    }
    super::storage_flags::apply(&f.storage, &mut host)?;
    super::device_flags::apply(&f.devices, &mut host)?;
    // Only a given --init is sent (nil otherwise, so the daemon's default applies).
    if f.init {
        host["Init"] = json!(true);
    }
    let mut body = config;
    if let Some(e) = exposed.as_object().filter(|e| !e.is_empty()) {
        body["ExposedPorts"] = json!(e);
    }
    if let Some(h) = super::health_flags::healthcheck(&f.health)? {
        body["Healthcheck"] = h;
    }
    body["HostConfig"] = host;
    let mut endpoint = json!({});
    if !f.network_alias.is_empty() {
        endpoint["Aliases"] = json!(f.network_alias);
    }
    if let Some(ip) = &f.ip {
        endpoint["IPAMConfig"] = json!({ "IPv4Address": ip });
    }
    body["NetworkingConfig"] = json!({ "EndpointsConfig": { network: endpoint } });
    Ok(body)
}

/// Create the container; its id.
pub(super) fn create_container(
    engine: &Engine,
    f: &CreateFlags,
    detach: bool,
) -> Result<crate::engine::ids::ContainerId> {
    let console = if f.tty { terminal::local_size() } else { None };
    let body = create_body(f, detach, console)?;
    let body: CreateBody = serde_json::from_value(body)
        .map_err(|e| EngineError::InvalidParameter(format!("invalid create body: {e}")))?;
    let created = engine.create_container(f.name.as_deref(), body)?;
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(created.id)
}

pub fn create(g: &Global, args: CreateArgs) -> Result<i32> {
    let engine = g.engine();
    let id = create_container(&engine, &args.flags, false)?;
    println!("{id}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags(args: &[&str]) -> (bool, CreateFlags) {
        let argv = ["berth", "run"].iter().chain(args).copied();
        match super::super::Cli::try_parse_from(argv).unwrap().command {
            super::super::Command::Run(r) => (r.detach, r.flags),
            _ => unreachable!(),
        }
    }

    use crate::engine::containers::docker::CLI_RUN_RM_BODY as DOCKER_RUN_RM;

    #[test]
    fn ports_are_sent_as_the_docker_cli_sends_them() {
        let (detach, f) = flags(&[
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1::53/udp",
            "-P",
            "--expose",
            "90-91",
            "busybox",
        ]);
        let body = create_body(&f, detach, None).unwrap();
        assert_eq!(
            body["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "90/tcp": {}, "91/tcp": {}})
        );
        assert_eq!(
            body["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                   "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]})
        );
        assert_eq!(body["HostConfig"]["PublishAllPorts"], true);
        let (detach, f) = flags(&["-p", "80:x", "busybox"]);
        assert!(create_body(&f, detach, None).is_err());
    }

    #[test]
    fn a_plain_run_sends_what_the_docker_cli_sends() {
        let (detach, f) = flags(&["--rm", "busybox", "true"]);
        let body = create_body(&f, detach, None).unwrap();
        let want: Value = serde_json::from_str(DOCKER_RUN_RM).unwrap();
        assert_eq!(body, want);
    }

    #[test]
    fn flags_fill_config_and_host_config() {
        let (detach, f) = flags(&[
            "-d",
            "-i",
            "-t",
            "--name",
            "web",
            "-e",
            "A=1",
            "-v",
            "/a:/b:ro",
            "-v",
            "/anon",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "50",
            "--network",
            "host",
            "--restart",
            "on-failure:3",
            "-u",
            "1000:1000",
            "-w",
            "/tmp",
            "--entrypoint",
            "sh",
            "-l",
            "a=b",
            "-l",
            "c",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "MKNOD",
            "--privileged",
            "--read-only",
            "--init",
            "--security-opt",
            "no-new-privileges",
            "--ulimit",
            "nofile=10:20",
            "-h",
            "box",
            "busybox",
            "-c",
            "echo hi",
        ]);
        let b = create_body(&f, detach, Some((30, 100))).unwrap();
        let h = &b["HostConfig"];
        assert_eq!(b["AttachStdin"], false, "-d clears the attach flags");
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], false);
        assert_eq!(b["Tty"], true);
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Cmd"], json!(["-c", "echo hi"]));
        assert_eq!(b["Entrypoint"], json!(["sh"]));
        assert_eq!(b["User"], "1000:1000");
        assert_eq!(b["WorkingDir"], "/tmp");
        assert_eq!(b["Hostname"], "box");
        assert_eq!(b["Labels"], json!({"a": "b", "c": ""}));
        assert_eq!(h["Binds"], json!(["/a:/b:ro"]));
        assert_eq!(b["Volumes"], json!({"/anon": {}}));
        assert_eq!(h["Memory"], 64 << 20);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["PidsLimit"], 50);
        assert_eq!(h["NetworkMode"], "host");
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(h["CapDrop"], json!(["MKNOD"]));
        assert_eq!(h["Privileged"], true);
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["Init"], true);
        assert_eq!(h["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(
            h["Ulimits"],
            json!([{"Name": "nofile", "Soft": 10, "Hard": 20}])
        );
        assert_eq!(h["ConsoleSize"], json!([30, 100]));
        assert_eq!(
            b["NetworkingConfig"],
            json!({"EndpointsConfig": {"host": {}}})
        );
        let _: CreateBody = serde_json::from_value(b).unwrap();
        let (_, f) = flags(&[
            "--network",
            "n1",
            "--network-alias",
            "db",
            "--ip",
            "10.7.0.9",
            "busybox",
        ]);
        let b = create_body(&f, false, None).unwrap();
        assert_eq!(
            b["NetworkingConfig"],
            json!({"EndpointsConfig": {"n1": {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.7.0.9"}}}})
        );
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        let (_, f) = flags(&["-m", "lots", "busybox"]);
        let e = create_body(&f, false, None).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        assert!(nano_cpus("0.0000000001").is_err());
        assert_eq!(nano_cpus("0.5").unwrap(), 500_000_000);
        assert!(restart_policy("on-failure:x").is_err());
        let (_, f) = flags(&["--rm", "--restart", "always", "busybox"]);
        assert!(create_body(&f, false, None).is_err());
    }
}
