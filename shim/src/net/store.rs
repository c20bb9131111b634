//! The network store: one record per network, `<root>/networks/<id>.json`, holding its
//! settings and its endpoints (the addresses handed out: that is the IPAM state). Every change
//! happens under one flock of `<root>/networks/networks.lock` and is written by temp file and
//! rename, so any number of API processes, CLI runs and shims (which free the addresses of
//! auto-removed containers) agree, and a SIGKILL leaves the old record or the new one.

use super::ipam::{self, Subnet};
use super::ipam6::{self, Subnet6};
use super::{NetError, Result};
use crate::fsutil::{self, FileLock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The version written in every network record.
pub const NETWORK_VERSION: u32 = 1;

/// An allocation whose container directory is missing is reclaimed after this long (a create
/// in progress writes the directory within it).
const STALE_AFTER_SECS: u64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct NetworkRecord {
    pub version: u32,
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// "bridge", "host" or "null".
    pub driver: String,
    /// RFC 3339.
    pub created: String,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// "10.213.0.0/24"; empty for host and null.
    pub subnet: String,
    pub gateway: String,
    pub ip_range: String,
    /// The Linux bridge ("br-" and 12 digits of the id).
    pub bridge: String,
    /// Created by berth itself (bridge, host, none): never removed.
    pub predefined: bool,
    /// IPAM AuxiliaryAddresses: name -> an address of the subnet never handed out.
    pub aux_addresses: BTreeMap<String, String>,
    /// EnableIPv6: the network has an IPv6 subnet too (`subnet6`), and every endpoint an
    /// address in it.
    pub enable_ipv6: bool,
    /// "fd00:1::/64"; empty unless `enable_ipv6`.
    pub subnet6: String,
    pub gateway6: String,
    pub ip_range6: String,
    /// By container id.
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct EndpointRecord {
    /// Without the leading slash.
    pub container_name: String,
    pub endpoint_id: String,
    pub ip: String,
    /// The IPv6 address, on a network with IPv6.
    pub ip6: String,
    pub mac: String,
    pub aliases: Vec<String>,
    /// The address the client asked for (IPAMConfig.IPv4Address), if any.
    pub requested_ip: String,
    /// IPAMConfig.IPv6Address, if any.
    pub requested_ip6: String,
    /// The client sent an IPAMConfig (inspect shows it back, `{}` when empty, as dockerd).
    pub ipam_given: bool,
    /// IPAMConfig.LinkLocalIPs.
    pub link_local: Vec<String>,
    /// The endpoint's DriverOpts as sent.
    pub driver_opts: BTreeMap<String, String>,
    /// EndpointSettings.Links ("name:alias"), as sent: on this network the container finds
    /// the container `name` by `alias` too (its /etc/hosts says so).
    pub links: Vec<String>,
    /// Seconds since the epoch.
    pub created: u64,
}

impl NetworkRecord {
    pub fn subnet(&self) -> Option<Subnet> {
        Subnet::parse(&self.subnet)
    }
    pub fn gateway_ip(&self) -> Option<Ipv4Addr> {
        self.gateway.parse().ok()
    }
    /// The IPv6 subnet, on a network with `EnableIPv6`.
    pub fn subnet6(&self) -> Option<Subnet6> {
        Subnet6::parse(&self.subnet6).filter(|_| self.enable_ipv6)
    }
    pub fn gateway6_ip(&self) -> Option<Ipv6Addr> {
        self.gateway6.parse().ok()
    }
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
    /// Containers find each other by name on user-defined networks only (as with dockerd).
    pub fn resolves_names(&self) -> bool {
        self.is_bridge() && !self.predefined
    }
    /// A bridge option that is "false" (`enable_icc`, `enable_ip_masquerade`): they default on.
    pub fn option_off(&self, key: &str) -> bool {
        self.options
            .get(key)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "f"))
    }
    /// `com.docker.network.driver.mtu`; 0 when unset (checked at create).
    pub fn mtu(&self) -> u32 {
        self.options
            .get(OPT_MTU)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    /// `host_binding_ipv4`: the host address of a port binding that names none (checked at
    /// create); None when unset or all addresses.
    pub fn host_binding(&self) -> Option<String> {
        self.options
            .get(OPT_HOST_BINDING)
            .and_then(|v| v.parse::<std::net::IpAddr>().ok())
            .filter(|a| !a.is_unspecified())
            .map(|a| a.to_string())
    }
    /// The auxiliary addresses, parsed (checked at create).
    pub fn aux_ips(&self) -> Vec<Ipv4Addr> {
        self.aux_addresses
            .values()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// The bridge options berth honours (dockerd's names).
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// The host address ports published on the network bind to when a binding names none.
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";

/// What a container asks of its endpoint on a network (its EndpointSettings, checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointWish {
    pub aliases: Vec<String>,
    /// IPAMConfig.IPv4Address; empty: the first free address.
    pub ip: String,
    /// IPAMConfig.IPv6Address; empty: the first free address of the IPv6 subnet (if any).
    pub ip6: String,
    /// MacAddress, normalised; empty: 02:42 and the address.
    pub mac: String,
    pub ipam_given: bool,
    pub link_local: Vec<String>,
    pub driver_opts: BTreeMap<String, String>,
    /// EndpointSettings.Links ("name:alias"), checked.
    pub links: Vec<String>,
}

/// The store of one root.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// The store, locked: every read-modify-write of records goes through one of these.
pub struct Locked<'a> {
    store: &'a Store,
    _lock: FileLock,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            dir: root.join("networks"),
        }
    }

    pub fn lock(&self) -> Result<Locked<'_>> {
        std::fs::create_dir_all(&self.dir).map_err(|e| NetError::io(&self.dir, e))?;
        let path = self.dir.join("networks.lock");
        let lock = FileLock::acquire(&path).map_err(|e| NetError::io(&path, e))?;
        Ok(Locked {
            store: self,
            _lock: lock,
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Every record, read without the lock (each file is whole, thanks to the renames).
    pub fn list(&self) -> Vec<NetworkRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<NetworkRecord> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
                let data = std::fs::read(e.path()).ok()?;
                serde_json::from_slice(&data).ok()
            })
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        out
    }

    pub fn get(&self, id: &str) -> Option<NetworkRecord> {
        let data = std::fs::read(self.path(id)).ok()?;
        serde_json::from_slice(&data).ok()
    }
}

