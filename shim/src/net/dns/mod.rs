//! The embedded DNS server, dockerd's 127.0.0.11, served by the shim. A container on a
//! user-defined network gets `nameserver 127.0.0.11` in its /etc/resolv.conf; its shim binds
//! 127.0.0.11:53 (UDP and TCP) inside the container's network namespace at every start, and
//! its poll loop answers there: the names of the container's networks from the records
//! ([`names`]), everything else forwarded, from the host's namespace, to the host's resolvers
//! or the `--dns` servers ([`forward`]). Messages are read and written by [`message`].
//!
//! Invariants: the listening sockets live in the container's namespace and the forwarding ones
//! in the host's; no message from the container is trusted (see [`message`]); the work at any
//! time is bounded (`server::MAX_CONNS`, `forward::MAX_FORWARDS`).

mod forward;
pub mod message;
pub mod names;
mod server;

pub use server::{Server, Token};

use crate::net::store::NetworkRecord;
use crate::spec::ContainerSpec;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Where the server listens, in the container's namespace.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// What a container's server needs, decided once when the shim starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The resolvers questions that are not ours go to (at most three, as resolv.conf).
    pub upstreams: Vec<SocketAddr>,
    /// False on internal networks only: nothing leaves them, questions included.
    pub forwarding: bool,
    /// The container's networks as its endpoints list them: a name found on several answers
    /// from the first.
    pub order: Vec<String>,
}

/// The plan for container `spec` given the network records: None unless one of its networks is
/// user-defined (the default bridge resolves no names, and its containers keep the host's
/// resolvers, as with dockerd).
pub fn plan(spec: &ContainerSpec, networks: &[NetworkRecord], host_resolv: &str) -> Option<Plan> {
    let on_user_network = spec.endpoints.iter().any(|ep| {
        networks
            .iter()
            .any(|n| n.id == ep.network_id && n.resolves_names())
    });
    if !on_user_network {
        return None;
    }
    Some(Plan {
        upstreams: upstreams(host_resolv, &spec.network.dns),
        forwarding: spec.endpoints.iter().any(|ep| !ep.internal),
        order: spec
            .endpoints
            .iter()
            .map(|e| e.network_id.clone())
            .collect(),
    })
}

/// The forwarders: the `--dns` servers, else the host's (loopback ones too: the shim forwards
/// from the host's namespace), else Google's (dockerd's default).
fn upstreams(host_resolv: &str, dns: &[String]) -> Vec<SocketAddr> {
    let given: Vec<&str> = if dns.is_empty() {
        host_resolv
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some("nameserver")).then(|| f.next()).flatten()
            })
            .collect()
    } else {
        dns.iter().map(String::as_str).collect()
    };
    let mut out: Vec<SocketAddr> = given
        .iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .take(3)
        .collect();
    if out.is_empty() {
        out = ["8.8.8.8", "8.8.4.4"]
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
    }
    out
}

/// The container's /etc/resolv.conf with the embedded server: 127.0.0.11, the search domains
/// and options given (else the host's), and `ndots:0` unless an ndots option is given (dockerd).
pub fn resolv_conf(host: &str, net: &crate::spec::NetworkFiles) -> String {
    let host_words = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| l.strip_prefix(key))
            .filter(|rest| rest.starts_with([' ', '\t']))
            .flat_map(|rest| rest.split_whitespace().map(String::from))
            .collect()
    };
    let search = if net.dns_search.is_empty() {
        host_words("search")
    } else {
        net.dns_search.clone()
    };
    let mut options = if net.dns_options.is_empty() {
        host_words("options")
    } else {
        net.dns_options.clone()
    };
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".to_string());
    }
    // dockerd's order: search, nameserver, options. "." is its word for no search domains.
    let mut out = String::new();
    let search: Vec<String> = search.into_iter().filter(|s| s != ".").collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    out.push_str(&format!("nameserver {ADDRESS}\n"));
    out.push_str(&format!("options {}\n", options.join(" ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{EndpointSpec, NetworkFiles};

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n\
        nameserver fe80::1%eth0\nsearch corp.example\noptions edns0\n";

    #[test]
    fn forwarders_are_the_dns_servers_else_the_hosts() {
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            upstreams(HOST, &[]),
            vec![sa("127.0.0.53:53"), sa("10.0.0.2:53")],
            "loopback resolvers are kept (forwarded from the host's namespace)"
        );
        assert_eq!(
            upstreams(HOST, &["192.0.2.7".into(), "2001:db8::1".into()]),
            vec![sa("192.0.2.7:53"), sa("[2001:db8::1]:53")]
        );
        assert_eq!(upstreams("", &[]), vec![sa("8.8.8.8:53"), sa("8.8.4.4:53")]);
    }

    #[test]
    fn resolv_conf_names_the_embedded_server() {
        assert_eq!(
            resolv_conf(HOST, &NetworkFiles::default()),
            "search corp.example\nnameserver 127.0.0.11\noptions edns0 ndots:0\n"
        );
        let given = NetworkFiles {
            dns: vec!["192.0.2.7".into()],
            dns_search: vec!["a.example".into(), "b.example".into()],
            dns_options: vec!["ndots:2".into(), "timeout:1".into()],
            ..NetworkFiles::default()
        };
        assert_eq!(
            resolv_conf(HOST, &given),
            "search a.example b.example\nnameserver 127.0.0.11\noptions ndots:2 timeout:1\n",
            "--dns servers become forwarders, never lines of resolv.conf"
        );
    }

    #[test]
    fn only_user_defined_networks_get_the_server() {
        let mut user = NetworkRecord {
            id: "u".repeat(64),
            driver: "bridge".into(),
            ..NetworkRecord::default()
        };
        let spec = ContainerSpec {
            endpoints: vec![EndpointSpec {
                network_id: user.id.clone(),
                internal: true,
                ..EndpointSpec::default()
            }],
            ..ContainerSpec::default()
        };
        let p = plan(&spec, std::slice::from_ref(&user), HOST).expect("a user-defined network");
        assert!(!p.forwarding, "an internal network forwards nothing");
        assert_eq!(p.order, vec![user.id.clone()]);
        user.predefined = true;
        assert_eq!(plan(&spec, &[user], HOST), None, "the default bridge");
        assert_eq!(
            plan(&ContainerSpec::default(), &[], HOST),
            None,
            "no network"
        );
    }
}
