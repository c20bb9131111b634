//! A container's side of networking: which networks it joins at create, connect and
//! disconnect (running or not), the release of its addresses at remove, and
//! NetworkSettings.Networks for inspect. An endpoint lives as long as the container's record
//! names it: its address is kept while the container is stopped, so it comes back the same.

use super::find;
use crate::engine::ids::ContainerId;
use crate::engine::wire::HostConfig;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::cleanup::cleanup;
use berth_shim::net::{self, store::NetworkRecord};
use berth_shim::spec::{ContainerSpec, EndpointSpec};
use serde_json::{json, Value};

/// One network a container asks to join, checked.
#[derive(Debug, Clone)]
pub struct EndpointRequest {
    pub network: NetworkRecord,
    pub aliases: Vec<String>,
    pub ip: String,
}

/// Docker's EndpointSettings as a create or connect sends it.
fn endpoint_settings(v: &Value) -> (Vec<String>, String) {
    let aliases = v
        .get("Aliases")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let ip = v
        .get("IPAMConfig")
        .and_then(|c| c.get("IPv4Address"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    (aliases, ip)
}

/// dockerd's rules for what only user-defined networks allow.
fn check_request(r: &EndpointRequest) -> Result<()> {
    if !r.network.is_bridge() {
        return Err(EngineError::invalid_parameter(format!(
            "container cannot be connected to network {}",
            r.network.name
        )));
    }
    for a in &r.aliases {
        crate::engine::hostnames::alias(a)?;
    }
    if r.network.predefined && !r.aliases.is_empty() {
        return Err(EngineError::invalid_parameter(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if r.network.predefined && !r.ip.is_empty() {
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
    pub(crate) fn plan_networks(
        &self,
        h: &HostConfig,
        networking: &Value,
    ) -> Result<Vec<EndpointRequest>> {
        let mode = match h.network_mode.as_str() {
            "" | "default" => "bridge",
            m => m,
        };
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return Ok(Vec::new());
        }
        let all = self.networks()?;
        let primary = find(&all, mode)
            .ok_or_else(|| EngineError::not_found(format!("network {mode} not found")))?;
        if !primary.is_bridge() {
            // `--network <id of host or none>`.
            return Ok(Vec::new());
        }
        let mut out = vec![EndpointRequest {
            network: primary.clone(),
            aliases: Vec::new(),
            ip: String::new(),
        }];
        if let Some(configs) = networking.get("EndpointsConfig").and_then(Value::as_object) {
            for (name, cfg) in configs {
                let n = find(&all, name)
                    .ok_or_else(|| EngineError::not_found(format!("network {name} not found")))?;
                let (aliases, ip) = endpoint_settings(cfg);
                match out.iter_mut().find(|r| r.network.id == n.id) {
                    Some(r) => {
                        r.aliases = aliases;
                        r.ip = ip;
                    }
                    None => out.push(EndpointRequest {
                        network: n.clone(),
                        aliases,
                        ip,
                    }),
                }
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
                    let ep = locked.allocate(
                        &mut rec,
                        &self.paths.containers(),
                        id,
                        name,
                        &r.aliases,
                        &r.ip,
                    )?;
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

    fn read_spec(&self, id: &ContainerId) -> Result<ContainerSpec> {
        let path = self.container_paths(id).config();
        let data = std::fs::read(&path).map_err(|e| EngineError::system(path.display(), e))?;
        serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))
    }

    fn write_spec(&self, spec: &ContainerSpec) -> Result<()> {
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
        let (aliases, ip) = endpoint_settings(settings);
        let req = EndpointRequest {
            network: net_rec.clone(),
            aliases,
            ip,
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
        let ep = locked.allocate(
            &mut rec,
            &self.paths.containers(),
            &id,
            &name,
            &req.aliases,
            &req.ip,
        )?;
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
            let _ = self.write_spec(spec);
            let _ = self.record_networks(&id, &spec.endpoints);
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
            let ipam = stored
                .filter(|s| !s.requested_ip.is_empty())
                .map(|s| json!({"IPv4Address": s.requested_ip}))
                .unwrap_or(Value::Null);
            let mut dns = vec![id[..12].to_string()];
            if let Some(s) = stored {
                dns.insert(0, s.container_name.clone());
            }
            dns.extend(ep.aliases.iter().cloned());
            let v = json!({
                "IPAMConfig": ipam,
                "Links": Value::Null,
                "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
                "MacAddress": ep.mac,
                "DriverOpts": Value::Null,
                "GwPriority": 0,
                "NetworkID": ep.network_id,
                "EndpointID": stored.map(|s| s.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": if ep.internal { String::new() } else { ep.gateway.clone() },
                "IPAddress": ep.address,
                "IPPrefixLen": ep.prefix_len,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
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
