//! Published ports and bandwidth labels: HostConfig.PortBindings and PublishAllPorts (with the
//! image's and the request's ExposedPorts) into the shim's port list, the `-p` syntax the docker
//! CLI parses (for berth's own CLI), and the Ports shown by inspect and by `docker ps`, read
//! from what the live shim recorded (`ports.json` in its run directory).

use super::summary::Port;
use crate::engine::wire::{DockerConfig, HostConfig, PortBindingJson};
use crate::engine::{EngineError, Result};
use berth_shim::net::ports::Published;
use berth_shim::net::shape;
use berth_shim::spec::{Bandwidth, PortSpec, Proto};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::invalid_parameter(msg.into())
}

/// The spec's protocol of a `proto` that [`parse_port_key`] admitted (tcp, udp or sctp).
fn spec_proto(proto: &str) -> Proto {
    Proto::parse(proto).unwrap_or_default()
}

/// "80/tcp" (or "80", tcp) as (port, proto).
pub fn parse_port_key(key: &str) -> Result<(u16, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!("invalid proto: {proto}")));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid(format!("invalid containerPort: {port}")))?;
    Ok((port, proto))
}

/// A HostPort: "" (any), "8080", or a range "8000-8010" to take the first free port of.
fn parse_host_port(s: &str) -> Result<(u16, u16)> {
    let bad = || invalid(format!("invalid hostPort: {s}"));
    if s.is_empty() {
        return Ok((0, 0));
    }
    let num = |v: &str| v.parse::<u16>().map_err(|_| bad());
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a == 0 || b < a {
                return Err(bad());
            }
            Ok((a, if a == b { 0 } else { b }))
        }
        None => Ok((num(s)?, 0)),
    }
}

/// The ports the shim publishes for this create request: every PortBindings entry, and with
/// PublishAllPorts every exposed port not bound already, on a random host port.
pub fn port_specs(
    h: &HostConfig,
    exposed: Option<&BTreeMap<String, Value>>,
    network_mode: &str,
) -> Result<Vec<PortSpec>> {
    let bindings = h.port_bindings.clone().unwrap_or_default();
    if !publishes(h, exposed) {
        return Ok(Vec::new());
    }
    if network_mode.starts_with("container:") {
        return Err(invalid(
            "conflicting options: port publishing and the container type network mode",
        ));
    }
    if network_mode == "host" || network_mode == "none" {
        return Ok(Vec::new());
    }
    let mut specs = Vec::new();
    for (key, list) in &bindings {
        let (container_port, proto) = parse_port_key(key)?;
        for b in list.iter().flatten() {
            specs.push(binding_spec(container_port, &proto, b)?);
        }
    }
    if h.publish_all_ports {
        for key in exposed.into_iter().flat_map(|e| e.keys()) {
            let (container_port, proto) = parse_port_key(key)?;
            let bound = bindings
                .keys()
                .filter_map(|k| parse_port_key(k).ok())
                .any(|(p, pr)| p == container_port && pr == proto);
            if !bound {
                specs.push(PortSpec {
                    proto: spec_proto(&proto),
                    container_port,
                    ..PortSpec::default()
                });
            }
        }
    }
    if let Some(s) = specs.iter().find(|s| s.proto == Proto::Sctp) {
        return Err(invalid(format!(
            "berth does not publish sctp ports ({}/sctp)",
            s.container_port
        )));
    }
    Ok(specs)
}

/// Whether a container asks for any published port (`-p` or `-P`).
pub fn publishes_any(h: &HostConfig) -> bool {
    h.publish_all_ports
        || h.port_bindings
            .iter()
            .flat_map(|b| b.values())
            .any(|b| !b.as_deref().unwrap_or_default().is_empty())
}

fn publishes(h: &HostConfig, exposed: Option<&BTreeMap<String, Value>>) -> bool {
    let bindings = h.port_bindings.iter().flat_map(|b| b.values());
    bindings
        .clone()
        .any(|b| !b.as_deref().unwrap_or_default().is_empty())
        || (h.publish_all_ports && exposed.is_some_and(|e| !e.is_empty()))
}

