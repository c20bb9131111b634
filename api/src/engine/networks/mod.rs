//! Networks as Docker clients see them: the predefined `bridge`, `host` and `none`, and
//! user-defined bridge networks. Records, addresses and kernel objects are the shim crate's
//! (`berth_shim::net`), so a shim with no API alive can plug a container in and free its
//! addresses; this module checks requests, keeps dockerd's rules and shapes the JSON.

pub mod endpoints;

use super::filters::{labels_pass, Filters};
use super::{Engine, EngineError, ErrorKind, Result};
use berth_shim::net::store::{Locked, Store, NETWORK_VERSION};
use berth_shim::net::{self, NewNetwork};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub use berth_shim::net::store::NetworkRecord;

/// The names berth creates itself.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// `POST /networks/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateNetwork {
    pub name: String,
    pub check_duplicate: Option<bool>,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Option<IpamJson>,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamJson {
    pub driver: String,
    pub config: Option<Vec<IpamConfigJson>>,
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfigJson {
    #[serde(deserialize_with = "null_as_empty")]
    pub subnet: String,
    #[serde(rename = "IPRange", deserialize_with = "null_as_empty")]
    pub ip_range: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub gateway: String,
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// docker-py sends `"IPRange": null` and `"Gateway": null` for what it was not given.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Go's strconv.ParseBool, which dockerd reads the bridge's boolean options with.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Network create Options: the bridge options berth honours (the bridge's name, the MTU,
/// icc, masquerading, the default host address of published ports) are checked as dockerd reads them; dockerd's other bridge options are
/// refused by name, since berth does not act on them. Keys outside `com.docker.network.` mean
/// nothing to dockerd's bridge driver either: they are kept, as dockerd keeps them.
pub fn check_options(options: &BTreeMap<String, String>) -> Result<()> {
    use berth_shim::net::store::{
        OPT_BRIDGE_NAME, OPT_HOST_BINDING, OPT_ICC, OPT_MASQUERADE, OPT_MTU,
    };
    for (key, value) in options {
        match key.as_str() {
            OPT_BRIDGE_NAME => {
                let ok = !value.is_empty()
                    && value.len() <= 15
                    && !value.contains(['/', ':'])
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(EngineError::invalid_parameter(format!(
                        "{key}: invalid interface name {value:?} (at most 15 characters, no '/', ':' or space)"
                    )));
                }
            }
            OPT_MTU => {
                let mtu: i64 = value.parse().map_err(|_| {
                    EngineError::invalid_parameter(format!(
                        "failed to parse {key} value: {value} (strconv.Atoi: parsing {value:?}: invalid syntax)"
                    ))
                })?;
                if !(68..=65535).contains(&mtu) {
                    return Err(EngineError::invalid_parameter(format!(
                        "invalid MTU number: {mtu} (68 to 65535)"
                    )));
                }
            }
            OPT_ICC | OPT_MASQUERADE if go_bool(value).is_none() => {
                return Err(EngineError::invalid_parameter(format!(
                    "failed to parse {key} value: {value} (strconv.ParseBool: parsing {value:?}: invalid syntax)"
                )));
            }
            OPT_ICC | OPT_MASQUERADE => {}
            OPT_HOST_BINDING => match value.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => {}
                Ok(std::net::IpAddr::V6(_)) => {
                    return Err(EngineError::invalid_parameter(format!(
                        "{key}: {value}: berth publishes the ports of a container without an IPv6 address on IPv4 host addresses only (give an IPv4 address)"
                    )))
                }
                Err(_) => {
                    return Err(EngineError::invalid_parameter(format!(
                        "failed to parse {key} value: {value} (nil ip)"
                    )))
                }
            },
            k if k.starts_with("com.docker.network.") => {
                return Err(EngineError::invalid_parameter(format!(
                    "network option {k}: berth does not support it (it honours {OPT_BRIDGE_NAME}, {OPT_MTU}, {OPT_ICC}, {OPT_MASQUERADE} and {OPT_HOST_BINDING})"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A network's IPAM configs as the bridge driver takes them: at most one IPv4 config and, on a
/// network with EnableIPv6, exactly one IPv6 config (dockerd 20.10 has no default IPv6 pool).
/// An IPv6 subnet on a network without EnableIPv6 is refused: it would be stored and unused
/// (dockerd 20.10 accepts and ignores it).
fn split_ipam(
    configs: Vec<IpamConfigJson>,
    enable_ipv6: bool,
) -> Result<(IpamConfigJson, IpamConfigJson)> {
    let is_v6 = |c: &IpamConfigJson| {
        c.subnet.contains(':') || (c.subnet.is_empty() && c.gateway.contains(':'))
    };
    let (v6, v4): (Vec<_>, Vec<_>) = configs.into_iter().partition(is_v6);
    if v4.len() > 1 || v6.len() > 1 {
        return Err(EngineError::forbidden(
            "bridge driver doesn't support multiple subnets".into(),
        ));
    }
    let v6 = v6.into_iter().next();
    match (&v6, enable_ipv6) {
        (None, true) => {
            return Err(EngineError::not_found(
                "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network".into(),
            ))
        }
        (Some(c), false) => {
            return Err(EngineError::invalid_parameter(format!(
                "IPAM config {}: an IPv6 subnet needs EnableIPv6 (--ipv6)",
                c.subnet
            )))
        }
        _ => {}
    }
    let v6 = v6.unwrap_or_default();
    if v6
        .auxiliary_addresses
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(EngineError::invalid_parameter(format!(
            "IPAM config {}: berth does not support AuxiliaryAddresses in an IPv6 config",
            v6.subnet
        )));
    }
    for (what, v) in [("gateway", &v6.gateway), ("IPRange", &v6.ip_range)] {
        if !v.is_empty() && !v.contains(':') {
            return Err(EngineError::invalid_parameter(format!(
                "IPAM config {}: invalid {what} {v} (an IPv6 address is expected)",
                v6.subnet
            )));
        }
    }
    Ok((v4.into_iter().next().unwrap_or_default(), v6))
}

fn not_found(reference: &str) -> EngineError {
    EngineError::not_found(format!("network {reference} not found"))
}

impl Engine {
    pub(crate) fn net_store(&self) -> Store {
        Store::new(&self.paths.root)
    }

    /// Create `bridge`, `host` and `none` when this root has them not yet (under the lock).
    pub(crate) fn ensure_predefined(&self, locked: &Locked<'_>) -> Result<()> {
        let have: Vec<String> = locked
            .list()
            .into_iter()
            .filter(|n| n.predefined)
            .map(|n| n.name)
            .collect();
        if !have.iter().any(|n| n == "bridge") {
            let mut options = BTreeMap::new();
            options.insert(
                "com.docker.network.bridge.default_bridge".to_string(),
                "true".to_string(),
            );
            options.insert(
                "com.docker.network.bridge.enable_ip_masquerade".to_string(),
                "true".to_string(),
            );
            let rec = net::create_bridge_network(
                &self.paths.root,
                locked,
                NewNetwork {
                    name: "bridge".into(),
                    predefined: true,
                    options,
                    ..NewNetwork::default()
                },
            )?;
            let mut rec = rec;
            rec.options.insert(
                "com.docker.network.bridge.name".to_string(),
                rec.bridge.clone(),
            );
            locked.save(&rec)?;
        }
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !have.iter().any(|n| n == name) {
                let rec = NetworkRecord {
                    version: NETWORK_VERSION,
                    id: berth_shim::ids::random_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: berth_shim::state::now_rfc3339(),
                    predefined: true,
                    ..NetworkRecord::default()
                };
                locked.save(&rec)?;
            }
        }
        Ok(())
    }

    /// Remove every kernel object of this root's networks: their bridges and the firewall
    /// table (`berth network teardown`, for a root that is being thrown away).
    pub fn network_teardown(&self) -> Result<()> {
        net::teardown(&self.paths.root).map_err(|e| EngineError::system("network teardown", e))
    }

    /// Every network, the predefined ones made first if needed.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let store = self.net_store();
        let locked = store.lock()?;
        self.ensure_predefined(&locked)?;
        Ok(locked.list())
    }

    /// A network by full id, name, or unique id prefix (dockerd's order). `default` is `bridge`.
    pub fn network(&self, reference: &str) -> Result<NetworkRecord> {
        let all = self.networks()?;
        find(&all, reference)
            .cloned()
            .ok_or_else(|| not_found(reference))
    }

    /// docker network create.
    pub fn create_network(&self, req: CreateNetwork) -> Result<NetworkRecord> {
        if req.name.is_empty() {
            return Err(EngineError::invalid_parameter(
                "invalid name: name is empty".into(),
            ));
        }
        let mut chars = req.name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(EngineError::invalid_parameter(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        match driver {
            "bridge" => {}
            "host" | "null" => {
                return Err(EngineError::forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => {
                return Err(EngineError::not_found(format!(
                    "could not find plugin {other} in v1 plugin registry: plugin not found"
                )))
            }
        }
        if req.ingress {
            return Err(EngineError::forbidden(
                "ingress networks need swarm mode, which berth does not have".into(),
            ));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        if !ipam.driver.is_empty() && ipam.driver != "default" {
            return Err(EngineError::not_found(format!(
                "could not find plugin {} in v1 plugin registry: plugin not found",
                ipam.driver
            )));
        }
        let enable_ipv6 = req.enable_ipv6 == Some(true);
        let (config, config6) = split_ipam(ipam.config.unwrap_or_default(), enable_ipv6)?;
        let aux_addresses = config.auxiliary_addresses.clone().unwrap_or_default();
        if config.subnet.is_empty() && !aux_addresses.is_empty() {
            return Err(EngineError::invalid_parameter(
                "invalid pool request: auxiliary addresses need a subnet".into(),
            ));
        }
        let options = req.options.clone().unwrap_or_default();
        check_options(&options)?;
        if config.subnet.is_empty() && (!config.gateway.is_empty() || !config.ip_range.is_empty()) {
            return Err(EngineError::invalid_parameter(
                "invalid pool request: a gateway or range needs a subnet".into(),
            ));
        }
        let store = self.net_store();
        let locked = store.lock()?;
        self.ensure_predefined(&locked)?;
        if locked.list().iter().any(|n| n.name == req.name) {
            return Err(EngineError::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let rec = net::create_bridge_network(
            &self.paths.root,
            &locked,
            NewNetwork {
                name: req.name.clone(),
                internal: req.internal,
                attachable: req.attachable,
                predefined: false,
                subnet: config.subnet,
                gateway: config.gateway,
                ip_range: config.ip_range,
                labels: req.labels.unwrap_or_default(),
                options,
                aux_addresses,
                enable_ipv6,
                subnet6: config6.subnet,
                gateway6: config6.gateway,
                ip_range6: config6.ip_range,
            },
        )?;
        drop(locked);
        self.network_event(&rec, "create", None);
        Ok(rec)
    }

    /// docker network rm: 403 for a predefined network or one with endpoints.
    pub fn remove_network(&self, reference: &str) -> Result<()> {
        let store = self.net_store();
        let locked = store.lock()?;
        self.ensure_predefined(&locked)?;
        let all = locked.list();
        let rec = find(&all, reference).ok_or_else(|| not_found(reference))?;
        if rec.predefined {
            return Err(EngineError::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let containers = self.paths.containers();
        if rec
            .endpoints
            .keys()
            .any(|cid| containers.join(cid).exists())
        {
            return Err(EngineError::forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                rec.name, rec.id
            )));
        }
        // The bridge first: a process killed in between leaves a record whose bridge the next
        // container start makes again, never a bridge that nothing names.
        net::delete_bridge(&rec.bridge)?;
        locked.delete(&rec.id)?;
        net::firewall::sync(&self.paths.root)?;
        drop(locked);
        self.network_event(rec, "destroy", None);
        Ok(())
    }

    /// docker network prune: user-defined networks no container uses, matching the filters
    /// (`label`, `label!`, `until`). Returns the names removed.
    pub fn prune_networks(&self, filters: &Filters) -> Result<Vec<String>> {
        super::filters::validate(filters, &["label", "label!", "until"])?;
        let until = super::filters::prune_until(filters)?;
        let containers = self.paths.containers();
        let mut removed = Vec::new();
        for rec in self.networks()? {
            if rec.predefined
                || rec.endpoints.keys().any(|c| containers.join(c).exists())
                || !super::filters::prune_labels_pass(filters, &rec.labels)
            {
                continue;
            }
            if let Some(until) = until {
                let created = super::time::parse_bound(&rec.created)
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64);
                if created.is_some_and(|c| c >= until) {
                    continue;
                }
            }
            match self.remove_network(&rec.id) {
                Ok(()) => removed.push(rec.name.clone()),
                Err(e) if e.is(ErrorKind::Forbidden) || e.is(ErrorKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// docker network ls, with dockerd's filters: name (substring), id (prefix), label,
    /// driver, type (custom|builtin), dangling.
    pub fn list_networks(&self, filters: &Filters) -> Result<Vec<NetworkRecord>> {
        for (k, vals) in filters {
            match k.as_str() {
                "name" | "id" | "label" | "driver" | "scope" => {}
                "type" => {
                    if let Some(v) = vals
                        .iter()
                        .find(|v| !matches!(v.as_str(), "custom" | "builtin"))
                    {
                        return Err(EngineError::invalid_parameter(format!(
                            "invalid filter: 'type'='{v}'"
                        )));
                    }
                }
                "dangling" => {
                    if let Some(v) = vals
                        .iter()
                        .find(|v| !matches!(v.as_str(), "true" | "false" | "1" | "0"))
                    {
                        return Err(EngineError::invalid_parameter(format!(
                            "invalid filter 'dangling={v}'"
                        )));
                    }
                }
                other => {
                    return Err(EngineError::invalid_parameter(format!(
                        "invalid filter '{other}'"
                    )))
                }
            }
        }
        let containers = self.paths.containers();
        let any = |key: &str, f: &dyn Fn(&str) -> bool| match filters.get(key) {
            None => true,
            Some(vals) => vals.iter().any(|v| f(v)),
        };
        Ok(self
            .networks()?
            .into_iter()
            .filter(|n| any("name", &|v| n.name.contains(v)))
            .filter(|n| any("id", &|v| n.id.starts_with(v)))
            .filter(|n| any("driver", &|v| n.driver == v))
            .filter(|_| any("scope", &|v| v == "local"))
            .filter(|n| any("type", &|v| (v == "builtin") == n.predefined))
            .filter(|n| {
                any("dangling", &|v| {
                    let used = n.endpoints.keys().any(|c| containers.join(c).exists());
                    let want_dangling = matches!(v, "true" | "1");
                    want_dangling == (!used && !n.predefined)
                })
            })
            .filter(|n| labels_pass(filters, &n.labels))
            .collect())
    }

    /// Docker's network object. `with_containers` for inspect (list leaves it empty).
    pub fn network_json(&self, n: &NetworkRecord, with_containers: bool) -> Value {
        let mut containers = serde_json::Map::new();
        let prefix = n.subnet().map(|s| s.prefix).unwrap_or(0);
        let prefix6 = n.subnet6().map(|s| s.prefix).unwrap_or(0);
        if with_containers {
            let dirs = self.paths.containers();
            for (cid, ep) in &n.endpoints {
                if !dirs.join(cid).exists() {
                    continue;
                }
                containers.insert(
                    cid.clone(),
                    json!({
                        "Name": ep.container_name,
                        "EndpointID": ep.endpoint_id,
                        "MacAddress": ep.mac,
                        "IPv4Address": if ep.ip.is_empty() { String::new() } else { format!("{}/{prefix}", ep.ip) },
                        "IPv6Address": if ep.ip6.is_empty() { String::new() } else { format!("{}/{prefix6}", ep.ip6) },
                    }),
                );
            }
        }
        let mut config = serde_json::Map::new();
        if !n.subnet.is_empty() {
            config.insert("Subnet".into(), json!(n.subnet));
            if !n.ip_range.is_empty() {
                config.insert("IPRange".into(), json!(n.ip_range));
            }
            config.insert("Gateway".into(), json!(n.gateway));
            if !n.aux_addresses.is_empty() {
                config.insert("AuxiliaryAddresses".into(), json!(n.aux_addresses));
            }
        }
        let mut configs = Vec::new();
        if !config.is_empty() {
            configs.push(Value::Object(config));
        }
        if n.subnet6().is_some() {
            let mut c6 = serde_json::Map::new();
            c6.insert("Subnet".into(), json!(n.subnet6));
            if !n.ip_range6.is_empty() {
                c6.insert("IPRange".into(), json!(n.ip_range6));
            }
            c6.insert("Gateway".into(), json!(n.gateway6));
            configs.push(Value::Object(c6));
        }
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": true,
            "EnableIPv6": n.subnet6().is_some(),
            "IPAM": {
                "Driver": "default",
                "Options": if n.predefined { Value::Null } else { json!({}) },
                "Config": configs,
            },
            "Internal": n.internal,
            "Attachable": n.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        })
    }

    /// At an API process's start: reclaim the addresses of containers that are gone.
    pub(crate) fn sweep_networks(&self) {
        let store = self.net_store();
        if !store.dir.is_dir() {
            return;
        }
        let Ok(locked) = store.lock() else { return };
        if let Ok(changed) = locked.reclaim(&self.paths.containers()) {
            let all = locked.list();
            for rec in &changed {
                net::hosts::refresh(&self.paths, rec, &all);
            }
        }
    }

    /// A container was renamed: its peers know it by the new name.
    pub(crate) fn rename_endpoints(&self, id: &str, name: &str) {
        let store = self.net_store();
        let Ok(locked) = store.lock() else { return };
        if let Ok(changed) = locked.rename(id, name) {
            let all = locked.list();
            for rec in &changed {
                net::hosts::refresh(&self.paths, rec, &all);
            }
        }
    }

    /// Log a network event (create, connect, disconnect, destroy).
    pub(crate) fn network_event(&self, n: &NetworkRecord, action: &str, container: Option<&str>) {
        let ev = berth_shim::events::Event::network(&n.id, action, &n.name, &n.driver, container);
        self.log_event(ev);
    }
}

/// dockerd's lookup order: full id, exact name, unique id prefix.
pub fn find<'a>(all: &'a [NetworkRecord], reference: &str) -> Option<&'a NetworkRecord> {
    let reference = if reference == "default" {
        "bridge"
    } else {
        reference
    };
    if reference.is_empty() {
        return None;
    }
    all.iter()
        .find(|n| n.id == reference)
        .or_else(|| all.iter().find(|n| n.name == reference))
        .or_else(|| {
            let mut m = all.iter().filter(|n| n.id.starts_with(reference));
            match (m.next(), m.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, id: &str) -> NetworkRecord {
        NetworkRecord {
            name: name.into(),
            id: id.into(),
            ..NetworkRecord::default()
        }
    }

    #[test]
    fn networks_are_found_by_id_name_and_prefix() {
        let all = vec![
            rec("bridge", "abc1"),
            rec("abc", "abd2"),
            rec("web", "ff00"),
        ];
        assert_eq!(find(&all, "default").unwrap().name, "bridge");
        assert_eq!(
            find(&all, "abc").unwrap().id,
            "abd2",
            "a name before a prefix"
        );
        assert_eq!(find(&all, "ff").unwrap().name, "web");
        assert!(find(&all, "ab").is_none(), "an ambiguous prefix");
        assert!(find(&all, "").is_none());
    }

    #[test]
    fn ipam_nulls_from_docker_py_are_empty() {
        let req: CreateNetwork = serde_json::from_str(
            r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.1.0.0/24","IPRange":null,"Gateway":null,"AuxiliaryAddresses":{"r":"10.1.0.2"}}]}}"#,
        )
        .expect("docker-py's IPAM config with nulls");
        let c = &req.ipam.unwrap().config.unwrap()[0];
        assert_eq!((c.ip_range.as_str(), c.gateway.as_str()), ("", ""));
        assert_eq!(c.auxiliary_addresses.as_ref().unwrap()["r"], "10.1.0.2");
    }

    #[test]
    fn label_filters() {
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "1".to_string());
        let f = crate::engine::filters::parse(Some(r#"{"label":["a=1"]}"#)).unwrap();
        assert!(labels_pass(&f, &labels));
        let f = crate::engine::filters::parse(Some(r#"{"label!":["a"]}"#)).unwrap();
        assert!(!labels_pass(&f, &labels));
        let f = crate::engine::filters::parse(Some(r#"{"label":["b"]}"#)).unwrap();
        assert!(!labels_pass(&f, &labels));
    }
}
