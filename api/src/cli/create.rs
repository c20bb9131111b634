//! `berth create`, and the create half of `berth run` (`run.rs`): the flags (`create_flags.rs`)
//! translated into the typed create body exactly as the docker CLI fills Config and HostConfig
//! (so that `docker inspect` shows the same thing for either), then handed to the engine's create.

use super::create_flags::{
    env_entry, labels, mem_bytes, nano_cpus, ports, restart_policy, security_opt, ulimit,
    CreateFlags,
};
use super::{terminal, CliError, Global, Result};
use crate::engine::wire::RestartPolicyJson;
use crate::engine::wire::{CreateBody, DockerConfig, HostConfig, StringOrList};
use crate::engine::Engine;
use clap::Args;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
}

/// HostConfig as the docker CLI (28) sends it when no flag is given: the typed defaults but
/// `MemorySwappiness` -1 and the empty lists the CLI sends.
fn host_defaults() -> HostConfig {
    HostConfig {
        network_mode: "default".into(),
        restart_policy: RestartPolicyJson {
            name: "no".into(),
            maximum_retry_count: 0,
        },
        dns: Some(Vec::new()),
        dns_options: Some(Vec::new()),
        dns_search: Some(Vec::new()),
        console_size: Some(vec![0, 0]),
        blkio_device_read_bps: Some(Vec::new()),
        blkio_device_write_bps: Some(Vec::new()),
        blkio_device_read_iops: Some(Vec::new()),
        blkio_device_write_iops: Some(Vec::new()),
        oom_kill_disable: Some(false),
        pids_limit: Some(0),
        ulimits: Some(Vec::new()),
        port_bindings: Some(BTreeMap::new()),
        devices: Some(Vec::new()),
        blkio_weight_device: Some(Vec::new()),
        memory_swappiness: Some(-1),
        ..HostConfig::default()
    }
}

/// The create body the docker CLI (28) sends for these flags, defaults included.
/// `detach` clears the attach flags as `docker run -d` does; `console` is the local terminal
/// size for a TTY.
pub fn create_body(
    f: &CreateFlags,
    detach: bool,
    console: Option<(u16, u16)>,
) -> Result<CreateBody> {
    let env: Vec<String> = f.env.iter().map(|e| env_entry(e)).collect::<Result<_>>()?;
    let cmd = (!f.command().is_empty()).then(|| StringOrList::List(f.command().to_vec()));
    let entrypoint = match f.entrypoint.as_deref() {
        None => None,
        // An empty --entrypoint resets the image's; the engine spells that as an empty list.
        Some("") => Some(StringOrList::List(Vec::new())),
        Some(e) => Some(StringOrList::List(vec![e.to_string()])),
    };
    // `-v /path` (no source) is an anonymous volume: Config.Volumes, as the docker CLI.
    let anonymous: BTreeMap<String, Value> = f
        .volume
        .iter()
        .filter(|v| !v.contains(':'))
        .map(|v| (v.clone(), Value::Object(Map::new())))
        .collect();
    let attach_std = !detach;
    let attach_stdin = f.interactive && !detach;
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
    if f.rm && restart.name != "no" {
        return Err(CliError::Usage(
            "Conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    let network = f.network.clone().unwrap_or_else(|| "default".into());
    let ulimits = f.ulimit.iter().map(|u| ulimit(u)).collect::<Result<_>>()?;
    let security: Vec<String> = f
        .security_opt
        .iter()
        .map(|s| security_opt(s))
        .collect::<Result<_>>()?;
    let list_or_none = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    let (exposed, bindings) = ports(&f.publish, &f.expose)?;
    let console = console.filter(|_| f.tty).unwrap_or((0, 0));
    let mut host = HostConfig {
        binds: list_or_none(&binds),
        network_mode: network.clone(),
        restart_policy: restart,
        auto_remove: f.rm,
        console_size: Some(vec![console.0, console.1]),
        cap_add: list_or_none(&f.cap_add),
        cap_drop: list_or_none(&f.cap_drop),
        privileged: f.privileged,
        readonly_rootfs: f.read_only,
        security_opt: list_or_none(&security),
        cpu_shares: f.cpu_shares.unwrap_or(0),
        memory,
        nano_cpus: nano,
        memory_swap,
        pids_limit: Some(f.pids_limit.unwrap_or(0)),
        ulimits: Some(ulimits),
        port_bindings: Some(bindings),
        publish_all_ports: f.publish_all,
        ..host_defaults()
    };
    super::storage_flags::apply(&f.storage, &mut host)?;
    super::device_flags::apply(&f.devices, &mut host)?;
    // Only a given --init is sent (nil otherwise, so the daemon's default applies).
    if f.init {
        host.init = Some(true);
    }
    // The engine keeps Config.Healthcheck as the client sent it.
    let healthcheck = super::health_flags::healthcheck(&f.health)?.map(|h| json!(h));
    let config = DockerConfig {
        hostname: f.hostname.clone().unwrap_or_default(),
        domainname: String::new(),
        user: f.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout: attach_std,
        attach_stderr: attach_std,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: f.tty,
        open_stdin: f.interactive,
        stdin_once: attach_stdin,
        env: (!env.is_empty()).then_some(env),
        cmd,
        healthcheck,
        image: f.image().to_string(),
        volumes: Some(anonymous),
        working_dir: f.workdir.clone().unwrap_or_default(),
        entrypoint,
        labels: Some(labels(&f.label)),
        stop_signal: None,
        stop_timeout: None,
        ..DockerConfig::default()
    };
    // NetworkingConfig stays JSON in the engine, which keeps it as sent.
    let mut endpoint = Map::new();
    if !f.network_alias.is_empty() {
        endpoint.insert("Aliases".into(), json!(f.network_alias));
    }
    let mut ipam = Map::new();
    if let Some(ip) = &f.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip6) = &f.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip6));
    }
    if !ipam.is_empty() {
        endpoint.insert("IPAMConfig".into(), Value::Object(ipam));
    }
    Ok(CreateBody {
        config,
        host_config: host,
        networking_config: json!({ "EndpointsConfig": { network: endpoint } }),
    })
}

