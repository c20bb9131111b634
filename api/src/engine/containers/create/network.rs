//! The network part of the spec: the container's names, the files of its network (hosts,
//! resolv.conf) and its ports. Its networks' endpoints are planned by the create itself.

use crate::engine::containers::ports;
use crate::engine::hostnames;
use crate::engine::ids::ContainerId;
use crate::engine::images::ImageConfig;
use crate::engine::wire::{DockerConfig, HostConfig};
use crate::engine::Result;
use berth_shim::spec::{Bandwidth, NetworkFiles, PortSpec};
use serde_json::Value;
use std::collections::BTreeMap;

/// The hostname (the id's first 12 digits when the request has none), once it, the domain
/// name and the extra hosts are checked.
pub(super) fn hostname(id: &ContainerId, c: &DockerConfig, h: &HostConfig) -> Result<String> {
    for name in [&c.hostname, &c.domainname]
        .into_iter()
        .filter(|n| !n.is_empty())
    {
        hostnames::hostname(name)?;
    }
    for entry in h.extra_hosts.iter().flatten() {
        hostnames::extra_host(entry)?;
    }
    Ok(if c.hostname.is_empty() {
        id[..12].to_string()
    } else {
        c.hostname.clone()
    })
}

/// What the shim writes into /etc/hosts and /etc/resolv.conf.
pub(super) fn files(h: &HostConfig) -> NetworkFiles {
    NetworkFiles {
        extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
        dns: h.dns.clone().unwrap_or_default(),
        dns_search: h.dns_search.clone().unwrap_or_default(),
        dns_options: h.dns_options.clone().unwrap_or_default(),
        // Set at every start from the linked containers.
        links: Vec::new(),
    }
}

/// The image's exposed ports and the request's (its bindings' included), as dockerd merges
/// them; `-P` publishes them all.
pub(super) fn exposed(
    c: &DockerConfig,
    h: &HostConfig,
    ic: &ImageConfig,
) -> BTreeMap<String, Value> {
    let mut exposed = ic.exposed_ports.clone().unwrap_or_default();
    exposed.extend(ports::exposed_with_bindings(c, h).unwrap_or_default());
    exposed
}

/// The ports to publish, and the bandwidth the labels ask for.
pub(super) fn ports(
    h: &HostConfig,
    exposed: &BTreeMap<String, Value>,
    labels: &BTreeMap<String, String>,
) -> Result<(Vec<PortSpec>, Bandwidth)> {
    let specs = ports::port_specs(h, Some(exposed), &h.network_mode)?;
    let bandwidth = ports::bandwidth(labels)?;
    Ok((specs, bandwidth))
}
