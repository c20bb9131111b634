//! Published ports, with no daemon and no proxy.
//!
//! A host port is taken by the kernel, not by a table of ours: the shim binds a socket on
//! `host_ip:host_port` (TCP bound but never listening, UDP bound and never read) and keeps it for
//! the container's life, so two containers (of any berth root, or any other program) can never
//! publish the same port, a port picked at random (bind to port 0) is free for sure, and a shim
//! killed by SIGKILL gives its ports back with its descriptors. Traffic is forwarded by nftables
//! DNAT in a table of the berth root's own (`berthp_<hash of the root>`), in two base chains
//! (prerouting for what arrives, output for what the host sends, loopback included) that jump to
//! the `ports` chain for local destinations, and a postrouting chain that masquerades what was
//! forwarded from loopback or from the container's own network (so replies come back through the
//! host, and a container can reach itself through the host's address). Loopback addresses are
//! routed on the bridge for that (`route_localnet`), so a guard chain drops any packet for
//! 127.0.0.0/8 that arrives from elsewhere than `lo` (a container could otherwise reach the
//! host's loopback services, CVE-2020-8558). Each rule carries the
//! container's id in its comment: a container's rules are removed by id, and a rule left by a
//! shim that died for a port now reserved by another container is removed as stale.

use crate::fsutil::FileLock;
use crate::spec::{PortSpec, Proto};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// dockerd's words for a host port that is taken.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    Allocated { ip: Ipv4Addr, port: u16 },
    #[error("no free port in {ip}:{start}-{end}")]
    RangeFull { ip: Ipv4Addr, start: u16, end: u16 },
    #[error("invalid host IP address {0:?} (berth publishes on IPv4 addresses)")]
    HostIp(String),
    #[error("unsupported protocol {0:?} (tcp, udp)")]
    Proto(String),
    #[error("reserving {ip}:{port}/{proto}: {source}")]
    Reserve {
        ip: Ipv4Addr,
        port: u16,
        proto: String,
        source: std::io::Error,
    },
    #[error("locking {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("running nft: {0}")]
    Spawn(std::io::Error),
    #[error("nft {what}: {stderr}")]
    Nft { what: &'static str, stderr: String },
    #[error("reading nft's listing: {0}")]
    Listing(serde_json::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, PortError>;

/// A port as it is published: what `docker port` and NetworkSettings.Ports show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    pub proto: String,
    pub container_port: u16,
    /// "0.0.0.0" for all of the host's addresses.
    pub host_ip: String,
    pub host_port: u16,
}

/// The host ports a container holds, for as long as this lives.
#[derive(Debug)]
pub struct Reservation {
    _sockets: Vec<Socket>,
    pub published: Vec<Published>,
}

fn host_ip(spec: &PortSpec) -> Result<Ipv4Addr> {
    if spec.host_ip.is_empty() {
        return Ok(Ipv4Addr::UNSPECIFIED);
    }
    spec.host_ip
        .parse()
        .map_err(|_| PortError::HostIp(spec.host_ip.clone()))
}

/// Bind one socket on ip:port (0: the kernel picks); the port it got.
fn bind(ip: Ipv4Addr, port: u16, proto: Proto) -> std::io::Result<(Socket, u16)> {
    let kind = if proto == Proto::Udp {
        Type::DGRAM
    } else {
        Type::STREAM
    };
    // Close-on-exec (socket2's default); no SO_REUSEADDR: a socket that holds a port must keep
    // everyone else off it.
    let s = Socket::new(Domain::IPV4, kind, None)?;
    s.bind(&SocketAddrV4::new(ip, port).into())?;
    let got = s.local_addr()?.as_socket_ipv4().map_or(port, |a| a.port());
    Ok((s, got))
}

/// Take every host port the container publishes, or none (the first one taken elsewhere fails
/// the whole reservation with dockerd's error, and what was bound is let go).
pub fn reserve(specs: &[PortSpec]) -> Result<Reservation> {
    let mut sockets = Vec::new();
    let mut published = Vec::new();
    for spec in specs {
        if spec.proto == Proto::Sctp {
            return Err(PortError::Proto(spec.proto.to_string()));
        }
        let ip = host_ip(spec)?;
        let reserve_error = |port, source| PortError::Reserve {
            ip,
            port,
            proto: spec.proto.to_string(),
            source,
        };
        let (fd, port) = if spec.host_port_end > spec.host_port && spec.host_port > 0 {
            let mut got = None;
            for port in spec.host_port..=spec.host_port_end {
                match bind(ip, port, spec.proto) {
                    Ok(b) => {
                        got = Some(b);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                    Err(e) => return Err(reserve_error(port, e)),
                }
            }
            got.ok_or(PortError::RangeFull {
                ip,
                start: spec.host_port,
                end: spec.host_port_end,
            })?
        } else {
            match bind(ip, spec.host_port, spec.proto) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(PortError::Allocated {
                        ip,
                        port: spec.host_port,
                    })
                }
                Err(e) => return Err(reserve_error(spec.host_port, e)),
            }
        };
        sockets.push(fd);
        published.push(Published {
            proto: spec.proto.to_string(),
            container_port: spec.container_port,
            host_ip: ip.to_string(),
            host_port: port,
        });
    }
    Ok(Reservation {
        _sockets: sockets,
        published,
    })
}