/// dockerd's warning for ports asked of a container on the host's network.
pub fn warnings(h: &HostConfig) -> Vec<String> {
    let bound = h
        .port_bindings
        .iter()
        .flat_map(|b| b.values())
        .any(|b| !b.as_deref().unwrap_or_default().is_empty());
    if h.network_mode == "host" && bound {
        vec!["Published ports are discarded when using host network mode".to_string()]
    } else {
        Vec::new()
    }
}

/// Ports published on IPv6 host addresses need a container with an IPv6 address (its first
/// network has EnableIPv6): with no userland proxy, nothing else can carry them.
pub fn check_ipv6_bindings(specs: &[PortSpec], has_ipv6: bool) -> Result<()> {
    match specs.iter().find(|s| s.host_ip.contains(':')) {
        Some(s) if !has_ipv6 => Err(invalid(format!(
            "publishing on [{}]:{}: berth publishes ports on IPv6 host addresses only for a container with an IPv6 address (a network with EnableIPv6; berth has no userland proxy)",
            s.host_ip, s.host_port
        ))),
        _ => Ok(()),
    }
}

/// The network's `host_binding_ipv4` (`default_ip`) for each port binding that names no host
/// address, as dockerd applies it; the bindings in HostConfig stay as sent.
pub fn with_host_binding(specs: Vec<PortSpec>, default_ip: Option<String>) -> Vec<PortSpec> {
    let Some(ip) = default_ip else {
        return specs;
    };
    specs
        .into_iter()
        .map(|s| PortSpec {
            host_ip: if s.host_ip.is_empty() {
                ip.clone()
            } else {
                s.host_ip
            },
            ..s
        })
        .collect()
}

fn binding_spec(container_port: u16, proto: &str, b: &PortBindingJson) -> Result<PortSpec> {
    let (host_port, host_port_end) = parse_host_port(&b.host_port)?;
    let host_ip = match b.host_ip.as_str() {
        "" | "0.0.0.0" => String::new(),
        ip => match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
            // The kernel routes no packet from ::1 out of lo (IPv6 has no route_localnet), so
            // without a userland proxy nothing reaches a container through [::1].
            Ok(std::net::IpAddr::V6(v6)) if v6.is_loopback() => {
                return Err(invalid(format!(
                    "publishing on [{ip}]: berth cannot forward the IPv6 loopback address (the kernel does not route ::1 off lo, and berth has no userland proxy); publish on [::] or on an IPv6 address of the host"
                )))
            }
            // Checked against the container's network at create (`check_ipv6_bindings`).
            Ok(std::net::IpAddr::V6(v6)) => v6.to_string(),
            Err(_) => return Err(invalid(format!("invalid IP address: {ip}"))),
        },
    };
    Ok(PortSpec {
        proto: spec_proto(proto),
        container_port,
        host_ip,
        host_port,
        host_port_end,
    })
}

/// The limits the labels `berth.net.egress` and `berth.net.ingress` ask for.
pub fn bandwidth(labels: &BTreeMap<String, String>) -> Result<Bandwidth> {
    shape::from_labels(|k| labels.get(k).map(String::as_str)).map_err(|e| {
        invalid(format!(
            "labels {} / {}: {e}",
            shape::EGRESS_LABEL,
            shape::INGRESS_LABEL
        ))
    })
}

/// NetworkSettings.Ports: every exposed port, with its host bindings when it is published
/// (null when not), as dockerd shows it for a running container.
pub fn ports_json(exposed: Option<&BTreeMap<String, Value>>, published: &[Published]) -> Value {
    let mut out = Map::new();
    for key in exposed.into_iter().flat_map(|e| e.keys()) {
        if let Ok((port, proto)) = parse_port_key(key) {
            out.insert(format!("{port}/{proto}"), Value::Null);
        }
    }
    for p in published {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = out.entry(key).or_insert(Value::Null);
        if !entry.is_array() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    Value::Object(out)
}

/// The `Ports` of a container summary (`docker ps`): published ports with their host side,
/// exposed ones without, sorted by port and protocol.
pub fn summary_ports(exposed: &[String], published: &[Published]) -> Vec<Port> {
    let mut out: Vec<Port> = published
        .iter()
        .map(|p| Port {
            ip: p.host_ip.clone(),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            kind: p.proto.clone(),
        })
        .collect();
    for key in exposed {
        if let Ok((port, proto)) = parse_port_key(key) {
            if !published
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(Port {
                    private_port: port,
                    kind: proto,
                    ..Port::default()
                });
            }
        }
    }
    out.sort_by(|a, b| (a.private_port, &a.kind).cmp(&(b.private_port, &b.kind)));
    out
}

