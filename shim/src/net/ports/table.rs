//! The nftables tables that forward a root's published ports: `ip berthp_<hash>` for IPv4 host
//! addresses and `ip6 berthp_<hash>` (the same name, the other family) for IPv6 ones, each with
//! the base chains of the module's description and a rule per published port that carries the
//! container's id in its comment.

use super::{PortError, Published, Result};
use crate::fsutil::FileLock;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a container's traffic goes: its address on its network and the host's side of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// On a network with IPv6: the container's IPv6 address and the subnet's prefix length.
    pub ip6: Option<(Ipv6Addr, u8)>,
    /// The network's bridge.
    pub bridge: String,
    /// The host's end of the container's veth pair (a port of the bridge).
    pub host_veth: String,
}

/// A short stable hash (FNV-1a, 32 bits) in hex, for names of kernel objects made per root.
pub fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The nftables families of the tables: IPv4, IPv6.
const FAMILIES: [&str; 2] = ["ip", "ip6"];

/// The base chains of a table of `family`, each with one fixed rule (IPv6 needs no guard: the
/// kernel drops a packet for ::1 that arrives on another interface than lo).
fn base_chains(family: &str) -> &'static [&'static str] {
    if family == "ip" {
        &["guard", "prerouting", "output", "postrouting"]
    } else {
        &["prerouting", "output", "postrouting"]
    }
}

fn is_v6(ip: &str) -> bool {
    ip.contains(':')
}

/// The nftables tables of one berth root.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    lock: PathBuf,
}

/// What a rule's comment says: who made it, and for which host port.
#[derive(Debug, PartialEq)]
struct Owner<'a> {
    id: &'a str,
    port: Option<(&'a str, &'a str, u16)>,
}

fn parse_comment(c: &str) -> Option<Owner<'_>> {
    let mut f = c.split(' ');
    let id = f.next().filter(|s| !s.is_empty())?;
    let port = match (f.next(), f.next(), f.next()) {
        (Some(proto), Some(ip), Some(port)) => Some((proto, ip, port.parse().ok()?)),
        _ => None,
    };
    Some(Owner { id, port })
}

/// Whether a rule for (proto, ip, port) of another container is stale, given that `p` holds its
/// host port now: both cannot hold it, so the other's owner is gone.
fn clashes(other: (&str, &str, u16), p: &Published) -> bool {
    let (proto, ip, port) = other;
    let any = |a: &str| a == "0.0.0.0" || a == "::";
    proto == p.proto
        && port == p.host_port
        && is_v6(ip) == is_v6(&p.host_ip)
        && (ip == p.host_ip || any(ip) || any(&p.host_ip))
}

/// A rule of a table: (chain, handle, comment).
type Rule = (String, u64, String);

impl Table {
    /// The tables for the berth root `root`; changes to them are serialized by
    /// `<root>/ports.lock`.
    pub fn for_root(root: &Path) -> Table {
        Table {
            name: format!("berthp_{}", short_hash(&root.display().to_string())),
            lock: root.join("ports.lock"),
        }
    }

    fn locked(&self) -> Result<FileLock> {
        if let Some(dir) = self.lock.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        FileLock::acquire(&self.lock).map_err(|source| PortError::Lock {
            path: self.lock.clone(),
            source,
        })
    }

    /// The skeleton of the table of `family`, made or made again (the base chains are flushed
    /// and refilled, the containers' chains are left as they are).
    fn skeleton(&self, f: &str) -> String {
        let t = &self.name;
        let mut s = format!(
            "add table {f} {t}\n\
             add chain {f} {t} prerouting {{ type nat hook prerouting priority -100; policy accept; }}\n\
             add chain {f} {t} output {{ type nat hook output priority -100; policy accept; }}\n\
             add chain {f} {t} postrouting {{ type nat hook postrouting priority 100; policy accept; }}\n\
             add chain {f} {t} ports\n\
             add chain {f} {t} masq\n\
             flush chain {f} {t} prerouting\n\
             flush chain {f} {t} output\n\
             flush chain {f} {t} postrouting\n\
             add rule {f} {t} prerouting fib daddr type local jump ports\n\
             add rule {f} {t} output fib daddr type local jump ports\n\
             add rule {f} {t} postrouting ct status dnat jump masq\n"
        );
        if f == "ip" {
            s.push_str(&format!(
                "add chain ip {t} guard {{ type filter hook prerouting priority -300; policy accept; }}\n\
                 flush chain ip {t} guard\n\
                 add rule ip {t} guard iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n"
            ));
        }
        s
    }