/// `<run dir>/ports.json`: the ports a live container publishes, written by its shim.
pub fn published_file(run_dir: &Path) -> PathBuf {
    run_dir.join("ports.json")
}

/// The published ports recorded for a container (empty when none are).
pub fn read_published(run_dir: &Path) -> Vec<Published> {
    std::fs::read(published_file(run_dir))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default()
}

pub fn write_published(run_dir: &Path, published: &[Published]) -> Result<()> {
    let path = published_file(run_dir);
    let data = serde_json::to_vec(published).unwrap_or_default();
    crate::fsutil::write_atomic(&path, &data).map_err(|source| PortError::Write { path, source })
}

/// Where a container's traffic goes: its address on its network and the host's side of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
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

/// The base chains of a table, each with one fixed rule.
const BASE_CHAINS: [&str; 4] = ["guard", "prerouting", "output", "postrouting"];

/// The nftables table of one berth root.
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
    proto == p.proto
        && port == p.host_port
        && (ip == p.host_ip || ip == "0.0.0.0" || p.host_ip == "0.0.0.0")
}

impl Table {
    /// The table for the berth root `root`; changes to it are serialized by `<root>/ports.lock`.
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

    /// The table's skeleton, made or made again (the base chains are flushed and refilled, the
    /// containers' chains are left as they are).
    fn skeleton(&self) -> String {
        let t = &self.name;
        format!(
            "add table ip {t}\n\
             add chain ip {t} prerouting {{ type nat hook prerouting priority -100; policy accept; }}\n\
             add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}\n\
             add chain ip {t} postrouting {{ type nat hook postrouting priority 100; policy accept; }}\n\
             add chain ip {t} guard {{ type filter hook prerouting priority -300; policy accept; }}\n\
             add chain ip {t} ports\n\
             add chain ip {t} masq\n\
             flush chain ip {t} guard\n\
             flush chain ip {t} prerouting\n\
             flush chain ip {t} output\n\
             flush chain ip {t} postrouting\n\
             add rule ip {t} guard iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n\
             add rule ip {t} prerouting fib daddr type local jump ports\n\
             add rule ip {t} output fib daddr type local jump ports\n\
             add rule ip {t} postrouting ct status dnat jump masq\n"
        )
    }

