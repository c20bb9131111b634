//! The process part of the spec: the command, environment, user, directory, labels and stop
//! signal, the request's over the image's, and the process's limits.

use super::invalid;
use crate::engine::ids::ContainerId;
use crate::engine::images::ImageConfig;
use crate::engine::wire::{DockerConfig, HostConfig};
use crate::engine::Result;
use berth_shim::spec::{ProcessSpec, Rlimit};
use std::collections::BTreeMap;

/// The prefix of the labels that steer berth (the monitor, policies, bandwidth).
const BERTH_LABELS: &str = "berth.";

/// The request merged with the image's config, as dockerd merges them.
pub(super) struct Merged {
    /// Entrypoint and Cmd, which the record keeps apart.
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// The command's first word and the rest, as the record keeps them.
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub hostname: String,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
}

/// Merge the request with the image, checked in this order: the command, the container's
/// names, the working directory, the stop signal.
pub(super) fn merge(
    id: &ContainerId,
    c: &DockerConfig,
    h: &HostConfig,
    ic: &ImageConfig,
) -> Result<Merged> {
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

    let hostname = super::network::hostname(id, c, h)?;
    let env = env(c, ic, &hostname);
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
    Ok(Merged {
        entrypoint,
        cmd,
        path,
        args,
        env,
        hostname,
        working_dir,
        user,
        labels,
        stop_signal,
    })
}

/// Env: the image's, then the request's, a later KEY replacing an earlier one; PATH and
/// HOSTNAME added when neither sets them.
fn env(c: &DockerConfig, ic: &ImageConfig, hostname: &str) -> Vec<String> {
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
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    env
}

/// Ulimits, checked.
pub(super) fn rlimits(h: &HostConfig) -> Result<Vec<Rlimit>> {
    h.ulimits
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
        .collect()
}

/// The process the shim runs, from the merged config, the request's terminal and limits, and
/// its security.
pub(super) fn spec(
    m: &Merged,
    c: &DockerConfig,
    h: &HostConfig,
    rlimits: Vec<Rlimit>,
    security: super::security::Security,
) -> ProcessSpec {
    let console_size = h
        .console_size
        .as_ref()
        .filter(|s| s.len() == 2 && s[0] > 0 && s[1] > 0)
        .map(|s| (s[0], s[1]));
    ProcessSpec {
        args: std::iter::once(m.path.clone())
            .chain(m.args.iter().cloned())
            .collect(),
        env: m.env.clone(),
        cwd: m.working_dir.clone(),
        user: m.user.clone(),
        additional_groups: h.group_add.clone().unwrap_or_default(),
        tty: c.tty,
        open_stdin: c.open_stdin,
        stdin_once: c.stdin_once,
        console_size,
        rlimits,
        no_new_privileges: security.no_new_privileges,
        cap_add: security.cap_add,
        cap_drop: security.cap_drop,
        privileged: h.privileged,
        seccomp: security.seccomp,
        apparmor_profile: security.apparmor_profile,
        init: h.init.unwrap_or(false),
        stop_signal: m.stop_signal.clone(),
        stop_timeout: c.stop_timeout.unwrap_or(10).clamp(0, u32::MAX as i64) as u32,
        // Set by translate once its range is checked.
        oom_score_adj: None,
        // Set at every start from the linked containers.
        link_env: Vec::new(),
    }
}
