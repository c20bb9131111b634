//! docker create: check the request, merge it with the image's config, translate it into the
//! shim's spec, and make the container appear whole (a directory renamed into place) with its
//! name reserved.

use super::{ContainerRecord, RECORD_VERSION};
use crate::engine::ids::ContainerId;
use crate::engine::wire::{CreateBody, StringOrList};
use crate::engine::{Engine, EngineError, Result};
use berth_shim::spec::{
    ContainerSpec, LogSpec, NsMode, ProcessSpec, RestartName, RestartPolicy, Rlimit, RootfsSpec,
    SeccompSpec, ShmSource, ThrottleDevice,
};

/// dockerd's smallest memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::invalid_parameter(msg.into())
}

/// The result of a create.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: ContainerId,
    pub warnings: Vec<String>,
}

impl Engine {
    /// Create a container from Docker's create body.
    pub fn create_container(&self, name: Option<&str>, body: CreateBody) -> Result<Created> {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            if !super::super::names::valid(n) {
                return Err(invalid(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        if body.config.image.is_empty() {
            return Err(invalid("config.Image: image must be specified"));
        }
        let label = |k: &str| body.config.labels.as_ref().and_then(|l| l.get(k));
        if let Some(v) = label(berth_shim::monitor::LABEL) {
            berth_monitor::events::wants(Some(v)).map_err(invalid)?;
        }
        if let Some(labels) = &body.config.labels {
            berth_monitor::Policy::from_labels(labels)
                .validate()
                .map_err(invalid)?;
        }
        let image = self.image(&body.config.image)?;
        let id = ContainerId::generate();
        // Held until the container appears: a volume it will use is not removed meanwhile.
        let volumes_lock = self.volumes_lock()?;
        let (record, spec) = translate(&id, &body, &image, &self.paths.root)?;
        let plan = self.plan_networks(&body.host_config, &body.networking_config)?;

        let names = self.names();
        let lock = names.lock()?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.trim_start_matches('/').to_string(),
            None => lock.generate(),
        };
        if let Some(owner) = lock.owner(&name) {
            return Err(EngineError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let record = ContainerRecord {
            name: format!("/{name}"),
            ..record
        };
        let endpoints = self.allocate_endpoints(&id, &name, &plan)?;
        let record = ContainerRecord {
            networks: self
                .endpoints_json(&id, &record.host_config.network_mode, &endpoints)
                .0
                .into_iter()
                .collect(),
            ..record
        };
        let spec = ContainerSpec {
            name: name.clone(),
            endpoints,
            settings: self.settings.runtime.clone(),
            ..spec
        };
        // Build the directory aside, then rename it into place: it appears whole or not at all.
        let containers = self.paths.containers();
        let tmp = containers.join(format!(".creating-{id}"));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&tmp)?;
            // The directory is nobody's until it is renamed into place: its files are written
            // there directly, each fsynced, and the directory once after the last of them.
            let rec = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
            berth_shim::fsutil::write_new_synced(&tmp.join("container.json"), &rec)?;
            super::summary::write(&tmp, &record)?;
            let sp = serde_json::to_vec_pretty(&spec).map_err(std::io::Error::other)?;
            berth_shim::fsutil::write_new_synced(&tmp.join("config.json"), &sp)?;
            berth_shim::fsutil::sync_dir(&tmp)
        };
        let undo = |lock: Option<&super::super::names::NamesLock<'_>>| {
            if let Some(lock) = lock {
                lock.release(&name, &id);
            }
            berth_shim::cleanup::cleanup(
                format!("removing {}", tmp.display()),
                std::fs::remove_dir_all(&tmp),
            );
            self.release_endpoints(&id);
        };
        if let Err(e) = write() {
            undo(None);
            return Err(EngineError::system("creating the container", e));
        }
        if let Err(e) = lock.reserve(&name, &id) {
            undo(None);
            return Err(e);
        }
        if let Err(e) = std::fs::rename(&tmp, containers.join(&id)) {
            undo(Some(&lock));
            return Err(EngineError::system("creating the container", e));
        }
        drop(lock);
        drop(volumes_lock);
        self.container_event(&id, "create", &[]);
        self.announce_endpoints(&id, &spec.endpoints);
        Ok(Created {
            id,
            warnings: super::ports::warnings(&body.host_config),
        })
    }
}

/// The prefix of the labels that steer berth (the monitor, policies, bandwidth).
const BERTH_LABELS: &str = "berth.";

/// Merge the request with the image and translate both into the record and the shim's spec.
pub fn translate(
    id: &ContainerId,
    body: &CreateBody,
    image: &crate::engine::images::Image,
    root: &std::path::Path,
) -> Result<(ContainerRecord, ContainerSpec)> {
    let c = &body.config;
    let h = &body.host_config;
    let ic = &image.config;

    // Entrypoint and Cmd: a request's Entrypoint replaces the image's and drops its Cmd.
    let entrypoint = match &c.entrypoint {
        Some(e) => e.to_vec(),
        None => ic.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = match (&c.cmd, &c.entrypoint) {
        (Some(cmd), _) => cmd.to_vec(),
        (None, Some(_)) => Vec::new(),
        (None, None) => ic.cmd.clone().unwrap_or_default(),
    };
    let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Err(invalid("No command specified"));
    }
    let path = argv.remove(0);
    let args = argv;

    // Env: the image's, then the request's, a later KEY replacing an earlier one.
    let mut env: Vec<String> = Vec::new();
    for e in ic.env.iter().flatten().chain(c.env.iter().flatten()) {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
    }
    for name in [&c.hostname, &c.domainname]
        .into_iter()
        .filter(|n| !n.is_empty())
    {
        super::boundary::hostname(name)?;
    }
    for entry in h.extra_hosts.iter().flatten() {
        super::boundary::extra_host(entry)?;
    }
    let hostname = if c.hostname.is_empty() {
        id[..12].to_string()
    } else {
        c.hostname.clone()
    };
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    let working_dir = if !c.working_dir.is_empty() {
        c.working_dir.clone()
    } else {
        ic.working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    };
    if !working_dir.starts_with('/') {
        return Err(invalid(format!(
            "the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )));
    }
    let user = if c.user.is_empty() {
        ic.user.clone().unwrap_or_default()
    } else {
        c.user.clone()
    };
    // An image's `berth.*` labels are not carried into its containers: they would steer
    // berth for whoever runs the image (turn its monitor off, have it count and tax every
    // process on the host, set bandwidth or deny rules). Only the user's own count.
    let mut labels = ic.labels.clone().unwrap_or_default();
    labels.retain(|k, _| !k.starts_with(BERTH_LABELS));
    labels.extend(c.labels.clone().unwrap_or_default());
    let stop_signal = c
        .stop_signal
        .clone()
        .or_else(|| ic.stop_signal.clone())
        .unwrap_or_else(|| "SIGTERM".to_string());
    berth_shim::signals::parse(&stop_signal).map_err(|e| invalid(e.to_string()))?;

    let restart = restart_policy(&h.restart_policy.name, h.restart_policy.maximum_retry_count)?;
    if h.auto_remove && restart.name != RestartName::No {
        return Err(invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    let resources = resources(h)?;
    let (devices, device_cgroup_rules) = super::devices::translate(h)?;
    let (seccomp, no_new_privileges, apparmor_profile) = security_opts(
        h.security_opt.as_deref().unwrap_or(&[]),
        h.privileged,
        root,
        super::apparmor::host_enabled(),
        &super::apparmor::Host::real(),
    )?;
    let cap_add = h.cap_add.clone().unwrap_or_default();
    let cap_drop = h.cap_drop.clone().unwrap_or_default();
    berth_shim::security::caps::resolve(h.privileged, &cap_add, &cap_drop)
        .map_err(|e| invalid(e.to_string()))?;
    if let SeccompSpec::Profile(p) = &seccomp {
        berth_shim::security::seccomp::Profile::parse(p).map_err(|e| invalid(e.to_string()))?;
    }
    let rlimits = h
        .ulimits
        .iter()
        .flatten()
        .map(|u| {
            berth_shim::security::rlimits::parse_name(&u.name)
                .map_err(|e| invalid(e.to_string()))?;
            if u.soft > u.hard {
                return Err(invalid(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                    u.soft, u.hard
                )));
            }
            Ok(Rlimit {
                name: u.name.clone(),
                soft: u.soft.max(0) as u64,
                hard: u.hard.max(0) as u64,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let log = log_spec(&h.log_config.kind, &h.log_config.config)?;
    let namespaces = namespaces(h, root)?;
    let sysctls = super::boundary::sysctls(h, &namespaces)?;
    // The image's exposed ports and the request's (its bindings' included), as dockerd
    // merges them; `-P` publishes them all.
    let mut exposed = ic.exposed_ports.clone().unwrap_or_default();
    exposed.extend(super::ports::exposed_with_bindings(c, h).unwrap_or_default());
    let ports = super::ports::port_specs(h, Some(&exposed), &h.network_mode)?;
    let bandwidth = super::ports::bandwidth(&labels)?;
    let mut config_volumes = ic.volumes.clone().unwrap_or_default();
    config_volumes.extend(c.volumes.clone().unwrap_or_default());
    let engine = Engine::new(berth_shim::Paths::new(root, "/nonexistent"));
    let resolved = super::mounts::resolve(&engine, h, Some(&config_volumes), &image.layers)?;
    let mounts = resolved.specs;
    let anonymous_volumes: Vec<String> = resolved
        .points
        .iter()
        .filter(|p| p.kind == "volume")
        .filter(|p| engine.volume(&p.name).is_ok_and(|v| v.anonymous()))
        .map(|p| p.name.clone())
        .collect();
    let root_propagation = super::mounts::root_propagation(&mounts).unwrap_or_default();
    let console_size = h
        .console_size
        .as_ref()
        .filter(|s| s.len() == 2 && s[0] > 0 && s[1] > 0)
        .map(|s| (s[0], s[1]));

    let healthcheck = health_spec(c.healthcheck.as_ref().or(ic.healthcheck.as_ref()))?;
    let spec = ContainerSpec {
        id: id.to_string(),
        healthcheck,
        hostname: hostname.clone(),
        domainname: c.domainname.clone(),
        process: ProcessSpec {
            args: std::iter::once(path.clone())
                .chain(args.iter().cloned())
                .collect(),
            env: env.clone(),
            cwd: working_dir.clone(),
            user: user.clone(),
            additional_groups: h.group_add.clone().unwrap_or_default(),
            tty: c.tty,
            open_stdin: c.open_stdin,
            stdin_once: c.stdin_once,
            console_size,
            rlimits,
            no_new_privileges,
            cap_add,
            cap_drop,
            privileged: h.privileged,
            seccomp,
            apparmor_profile,
            init: h.init.unwrap_or(false),
            stop_signal: stop_signal.clone(),
            stop_timeout: c.stop_timeout.unwrap_or(10).clamp(0, u32::MAX as i64) as u32,
        },
        rootfs: RootfsSpec {
            layers: image.layers.clone(),
            readonly: h.readonly_rootfs,
        },
        namespaces,
        resources,
        network: berth_shim::spec::NetworkFiles {
            extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
            dns: h.dns.clone().unwrap_or_default(),
            dns_search: h.dns_search.clone().unwrap_or_default(),
            dns_options: h.dns_options.clone().unwrap_or_default(),
        },
        mounts,
        root_propagation,
        anonymous_volumes,
        shm_size: h.shm_size.max(0) as u64,
        shm_source: match h.ipc_mode.as_str() {
            "shareable" => ShmSource::Shareable,
            "host" => ShmSource::Bind("/dev/shm".into()),
            "none" => ShmSource::None,
            // container:<id> is resolved at every start (lifecycle::resolve_joins).
            _ => ShmSource::Private,
        },
        log,
        restart,
        auto_remove: h.auto_remove,
        ports,
        bandwidth,
        sysctls,
        devices,
        device_cgroup_rules,
        ..ContainerSpec::default()
    };

    // The record keeps what the client sent, completed as dockerd completes it.
    let mut config = c.clone();
    config.hostname = hostname;
    config.env = Some(env);
    config.cmd = (!cmd.is_empty()).then_some(StringOrList::List(cmd));
    config.entrypoint = (!entrypoint.is_empty()).then_some(StringOrList::List(entrypoint));
    config.working_dir = if working_dir == "/"
        && c.working_dir.is_empty()
        && ic.working_dir.as_deref().unwrap_or("").is_empty()
    {
        String::new()
    } else {
        working_dir
    };
    config.user = user;
    config.labels = Some(labels);
    config.stop_signal =
        (stop_signal != "SIGTERM" || c.stop_signal.is_some()).then_some(stop_signal);
    config.exposed_ports = (!exposed.is_empty()).then_some(exposed);
    if config.volumes.is_none() {
        config.volumes = ic.volumes.clone();
    }
    if config.healthcheck.is_none() {
        config.healthcheck = ic.healthcheck.clone();
    }
    let mut host_config = h.clone();
    if let Some(devices) = &mut host_config.devices {
        *devices = devices.iter().map(super::devices::completed).collect();
    }
    if host_config.log_config.kind.is_empty() {
        host_config.log_config.kind = "json-file".to_string();
    }
    if host_config.network_mode.is_empty() || host_config.network_mode == "default" {
        host_config.network_mode = "bridge".to_string();
    }
    if host_config.restart_policy.name.is_empty() {
        host_config.restart_policy.name = "no".to_string();
    }
    let record = ContainerRecord {
        version: RECORD_VERSION,
        id: id.clone(),
        name: String::new(),
        created: berth_shim::state::now_rfc3339(),
        image_ref: c.image.clone(),
        image_id: image.id.clone(),
        path,
        args,
        config,
        host_config,
        networking_config: body.networking_config.clone(),
        mount_points: resolved.points,
        networks: Default::default(),
    };
    Ok((record, spec))
}

/// Docker's Healthcheck object ({Test, Interval, Timeout, StartPeriod, StartInterval, Retries},
/// durations in ns) as the shim runs it; None for none or `["NONE"]`.
pub fn health_spec(v: Option<&serde_json::Value>) -> Result<Option<berth_shim::spec::HealthSpec>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let test: Vec<String> = v
        .get("Test")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default();
    let command = match test.split_first() {
        None => return Ok(None),
        Some((kind, _)) if kind == "NONE" => return Ok(None),
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        Some((other, _)) => return Err(invalid(format!("invalid healthcheck type {other:?}"))),
    };
    if command.is_empty() {
        return Err(invalid("the healthcheck has no command"));
    }
    let mut h = berth_shim::spec::HealthSpec {
        test: command,
        ..Default::default()
    };
    let duration = |k: &str| -> Result<Option<u64>> {
        match v.get(k).and_then(|d| d.as_i64()) {
            None | Some(0) => Ok(None),
            Some(d) if d < 1_000_000 => Err(invalid(format!(
                "{k} in Healthcheck cannot be less than 1ms"
            ))),
            Some(d) => Ok(Some(d as u64)),
        }
    };
    if let Some(d) = duration("Interval")? {
        h.interval_ns = d;
    }
    if let Some(d) = duration("Timeout")? {
        h.timeout_ns = d;
    }
    if let Some(d) = duration("StartPeriod")? {
        h.start_period_ns = d;
    }
    if let Some(d) = duration("StartInterval")? {
        h.start_interval_ns = d;
    }
    match v.get("Retries").and_then(|r| r.as_i64()) {
        Some(r) if r < 0 => return Err(invalid("Retries in Healthcheck cannot be negative")),
        Some(r) if r > 0 => h.retries = r as u32,
        _ => {}
    }
    Ok(Some(h))
}

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

/// The resources part of HostConfig, checked as dockerd checks it.
pub fn resources(h: &super::HostConfig) -> Result<berth_shim::spec::Resources> {
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
    })
}

/// SecurityOpt: the seccomp profile, no_new_privileges, and the AppArmor profile to apply
/// (`enabled`: whether the host enforces AppArmor; `host`: where its state is).
fn security_opts(
    opts: &[String],
    privileged: bool,
    root: &std::path::Path,
    enabled: bool,
    host: &super::apparmor::Host,
) -> Result<(SeccompSpec, bool, Option<String>)> {
    let mut seccomp = SeccompSpec::Default;
    let mut nnp = false;
    let mut apparmor = Vec::new();
    for o in opts {
        let (k, v) = o
            .split_once('=')
            .or_else(|| o.split_once(':'))
            .unwrap_or((o.as_str(), ""));
        match k {
            "no-new-privileges" => {
                nnp = v.is_empty() || v == "true";
                if !matches!(v, "" | "true" | "false") {
                    return Err(invalid(format!("invalid --security-opt 2: {o:?}")));
                }
            }
            "seccomp" if v == "unconfined" => seccomp = SeccompSpec::Unconfined,
            "seccomp" if v == "builtin" || v.is_empty() => seccomp = SeccompSpec::Default,
            // The docker CLI reads the profile file and sends its content.
            "seccomp" => seccomp = SeccompSpec::Profile(v.to_string()),
            "label" => super::boundary::label(o)?,
            "apparmor" => apparmor.push(v),
            _ => return Err(invalid(format!("invalid --security-opt 1: {o:?}"))),
        }
    }
    // Where AppArmor is on: the default loaded if need be, a named profile found loaded.
    let apparmor = super::apparmor::for_container(&apparmor, privileged, enabled, root, host)?;
    Ok((seccomp, nnp, apparmor))
}

fn log_spec(kind: &str, config: &std::collections::BTreeMap<String, String>) -> Result<LogSpec> {
    let driver = match kind {
        "" | "json-file" => "json-file",
        "none" => "none",
        other => {
            return Err(invalid(format!(
                "failed to create task for container: logging driver {other:?} is not supported by berth (json-file, none)"
            )))
        }
    };
    let mut spec = LogSpec {
        driver: driver.to_string(),
        ..LogSpec::default()
    };
    for (k, v) in config {
        match k.as_str() {
            "max-size" => {
                spec.max_size =
                    parse_size(v).ok_or_else(|| invalid(format!("invalid max-size: {v}")))?
            }
            "max-file" => {
                spec.max_file = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| invalid(format!("invalid max-file: {v}")))?
            }
            "compress" | "labels" | "env" | "tag" | "mode" | "max-buffer-size" => {}
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )))
            }
        }
    }
    if spec.max_file > 1 && spec.max_size == 0 {
        return Err(invalid("max-file cannot be set without max-size"));
    }
    Ok(spec)
}

/// "10m", "1g", "512k", "100" (bytes), as Docker's units.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

fn namespaces(
    h: &super::HostConfig,
    root: &std::path::Path,
) -> Result<berth_shim::spec::Namespaces> {
    // `container:<name>` is resolved at every start (lifecycle::resolve_joins); here the
    // other container must exist.
    let join_container = |_kind: &str, reference: &str| -> Result<NsMode> {
        let engine = Engine::new(berth_shim::Paths::new(root, "/nonexistent"));
        engine
            .lookup(reference)
            .map_err(|_| invalid(format!("No such container: {reference}")))?;
        Ok(NsMode::Private)
    };
    let mode = |value: &str, kind: &str| -> Result<NsMode> {
        match value {
            "" | "private" | "default" | "bridge" | "none" | "shareable" => Ok(NsMode::Private),
            "host" => Ok(NsMode::Host),
            v => match v.strip_prefix("container:") {
                Some(c) => join_container(kind, c),
                None if kind == "net" => Ok(NsMode::Private),
                None => Err(invalid(format!("invalid {kind} mode: {v}"))),
            },
        }
    };
    super::boundary::userns(h)?;
    Ok(berth_shim::spec::Namespaces {
        pid: mode(&h.pid_mode, "pid")?,
        net: mode(&h.network_mode, "net")?,
        ipc: mode(&h.ipc_mode, "ipc")?,
        uts: mode(&h.uts_mode, "uts")?,
        cgroup: super::boundary::cgroupns(h)?,
        user: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where AppArmor is on, the spec carries the profile the shim puts the process under.
    #[test]
    fn the_spec_carries_the_apparmor_profile_where_apparmor_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let host = super::super::apparmor::Host {
            profiles: dir.path().join("profiles"),
            parser: "true".into(),
            boot_id: dir.path().join("boot_id"),
        };
        std::fs::write(&host.profiles, "mine (enforce)\n").unwrap();
        std::fs::write(&host.boot_id, "boot-1\n").unwrap();
        let root = dir.path().join("root");
        let opts = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (o, privileged, enabled, want) in [
            (opts(&["apparmor=mine"]), false, true, Some("mine")),
            (opts(&[]), false, true, Some("berth-default")),
            (opts(&["apparmor=unconfined"]), false, true, None),
            (opts(&[]), true, true, None),
            (opts(&["apparmor=mine"]), false, false, None),
            (opts(&[]), false, false, None),
        ] {
            let got = security_opts(&o, privileged, &root, enabled, &host).map(|(_, _, p)| p);
            assert_eq!(
                got,
                Ok(want.map(str::to_string)),
                "{o:?}, privileged {privileged}, AppArmor on {enabled}: expected the profile {want:?}"
            );
        }
    }

    #[test]
    fn sizes_in_dockers_units() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("x"), None);
    }

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
        let mut h = super::super::HostConfig {
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
