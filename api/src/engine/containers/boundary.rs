//! What create refuses at the container boundary: names bound for /etc/hosts that would break
//! its lines, sysctls outside the container's own namespaces, namespace modes and security
//! options berth cannot honour. Each check answers dockerd's (or runc's) words with a 400.

use super::HostConfig;
use crate::engine::{EngineError, Result};
use berth_shim::spec::NsMode;
use std::collections::BTreeMap;

fn invalid(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// A character that cannot sit inside one field of a hosts line: whitespace, a control
/// character, or `#` (which starts a comment).
fn breaks_a_hosts_line(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '#'
}

/// Hostname and Domainname: letters, digits, `.`, `-` and `_`, at most 255 bytes.
pub fn hostname(name: &str) -> Result<()> {
    let ok = name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid hostname format: {name}")))
    }
}

/// One ExtraHosts entry, `name:ip` (dockerd's `opts.ValidateExtraHost`; the address may be
/// IPv6, so only the first `:` splits).
pub fn extra_host(entry: &str) -> Result<()> {
    let (_, ip) = entry
        .split_once(':')
        .filter(|(n, _)| !n.is_empty() && !n.chars().any(breaks_a_hosts_line))
        .ok_or_else(|| invalid(format!("bad format for add-host: {entry:?}")))?;
    if ip == berth_shim::net::hosts::HOST_GATEWAY {
        // Written as the gateway's address into /etc/hosts (`net::hosts`).
        return Ok(());
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    bare.parse::<std::net::IpAddr>()
        .map_err(|_| invalid(format!("invalid IP address in add-host: {ip:?}")))?;
    Ok(())
}

/// A network-scoped alias: one word of a hosts line and of a DNS answer.
pub fn alias(a: &str) -> Result<()> {
    if a.is_empty() || a.chars().any(breaks_a_hosts_line) {
        return Err(invalid(format!(
            "invalid alias {a:?}: an alias is one word"
        )));
    }
    Ok(())
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
    let Some(map) = h.extra.get("Sysctls").filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, String> = serde_json::from_value(map.clone())
        .map_err(|e| invalid(format!("invalid Sysctls: {e}")))?;
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
    match h
        .extra
        .get("CgroupnsMode")
        .and_then(|v| v.as_str())
        .unwrap_or("")
    {
        "" | "private" => Ok(NsMode::Private),
        "host" => Ok(NsMode::Host),
        other => Err(invalid(format!("invalid cgroup namespace mode: {other}"))),
    }
}

/// UsernsMode: berth runs containers in the host's user namespace; anything else is refused
/// until it makes user namespaces of its own.
pub fn userns(h: &HostConfig) -> Result<()> {
    match h
        .extra
        .get("UsernsMode")
        .and_then(|v| v.as_str())
        .unwrap_or("")
    {
        "" | "host" => Ok(()),
        other => Err(invalid(format!(
            "invalid USER mode: {other}: berth does not support user namespaces"
        ))),
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

    #[test]
    fn hostnames_with_line_breaks_are_refused() {
        assert!(hostname("web-1.example_x").is_ok());
        for bad in ["a\nb", "a b", "a\tb", "a#b", &"x".repeat(256)] {
            assert_eq!(
                hostname(bad),
                Err(invalid(format!("invalid hostname format: {bad}"))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extra_hosts_as_dockerd_checks_them() {
        for good in ["db:10.0.0.1", "v6:::1", "v6b:[fe80::1]"] {
            assert_eq!(extra_host(good), Ok(()), "{good}");
        }
        assert_eq!(
            extra_host("db:10.0.0.1\n6.6.6.6 evil"),
            Err(invalid(
                r#"invalid IP address in add-host: "10.0.0.1\n6.6.6.6 evil""#.into()
            ))
        );
        assert_eq!(
            extra_host("a\nb:10.0.0.1"),
            Err(invalid(
                r#"bad format for add-host: "a\nb:10.0.0.1""#.into()
            ))
        );
        assert!(extra_host("nocolon").is_err());
        assert!(extra_host("gw:host-gateway").is_ok());
    }

    #[test]
    fn aliases_are_one_word() {
        assert_eq!(alias("db.local"), Ok(()));
        for bad in ["", "a b", "a\nb", "a#b"] {
            assert!(alias(bad).is_err(), "{bad:?}");
        }
    }

    fn host_with(sysctls: serde_json::Value, network_mode: &str) -> HostConfig {
        let mut h = HostConfig {
            network_mode: network_mode.into(),
            ..Default::default()
        };
        h.extra.insert("Sysctls".into(), sysctls);
        h
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
        assert_eq!(userns(&h), Ok(()));
        h.extra.insert("CgroupnsMode".into(), "host".into());
        h.extra.insert("UsernsMode".into(), "private".into());
        assert_eq!(cgroupns(&h), Ok(NsMode::Host));
        assert!(userns(&h).is_err());
        h.extra.insert("CgroupnsMode".into(), "other".into());
        assert!(cgroupns(&h).is_err());
    }
}