/// The docker CLI's `-p` syntax (nat.ParsePortSpec): `[[IP:][HOSTPORT]:]CONTAINERPORT[/PROTO]`,
/// with port ranges; the entries of ExposedPorts and PortBindings it makes.
pub fn parse_publish(spec: &str) -> Result<Vec<(String, PortBindingJson)>> {
    let bad = || invalid(format!("invalid port specification: {spec:?}"));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 address comes in brackets.
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r.split_once(']').ok_or_else(bad)?;
            (ip.to_string(), after.strip_prefix(':').ok_or_else(bad)?)
        }
        None => ("".to_string(), rest),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (ip.is_empty(), parts.as_slice()) {
        (true, [c]) => (String::new(), "", *c),
        (true, [h, c]) => (String::new(), *h, *c),
        (true, [i, h, c]) => (i.to_string(), *h, *c),
        (false, [h, c]) => (ip, *h, *c),
        _ => return Err(bad()),
    };
    let range = |s: &str| -> Result<(u16, u16)> {
        let num = |v: &str| v.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(bad());
                }
                Ok((a, b))
            }
            None => num(s).map(|p| (p, p)),
        }
    };
    let (c_start, c_end) = range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(host)?)
    };
    let count = c_end - c_start;
    if let Some((h_start, h_end)) = host_range {
        if count > 0 && h_end - h_start != count {
            return Err(invalid(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            )));
        }
    }
    parse_port_key(&format!("{c_start}/{proto}"))?;
    let mut out = Vec::new();
    for i in 0..=count {
        let host_port = match host_range {
            None => String::new(),
            // One container port and a host range: any port of the range.
            Some((a, b)) if count == 0 && a != b => format!("{a}-{b}"),
            Some((a, _)) => (a + i).to_string(),
        };
        out.push((
            format!("{}/{proto}", c_start + i),
            PortBindingJson {
                host_ip: ip.clone(),
                host_port,
            },
        ));
    }
    Ok(out)
}

/// What `docker port` prints for one binding: "0.0.0.0:8080".
pub fn host_address(p: &Published) -> String {
    format!("{}:{}", p.host_ip, p.host_port)
}

