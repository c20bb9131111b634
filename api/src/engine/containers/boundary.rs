//! What create refuses at the container boundary: sysctls outside the container's own
//! namespaces, namespace modes and security options berth cannot honour (names bound for
//! /etc/hosts are checked in `engine/hostnames.rs`). Each check answers dockerd's (or runc's)
//! words with a 400.

use crate::engine::wire::HostConfig;
use crate::engine::{EngineError, Result};
use berth_shim::spec::NsMode;
use std::collections::BTreeMap;

fn invalid(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// The IPC sysctls the kernel keeps per IPC namespace (runc's list).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Sysctls the container may set, as runc decides: those of its own IPC, network and UTS
/// namespaces. Refused with runc's words (which dockerd shows at start) but at create, as 400.
pub fn sysctls(
    h: &HostConfig,
    ns: &berth_shim::spec::Namespaces,
) -> Result<BTreeMap<String, String>> {
    let map = h.sysctls.clone().unwrap_or_default();
    for (k, v) in &map {
        let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if k.is_empty() || !k.chars().all(word) || k.split('.').any(str::is_empty) {
            return Err(invalid(format!("invalid sysctl key {k:?}")));
        }
        if v.chars().any(|c| c.is_control() && c != '\t') {
            return Err(invalid(format!("invalid value for sysctl {k:?}: {v:?}")));
        }
        let private = |m: &NsMode| *m == NsMode::Private;
        if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if !private(&ns.ipc) {
                return Err(invalid(format!(
                    "sysctl {k:?} is not allowed in the hosts ipc namespace"
                )));
            }
        } else if k.starts_with("net.") {
            if !private(&ns.net) || h.network_mode.starts_with("container:") {
                return Err(invalid(format!(
                    "sysctl {k:?} not allowed in host network namespace"
                )));
            }
        } else if k == "kernel.domainname" && private(&ns.uts) {
        } else if k == "kernel.hostname" && private(&ns.uts) {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed as it conflicts with the OCI \"hostname\" field"
            )));
        } else {
            return Err(invalid(format!(
                "sysctl {k:?} is not in a separate kernel namespace"
            )));
        }
    }
    Ok(map)
}

/// CgroupnsMode: "" and "private" make a namespace rooted at the container's cgroup, "host"
/// keeps the host's.
pub fn cgroupns(h: &HostConfig) -> Result<NsMode> {
    match h.cgroupns_mode.as_str() {
        "" | "private" => Ok(NsMode::Private),
        "host" => Ok(NsMode::Host),
        other => Err(invalid(format!("invalid cgroup namespace mode: {other}"))),
    }
}

/// The `label=` security options (SELinux): honoured only where SELinux is enabled, which
/// berth does not support, so always refused.
pub fn label(opt: &str) -> Result<()> {
    Err(invalid(format!(
        "invalid --security-opt {opt:?}: SELinux is not enabled on this host (berth does not apply SELinux labels)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_with(sysctls: serde_json::Value, network_mode: &str) -> HostConfig {
        HostConfig {
            network_mode: network_mode.into(),
            sysctls: Some(serde_json::from_value(sysctls).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn sysctls_in_the_containers_namespaces_only() {
        let private = berth_shim::spec::Namespaces::default();
        let host_net = berth_shim::spec::Namespaces {
            net: NsMode::Host,
            ..Default::default()
        };
        let ok = serde_json::json!({"kernel.shmmax": "1000000", "fs.mqueue.msg_max": "20",
                                    "net.ipv4.ip_unprivileged_port_start": "80",
                                    "kernel.domainname": "x"});
        assert_eq!(
            sysctls(&host_with(ok.clone(), "bridge"), &private).map(|m| m.len()),
            Ok(4)
        );
        let refusals = [
            ("vm.swappiness", "bridge", &private, "sysctl \"vm.swappiness\" is not in a separate kernel namespace"),
            ("kernel.hostname", "bridge", &private, "sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field"),
            ("net.ipv4.ip_forward", "host", &host_net, "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"),
            ("net/../../x", "bridge", &private, "invalid sysctl key \"net/../../x\""),
            ("net..x", "bridge", &private, "invalid sysctl key \"net..x\""),
        ];
        for (k, mode, ns, text) in refusals {
            let h = host_with(serde_json::json!({ k: "1" }), mode);
            assert_eq!(
                sysctls(&h, ns),
                Err(invalid(text.into())),
                "{k} with {mode}"
            );
        }
    }

    #[test]
    fn namespace_modes() {
        let mut h = HostConfig::default();
        assert_eq!(cgroupns(&h), Ok(NsMode::Private));
        h.cgroupns_mode = "host".into();
        assert_eq!(cgroupns(&h), Ok(NsMode::Host));
        h.cgroupns_mode = "other".into();
        assert!(cgroupns(&h).is_err());
    }
}
