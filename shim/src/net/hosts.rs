//! Names without a resolver daemon: the /etc/hosts of every container on a user-defined network
//! lists the others (name, short id, aliases) with their addresses. It is written whole when
//! the container starts, and rewritten in place (it is bind-mounted, so a rename would not
//! reach the container) for every member whenever a container joins or leaves the network,
//! under the network store's lock.

use super::store::{EndpointRecord, NetworkRecord};
use crate::paths::Paths;
use crate::spec::ContainerSpec;
use std::io::Write;

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
    fe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
    ff02::2\tip6-allrouters\n";

/// The /etc/hosts of container `spec`, given the records of the networks it is on.
pub fn content(spec: &ContainerSpec, networks: &[NetworkRecord]) -> String {
    let mut out = String::from(LOCALHOST);
    for entry in &spec.network.extra_hosts {
        if let Some((name, ip)) = entry.split_once(':') {
            let ip = if ip == HOST_GATEWAY {
                match host_gateway(spec, networks) {
                    Some(gw) => gw,
                    None => continue,
                }
            } else {
                ip.to_string()
            };
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for line in &spec.network.links {
        out.push_str(line);
        out.push('\n');
    }
    let hostname = if spec.hostname.is_empty() {
        spec.id.chars().take(12).collect()
    } else {
        spec.hostname.clone()
    };
    let own_names = if spec.domainname.is_empty() {
        hostname
    } else {
        format!("{hostname}.{} {hostname}", spec.domainname)
    };
    if let Some(ep) = spec.endpoints.first().filter(|e| !e.address.is_empty()) {
        out.push_str(&format!("{}\t{own_names}\n", ep.address));
        // On a network with IPv6, the container's IPv6 address names it too (as dockerd).
        if !ep.address6.is_empty() {
            out.push_str(&format!("{}\t{own_names}\n", ep.address6));
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for net in networks.iter().filter(|n| n.resolves_names()) {
        let Some(own) = net.endpoints.get(&spec.id) else {
            continue;
        };
        for (cid, ep) in &net.endpoints {
            if cid == &spec.id || ep.ip.is_empty() {
                continue;
            }
            let mut names = vec![
                ep.container_name.clone(),
                cid[..12.min(cid.len())].to_string(),
            ];
            names.extend(ep.aliases.iter().cloned());
            names.extend(link_aliases(&own.links, cid, ep));
            names.retain(|n| !n.is_empty());
            let line = format!("{}\t{}\n", ep.ip, names.join(" "));
            if !seen.contains(&line) {
                out.push_str(&line);
                seen.push(line);
            }
        }
    }
    out
}

/// The aliases this container's endpoint links (EndpointSettings.Links, "name:alias") give
/// the peer `cid`: those whose name is the peer's name, one of its aliases, or its id.
pub(crate) fn link_aliases(links: &[String], cid: &str, peer: &EndpointRecord) -> Vec<String> {
    links
        .iter()
        .filter_map(|l| {
            let (name, alias) = l.split_once(':').unwrap_or((l, l));
            let named = name == peer.container_name
                || peer.aliases.iter().any(|a| a == name)
                || (name.len() >= 12 && cid.starts_with(name));
            named.then(|| alias.to_string())
        })
        .collect()
}

/// The word `--add-host name:host-gateway` gives instead of an address.
pub const HOST_GATEWAY: &str = "host-gateway";

/// What `host-gateway` stands for: the gateway of the container's first network (an address
/// of the host's, on the container's own link), else the default bridge's gateway (dockerd's
/// answer for every container).
pub fn host_gateway(spec: &ContainerSpec, networks: &[NetworkRecord]) -> Option<String> {
    spec.endpoints
        .iter()
        .find(|e| !e.gateway.is_empty())
        .map(|e| e.gateway.clone())
        .or_else(|| {
            networks
                .iter()
                .find(|n| n.predefined && n.name == "bridge" && !n.gateway.is_empty())
                .map(|n| n.gateway.clone())
        })
}

/// Rewrite, in place, the /etc/hosts of every container on `net` (call under the store's lock,
/// with the records as they now are). A container whose files are gone is skipped.
pub fn refresh(paths: &Paths, net: &NetworkRecord, networks: &[NetworkRecord]) {
    if !net.resolves_names() {
        return;
    }
    for cid in net.endpoints.keys() {
        refresh_one(paths, cid, networks);
    }
}

/// Rewrite one container's /etc/hosts in place.
pub fn refresh_one(paths: &Paths, id: &str, networks: &[NetworkRecord]) {
    let cpaths = paths.container(id);
    let Ok(data) = std::fs::read(cpaths.config()) else {
        return;
    };
    let Ok(spec) = serde_json::from_slice::<ContainerSpec>(&data) else {
        return;
    };
    let text = content(&spec, networks);
    // Not a rename: the file is bind-mounted into the running container.
    let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(cpaths.hosts()) else {
        return;
    };
    if f.write_all(text.as_bytes()).is_ok() {
        let _ = f.set_len(text.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::EndpointSpec;

    #[test]
    fn peers_are_listed_by_name_short_id_and_alias() {
        let (me, peer) = ("1".repeat(64), "2".repeat(64));
        let ep = |name: &str, ip: &str, aliases: &[&str]| EndpointRecord {
            container_name: name.into(),
            ip: ip.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..EndpointRecord::default()
        };
        let mut net = NetworkRecord {
            driver: "bridge".into(),
            ..NetworkRecord::default()
        };
        net.endpoints.insert(me.clone(), ep("me", "10.1.0.2", &[]));
        net.endpoints
            .insert(peer.clone(), ep("web", "10.1.0.3", &["www"]));
        let spec = ContainerSpec {
            id: me.clone(),
            hostname: "box".into(),
            endpoints: vec![EndpointSpec {
                address: "10.1.0.2".into(),
                gateway: "10.1.0.1".into(),
                ..EndpointSpec::default()
            }],
            network: crate::spec::NetworkFiles {
                extra_hosts: vec![
                    "db:10.9.9.9".into(),
                    "host.docker.internal:host-gateway".into(),
                ],
                ..Default::default()
            },
            ..ContainerSpec::default()
        };
        let text = content(&spec, std::slice::from_ref(&net));
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"), "{text}");
        assert!(text.contains("10.9.9.9\tdb\n"), "{text}");
        assert!(
            text.contains("10.1.0.1\thost.docker.internal\n"),
            "expected host-gateway to be the network's gateway:\n{text}"
        );
        assert!(text.contains("10.1.0.2\tbox\n"), "{text}");
        assert!(text.contains("10.1.0.3\tweb 222222222222 www\n"), "{text}");
        let mut six = spec.clone();
        six.endpoints[0].address6 = "fd00:1::2".into();
        let text6 = content(&six, std::slice::from_ref(&net));
        assert!(
            text6.contains("10.1.0.2\tbox\nfd00:1::2\tbox\n"),
            "expected the container's IPv6 address after its IPv4 one, as dockerd:\n{text6}"
        );
        // The default bridge resolves no names.
        net.predefined = true;
        let text = content(&spec, &[net]);
        assert!(!text.contains("web"), "{text}");
    }

    #[test]
    fn links_give_lines_and_aliases() {
        let (me, peer) = ("1".repeat(64), "2".repeat(64));
        let mut net = NetworkRecord {
            driver: "bridge".into(),
            ..NetworkRecord::default()
        };
        net.endpoints.insert(
            me.clone(),
            EndpointRecord {
                container_name: "web".into(),
                ip: "10.1.0.2".into(),
                links: vec!["db:database".into()],
                ..EndpointRecord::default()
            },
        );
        net.endpoints.insert(
            peer.clone(),
            EndpointRecord {
                container_name: "db".into(),
                ip: "10.1.0.3".into(),
                ..EndpointRecord::default()
            },
        );
        let spec = ContainerSpec {
            id: me.clone(),
            hostname: "box".into(),
            network: crate::spec::NetworkFiles {
                links: vec!["172.17.0.5\tcache cachehost redis".into()],
                ..Default::default()
            },
            ..ContainerSpec::default()
        };
        let text = content(&spec, &[net]);
        assert!(
            text.contains("172.17.0.5\tcache cachehost redis\n"),
            "expected the legacy link's line:\n{text}"
        );
        assert!(
            text.contains("10.1.0.3\tdb 222222222222 database\n"),
            "expected the endpoint link's alias on db's line:\n{text}"
        );
    }
}