/// ExposedPorts with the container ports of a create request's bindings added (the docker CLI
/// sends both; an API client may send only PortBindings).
pub fn exposed_with_bindings(c: &DockerConfig, h: &HostConfig) -> Option<BTreeMap<String, Value>> {
    let mut exposed = c.exposed_ports.clone();
    for key in h.port_bindings.iter().flat_map(|b| b.keys()) {
        if let Ok((port, proto)) = parse_port_key(key) {
            exposed
                .get_or_insert_with(BTreeMap::new)
                .entry(format!("{port}/{proto}"))
                .or_insert(json!({}));
        }
    }
    exposed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ErrorKind;

    fn pb(ip: &str, port: &str) -> PortBindingJson {
        PortBindingJson {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn the_clis_publish_syntax() {
        assert_eq!(
            parse_publish("80").unwrap(),
            [("80/tcp".into(), pb("", ""))]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            [("80/tcp".into(), pb("", "8080"))]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            [("80/udp".into(), pb("127.0.0.1", "8080"))]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            [("80/tcp".into(), pb("127.0.0.1", ""))]
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            [
                ("80/tcp".into(), pb("", "8000")),
                ("81/tcp".into(), pb("", "8001"))
            ]
        );
        assert_eq!(
            parse_publish("8000-8010:80").unwrap(),
            [("80/tcp".into(), pb("", "8000-8010"))]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            [("80/tcp".into(), pb("::1", "8080"))]
        );
        for bad in [
            "",
            "x",
            "8080:x",
            "1:2:3:4",
            "80/icmp",
            "0",
            "8000-8002:80-81",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad:?} should be refused");
        }
    }

    fn host(bindings: &[(&str, Vec<PortBindingJson>)], all: bool) -> HostConfig {
        HostConfig {
            port_bindings: Some(
                bindings
                    .iter()
                    .map(|(k, v)| (k.to_string(), Some(v.clone())))
                    .collect(),
            ),
            publish_all_ports: all,
            ..Default::default()
        }
    }

    #[test]
    fn bindings_and_publish_all_become_the_shims_ports() {
        let h = host(
            &[("80/tcp", vec![pb("", "8080"), pb("127.0.0.1", "")])],
            true,
        );
        let exposed: BTreeMap<String, Value> = [("80/tcp", json!({})), ("53/udp", json!({}))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let specs = port_specs(&h, Some(&exposed), "bridge").unwrap();
        assert_eq!(
            specs,
            [
                PortSpec {
                    proto: Proto::Tcp,
                    container_port: 80,
                    host_ip: "".into(),
                    host_port: 8080,
                    host_port_end: 0
                },
                PortSpec {
                    proto: Proto::Tcp,
                    container_port: 80,
                    host_ip: "127.0.0.1".into(),
                    host_port: 0,
                    host_port_end: 0
                },
                PortSpec {
                    proto: Proto::Udp,
                    container_port: 53,
                    ..Default::default()
                },
            ]
        );
        assert!(port_specs(&h, Some(&exposed), "host").unwrap().is_empty());
        let on_host = HostConfig {
            network_mode: "host".into(),
            ..h.clone()
        };
        assert_eq!(
            warnings(&on_host),
            ["Published ports are discarded when using host network mode"]
        );
        assert!(warnings(&h).is_empty());
        assert!(port_specs(&h, None, "container:abc").is_err());
        let bad = host(&[("80/tcp", vec![pb("", "http")])], false);
        assert_eq!(
            port_specs(&bad, None, "bridge").unwrap_err(),
            EngineError::invalid_parameter("invalid hostPort: http".into())
        );
        let nothing = host(&[("80/tcp", vec![])], false);
        assert!(port_specs(&nothing, None, "bridge").unwrap().is_empty());
        let given = |ip: &str| PortSpec {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: ip.into(),
            host_port: 8080,
            host_port_end: 0,
        };
        let got = with_host_binding(
            vec![given(""), given("192.0.2.1")],
            Some("127.0.0.1".into()),
        );
        assert_eq!(
            (got[0].host_ip.as_str(), got[1].host_ip.as_str()),
            ("127.0.0.1", "192.0.2.1"),
            "expected host_binding_ipv4 for the binding with no address only"
        );
    }

    #[test]
    fn inspect_and_ps_show_published_and_exposed_ports() {
        let published = [Published {
            proto: "tcp".into(),
            container_port: 80,
            host_ip: "0.0.0.0".into(),
            host_port: 32768,
        }];
        let exposed: BTreeMap<String, Value> = [("80/tcp", json!({})), ("443/tcp", json!({}))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(
            ports_json(Some(&exposed), &published),
            json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}], "443/tcp": null})
        );
        assert_eq!(
            serde_json::to_value(summary_ports(
                &["443/tcp".into(), "80/tcp".into()],
                &published
            ))
            .unwrap(),
            json!([
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
                {"PrivatePort": 443, "Type": "tcp"}
            ])
        );
    }

    #[test]
    fn bandwidth_labels_are_checked() {
        let mut labels = BTreeMap::new();
        labels.insert("berth.net.egress".to_string(), "10mbit".to_string());
        assert_eq!(bandwidth(&labels).unwrap().egress_bps, 10_000_000);
        labels.insert("berth.net.ingress".to_string(), "fast".to_string());
        assert!(
            matches!(bandwidth(&labels), Err(ref e) if e.is(ErrorKind::InvalidParameter)),
            "expected a 400 for ingress=fast, got {:?}",
            bandwidth(&labels)
        );
    }
}
