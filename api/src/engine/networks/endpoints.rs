//! A container's side of networking: which networks it joins at create, connect and
//! disconnect (running or not), the release of its addresses at remove, and
//! NetworkSettings.Networks for inspect. An endpoint lives as long as the container's record
//! names it: its address is kept while the container is stopped, so it comes back the same.

use super::find;
use crate::engine::ids::ContainerId;
use crate::engine::wire::HostConfig;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::cleanup::cleanup;
use berth_shim::net::store::{EndpointRecord, EndpointWish};
use berth_shim::net::{self, store::NetworkRecord};
use berth_shim::spec::{ContainerSpec, EndpointSpec};
use serde_json::{json, Value};

/// One network a container asks to join, checked.
#[derive(Debug, Clone)]
pub struct EndpointRequest {
    pub network: NetworkRecord,
    pub wish: EndpointWish,
}

fn invalid(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// A MAC address as Go's `net.ParseMAC` reads a 6-byte one (`:` or `-` between the bytes),
/// normalised to lower case with `:`. The kernel refuses a multicast address on an interface,
/// so that is refused here rather than at start.
pub fn parse_mac(mac: &str) -> Result<String> {
    let bad = || invalid(format!("address {mac}: invalid MAC address"));
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let bytes = parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    if bytes[0] & 1 == 1 {
        return Err(invalid(format!(
            "invalid MAC address {mac}: a multicast address cannot be an interface's"
        )));
    }
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .ok_or_else(|| invalid(format!("{field}: a list of strings is expected")))
            })
            .collect(),
        Some(_) => Err(invalid(format!("{field}: a list of strings is expected"))),
    }
}

/// Docker's EndpointSettings as a create or connect sends it, checked with dockerd's rules
/// and words. Honoured: Aliases, IPAMConfig (IPv4Address, LinkLocalIPs), MacAddress, the
/// DriverOpts a bridge endpoint has (`com.docker.network.endpoint.sysctls`), IPv6Address
/// (checked against the network's IPv6 subnet when allocated). Refused: what berth has not
/// (IPv6 link-local addresses and sysctls, other DriverOpts).
pub fn endpoint_settings(v: &Value) -> Result<EndpointWish> {
    let mut wish = EndpointWish {
        aliases: strings(v.get("Aliases"), "Aliases")?,
        ..EndpointWish::default()
    };
    for l in strings(v.get("Links"), "Links")? {
        let (name, alias) = crate::engine::containers::links::parse_link(&l)?;
        wish.links.push(format!("{name}:{alias}"));
    }
    // The endpoint's state, which inspect shows and dockerd ignores in a request: a value is
    // refused rather than ignored; GwPriority matters only with several gateways to choose.
    for field in STATE_FIELDS {
        if v.get(field)
            .is_some_and(|x| !crate::engine::wire::is_zero(x))
        {
            return Err(invalid(format!(
                "EndpointSettings.{field}: berth does not support it (it is the endpoint's state, given by the network; ask for an address with IPAMConfig.IPv4Address)"
            )));
        }
    }
    if v.get("GwPriority")
        .is_some_and(|x| !crate::engine::wire::is_zero(x))
    {
        return Err(invalid("EndpointSettings.GwPriority: berth does not support it (the default gateway is the first network's)".into()));
    }
    if let Some(ipam) = v.get("IPAMConfig").filter(|c| !c.is_null()) {
        wish.ipam_given = true;
        wish.ip = ipam
            .get("IPv4Address")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !wish.ip.is_empty() {
            let ok = wish
                .ip
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|a| !a.is_unspecified());
            if !ok {
                return Err(invalid(format!(
                    "invalid endpoint settings:\ninvalid IPv4 address: {}",
                    wish.ip
                )));
            }
        }
        if let Some(v6) = ipam
            .get("IPv6Address")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            let ok = v6
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|a| !a.is_unspecified());
            if !ok {
                return Err(invalid(format!(
                    "invalid endpoint settings:\ninvalid IPv6 address: {v6}"
                )));
            }
            wish.ip6 = v6.to_string();
        }
        for ll in strings(ipam.get("LinkLocalIPs"), "LinkLocalIPs")? {
            match ll.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(a)) if !a.is_unspecified() => {
                    wish.link_local.push(a.to_string())
                }
                Ok(std::net::IpAddr::V6(a)) if !a.is_unspecified() => {
                    return Err(invalid(format!(
                        "IPAMConfig.LinkLocalIPs {ll}: berth networks are IPv4 only"
                    )))
                }
                _ => {
                    return Err(invalid(format!(
                        "invalid endpoint settings:\ninvalid link-local IP address: {ll}"
                    )))
                }
            }
        }
    }
    if let Some(mac) = v
        .get("MacAddress")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        wish.mac = parse_mac(mac)?;
    }
    if let Some(opts) = v.get("DriverOpts").filter(|o| !o.is_null()) {
        let opts: std::collections::BTreeMap<String, String> = serde_json::from_value(opts.clone())
            .map_err(|e| invalid(format!("DriverOpts: {e}")))?;
        for (key, value) in &opts {
            if key != net::OPT_ENDPOINT_SYSCTLS {
                return Err(invalid(format!(
                    "endpoint DriverOpts {key:?}: berth's bridge endpoints support only {}",
                    net::OPT_ENDPOINT_SYSCTLS
                )));
            }
            for entry in value.split(',') {
                net::check_endpoint_sysctl(entry)
                    .map_err(|e| invalid(format!("invalid endpoint settings:\n{e}")))?;
                if entry.contains(".ipv6.") || entry.starts_with("net.mpls.") {
                    return Err(invalid(format!(
                        "endpoint sysctl '{entry}': berth networks are IPv4 only"
                    )));
                }
            }
        }
        wish.driver_opts = opts;
    }
    Ok(wish)
}