impl Locked<'_> {
    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn list(&self) -> Vec<NetworkRecord> {
        self.store.list()
    }

    pub fn get(&self, id: &str) -> Option<NetworkRecord> {
        self.store.get(id)
    }

    pub fn save(&self, rec: &NetworkRecord) -> Result<()> {
        let path = self.store.path(&rec.id);
        let data = serde_json::to_vec_pretty(rec).map_err(|e| NetError::io(&path, e.into()))?;
        fsutil::write_atomic(&path, &data).map_err(|e| NetError::io(&path, e))
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        let path = self.store.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io(&path, e)),
        }
    }

    /// A subnet for a new network: from the pool, clear of the host's routes and of every
    /// network of this root. Call under [`subnet_lock`] until the bridge carries it.
    pub fn pick_subnet(&self) -> Option<Subnet> {
        ipam::pick_subnet(&self.taken_subnets())
    }

    /// A /16 for the default `bridge` network, clear of the host's routes and of this root.
    pub fn pick_default_bridge_subnet(&self) -> Option<Subnet> {
        ipam::pick_default_bridge_subnet(&self.taken_subnets())
    }

    fn taken_subnets(&self) -> Vec<Subnet> {
        let mut taken = ipam::host_routes();
        taken.extend(self.list().iter().filter_map(NetworkRecord::subnet));
        taken
    }

    /// Give container `id` an endpoint on `rec` (saved). An address of its own when
    /// `requested` is set; otherwise the first free one. Allocations of containers that no
    /// longer exist are reclaimed on the way.
    pub fn allocate(
        &self,
        rec: &mut NetworkRecord,
        containers: &Path,
        id: &str,
        name: &str,
        wish: &EndpointWish,
    ) -> Result<EndpointRecord> {
        let requested = wish.ip.as_str();
        let now = now_secs();
        rec.endpoints
            .retain(|cid, ep| cid == id || !is_stale(containers, cid, ep, now));
        let mut ep = EndpointRecord {
            container_name: name.to_string(),
            endpoint_id: crate::ids::random_id(),
            aliases: wish.aliases.clone(),
            requested_ip: requested.to_string(),
            requested_ip6: wish.ip6.clone(),
            ipam_given: wish.ipam_given,
            link_local: wish.link_local.clone(),
            driver_opts: wish.driver_opts.clone(),
            links: wish.links.clone(),
            created: now,
            ..EndpointRecord::default()
        };
        if let Some(subnet) = rec.subnet() {
            let mut used: Vec<Ipv4Addr> = rec
                .endpoints
                .iter()
                .filter(|(cid, _)| cid.as_str() != id)
                .filter_map(|(_, e)| e.ip.parse().ok())
                .collect();
            // Auxiliary addresses are never handed out (dockerd: "Address already in use").
            used.extend(rec.aux_ips());
            let gateway = rec.gateway_ip();
            let ip = if requested.is_empty() {
                let range = Subnet::parse(&rec.ip_range);
                ipam::first_free(&subnet, range.as_ref(), gateway, &used).ok_or_else(|| {
                    NetError::Exhausted(format!(
                        "no available IPv4 addresses on this network's address pools: {} ({})",
                        rec.name, rec.id
                    ))
                })?
            } else {
                let ip: Ipv4Addr = requested
                    .parse()
                    .map_err(|_| NetError::Invalid(format!("invalid IPv4 address: {requested}")))?;
                if !subnet.contains(ip) || Some(ip) == gateway {
                    return Err(NetError::Invalid(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                if used.contains(&ip) {
                    return Err(NetError::InUse(format!(
                        "Address already in use: {ip} on network {}",
                        rec.name
                    )));
                }
                ip
            };
            ep.ip = ip.to_string();
            ep.mac = if wish.mac.is_empty() {
                ipam::mac_for(ip)
            } else {
                wish.mac.clone()
            };
        }
        ep.ip6 = allocate6(rec, id, &wish.ip6)?;
        rec.endpoints.insert(id.to_string(), ep.clone());
        self.save(rec)?;
        Ok(ep)
    }

    /// Drop the endpoints of containers that are gone (a process killed between an allocation
    /// and the container's appearance, or before a remove freed them); the records changed.
    pub fn reclaim(&self, containers: &Path) -> Result<Vec<NetworkRecord>> {
        let now = now_secs();
        let mut changed = Vec::new();
        for mut rec in self.list() {
            let before = rec.endpoints.len();
            rec.endpoints
                .retain(|cid, ep| !is_stale(containers, cid, ep, now));
            if rec.endpoints.len() != before {
                self.save(&rec)?;
                changed.push(rec);
            }
        }
        Ok(changed)
    }

    /// Set the container name of `id`'s endpoints (a rename); the records changed.
    pub fn rename(&self, id: &str, name: &str) -> Result<Vec<NetworkRecord>> {
        let mut changed = Vec::new();
        for mut rec in self.list() {
            if let Some(ep) = rec.endpoints.get_mut(id) {
                ep.container_name = name.to_string();
                self.save(&rec)?;
                changed.push(rec);
            }
        }
        Ok(changed)
    }

    /// Drop container `id`'s endpoint on network `net_id`; the updated record, if it had one.
    pub fn release(&self, net_id: &str, id: &str) -> Result<Option<NetworkRecord>> {
        let Some(mut rec) = self.get(net_id) else {
            return Ok(None);
        };
        if rec.endpoints.remove(id).is_none() {
            return Ok(None);
        }
        self.save(&rec)?;
        Ok(Some(rec))
    }
}

/// Container `id`'s IPv6 address on `rec`: `requested` when set (it must be in the network's
/// IPv6 subnet and free), else the first free one; empty on a network without IPv6.
fn allocate6(rec: &NetworkRecord, id: &str, requested: &str) -> Result<String> {
    let Some(subnet) = rec.subnet6() else {
        if requested.is_empty() {
            return Ok(String::new());
        }
        return Err(NetError::Invalid(format!(
            "Invalid address {requested}: It does not belong to any of this network's subnets"
        )));
    };
    let used: Vec<Ipv6Addr> = rec
        .endpoints
        .iter()
        .filter(|(cid, _)| cid.as_str() != id)
        .filter_map(|(_, e)| e.ip6.parse().ok())
        .collect();
    let gateway = rec.gateway6_ip();
    if requested.is_empty() {
        let range = Subnet6::parse(&rec.ip_range6);
        let ip = ipam6::first_free(&subnet, range.as_ref(), gateway, &used).ok_or_else(|| {
            NetError::Exhausted(format!(
                "no available IPv6 addresses on this network's address pools: {} ({})",
                rec.name, rec.id
            ))
        })?;
        return Ok(ip.to_string());
    }
    let ip: Ipv6Addr = requested
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid IPv6 address: {requested}")))?;
    if !subnet.contains(ip) || Some(ip) == gateway {
        return Err(NetError::Invalid(format!(
            "Invalid address {ip}: It does not belong to any of this network's subnets"
        )));
    }
    if used.contains(&ip) {
        return Err(NetError::InUse(format!(
            "Address already in use: {ip} on network {}",
            rec.name
        )));
    }
    Ok(ip.to_string())
}

/// An endpoint whose container has no directory (nor one being created) and that is older
/// than a create takes.
fn is_stale(containers: &Path, cid: &str, ep: &EndpointRecord, now: u64) -> bool {
    !containers.join(cid).exists()
        && !containers.join(format!(".creating-{cid}")).exists()
        && now.saturating_sub(ep.created) >= STALE_AFTER_SECS
}

/// Held while a new subnet is chosen and its bridge given the gateway address: the host's
/// routes are the registry that every berth root on the machine reads.
pub fn subnet_lock() -> Result<FileLock> {
    let dir = Path::new("/run/lock");
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join("berth-subnets.lock");
    FileLock::acquire(&path).map_err(|e| NetError::io(&path, e))
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(subnet: &str) -> NetworkRecord {
        let s = Subnet::parse(subnet).unwrap();
        NetworkRecord {
            version: NETWORK_VERSION,
            id: "a".repeat(64),
            name: "n".into(),
            driver: "bridge".into(),
            subnet: subnet.into(),
            gateway: s.default_gateway().to_string(),
            ..NetworkRecord::default()
        }
    }

    fn wish(aliases: &[&str], ip: &str) -> EndpointWish {
        EndpointWish {
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ip: ip.into(),
            ..EndpointWish::default()
        }
    }

    #[test]
    fn auxiliary_addresses_are_not_handed_out_and_a_mac_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let containers = tmp.path().join("containers");
        let locked = store.lock().unwrap();
        let mut rec = net("10.9.0.0/29");
        rec.aux_addresses.insert("router".into(), "10.9.0.2".into());
        let (c1, c2) = ("1".repeat(64), "2".repeat(64));
        let mut w = wish(&[], "");
        w.mac = "02:00:00:00:00:09".into();
        let a = locked
            .allocate(&mut rec, &containers, &c1, "one", &w)
            .unwrap();
        assert_eq!(
            (a.ip.as_str(), a.mac.as_str()),
            ("10.9.0.3", "02:00:00:00:00:09"),
            "expected the address after the auxiliary one, with the MAC asked for"
        );
        let aux = locked.allocate(&mut rec, &containers, &c2, "two", &wish(&[], "10.9.0.2"));
        assert!(
            matches!(aux, Err(NetError::InUse(_))),
            "expected InUse, got {aux:?}"
        );
    }

    #[test]
    fn an_ipv6_network_gives_each_endpoint_a_v6_address_too() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let containers = tmp.path().join("containers");
        let locked = store.lock().unwrap();
        let mut rec = net("10.9.0.0/24");
        rec.enable_ipv6 = true;
        rec.subnet6 = "fd00:9::/64".into();
        rec.gateway6 = "fd00:9::1".into();
        let (c1, c2, c3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        let a = locked
            .allocate(&mut rec, &containers, &c1, "one", &wish(&[], ""))
            .unwrap();
        assert_eq!(
            (a.ip.as_str(), a.ip6.as_str()),
            ("10.9.0.2", "fd00:9::2"),
            "expected the first free address of each subnet"
        );
        let mut w = wish(&[], "");
        w.ip6 = "fd00:9::99".into();
        let b = locked
            .allocate(&mut rec, &containers, &c2, "two", &w)
            .unwrap();
        assert_eq!(
            (b.ip6.as_str(), b.requested_ip6.as_str()),
            ("fd00:9::99", "fd00:9::99")
        );
        let taken = locked.allocate(&mut rec, &containers, &c3, "three", &w);
        assert!(
            matches!(taken, Err(NetError::InUse(_))),
            "expected InUse, got {taken:?}"
        );
        w.ip6 = "fd00:8::5".into();
        let outside = locked.allocate(&mut rec, &containers, &c3, "three", &w);
        assert!(
            matches!(&outside, Err(NetError::Invalid(m)) if m.contains("does not belong")),
            "expected an address outside the subnet refused, got {outside:?}"
        );
        let mut v4 = net("10.8.0.0/24");
        let plain = locked
            .allocate(&mut v4, &containers, &c3, "three", &wish(&[], ""))
            .unwrap();
        assert_eq!(plain.ip6, "", "expected no IPv6 address on an IPv4 network");
        let refused = locked.allocate(&mut v4, &containers, &c3, "three", &w);
        assert!(
            matches!(refused, Err(NetError::Invalid(_))),
            "expected IPv6Address refused on an IPv4 network, got {refused:?}"
        );
    }

    #[test]
    fn allocations_are_unique_reclaimed_and_released() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let containers = tmp.path().join("containers");
        let (c1, c2, c3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        std::fs::create_dir_all(containers.join(&c1)).unwrap();
        std::fs::create_dir_all(containers.join(&c2)).unwrap();
        let locked = store.lock().unwrap();
        let mut rec = net("10.9.0.0/29");
        let a = locked
            .allocate(&mut rec, &containers, &c1, "one", &wish(&[], ""))
            .unwrap();
        let b = locked
            .allocate(&mut rec, &containers, &c2, "two", &wish(&["web"], ""))
            .unwrap();
        assert_eq!((a.ip.as_str(), b.ip.as_str()), ("10.9.0.2", "10.9.0.3"));
        assert_eq!(b.mac, "02:42:0a:09:00:03");
        let taken = locked.allocate(&mut rec, &containers, &c3, "three", &wish(&[], "10.9.0.2"));
        assert!(matches!(taken, Err(NetError::InUse(_))), "{taken:?}");
        let outside = locked.allocate(&mut rec, &containers, &c3, "three", &wish(&[], "10.9.1.2"));
        assert!(matches!(outside, Err(NetError::Invalid(_))), "{outside:?}");
        // A stale allocation (no container directory, old) is reclaimed.
        rec.endpoints.get_mut(&c1).unwrap().created = 0;
        std::fs::remove_dir(containers.join(&c1)).unwrap();
        let c = locked
            .allocate(&mut rec, &containers, &c3, "three", &wish(&[], ""))
            .unwrap();
        assert_eq!(c.ip, "10.9.0.2");
        let saved = store.get(&rec.id).unwrap();
        assert_eq!(saved.endpoints.len(), 2);
        let after = locked.release(&rec.id, &c2).unwrap().unwrap();
        assert!(!after.endpoints.contains_key(&c2));
        assert!(locked.release(&rec.id, &c2).unwrap().is_none());
        // A sweep reclaims what a killed process left; a rename reaches the records.
        let mut rec = store.get(&rec.id).unwrap();
        rec.endpoints.get_mut(&c3).unwrap().created = 0;
        locked.save(&rec).unwrap();
        assert_eq!(locked.rename(&c3, "renamed").unwrap().len(), 1);
        assert_eq!(
            store.get(&rec.id).unwrap().endpoints[&c3].container_name,
            "renamed"
        );
        let changed = locked.reclaim(&containers).unwrap();
        assert_eq!(changed.len(), 1);
        assert!(store.get(&rec.id).unwrap().endpoints.is_empty());
        assert!(locked.reclaim(&containers).unwrap().is_empty());
    }
}