    /// The rules of the table: (chain, handle, comment); None when there is no table.
    fn rules(&self) -> Result<Option<Vec<(String, u64, String)>>> {
        let out = Command::new("nft")
            .args(["-j", "-a", "list", "table", "ip", &self.name])
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
    fn skeleton_complete(rules: &[(String, u64, String)]) -> bool {
        BASE_CHAINS
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

    /// Deletions for the rules of container `id`, and for other containers' rules that clash
    /// with `published`.
    fn deletions(
        &self,
        rules: &[(String, u64, String)],
        id: &str,
        published: &[Published],
    ) -> String {
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
                    "delete rule ip {} {chain} handle {handle}\n",
                    self.name
                ));
            }
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
        // One transaction: the skeleton when it is not whole (a first use, or someone flushed
        // a chain), the old rules out, the new ones in.
        let rules = self.rules()?.unwrap_or_default();
        let t = &self.name;
        let mut script = if Self::skeleton_complete(&rules) {
            String::new()
        } else {
            self.skeleton()
        };
        script.push_str(&self.deletions(&rules, id, published));
        for p in published {
            let daddr = if p.host_ip == "0.0.0.0" {
                String::new()
            } else {
                format!("ip daddr {} ", p.host_ip)
            };
            script.push_str(&format!(
                "add rule ip {t} ports {daddr}{proto} dport {port} dnat to {ip}:{cport} comment \"{id} {proto} {hip} {port}\"\n",
                proto = p.proto,
                port = p.host_port,
                ip = ep.ip,
                cport = p.container_port,
                hip = p.host_ip,
            ));
        }
        if !published.is_empty() {
            let net = Ipv4Addr::from(
                u32::from(ep.ip)
                    & u32::MAX
                        .checked_shl(32 - u32::from(ep.prefix_len))
                        .unwrap_or(0),
            );
            script.push_str(&format!(
                "add rule ip {t} masq oifname \"{br}\" ip daddr {ip} ip saddr {{ 127.0.0.0/8, {net}/{len} }} masquerade comment \"{id}\"\n",
                br = ep.bridge,
                ip = ep.ip,
                len = ep.prefix_len,
            ));
        }
        self.apply("adding the container's rules", &script)
    }

    /// Remove the rules of container `id` (nothing to do when there are none, or no table).
    pub fn remove(&self, id: &str) -> Result<()> {
        let _lock = self.locked()?;
        let Some(rules) = self.rules()? else {
            return Ok(());
        };
        let script = self.deletions(&rules, id, &[]);
        if script.is_empty() {
            return Ok(());
        }
        self.apply("removing the container's rules", &script)
    }

    /// The comments of the containers' rules (for tests and diagnostics).
    pub fn comments(&self) -> Result<Vec<String>> {
        let rules = self.rules()?.unwrap_or_default();
        Ok(rules
            .into_iter()
            .filter(|(chain, _, _)| chain == "ports" || chain == "masq")
            .map(|(_, _, c)| c)
            .collect())
    }

    /// Delete the whole table (a root that goes away, or a test that ends).
    pub fn delete(&self) -> Result<()> {
        let _lock = self.locked()?;
        if self.rules()?.is_none() {
            return Ok(());
        }
        self.apply(
            "deleting the table",
            &format!("delete table ip {}\n", self.name),
        )
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
    }

    #[test]
    fn table_names_are_per_root_and_stable() {
        let a = Table::for_root(Path::new("/var/lib/berth"));
        let b = Table::for_root(Path::new("/tmp/other"));
        assert_ne!(a.name, b.name);
        assert_eq!(a.name, Table::for_root(Path::new("/var/lib/berth")).name);
        assert!(a.name.len() <= 15 && a.name.starts_with("berthp_"));
    }

    #[test]
    fn a_port_is_held_until_the_reservation_goes() {
        let spec = |port| PortSpec {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: "127.0.0.1".into(),
            host_port: port,
            host_port_end: 0,
        };
        let first = reserve(&[spec(0)]).unwrap();
        let port = first.published[0].host_port;
        assert!(port > 0, "the kernel picks a port: {first:?}");
        match reserve(&[spec(port)]) {
            Err(PortError::Allocated { port: p, .. }) => assert_eq!(p, port),
            other => panic!("expected port {port} to be allocated, got {other:?}"),
        }
        assert_eq!(
            PortError::Allocated {
                ip: Ipv4Addr::UNSPECIFIED,
                port: 8080
            }
            .to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        drop(first);
        let again = reserve(&[spec(port)]).unwrap();
        assert_eq!(again.published[0].host_port, port);
        // A range takes the first free port in it.
        let range = reserve(&[PortSpec {
            host_port_end: port + 5,
            ..spec(port)
        }])
        .unwrap();
        assert!(range.published[0].host_port > port);
        // UDP and TCP are separate.
        let udp = reserve(&[PortSpec {
            proto: Proto::Udp,
            ..spec(port)
        }])
        .unwrap();
        assert_eq!(udp.published[0].proto, "udp");
    }
}
