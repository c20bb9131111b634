//! A container's policy, decided in the kernel: system calls that kill their caller (SIGKILL
//! from sys_enter; the call itself still happens, the process dies as it returns) and
//! destinations it may not connect to (cgroup/connect4 and connect6 refuse them with EPERM, and
//! cgroup/sendmsg4 and sendmsg6 a UDP datagram sent to them; while there is one, cgroup/sock_create
//! refuses the container's AF_INET and AF_INET6 raw sockets, which would pass neither).
//! Set at create by the labels `berth.policy.deny-syscalls` and `berth.policy.deny-connect`
//! and replaced while the container runs (POST /containers/{id}/policy).

use crate::abi::ConnectKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The label with the denied system calls (comma-separated names).
pub const LABEL_SYSCALLS: &str = "berth.policy.deny-syscalls";
/// The label with the denied destinations (comma-separated `addr[/len][:port]`, IPv6 in
/// brackets when it has a port).
pub const LABEL_CONNECT: &str = "berth.policy.deny-connect";

/// A policy as the API and the labels state it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    #[serde(default)]
    pub deny_syscalls: Vec<String>,
    #[serde(default)]
    pub deny_connect: Vec<String>,
}

/// One denied destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub addr: IpAddr,
    /// Prefix length of `addr` (32 or 128 for one address).
    pub len: u8,
    /// 0: any port.
    pub port: u16,
}

impl Policy {
    /// The policy the labels of a container set (none when it has neither label).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Policy {
        let list = |k: &str| -> Vec<String> {
            labels
                .get(k)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        Policy {
            deny_syscalls: list(LABEL_SYSCALLS),
            deny_connect: list(LABEL_CONNECT),
        }
    }

    /// The system call numbers, or the first unknown name.
    pub fn syscall_numbers(&self) -> Result<Vec<u32>, String> {
        self.deny_syscalls
            .iter()
            .map(|n| crate::syscalls::number(n).ok_or_else(|| format!("unknown system call {n:?}")))
            .collect()
    }

    /// The destinations, or the first that does not parse.
    pub fn destinations(&self) -> Result<Vec<Destination>, String> {
        self.deny_connect
            .iter()
            .map(|d| parse_destination(d))
            .collect()
    }

    /// Checks both lists.
    pub fn validate(&self) -> Result<(), String> {
        self.syscall_numbers()?;
        self.destinations()?;
        Ok(())
    }
}

/// `10.0.0.0/8:80`, `127.0.0.1`, `[::1]:80`, `fd00::/8`.
pub fn parse_destination(s: &str) -> Result<Destination, String> {
    let bad = || format!("invalid destination {s:?}: use addr[/len][:port], IPv6 as [addr]:port");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad()),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').ok_or_else(bad)?;
        (h, Some(p))
    } else {
        (s, None)
    };
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| bad())?,
        None => 0,
    };
    let (addr, len) = match host.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (host, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    if len > max {
        return Err(bad());
    }
    Ok(Destination { addr, len, port })
}

impl Destination {
    /// The LPM-trie key of this rule for cgroup `cgroup_id`: its prefix length, its data.
    pub fn key(&self, cgroup_id: u64) -> (u32, ConnectKey) {
        let (addr, len) = match self.addr {
            IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), 96 + u32::from(self.len)),
            IpAddr::V6(a) => (a.octets(), u32::from(self.len)),
        };
        (
            64 + 16 + len,
            ConnectKey {
                cgroup_id,
                port: self.port.to_be(),
                addr,
                pad: [0; 6],
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        let d = parse_destination("10.0.0.0/8:80").unwrap();
        assert_eq!(
            (d.addr.to_string(), d.len, d.port),
            ("10.0.0.0".into(), 8, 80)
        );
        let d = parse_destination("127.0.0.1").unwrap();
        assert_eq!((d.len, d.port), (32, 0));
        let d = parse_destination("[::1]:443").unwrap();
        assert_eq!(
            (d.addr.to_string(), d.len, d.port),
            ("::1".into(), 128, 443)
        );
        let d = parse_destination("fd00::/8").unwrap();
        assert_eq!((d.len, d.port), (8, 0));
        for bad in [
            "",
            "10.0.0.0/33",
            "host:80",
            "1.2.3.4:http",
            "[::1",
            "::1]:80",
        ] {
            assert!(parse_destination(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn keys_put_ipv4_in_the_mapped_range() {
        let (len, k) = parse_destination("10.1.0.0/16:80").unwrap().key(7);
        assert_eq!(len, 64 + 16 + 96 + 16);
        assert_eq!({ k.port }, 80u16.to_be());
        assert_eq!(&k.addr[10..14], &[0xff, 0xff, 10, 1]);
    }

    #[test]
    fn labels_and_names() {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_SYSCALLS.to_string(), "mkdir, mkdirat".to_string());
        labels.insert(LABEL_CONNECT.to_string(), "10.0.0.0/8:80".to_string());
        let p = Policy::from_labels(&labels);
        assert_eq!(p.deny_syscalls, ["mkdir", "mkdirat"]);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(p.syscall_numbers(), Ok(vec![83, 258]));
        }
        assert!(p.validate().is_ok());
        let bad = Policy {
            deny_syscalls: vec!["mkdr".into()],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("mkdr"));
        assert_eq!(Policy::from_labels(&BTreeMap::new()), Policy::default());
    }
}
