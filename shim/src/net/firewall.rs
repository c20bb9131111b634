//! This root's nftables table, `inet berth-<8 hex digits of a hash of the root path>`, written
//! whole from the network records in one `nft -f` transaction whenever a network appears or
//! goes: outbound masquerade (IPv4, and IPv6 on networks with IPv6) for each network that is
//! not internal, no forwarding between two different networks, and for internal networks no
//! forwarding at all and no packet to any of the host's own addresses (the inet family: these
//! rules hold for IPv6 as for IPv4, enable_icc included). Two roots have two tables, so they never touch each other's rules.
//! Where iptables' FORWARD chain drops (dockerd's), [`super::iptables`] adds the way through.

use super::store::{NetworkRecord, Store};
use super::{NetError, Result};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The table's name for a root.
pub fn table_name(root: &Path) -> String {
    // FNV-1a: stable across builds and machines, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in root.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("berth-{:08x}", (h >> 32) as u32 ^ h as u32)
}

/// The ruleset for these networks (the bridge networks among them), as one nft script that
/// replaces the table atomically.
pub fn ruleset(table: &str, networks: &[NetworkRecord]) -> String {
    let bridges: Vec<&NetworkRecord> = networks
        .iter()
        .filter(|n| n.is_bridge() && !n.bridge.is_empty() && n.subnet().is_some())
        .collect();
    // Creating the table first makes the delete succeed when it did not exist.
    let mut s = format!("table inet {table}\ndelete table inet {table}\n");
    if bridges.is_empty() {
        return s;
    }
    let mut forward = String::new();
    let mut input = String::new();
    let mut nat = String::new();
    for n in &bridges {
        let b = &n.bridge;
        // enable_icc=false: containers of the network do not reach each other.
        let icc = if n.option_off(super::store::OPT_ICC) {
            "drop"
        } else {
            "accept"
        };
        forward.push_str(&format!("    iifname \"{b}\" oifname \"{b}\" {icc}\n"));
        if n.internal {
            forward.push_str(&format!("    iifname \"{b}\" drop\n"));
            forward.push_str(&format!("    oifname \"{b}\" drop\n"));
            input.push_str(&format!("    iifname \"{b}\" fib daddr type local drop\n"));
        } else {
            for other in bridges.iter().filter(|o| o.id != n.id) {
                forward.push_str(&format!(
                    // Published ports (DNAT to a container, `net::ports`) are reachable from
                    // other networks through the host's address, as with dockerd.
                    "    iifname \"{b}\" oifname \"{}\" ct status & dnat == 0 drop\n",
                    other.bridge
                ));
            }
            if let Some(subnet) = n
                .subnet()
                .filter(|_| !n.option_off(super::store::OPT_MASQUERADE))
            {
                nat.push_str(&format!(
                    "    ip saddr {subnet} oifname != \"{b}\" masquerade\n"
                ));
                if let Some(subnet6) = n.subnet6() {
                    nat.push_str(&format!(
                        "    ip6 saddr {subnet6} oifname != \"{b}\" masquerade\n"
                    ));
                }
            }
        }
    }
    s.push_str(&format!("table inet {table} {{\n"));
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str(&forward);
    s.push_str("  }\n");
    s.push_str("  chain input {\n    type filter hook input priority filter; policy accept;\n");
    s.push_str(&input);
    s.push_str("  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    s.push_str(&nat);
    s.push_str("  }\n}\n");
    s
}

/// Write this root's table from its network records; turn on IPv4 forwarding, and IPv6
/// forwarding when a network that is not internal has IPv6 (as dockerd does).
pub fn sync(root: &Path) -> Result<()> {
    let networks = Store::new(root).list();
    if networks.iter().any(|n| n.is_bridge() && !n.internal) {
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    }
    if networks
        .iter()
        .any(|n| n.is_bridge() && !n.internal && n.subnet6().is_some())
    {
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
    }
    let table = table_name(root);
    nft(&ruleset(&table, &networks))?;
    super::iptables::sync(&table, &networks)
}

/// Delete this root's table.
pub fn remove(root: &Path) -> Result<()> {
    let table = table_name(root);
    nft(&ruleset(&table, &[]))?;
    super::iptables::remove(&table)
}

fn nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Firewall(format!("running nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetError::Firewall(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Firewall(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Firewall(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(id: char, subnet: &str, internal: bool) -> NetworkRecord {
        let id: String = std::iter::repeat_n(id, 64).collect();
        NetworkRecord {
            bridge: super::super::bridge_name(&id),
            id,
            driver: "bridge".into(),
            subnet: subnet.into(),
            internal,
            ..NetworkRecord::default()
        }
    }

    #[test]
    fn tables_differ_per_root() {
        let a = table_name(Path::new("/tmp/a"));
        assert_ne!(a, table_name(Path::new("/tmp/b")));
        assert_eq!(a, table_name(Path::new("/tmp/a")));
        assert_eq!(a.len(), "berth-".len() + 8);
    }

    #[test]
    fn networks_are_isolated_and_internal_ones_closed() {
        let s = ruleset(
            "berth-t",
            &[
                net('a', "10.213.0.0/24", false),
                net('b', "10.213.1.0/24", false),
                net('c', "10.213.2.0/24", true),
            ],
        );
        assert!(s.starts_with("table inet berth-t\ndelete table inet berth-t\n"));
        assert!(s.contains(
            "iifname \"br-aaaaaaaaaaaa\" oifname \"br-bbbbbbbbbbbb\" ct status & dnat == 0 drop"
        ));
        assert!(s.contains(
            "iifname \"br-bbbbbbbbbbbb\" oifname \"br-aaaaaaaaaaaa\" ct status & dnat == 0 drop"
        ));
        assert!(s.contains("ip saddr 10.213.0.0/24 oifname != \"br-aaaaaaaaaaaa\" masquerade"));
        assert!(
            !s.contains("ip saddr 10.213.2.0/24"),
            "internal is masqueraded:\n{s}"
        );
        assert!(s.contains("iifname \"br-cccccccccccc\" fib daddr type local drop"));
        assert!(s.contains("oifname \"br-cccccccccccc\" drop"));
        let mut closed = net('d', "10.213.3.0/24", false);
        closed
            .options
            .insert(super::super::store::OPT_ICC.into(), "false".into());
        closed
            .options
            .insert(super::super::store::OPT_MASQUERADE.into(), "false".into());
        let s = ruleset("berth-t", &[closed]);
        assert!(
            s.contains("iifname \"br-dddddddddddd\" oifname \"br-dddddddddddd\" drop"),
            "expected enable_icc=false to drop traffic inside the bridge:\n{s}"
        );
        assert!(
            !s.contains("masquerade"),
            "expected enable_ip_masquerade=false to masquerade nothing:\n{s}"
        );
        let mut v6 = net('e', "10.213.4.0/24", false);
        v6.enable_ipv6 = true;
        v6.subnet6 = "fd00:4::/64".into();
        let s = ruleset("berth-t", &[v6.clone()]);
        assert!(
            s.contains("ip6 saddr fd00:4::/64 oifname != \"br-eeeeeeeeeeee\" masquerade"),
            "expected the IPv6 subnet masqueraded:\n{s}"
        );
        v6.options
            .insert(super::super::store::OPT_MASQUERADE.into(), "false".into());
        let s = ruleset("berth-t", &[v6]);
        assert!(
            !s.contains("masquerade"),
            "expected enable_ip_masquerade=false to masquerade no IPv6 either:\n{s}"
        );
        assert_eq!(
            ruleset("berth-t", &[]),
            "table inet berth-t\ndelete table inet berth-t\n"
        );
    }
}