    /// The rules of the table of `family`; None when there is no such table.
    fn rules(&self, family: &str) -> Result<Option<Vec<Rule>>> {
        let out = Command::new("nft")
            .args(["-j", "-a", "list", "table", family, &self.name])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(PortError::Spawn)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if stderr.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(PortError::Nft {
                what: "listing",
                stderr,
            });
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(PortError::Listing)?;
        Ok(Some(
            v["nftables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let r = e.get("rule")?;
                    let chain = r.get("chain")?.as_str()?;
                    Some((
                        chain.to_string(),
                        r.get("handle")?.as_u64()?,
                        r.get("comment")
                            .and_then(|c| c.as_str())
                            .unwrap_or("")
                            .to_string(),
                    ))
                })
                .collect(),
        ))
    }

    /// Whether the base chains hold their one rule each (else the skeleton is written again).
    fn skeleton_complete(family: &str, rules: &[Rule]) -> bool {
        base_chains(family)
            .iter()
            .all(|c| rules.iter().filter(|(chain, _, _)| chain == c).count() == 1)
    }

    fn apply(&self, what: &'static str, script: &str) -> Result<()> {
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(PortError::Spawn)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(PortError::Spawn)?;
        }
        let out = child.wait_with_output().map_err(PortError::Spawn)?;
        if !out.status.success() {
            return Err(PortError::Nft {
                what,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Deletions, in the table of `family`, for the rules of container `id` and for other
    /// containers' rules that clash with `published`.
    fn deletions(&self, family: &str, rules: &[Rule], id: &str, published: &[Published]) -> String {
        let mut script = String::new();
        for (chain, handle, comment) in rules {
            if chain != "ports" && chain != "masq" {
                continue;
            }
            let Some(owner) = parse_comment(comment) else {
                continue;
            };
            let stale = owner
                .port
                .is_some_and(|o| published.iter().any(|p| clashes(o, p)));
            if owner.id == id || stale {
                script.push_str(&format!(
                    "delete rule {family} {} {chain} handle {handle}\n",
                    self.name
                ));
            }
        }
        script
    }

    /// The rules forwarding `published` (those of `family`) to the container at `ep`.
    fn additions(&self, family: &str, id: &str, ep: &Endpoint, published: &[Published]) -> String {
        let t = &self.name;
        let mut script = String::new();
        let (ip, ip_kw, net) = if family == "ip" {
            let net = Ipv4Addr::from(
                u32::from(ep.ip)
                    & u32::MAX
                        .checked_shl(32 - u32::from(ep.prefix_len))
                        .unwrap_or(0),
            );
            (
                ep.ip.to_string(),
                "ip",
                format!("127.0.0.0/8, {net}/{}", ep.prefix_len),
            )
        } else {
            let Some((ip6, len)) = ep.ip6 else {
                return script;
            };
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            let net = Ipv6Addr::from(u128::from(ip6) & mask);
            (format!("[{ip6}]"), "ip6", format!("::1, {net}/{len}"))
        };
        let mine: Vec<&Published> = published
            .iter()
            .filter(|p| is_v6(&p.host_ip) == (family == "ip6"))
            .collect();
        for p in &mine {
            let daddr = if p.host_ip == "0.0.0.0" || p.host_ip == "::" {
                String::new()
            } else {
                format!("{ip_kw} daddr {} ", p.host_ip)
            };
            script.push_str(&format!(
                "add rule {family} {t} ports {daddr}{proto} dport {port} dnat to {ip}:{cport} comment \"{id} {proto} {hip} {port}\"\n",
                proto = p.proto,
                port = p.host_port,
                cport = p.container_port,
                hip = p.host_ip,
            ));
        }
        if !mine.is_empty() {
            let bare = ip.trim_start_matches('[').trim_end_matches(']');
            script.push_str(&format!(
                "add rule {family} {t} masq oifname \"{br}\" {ip_kw} daddr {bare} {ip_kw} saddr {{ {net} }} masquerade comment \"{id}\"\n",
                br = ep.bridge,
            ));
        }
        script
    }

    /// Forward `published` to the container at `ep` (replacing what the container had).
    pub fn install(&self, id: &str, ep: &Endpoint, published: &[Published]) -> Result<()> {
        let _lock = self.locked()?;
        // Loopback sources may leave through the bridge (then be masqueraded), as dockerd
        // allows them without its userland proxy; a container reaches itself through the host
        // only if the bridge sends its packets back out of the port they came in by.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/route_localnet", ep.bridge),
            "1",
        );
        let _ = std::fs::write(
            format!("/sys/class/net/{}/brport/hairpin_mode", ep.host_veth),
            "1",
        );
        // One transaction: each table's skeleton when it is not whole (a first use, or someone
        // flushed a chain), the old rules out, the new ones in. The IPv6 table is made only
        // for IPv6 host addresses.
        let mut script = String::new();
        for family in FAMILIES {
            let wanted = published
                .iter()
                .any(|p| is_v6(&p.host_ip) == (family == "ip6"));
            let rules = self.rules(family)?;
            if rules.is_none() && !wanted {
                continue;
            }
            let rules = rules.unwrap_or_default();
            if !Self::skeleton_complete(family, &rules) {
                script.push_str(&self.skeleton(family));
            }
            script.push_str(&self.deletions(family, &rules, id, published));
            script.push_str(&self.additions(family, id, ep, published));
        }
        if script.is_empty() {
            return Ok(());
        }
        self.apply("adding the container's rules", &script)
    }

    /// Remove the rules of container `id` (nothing to do when there are none, or no table).
    pub fn remove(&self, id: &str) -> Result<()> {
        let _lock = self.locked()?;
        let mut script = String::new();
        for family in FAMILIES {
            if let Some(rules) = self.rules(family)? {
                script.push_str(&self.deletions(family, &rules, id, &[]));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        self.apply("removing the container's rules", &script)
    }

    /// The comments of the containers' rules, both families (for tests and diagnostics).
    pub fn comments(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for family in FAMILIES {
            let rules = self.rules(family)?.unwrap_or_default();
            out.extend(
                rules
                    .into_iter()
                    .filter(|(chain, _, _)| chain == "ports" || chain == "masq")
                    .map(|(_, _, c)| c),
            );
        }
        Ok(out)
    }

    /// Delete both tables (a root that goes away, or a test that ends).
    pub fn delete(&self) -> Result<()> {
        let _lock = self.locked()?;
        let mut script = String::new();
        for family in FAMILIES {
            if self.rules(family)?.is_some() {
                script.push_str(&format!("delete table {family} {}\n", self.name));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        self.apply("deleting the table", &script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(proto: &str, ip: &str, port: u16) -> Published {
        Published {
            proto: proto.into(),
            container_port: 80,
            host_ip: ip.into(),
            host_port: port,
        }
    }

    #[test]
    fn comments_name_the_owner_and_the_port() {
        assert_eq!(
            parse_comment("abc tcp 0.0.0.0 8080"),
            Some(Owner {
                id: "abc",
                port: Some(("tcp", "0.0.0.0", 8080))
            })
        );
        assert_eq!(
            parse_comment("abc"),
            Some(Owner {
                id: "abc",
                port: None
            })
        );
        assert_eq!(parse_comment(""), None);
    }

    #[test]
    fn a_rule_is_stale_when_its_port_is_held_by_another() {
        let held = p("tcp", "0.0.0.0", 8080);
        assert!(clashes(("tcp", "0.0.0.0", 8080), &held));
        assert!(clashes(("tcp", "127.0.0.1", 8080), &held));
        assert!(!clashes(("udp", "0.0.0.0", 8080), &held));
        assert!(!clashes(("tcp", "0.0.0.0", 8081), &held));
        let lo = p("tcp", "127.0.0.1", 8080);
        assert!(clashes(("tcp", "0.0.0.0", 8080), &lo));
        assert!(!clashes(("tcp", "192.0.2.2", 8080), &lo));
        let any6 = p("tcp", "::", 8080);
        assert!(
            clashes(("tcp", "::1", 8080), &any6),
            "expected [::1] stale when [::] is held"
        );
        assert!(
            !clashes(("tcp", "127.0.0.1", 8080), &any6),
            "expected the families apart"
        );
    }

    #[test]
    fn ipv6_host_addresses_go_to_the_ip6_table_and_the_v6_address() {
        let t = Table::for_root(Path::new("/tmp/t"));
        let ep = Endpoint {
            ip: Ipv4Addr::new(10, 9, 0, 2),
            prefix_len: 24,
            ip6: Some(("fd00:9::2".parse().unwrap(), 64)),
            bridge: "br-x".into(),
            host_veth: "vbx".into(),
        };
        let published = [p("tcp", "0.0.0.0", 8080), p("tcp", "::1", 8081)];
        let v4 = t.additions("ip", "c1", &ep, &published);
        let v6 = t.additions("ip6", "c1", &ep, &published);
        assert!(
            v4.contains("tcp dport 8080 dnat to 10.9.0.2:80") && !v4.contains("8081"),
            "expected only the IPv4 binding in the ip table:\n{v4}"
        );
        assert!(
            v6.contains("ip6 daddr ::1 tcp dport 8081 dnat to [fd00:9::2]:80")
                && v6.contains("ip6 daddr fd00:9::2 ip6 saddr { ::1, fd00:9::/64 } masquerade")
                && !v6.contains("8080"),
            "expected the [::1] binding DNATed to the IPv6 address:\n{v6}"
        );
        let none = Endpoint { ip6: None, ..ep };
        assert_eq!(t.additions("ip6", "c1", &none, &published), "");
    }

    #[test]
    fn table_names_are_per_root_and_stable() {
        let a = Table::for_root(Path::new("/var/lib/berth"));
        let b = Table::for_root(Path::new("/tmp/other"));
        assert_ne!(a.name, b.name);
        assert_eq!(a.name, Table::for_root(Path::new("/var/lib/berth")).name);
        assert!(a.name.len() <= 15 && a.name.starts_with("berthp_"));
    }
}
