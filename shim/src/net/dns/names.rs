//! The names the embedded server answers itself: on each user-defined network the container is
//! on, every endpoint's container name, short id (12 digits) and aliases, and the aliases its
//! own endpoint's links give; and the reverse names of their addresses. Read from the network
//! records at every query, so that a peer started or restarted since is found at once.

use crate::net::store::NetworkRecord;
use std::net::IpAddr;

/// What the records say of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// A name of ours with these addresses, IPv4 and IPv6 (on the first network that has it).
    Addrs(Vec<IpAddr>),
    /// An address of ours: its name ("container.network").
    Ptr(String),
    /// Not ours: the forwarders answer it.
    Unknown,
}

/// The user-defined networks `me` is on, those of `order` (its endpoints at start) first.
fn my_networks<'a>(
    networks: &'a [NetworkRecord],
    me: &str,
    order: &[String],
) -> Vec<&'a NetworkRecord> {
    let mut mine: Vec<&NetworkRecord> = networks
        .iter()
        .filter(|n| n.resolves_names() && n.endpoints.contains_key(me))
        .collect();
    mine.sort_by_key(|n| order.iter().position(|o| o == &n.id).unwrap_or(usize::MAX));
    mine
}

/// Look `name` (lower-case, no trailing dot) up for container `me`.
pub fn lookup(networks: &[NetworkRecord], me: &str, order: &[String], name: &str) -> Local {
    let mine = my_networks(networks, me, order);
    if let Some(ip) = super::message::reverse_v4(name) {
        for net in &mine {
            let hit = net.endpoints.values().find(|ep| ep.ip.parse() == Ok(ip));
            if let Some(ep) = hit.filter(|ep| !ep.container_name.is_empty()) {
                return Local::Ptr(format!("{}.{}", ep.container_name, net.name));
            }
        }
        return Local::Unknown;
    }
    for net in &mine {
        let links = net
            .endpoints
            .get(me)
            .map(|e| e.links.as_slice())
            .unwrap_or_default();
        let mut addrs: Vec<IpAddr> = Vec::new();
        for (cid, ep) in &net.endpoints {
            let Ok(ip) = ep.ip.parse::<IpAddr>() else {
                continue;
            };
            let ip6 = ep.ip6.parse::<IpAddr>().ok();
            let short = &cid[..12.min(cid.len())];
            let named = ep.container_name.eq_ignore_ascii_case(name)
                || short.eq_ignore_ascii_case(name)
                || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
                || crate::net::hosts::link_aliases(links, cid, ep)
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(name));
            if named {
                for a in std::iter::once(ip).chain(ip6) {
                    if !addrs.contains(&a) {
                        addrs.push(a);
                    }
                }
            }
        }
        if !addrs.is_empty() {
            return Local::Addrs(addrs);
        }
    }
    Local::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::store::EndpointRecord;

    fn net(id: &str, name: &str, eps: &[(&str, &str, &str, &[&str])]) -> NetworkRecord {
        let mut n = NetworkRecord {
            id: id.into(),
            name: name.into(),
            driver: "bridge".into(),
            ..NetworkRecord::default()
        };
        for (cid, cname, ip, aliases) in eps {
            n.endpoints.insert(
                cid.repeat(64),
                EndpointRecord {
                    container_name: cname.to_string(),
                    ip: ip.to_string(),
                    aliases: aliases.iter().map(|a| a.to_string()).collect(),
                    ..EndpointRecord::default()
                },
            );
        }
        n
    }

    #[test]
    fn names_short_ids_and_aliases_on_my_networks_only() {
        let me = "1".repeat(64);
        let front = net(
            "f",
            "front",
            &[
                ("1", "me", "10.1.0.2", &[]),
                ("2", "web", "10.1.0.3", &["www"]),
            ],
        );
        let back = net("b", "back", &[("3", "db", "10.2.0.3", &[])]);
        let nets = [front, back];
        let ip = |s: &str| Local::Addrs(vec![s.parse().unwrap()]);
        assert_eq!(lookup(&nets, &me, &[], "web"), ip("10.1.0.3"));
        assert_eq!(lookup(&nets, &me, &[], "WWW"), ip("10.1.0.3"));
        assert_eq!(lookup(&nets, &me, &[], "222222222222"), ip("10.1.0.3"));
        assert_eq!(lookup(&nets, &me, &[], "me"), ip("10.1.0.2"));
        assert_eq!(
            lookup(&nets, &me, &[], "db"),
            Local::Unknown,
            "a network I am not on"
        );
        assert_eq!(lookup(&nets, &me, &[], "22222222222"), Local::Unknown);
        assert_eq!(
            lookup(&nets, &me, &[], "3.0.1.10.in-addr.arpa"),
            Local::Ptr("web.front".into())
        );
        let mut predefined = nets[0].clone();
        predefined.predefined = true;
        assert_eq!(
            lookup(&[predefined], &me, &[], "web"),
            Local::Unknown,
            "the default bridge resolves no names"
        );
    }

    #[test]
    fn a_name_on_two_networks_answers_from_the_first_of_mine() {
        let me = "1".repeat(64);
        let a = net(
            "a",
            "a",
            &[("1", "me", "10.1.0.2", &[]), ("2", "web", "10.1.0.3", &[])],
        );
        let b = net(
            "b",
            "b",
            &[("1", "me", "10.2.0.2", &[]), ("2", "web", "10.2.0.3", &[])],
        );
        let nets = [a, b];
        let first_b = ["b".to_string(), "a".to_string()];
        assert_eq!(
            lookup(&nets, &me, &first_b, "web"),
            Local::Addrs(vec!["10.2.0.3".parse().unwrap()])
        );
        let shared = net(
            "s",
            "s",
            &[
                ("1", "me", "10.3.0.2", &[]),
                ("2", "x", "10.3.0.3", &["svc"]),
                ("3", "y", "10.3.0.4", &["svc"]),
            ],
        );
        assert_eq!(
            lookup(&[shared], &me, &[], "svc"),
            Local::Addrs(vec![
                "10.3.0.3".parse().unwrap(),
                "10.3.0.4".parse().unwrap()
            ]),
            "an alias two containers share gives both"
        );
    }

    #[test]
    fn a_peer_on_an_ipv6_network_has_both_addresses() {
        let me = "1".repeat(64);
        let mut n = net(
            "6",
            "six",
            &[("1", "me", "10.6.0.2", &[]), ("2", "web", "10.6.0.3", &[])],
        );
        n.endpoints.get_mut(&"2".repeat(64)).unwrap().ip6 = "fd00:6::3".into();
        assert_eq!(
            lookup(&[n], &me, &[], "web"),
            Local::Addrs(vec![
                "10.6.0.3".parse().unwrap(),
                "fd00:6::3".parse().unwrap()
            ]),
            "expected the peer's IPv4 and IPv6 addresses"
        );
    }
}