/// Create the container; its id.
pub(super) fn create_container(
    engine: &Engine,
    f: &CreateFlags,
    detach: bool,
) -> Result<crate::engine::ids::ContainerId> {
    let console = if f.tty { terminal::local_size() } else { None };
    let body = create_body(f, detach, console)?;
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
    use crate::engine::wire::PortBindingJson;
    use crate::engine::wire::UlimitJson;
    use clap::Parser;

    fn flags(args: &[&str]) -> (bool, CreateFlags) {
        let argv = ["berth", "run"].iter().chain(args).copied();
        match super::super::Cli::try_parse_from(argv).unwrap().command {
            super::super::Command::Run(r) => (r.detach, r.flags),
            _ => unreachable!(),
        }
    }

    fn strings(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    use crate::engine::wire::CLI_RUN_RM_BODY as DOCKER_RUN_RM;

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
        let exposed: Vec<&str> = body
            .config
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, v)| {
                assert_eq!(*v, json!({}), "{k}");
                k.as_str()
            })
            .collect();
        assert_eq!(exposed, ["53/udp", "80/tcp", "90/tcp", "91/tcp"]);
        let binding = |ip: &str, port: &str| {
            Some(vec![PortBindingJson {
                host_ip: ip.into(),
                host_port: port.into(),
            }])
        };
        assert_eq!(
            body.host_config.port_bindings,
            Some(BTreeMap::from([
                ("80/tcp".to_string(), binding("", "8080")),
                ("53/udp".to_string(), binding("127.0.0.1", "")),
            ]))
        );
        assert!(body.host_config.publish_all_ports);
        let (detach, f) = flags(&["-p", "80:x", "busybox"]);
        assert!(create_body(&f, detach, None).is_err());
    }

    #[test]
    fn a_plain_run_sends_what_the_docker_cli_sends() {
        let (detach, f) = flags(&["--rm", "busybox", "true"]);
        let body = create_body(&f, detach, None).unwrap();
        let want: CreateBody = serde_json::from_str(DOCKER_RUN_RM).unwrap();
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
        let (c, h) = (&b.config, &b.host_config);
        assert!(!c.attach_stdin, "-d clears the attach flags");
        assert!(!c.attach_stdout);
        assert!(c.open_stdin);
        assert!(!c.stdin_once);
        assert!(c.tty);
        assert_eq!(c.env, strings(&["A=1"]));
        assert_eq!(
            c.cmd,
            Some(StringOrList::List(strings(&["-c", "echo hi"]).unwrap()))
        );
        assert_eq!(
            c.entrypoint,
            Some(StringOrList::List(strings(&["sh"]).unwrap()))
        );
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.working_dir, "/tmp");
        assert_eq!(c.hostname, "box");
        let labels = BTreeMap::from([("a".to_string(), "b".to_string()), ("c".into(), "".into())]);
        assert_eq!(c.labels, Some(labels));
        assert_eq!(h.binds, strings(&["/a:/b:ro"]));
        assert_eq!(
            c.volumes,
            Some(BTreeMap::from([("/anon".to_string(), json!({}))]))
        );
        assert_eq!(h.memory, 64 << 20);
        assert_eq!(h.memory_swap, -1);
        assert_eq!(h.nano_cpus, 1_500_000_000i64);
        assert_eq!(h.cpu_shares, 512);
        assert_eq!(h.pids_limit, Some(50));
        assert_eq!(h.network_mode, "host");
        assert_eq!(
            h.restart_policy,
            RestartPolicyJson {
                name: "on-failure".into(),
                maximum_retry_count: 3
            }
        );
        assert_eq!(h.cap_add, strings(&["NET_ADMIN"]));
        assert_eq!(h.cap_drop, strings(&["MKNOD"]));
        assert!(h.privileged);
        assert!(h.readonly_rootfs);
        assert_eq!(h.init, Some(true));
        assert_eq!(h.security_opt, strings(&["no-new-privileges"]));
        assert_eq!(
            h.ulimits,
            Some(vec![UlimitJson {
                name: "nofile".into(),
                soft: 10,
                hard: 20
            }])
        );
        assert_eq!(h.console_size, Some(vec![30, 100]));
        assert_eq!(
            b.networking_config,
            json!({"EndpointsConfig": {"host": {}}})
        );
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
            b.networking_config,
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
