//! Published ports, with no daemon and no proxy.
//!
//! IPv6 host addresses (`[::1]:8080`, `[::]`) are published for a container with an IPv6
//! address (on a network with EnableIPv6), by DNAT in the same root's `ip6` table; a binding
//! with no host address takes `0.0.0.0` and, for such a container, `::` too, as dockerd shows
//! both. With no proxy, an IPv4-only container has no IPv6 way in: the API refuses an IPv6 host
//! address for it.
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

mod table;

pub use table::{short_hash, Endpoint, Table};

use crate::spec::{PortSpec, Proto};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// dockerd's words for a host port that is taken.
    #[error("Bind for {}:{port} failed: port is already allocated", bracketed(ip))]
    Allocated { ip: IpAddr, port: u16 },
    #[error("no free port in {}:{start}-{end}", bracketed(ip))]
    RangeFull { ip: IpAddr, start: u16, end: u16 },
    #[error("invalid host IP address {0:?}")]
    HostIp(String),
    #[error("unsupported protocol {0:?} (tcp, udp)")]
    Proto(String),
    #[error("reserving {}:{port}/{proto}: {source}", bracketed(ip))]
    Reserve {
        ip: IpAddr,
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

/// An address as it stands before ":port": IPv6 ones in brackets.
fn bracketed(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

pub type Result<T> = std::result::Result<T, PortError>;

/// A port as it is published: what `docker port` and NetworkSettings.Ports show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    pub proto: String,
    pub container_port: u16,
    /// "0.0.0.0" for all of the host's IPv4 addresses, "::" for all of its IPv6 ones.
    pub host_ip: String,
    pub host_port: u16,
}

/// The host ports a container holds, for as long as this lives.
#[derive(Debug)]
pub struct Reservation {
    _sockets: Vec<Socket>,
    pub published: Vec<Published>,
}

fn host_ip(spec: &PortSpec) -> Result<IpAddr> {
    if spec.host_ip.is_empty() {
        return Ok(Ipv4Addr::UNSPECIFIED.into());
    }
    spec.host_ip
        .parse()
        .map_err(|_| PortError::HostIp(spec.host_ip.clone()))
}

/// Bind one socket on ip:port (0: the kernel picks); the port it got. An IPv6 socket is IPv6
/// only (`::` must not take the IPv4 port too).
fn bind(ip: IpAddr, port: u16, proto: Proto) -> std::io::Result<(Socket, u16)> {
    let kind = if proto == Proto::Udp {
        Type::DGRAM
    } else {
        Type::STREAM
    };
    // Close-on-exec (socket2's default); no SO_REUSEADDR: a socket that holds a port must keep
    // everyone else off it.
    let s = Socket::new(Domain::for_address(SocketAddr::new(ip, port)), kind, None)?;
    if ip.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&SocketAddr::new(ip, port).into())?;
    let got = s.local_addr()?.as_socket().map_or(port, |a| a.port());
    Ok((s, got))
}

/// Bind `spec`'s host port (or the first free one of its range) on `ip`.
fn bind_spec(ip: IpAddr, port: u16, spec: &PortSpec) -> Result<(Socket, u16)> {
    let reserve_error = |port, source| PortError::Reserve {
        ip,
        port,
        proto: spec.proto.to_string(),
        source,
    };
    if spec.host_port_end > port && port > 0 {
        for port in port..=spec.host_port_end {
            match bind(ip, port, spec.proto) {
                Ok(b) => return Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(reserve_error(port, e)),
            }
        }
        return Err(PortError::RangeFull {
            ip,
            start: port,
            end: spec.host_port_end,
        });
    }
    match bind(ip, port, spec.proto) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(PortError::Allocated { ip, port })
        }
        Err(e) => Err(reserve_error(port, e)),
    }
}

/// Take every host port the container publishes, or none (the first one taken elsewhere fails
/// the whole reservation with dockerd's error, and what was bound is let go). With `v6`
/// (the container has an IPv6 address), a binding with no host address takes `::` too, on the
/// port it got on `0.0.0.0`.
pub fn reserve(specs: &[PortSpec], v6: bool) -> Result<Reservation> {
    let mut sockets = Vec::new();
    let mut published = Vec::new();
    for spec in specs {
        if spec.proto == Proto::Sctp {
            return Err(PortError::Proto(spec.proto.to_string()));
        }
        let ip = host_ip(spec)?;
        let (fd, port) = bind_spec(ip, spec.host_port, spec)?;
        sockets.push(fd);
        published.push(Published {
            proto: spec.proto.to_string(),
            container_port: spec.container_port,
            host_ip: ip.to_string(),
            host_port: port,
        });
        if v6 && spec.host_ip.is_empty() {
            let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
            let one = PortSpec {
                host_port_end: 0,
                ..spec.clone()
            };
            let (fd6, _) = bind_spec(any6, port, &one)?;
            sockets.push(fd6);
            published.push(Published {
                proto: spec.proto.to_string(),
                container_port: spec.container_port,
                host_ip: any6.to_string(),
                host_port: port,
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_held_until_the_reservation_goes() {
        let spec = |port| PortSpec {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: "127.0.0.1".into(),
            host_port: port,
            host_port_end: 0,
        };
        let first = reserve(&[spec(0)], false).unwrap();
        let port = first.published[0].host_port;
        assert!(port > 0, "the kernel picks a port: {first:?}");
        match reserve(&[spec(port)], false) {
            Err(PortError::Allocated { port: p, .. }) => assert_eq!(p, port),
            other => panic!("expected port {port} to be allocated, got {other:?}"),
        }
        assert_eq!(
            PortError::Allocated {
                ip: Ipv4Addr::UNSPECIFIED.into(),
                port: 8080
            }
            .to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        drop(first);
        let again = reserve(&[spec(port)], false).unwrap();
        assert_eq!(again.published[0].host_port, port);
        // A range takes the first free port in it.
        let range = reserve(
            &[PortSpec {
                host_port_end: port + 5,
                ..spec(port)
            }],
            false,
        )
        .unwrap();
        assert!(range.published[0].host_port > port);
        // UDP and TCP are separate.
        let udp = reserve(
            &[PortSpec {
                proto: Proto::Udp,
                ..spec(port)
            }],
            false,
        )
        .unwrap();
        assert_eq!(udp.published[0].proto, "udp");
    }

    #[test]
    fn a_binding_with_no_address_takes_both_families_for_an_ipv6_container() {
        let spec = PortSpec {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: String::new(),
            host_port: 0,
            host_port_end: 0,
        };
        let held = reserve(std::slice::from_ref(&spec), true).unwrap();
        let got: Vec<(&str, u16)> = held
            .published
            .iter()
            .map(|p| (p.host_ip.as_str(), p.host_port))
            .collect();
        let port = got[0].1;
        assert_eq!(
            got,
            vec![("0.0.0.0", port), ("::", port)],
            "expected 0.0.0.0 and :: on one port"
        );
        match reserve(
            &[PortSpec {
                host_ip: "::1".into(),
                host_port: port,
                ..spec.clone()
            }],
            true,
        ) {
            Err(e @ PortError::Allocated { .. }) => assert_eq!(
                e.to_string(),
                format!("Bind for [::1]:{port} failed: port is already allocated")
            ),
            other => panic!("expected [::1]:{port} allocated, got {other:?}"),
        }
        let v4_only = reserve(&[spec], false).unwrap();
        assert_eq!(v4_only.published.len(), 1, "{v4_only:?}");
    }
}