/// EndpointSettings fields that describe an endpoint made, not a request.
const STATE_FIELDS: [&str; 9] = [
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
];

/// Endpoint links on a predefined network, where dockerd has no name service to give them to.
const ENDPOINT_LINKS_REFUSED: &str = "EndpointSettings.Links: endpoint links are only supported for user-defined networks (on the default bridge, links are HostConfig.Links, --link)";

/// An endpoint's IPAMConfig as inspect shows it: null when none was sent, else what was sent
/// (dockerd's omitempty fields).
fn ipam_json(ep: &EndpointRecord) -> Value {
    if !ep.ipam_given && ep.requested_ip.is_empty() && ep.requested_ip6.is_empty() {
        return Value::Null;
    }
    let mut m = serde_json::Map::new();
    if !ep.requested_ip.is_empty() {
        m.insert("IPv4Address".into(), json!(ep.requested_ip));
    }
    if !ep.requested_ip6.is_empty() {
        m.insert("IPv6Address".into(), json!(ep.requested_ip6));
    }
    if !ep.link_local.is_empty() {
        m.insert("LinkLocalIPs".into(), json!(ep.link_local));
    }
    Value::Object(m)
}

/// dockerd's rules for what only user-defined networks allow.
fn check_request(r: &EndpointRequest) -> Result<()> {
    if !r.network.is_bridge() {
        return Err(EngineError::invalid_parameter(format!(
            "container cannot be connected to network {}",
            r.network.name
        )));
    }
    for a in &r.wish.aliases {
        crate::engine::hostnames::alias(a)?;
    }
    if r.network.predefined && !r.wish.aliases.is_empty() {
        return Err(EngineError::invalid_parameter(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if r.network.predefined && !r.wish.links.is_empty() {
        return Err(EngineError::invalid_parameter(
            ENDPOINT_LINKS_REFUSED.into(),
        ));
    }
    if r.network.predefined && (!r.wish.ip.is_empty() || !r.wish.ip6.is_empty()) {
        return Err(EngineError::invalid_parameter(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    Ok(())
}

impl Engine {
    /// The networks a new container joins: its NetworkMode (`default` is `bridge`) first, then
    /// any other network named in NetworkingConfig.EndpointsConfig. None for host, none and
    /// container:<id>.
    /// Config.MacAddress (deprecated since API 1.44) goes to the endpoint of the NetworkMode
    /// network, as dockerd moves it.
    pub(crate) fn plan_networks(
        &self,
        h: &HostConfig,
        networking: &Value,
        config_mac: Option<&str>,
    ) -> Result<Vec<EndpointRequest>> {
        let mode = match h.network_mode.as_str() {
            "" | "default" => "bridge",
            m => m,
        };
        let config_mac = config_mac
            .filter(|m| !m.is_empty())
            .map(parse_mac)
            .transpose()?;
        let all = self.networks()?;
        let primary = if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            None
        } else {
            let n = find(&all, mode)
                .ok_or_else(|| EngineError::not_found(format!("network {mode} not found")))?;
            // `--network <id of host or none>` plugs nothing in.
            Some(n).filter(|n| n.is_bridge())
        };
        let Some(primary) = primary else {
            if config_mac.is_some() {
                return Err(invalid(
                    "conflicting options: mac-address and the network mode".into(),
                ));
            }
            return Ok(Vec::new());
        };
        let mut out = vec![EndpointRequest {
            network: primary.clone(),
            wish: EndpointWish::default(),
        }];
        if let Some(configs) = networking.get("EndpointsConfig").and_then(Value::as_object) {
            for (name, cfg) in configs {
                let n = find(&all, name)
                    .ok_or_else(|| EngineError::not_found(format!("network {name} not found")))?;
                let wish = endpoint_settings(cfg)?;
                match out.iter_mut().find(|r| r.network.id == n.id) {
                    Some(r) => r.wish = wish,
                    None => out.push(EndpointRequest {
                        network: n.clone(),
                        wish,
                    }),
                }
            }
        }
        // HostConfig.Links on a user-defined network are the endpoint's links there (the docker
        // CLI sends them so; dockerd has no legacy links off the default bridge).
        let host_links = h.links.clone().unwrap_or_default();
        if !crate::engine::containers::links::legacy_mode(mode)
            && !mode.starts_with("container:")
            && mode != "host"
            && out[0].wish.links.is_empty()
        {
            for l in &host_links {
                let (name, alias) = crate::engine::containers::links::parse_link(l)?;
                out[0].wish.links.push(format!("{name}:{alias}"));
            }
        }
        if let Some(mac) = config_mac {
            let main = &mut out[0].wish;
            if main.mac.is_empty() {
                main.mac = mac;
            } else if main.mac != mac {
                return Err(invalid("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty".into()));
            }
        }
        for r in &out {
            check_request(r)?;
        }
        Ok(out)
    }

    /// Give a new container its addresses; on failure nothing stays allocated.
    pub(crate) fn allocate_endpoints(
        &self,
        id: &str,
        name: &str,
        plan: &[EndpointRequest],
    ) -> Result<Vec<EndpointSpec>> {
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.net_store();
        let locked = store.lock()?;
        let mut out = Vec::new();
        for r in plan {
            let got = locked
                .get(&r.network.id)
                .ok_or_else(|| {
                    EngineError::not_found(format!("network {} not found", r.network.name))
                })
                .and_then(|mut rec| {
                    let ep =
                        locked.allocate(&mut rec, &self.paths.containers(), id, name, &r.wish)?;
                    Ok(net::endpoint_spec(&rec, &ep))
                });
            match got {
                Ok(spec) => out.push(spec),
                Err(e) => {
                    for done in &out {
                        cleanup(
                            format!("releasing the address of {id} on {}", done.network_id),
                            locked.release(&done.network_id, id),
                        );
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// After a create: the peers' /etc/hosts name the new container; `connect` events.
    pub(crate) fn announce_endpoints(&self, id: &str, endpoints: &[EndpointSpec]) {
        if endpoints.is_empty() {
            return;
        }
        let store = self.net_store();
        if let Ok(locked) = store.lock() {
            let all = locked.list();
            for ep in endpoints {
                if let Some(rec) = all.iter().find(|n| n.id == ep.network_id) {
                    net::hosts::refresh(&self.paths, rec, &all);
                }
            }
        }
        for ep in endpoints {
            if let Some(rec) = self.net_store().get(&ep.network_id) {
                self.network_event(&rec, "connect", Some(id));
            }
        }
    }

    /// The container is being removed: free its addresses (and tell its peers).
    pub(crate) fn release_endpoints(&self, id: &str) {
        if let Err(e) = net::release_container(&self.paths.root, id) {
            tracing::warn!("releasing the addresses of {id}: {e}");
        }
    }

    pub(crate) fn read_spec(&self, id: &ContainerId) -> Result<ContainerSpec> {
        let path = self.container_paths(id).config();
        let data = std::fs::read(&path).map_err(|e| EngineError::system(path.display(), e))?;
        serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))
    }

    pub(crate) fn write_spec(&self, spec: &ContainerSpec) -> Result<()> {
        let id = ContainerId::parse(&spec.id).ok_or_else(|| {
            EngineError::system_message(format!("a spec names no container: {}", spec.id))
        })?;
        let path = self.container_paths(&id).config();
        let data = serde_json::to_vec_pretty(spec).map_err(|e| EngineError::system("config", e))?;
        berth_shim::fsutil::write_atomic(&path, &data)
            .map_err(|e| EngineError::system(path.display(), e))
    }

    /// The pid of a running container's first process, if it runs.
    fn running_pid(&self, id: &ContainerId) -> Option<i32> {
        let st = self.state(id).ok()?;
        (st.status.is_live()
            && st.pid > 0
            && berth_shim::state::shim_alive(&self.container_paths(id)))
        .then_some(st.pid)
    }

    /// docker network connect: running or not; a running container gets the interface now.
    pub fn connect(&self, network: &str, container: &str, settings: &Value) -> Result<()> {
        let id = self.lookup(container)?;
        let _op = self.op_lock(&id)?;
        let record = self.record(&id)?;
        let mode = record.host_config.network_mode.as_str();
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(EngineError::forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let net_rec = self.network(network)?;
        let req = EndpointRequest {
            network: net_rec.clone(),
            wish: endpoint_settings(settings)?,
        };
        if !net_rec.is_bridge() {
            return Err(EngineError::forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        check_request(&req)?;
        let mut spec = self.read_spec(&id)?;
        if spec.endpoints.iter().any(|e| e.network_id == net_rec.id) {
            return Err(EngineError::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                spec.name, net_rec.name
            )));
        }
        let name = record.name.trim_start_matches('/').to_string();
        let store = self.net_store();
        let locked = store.lock()?;
        let mut rec = locked
            .get(&net_rec.id)
            .ok_or_else(|| EngineError::not_found(format!("network {network} not found")))?;
        let ep = locked.allocate(&mut rec, &self.paths.containers(), &id, &name, &req.wish)?;
        let endpoint = net::endpoint_spec(&rec, &ep);
        spec.endpoints.push(endpoint.clone());
        let undo = |locked: &berth_shim::net::store::Locked<'_>| {
            cleanup(
                format!("releasing the address of {id} on {}", rec.id),
                locked.release(&rec.id, &id),
            );
        };
        if let Err(e) = self.write_spec(&spec) {
            undo(&locked);
            return Err(e);
        }
        let unlisted = |spec: &mut ContainerSpec| {
            spec.endpoints.retain(|x| x.network_id != rec.id);
            cleanup("writing back the spec", self.write_spec(spec));
            cleanup(
                "writing back the networks record",
                self.record_networks(&id, &spec.endpoints),
            );
        };
        if let Err(e) = self.record_networks(&id, &spec.endpoints) {
            unlisted(&mut spec);
            undo(&locked);
            return Err(e);
        }
        if let Some(pid) = self.running_pid(&id) {
            let root = self.paths.root.clone();
            let cid = id.clone();
            let ep2 = endpoint.clone();
            // setns moves only the calling thread: a thread of its own enters the container.
            let plugged = std::thread::spawn(move || {
                let ifname = net::next_ifname(pid)?;
                net::attach(&root, &cid, pid, &ep2, &ifname)
            })
            .join()
            .unwrap_or_else(|_| Err(net::NetError::Invalid("attach panicked".into())));
            if let Err(e) = plugged {
                unlisted(&mut spec);
                undo(&locked);
                return Err(EngineError::system("connecting the container", e));
            }
        }
        let all = locked.list();
        net::hosts::refresh(&self.paths, &rec, &all);
        net::hosts::refresh_one(&self.paths, &id, &all);
        drop(locked);
        self.network_event(&rec, "connect", Some(&id));
        Ok(())
    }

    /// docker network disconnect.
    pub fn disconnect(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let net_rec = self.network(network)?;
        let id = match self.lookup(container) {
            Ok(id) => id,
            Err(e) => {
                // With force, an endpoint of a container that is gone is dropped anyway.
                if force {
                    if let Some(cid) = net_rec.endpoints.iter().find_map(|(cid, ep)| {
                        (ep.container_name == container || cid.starts_with(container))
                            .then(|| cid.clone())
                    }) {
                        let store = self.net_store();
                        let locked = store.lock()?;
                        locked.release(&net_rec.id, &cid)?;
                        return Ok(());
                    }
                }
                return Err(e);
            }
        };
        let _op = self.op_lock(&id)?;
        if !net_rec.is_bridge() {
            return Err(EngineError::forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let mut spec = self.read_spec(&id)?;
        if !spec.endpoints.iter().any(|e| e.network_id == net_rec.id) {
            return Err(EngineError::forbidden(format!(
                "container {id} is not connected to network {}",
                net_rec.name
            )));
        }
        spec.endpoints.retain(|e| e.network_id != net_rec.id);
        self.write_spec(&spec)?;
        self.record_networks(&id, &spec.endpoints)?;
        if self.running_pid(&id).is_some() {
            net::detach(&id, &net_rec.id).map_err(|e| EngineError::system("disconnecting", e))?;
        }
        let store = self.net_store();
        let locked = store.lock()?;
        let after = locked.release(&net_rec.id, &id)?;
        let all = locked.list();
        if let Some(rec) = &after {
            net::hosts::refresh(&self.paths, rec, &all);
        }
        net::hosts::refresh_one(&self.paths, &id, &all);
        drop(locked);
        self.network_event(&net_rec, "disconnect", Some(&id));
        Ok(())
    }

    /// NetworkSettings.Networks of a container, and its first endpoint (for the top-level
    /// IPAddress, Gateway and MacAddress of the default bridge).
    pub fn container_networks(&self, id: &ContainerId, mode: &str) -> (Value, Option<Value>) {
        let spec = self.read_spec(id).ok();
        let endpoints = spec.map(|s| s.endpoints).unwrap_or_default();
        let (out, first) = self.endpoints_json(id, mode, &endpoints);
        (Value::Object(out), first)
    }

    /// NetworkSettings.Networks for these endpoints of container `id` (reads the network
    /// records without their lock), and the default bridge's entry.
    pub(crate) fn endpoints_json(
        &self,
        id: &str,
        mode: &str,
        endpoints: &[EndpointSpec],
    ) -> (serde_json::Map<String, Value>, Option<Value>) {
        let mut out = serde_json::Map::new();
        let store = self.net_store();
        let mut first = None;
        for ep in endpoints {
            let rec = store.get(&ep.network_id);
            let stored = rec.as_ref().and_then(|r| r.endpoints.get(id));
            let name = rec
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_else(|| ep.network_name.clone());
            let ipam = stored.map(ipam_json).unwrap_or(Value::Null);
            let driver_opts = stored
                .filter(|s| !s.driver_opts.is_empty())
                .map(|s| json!(s.driver_opts))
                .unwrap_or(Value::Null);
            let mut dns = vec![id[..12].to_string()];
            if let Some(s) = stored {
                dns.insert(0, s.container_name.clone());
            }
            dns.extend(ep.aliases.iter().cloned());
            let v = json!({
                "IPAMConfig": ipam,
                "Links": stored.filter(|s| !s.links.is_empty()).map(|s| json!(s.links)).unwrap_or(Value::Null),
                "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
                "MacAddress": ep.mac,
                "DriverOpts": driver_opts,
                "GwPriority": 0,
                "NetworkID": ep.network_id,
                "EndpointID": stored.map(|s| s.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": if ep.internal { String::new() } else { ep.gateway.clone() },
                "IPAddress": ep.address,
                "IPPrefixLen": ep.prefix_len,
                "IPv6Gateway": if ep.internal { String::new() } else { ep.gateway6.clone() },
                "GlobalIPv6Address": ep.address6,
                "GlobalIPv6PrefixLen": if ep.address6.is_empty() { 0 } else { ep.prefix_len6 },
                "DNSNames": if rec.as_ref().is_some_and(|r| r.resolves_names()) { json!(dns) } else { Value::Null },
            });
            if first.is_none() && name == "bridge" {
                first = Some(v.clone());
            }
            out.insert(name, v);
        }
        if out.is_empty() && (mode == "host" || mode == "none") {
            let rec = self
                .networks()
                .ok()
                .and_then(|all| find(&all, mode).cloned());
            out.insert(
                mode.to_string(),
                json!({
                    "IPAMConfig": Value::Null, "Links": Value::Null, "Aliases": Value::Null,
                    "MacAddress": "", "DriverOpts": Value::Null, "GwPriority": 0,
                    "NetworkID": rec.map(|r| r.id).unwrap_or_default(),
                    "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                    "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "DNSNames": Value::Null,
                }),
            );
        }
        (out, first)
    }

    /// Rewrite `container.json`'s networks from the container's current endpoints.
    pub(crate) fn relist_networks(&self, id: &ContainerId) -> Result<()> {
        let spec = self.read_spec(id)?;
        self.record_networks(id, &spec.endpoints)
    }

    /// Write the endpoints into `container.json` (and so into the summary `docker ps` reads).
    fn record_networks(&self, id: &ContainerId, endpoints: &[EndpointSpec]) -> Result<()> {
        let mut record = self.record(id)?;
        let mode = record.host_config.network_mode.clone();
        record.networks = self
            .endpoints_json(id, &mode, endpoints)
            .0
            .into_iter()
            .collect();
        self.write_record(&record)
    }
}
