//! Container networking with no daemon. A network is a record in the [`store`] (its subnet,
//! its endpoints: the addresses handed out) plus a Linux bridge carrying the gateway address and
//! this root's nftables table ([`firewall`]). A container's endpoint is a veth pair: the host
//! end on the bridge, the other end created directly inside the container's network namespace
//! as eth0, eth1, ... with its address, MAC and default route. The shim plugs the endpoints in
//! before the container's process runs, at every start and restart ([`attach_all`]); the API
//! plugs one in on a running container (connect). Nothing needs unplugging: when the
//! container's namespace goes, the kernel deletes its veth pairs with it. Published ports and
//! bandwidth limits are the shim's too ([`host_side`]: [`ports`], [`shape`]).

pub mod dns;
pub mod firewall;
pub mod host_side;
pub mod hosts;
pub mod ipam;
pub mod ipam6;
pub mod iptables;
pub mod netlink;
pub mod ports;
pub mod shape;
pub mod store;

use crate::spec::EndpointSpec;
use netlink::Netlink;
use nix::sched::CloneFlags;
use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Netlink(#[from] netlink::NetlinkError),
    #[error("entering the network namespace of {what}: {source}")]
    Setns { what: String, source: nix::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    Exhausted(String),
    #[error("nft: {0}")]
    Firewall(String),
}

impl NetError {
    pub fn io(path: &Path, source: std::io::Error) -> NetError {
        NetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, NetError>;

/// What plugging an endpoint in made: where later steps (published ports, bandwidth shaping,
/// counters) find the container's side and the host's side of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    pub network_id: String,
    /// The host end of the veth pair, on the network's bridge.
    pub host_veth: String,
    /// The container's end, as the container names it (eth0, ...).
    pub ifname: String,
    pub address: Ipv4Addr,
    /// The container process whose network namespace holds `ifname`.
    pub pid: i32,
}

/// The Linux bridge of a network: "br-" and the first 12 digits of its id (15 characters, the
/// kernel's limit; ids are random, so two roots never pick the same).
pub fn bridge_name(network_id: &str) -> String {
    format!("br-{}", &network_id[..12.min(network_id.len())])
}

/// The host end of a container's veth pair on a network: "vb", 7 digits of the container id
/// and 6 of the network id. The same pair of ids always gives the same name, so a leftover of
/// a killed process is found and deleted before the name is used again.
pub fn host_veth_name(container_id: &str, network_id: &str) -> String {
    format!(
        "vb{}{}",
        &container_id[..7.min(container_id.len())],
        &network_id[..6.min(network_id.len())]
    )
}

/// Make the network's bridge exist (with the network's MTU, when set), carry the gateway
/// address and be up. When the bridge had to be created (first use, or after a reboot), this
/// root's firewall is written again too.
pub fn ensure_bridge(
    root: &Path,
    bridge: &str,
    gateway: Ipv4Addr,
    prefix: u8,
    gateway6: Option<(Ipv6Addr, u8)>,
    mtu: u32,
) -> Result<()> {
    let mut nl = Netlink::open()?;
    let created = nl.add_bridge(bridge, mtu)?;
    let index = netlink::index_of(bridge)?;
    nl.add_address(index, gateway, prefix)?;
    if let Some((gw6, prefix6)) = gateway6 {
        // The host may disable IPv6 on new interfaces (conf/default); this one carries it.
        enable_ipv6_on(bridge)?;
        nl.add_address6(index, gw6, prefix6)?;
    }
    nl.set_up(index, None)?;
    if created {
        firewall::sync(root)?;
    }
    Ok(())
}

/// `net.ipv6.conf.<ifname>.disable_ipv6=0` in the calling thread's network namespace (dockerd
/// sets it so on the interfaces of an IPv6 network).
fn enable_ipv6_on(ifname: &str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"));
    std::fs::write(&path, "0").map_err(|e| NetError::io(&path, e))
}

/// What a new bridge network is made from (Docker's create request, checked by the caller).
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub internal: bool,
    pub attachable: bool,
    /// Created by berth (the `bridge` network).
    pub predefined: bool,
    /// CIDR; empty: one from berth's pool.
    pub subnet: String,
    /// Empty: the subnet's first address.
    pub gateway: String,
    pub ip_range: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Driver options (checked by the caller); `com.docker.network.bridge.name` names the
    /// Linux bridge.
    pub options: std::collections::BTreeMap<String, String>,
    /// IPAM AuxiliaryAddresses: name -> address, in the subnet, never handed out.
    pub aux_addresses: std::collections::BTreeMap<String, String>,
    /// EnableIPv6, with the IPv6 IPAM config (`subnet6` required then).
    pub enable_ipv6: bool,
    pub subnet6: String,
    /// Empty: the IPv6 subnet's first address.
    pub gateway6: String,
    pub ip_range6: String,
}

/// The IPv6 half of a new network, checked: its subnet (clear of this root's other IPv6
/// subnets), gateway and range. None when the network has no IPv6.
fn check_v6(
    locked: &store::Locked<'_>,
    new: &NewNetwork,
) -> Result<Option<(ipam6::Subnet6, Ipv6Addr)>> {
    if !new.enable_ipv6 {
        return Ok(None);
    }
    let subnet = ipam6::Subnet6::parse(&new.subnet6)
        .ok_or_else(|| NetError::Invalid(format!("invalid CIDR address: {}", new.subnet6)))?;
    if let Some(other) = locked
        .list()
        .into_iter()
        .find(|n| n.subnet6().is_some_and(|o| o.overlaps(&subnet)))
    {
        return Err(NetError::InUse(format!(
            "invalid pool request: Pool overlaps with other one on this address space ({})",
            other.name
        )));
    }
    let gateway = if new.gateway6.is_empty() {
        subnet.default_gateway()
    } else {
        let g: Ipv6Addr = new
            .gateway6
            .parse()
            .map_err(|_| NetError::Invalid(format!("invalid gateway address: {}", new.gateway6)))?;
        if !subnet.contains(g) {
            return Err(NetError::Invalid(format!(
                "no matching subnet for gateway {g}"
            )));
        }
        g
    };
    if !new.ip_range6.is_empty() {
        let r = ipam6::Subnet6::parse(&new.ip_range6)
            .ok_or_else(|| NetError::Invalid(format!("invalid CIDR address: {}", new.ip_range6)))?;
        if !subnet.contains(r.base) || r.prefix < subnet.prefix {
            return Err(NetError::Invalid(format!(
                "no matching subnet for range {}",
                new.ip_range6
            )));
        }
    }
    Ok(Some((subnet, gateway)))
}

/// Create a bridge network (its record, its bridge with the gateway address, this root's
/// firewall), under the store's lock. A failure leaves nothing behind.
pub fn create_bridge_network(
    root: &Path,
    locked: &store::Locked<'_>,
    new: NewNetwork,
) -> Result<store::NetworkRecord> {
    let id = crate::ids::random_id();
    // The subnet lock is held until the bridge carries the subnet (and so shows in the host's
    // routes, which other roots read).
    let _subnet_lock = store::subnet_lock()?;
    let subnet = if new.subnet.is_empty() {
        let picked = if new.predefined {
            locked.pick_default_bridge_subnet()
        } else {
            locked.pick_subnet()
        };
        picked.ok_or_else(|| {
            NetError::Exhausted(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".to_string(),
            )
        })?
    } else {
        let s = ipam::Subnet::parse(&new.subnet)
            .ok_or_else(|| NetError::Invalid(format!("invalid CIDR address: {}", new.subnet)))?;
        if let Some(other) = locked
            .list()
            .into_iter()
            .find(|n| n.subnet().is_some_and(|o| o.overlaps(&s)))
        {
            return Err(NetError::InUse(format!(
                "invalid pool request: Pool overlaps with other one on this address space ({})",
                other.name
            )));
        }
        s
    };
    let gateway = if new.gateway.is_empty() {
        subnet.default_gateway()
    } else {
        let g: Ipv4Addr = new
            .gateway
            .parse()
            .map_err(|_| NetError::Invalid(format!("invalid gateway address: {}", new.gateway)))?;
        if !subnet.contains(g) {
            return Err(NetError::Invalid(format!(
                "no matching subnet for gateway {g}"
            )));
        }
        g
    };
    if !new.ip_range.is_empty() {
        let r = ipam::Subnet::parse(&new.ip_range)
            .ok_or_else(|| NetError::Invalid(format!("invalid CIDR address: {}", new.ip_range)))?;
        if !subnet.contains(r.base) || r.prefix < subnet.prefix {
            return Err(NetError::Invalid(format!(
                "no matching subnet for range {}",
                new.ip_range
            )));
        }
    }
    for (name, addr) in &new.aux_addresses {
        let ok = addr.parse::<Ipv4Addr>().is_ok_and(|a| subnet.contains(a));
        if !ok {
            return Err(NetError::Invalid(format!(
                "auxiliary address: ({name}:{addr}) must belong to the master pool: {subnet}"
            )));
        }
    }
    let v6 = check_v6(locked, &new)?;
    let bridge = match new.options.get(store::OPT_BRIDGE_NAME) {
        Some(name) => {
            let taken =
                netlink::index_of(name).is_ok() || locked.list().iter().any(|n| &n.bridge == name);
            if taken {
                // dockerd would adopt the existing interface; berth never touches a link it
                // did not create.
                return Err(NetError::InUse(format!(
                    "{}: the interface {name} exists already, and berth only uses a bridge it creates",
                    store::OPT_BRIDGE_NAME
                )));
            }
            name.clone()
        }
        None => bridge_name(&id),
    };
    let rec = store::NetworkRecord {
        version: store::NETWORK_VERSION,
        bridge,
        id,
        name: new.name,
        driver: "bridge".to_string(),
        created: crate::state::now_rfc3339(),
        internal: new.internal,
        attachable: new.attachable,
        labels: new.labels,
        options: new.options,
        subnet: subnet.to_string(),
        gateway: gateway.to_string(),
        ip_range: new.ip_range,
        predefined: new.predefined,
        aux_addresses: new.aux_addresses,
        enable_ipv6: v6.is_some(),
        subnet6: v6.map(|(s, _)| s.to_string()).unwrap_or_default(),
        gateway6: v6.map(|(_, g)| g.to_string()).unwrap_or_default(),
        ip_range6: if v6.is_some() {
            new.ip_range6
        } else {
            String::new()
        },
        endpoints: Default::default(),
    };
    locked.save(&rec)?;
    let gateway6 = v6.map(|(s, g)| (g, s.prefix));
    if let Err(e) = ensure_bridge(
        root,
        &rec.bridge,
        gateway,
        subnet.prefix,
        gateway6,
        rec.mtu(),
    ) {
        crate::cleanup::cleanup(
            format!("removing the bridge {}", rec.bridge),
            delete_bridge(&rec.bridge),
        );
        crate::cleanup::cleanup(
            format!("forgetting the network {}", rec.id),
            locked.delete(&rec.id),
        );
        return Err(e);
    }
    Ok(rec)
}

/// The endpoint spec the shim plugs in, from a network and the container's endpoint on it.
pub fn endpoint_spec(net: &store::NetworkRecord, ep: &store::EndpointRecord) -> EndpointSpec {
    EndpointSpec {
        network_id: net.id.clone(),
        network_name: net.name.clone(),
        bridge: net.bridge.clone(),
        address: ep.ip.clone(),
        prefix_len: net.subnet().map(|s| s.prefix).unwrap_or(0),
        gateway: net.gateway.clone(),
        internal: net.internal,
        mac: ep.mac.clone(),
        aliases: ep.aliases.clone(),
        link_local: ep.link_local.clone(),
        sysctls: endpoint_sysctls(&ep.driver_opts),
        mtu: net.mtu(),
        address6: ep.ip6.clone(),
        prefix_len6: net.subnet6().map(|s| s.prefix).unwrap_or(0),
        gateway6: if ep.ip6.is_empty() {
            String::new()
        } else {
            net.gateway6.clone()
        },
    }
}

/// The endpoint DriverOpts key whose value is a comma-separated list of interface sysctls.
pub const OPT_ENDPOINT_SYSCTLS: &str = "com.docker.network.endpoint.sysctls";

/// `com.docker.network.endpoint.sysctls` ("net.ipv4.conf.IFNAME.forwarding=1,...") as a map
/// (the caller has checked each with [`check_endpoint_sysctl`]).
pub fn endpoint_sysctls(
    opts: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    opts.get(OPT_ENDPOINT_SYSCTLS)
        .map(|list| {
            list.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// dockerd's rule for one interface sysctl: `net.X.Y.IFNAME.Z=V`, X one of ipv4, ipv6, mpls.
pub fn check_endpoint_sysctl(entry: &str) -> std::result::Result<(), String> {
    let key = entry.split_once('=').map(|(k, _)| k);
    let parts: Vec<&str> = key.unwrap_or("").splitn(5, '.').collect();
    let ok = key.is_some()
        && parts.len() == 5
        && parts[0] == "net"
        && matches!(parts[1], "ipv4" | "ipv6" | "mpls")
        && matches!(parts[3], "IFNAME" | "ifname")
        && crate::security::sysctl::path(key.unwrap_or("")).is_some();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unrecognised network interface sysctl '{entry}'; represent 'net.X.Y.ethN.Z=V' as 'net.X.Y.IFNAME.Z=V', 'X' must be 'ipv4', 'ipv6' or 'mpls'"
        ))
    }
}

/// Delete a network's bridge (its veths go with it).
pub fn delete_bridge(bridge: &str) -> Result<()> {
    Netlink::open()?.delete_link(bridge)?;
    Ok(())
}

/// The calling thread enters the network namespace at `target` and comes back when dropped.
struct InNetns {
    own: File,
}

impl InNetns {
    fn enter(target: &File, what: &str) -> Result<InNetns> {
        let own = File::open("/proc/thread-self/ns/net")
            .map_err(|e| NetError::io(Path::new("/proc/thread-self/ns/net"), e))?;
        nix::sched::setns(target, CloneFlags::CLONE_NEWNET).map_err(|source| NetError::Setns {
            what: what.to_string(),
            source,
        })?;
        Ok(InNetns { own })
    }
}

impl Drop for InNetns {
    fn drop(&mut self) {
        if nix::sched::setns(&self.own, CloneFlags::CLONE_NEWNET).is_err() {
            // Staying in the container's namespace would put every later step of this
            // process in the wrong place: nothing sane can follow.
            tracing::error!("cannot return to the host's network namespace");
            std::process::abort();
        }
    }
}

/// Plug every endpoint of a container whose first process is `pid` (not yet running its
/// program): eth0 for the first, eth1 for the next, ...
pub fn attach_all(
    root: &Path,
    container_id: &str,
    pid: i32,
    endpoints: &[EndpointSpec],
) -> Result<Vec<Attached>> {
    let mut out = Vec::with_capacity(endpoints.len());
    for (i, ep) in endpoints.iter().enumerate() {
        out.push(attach(root, container_id, pid, ep, &format!("eth{i}"))?);
    }
    Ok(out)
}

/// The first ethN that the container at `pid` does not have yet (for a connect while running).
pub fn next_ifname(pid: i32) -> Result<String> {
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let target = File::open(&path).map_err(|e| NetError::io(&path, e))?;
    let _inside = InNetns::enter(&target, &format!("process {pid}"))?;
    Ok((0..)
        .map(|i| format!("eth{i}"))
        .find(|n| netlink::index_of(n).is_err())
        .unwrap_or_else(|| "eth0".to_string()))
}

/// Plug one endpoint into the network namespace of `pid` as `ifname`.
pub fn attach(
    root: &Path,
    container_id: &str,
    pid: i32,
    ep: &EndpointSpec,
    ifname: &str,
) -> Result<Attached> {
    let address: Ipv4Addr = ep
        .address
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid endpoint address {}", ep.address)))?;
    let gateway: Option<Ipv4Addr> = ep.gateway.parse().ok();
    // An internal network has no way out: no default route.
    let default_route = gateway.filter(|_| !ep.internal);
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let target = File::open(&path).map_err(|e| NetError::io(&path, e))?;
    // 1. The bridge (gone after a reboot, or never made by a killed API process).
    let v6 = if ep.address6.is_empty() {
        None
    } else {
        let a: Ipv6Addr = ep
            .address6
            .parse()
            .map_err(|_| NetError::Invalid(format!("invalid endpoint address {}", ep.address6)))?;
        Some((a, ep.gateway6.parse::<Ipv6Addr>().ok()))
    };
    let gateway6 = v6.and_then(|(_, g)| g).map(|g| (g, ep.prefix_len6));
    if let Some(gw) = gateway {
        ensure_bridge(root, &ep.bridge, gw, ep.prefix_len, gateway6, ep.mtu)?;
    }
    // 2. The veth pair: the host end here, the container's end made inside its namespace.
    let host_veth = host_veth_name(container_id, &ep.network_id);
    let mut nl = Netlink::open()?;
    nl.delete_link(&host_veth)?;
    nl.add_veth(
        &host_veth,
        ifname,
        &target,
        netlink::parse_mac(&ep.mac),
        ep.mtu,
    )?;
    // 3. The host end joins the bridge and comes up.
    let bridge = netlink::index_of(&ep.bridge)?;
    let host_index = netlink::index_of(&host_veth)?;
    nl.set_up(host_index, Some(bridge))?;
    // 4. Inside: the address (and the link-local ones, each a /16 as dockerd gives them), the
    //    interface's sysctls (/proc/sys/net resolves by the writing thread's namespace), the
    //    link up, the default route through the gateway.
    {
        let _inside = InNetns::enter(&target, &format!("process {pid}"))?;
        let mut inner = Netlink::open()?;
        let index = netlink::index_of(ifname)?;
        inner.add_address(index, address, ep.prefix_len)?;
        for ll in &ep.link_local {
            let ip: Ipv4Addr = ll
                .parse()
                .map_err(|_| NetError::Invalid(format!("invalid link-local IP address: {ll}")))?;
            inner.add_address(index, ip, 16)?;
        }
        for (key, value) in &ep.sysctls {
            let key = key
                .replace(".IFNAME.", &format!(".{ifname}."))
                .replace(".ifname.", &format!(".{ifname}."));
            let path = crate::security::sysctl::path(&key)
                .ok_or_else(|| NetError::Invalid(format!("sysctl {key:?}: not a sysctl name")))?;
            std::fs::write(&path, value).map_err(|e| NetError::io(&path, e))?;
        }
        //    On an IPv6 network, as dockerd: IPv6 on for the interface, its address (no
        //    duplicate address detection: the network's IPAM hands each out once), and the
        //    IPv6 default route.
        if let Some((a6, _)) = v6 {
            enable_ipv6_on(ifname)?;
            inner.add_address6(index, a6, ep.prefix_len6)?;
        }
        inner.set_up(index, None)?;
        if let Some(gw) = default_route {
            match inner.add_default_route(gw) {
                Ok(()) => {}
                // A second network: the first one's default route stays.
                Err(e) if e.errno == nix::Error::EEXIST => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(gw6) = gateway6.map(|(g, _)| g).filter(|_| !ep.internal) {
            match inner.add_default_route6(gw6) {
                Ok(()) => {}
                Err(e) if e.errno == nix::Error::EEXIST => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Attached {
        network_id: ep.network_id.clone(),
        host_veth,
        ifname: ifname.to_string(),
        address,
        pid,
    })
}

/// Unplug a container's endpoint on a network (disconnect while running): deleting the host
/// end deletes the pair.
pub fn detach(container_id: &str, network_id: &str) -> Result<()> {
    Netlink::open()?.delete_link(&host_veth_name(container_id, network_id))?;
    Ok(())
}

/// A container is gone: free its addresses on every network and rewrite the /etc/hosts of the
/// containers that could see it. Its veths went with its network namespace.
pub fn release_container(root: &Path, container_id: &str) -> Result<()> {
    let store = store::Store::new(root);
    let locked = store.lock()?;
    let mut changed = Vec::new();
    for rec in locked.list() {
        if rec.endpoints.contains_key(container_id) {
            if let Some(after) = locked.release(&rec.id, container_id)? {
                changed.push(after);
            }
        }
    }
    if !changed.is_empty() {
        let all = locked.list();
        let paths = crate::Paths::new(root, "/nonexistent");
        for rec in &changed {
            hosts::refresh(&paths, rec, &all);
        }
    }
    drop(locked);
    let events = crate::events::EventsPaths::new(root);
    for rec in &changed {
        let ev = crate::events::Event::network(
            &rec.id,
            "disconnect",
            &rec.name,
            &rec.driver,
            Some(container_id),
        );
        if let Err(e) = crate::events::append(&events, ev) {
            tracing::warn!("network event: {e}");
        }
    }
    Ok(())
}

/// Remove every kernel object of this root's networks: their bridges and the firewall table
/// (for a root that is being thrown away, such as a test's).
pub fn teardown(root: &Path) -> Result<()> {
    for rec in store::Store::new(root).list() {
        if rec.is_bridge() && !rec.bridge.is_empty() {
            delete_bridge(&rec.bridge)?;
        }
    }
    ports::Table::for_root(root)
        .delete()
        .map_err(|e| NetError::Firewall(e.to_string()))?;
    firewall::remove(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_fit_in_fifteen_characters() {
        let c = "0123456789abcdef".repeat(4);
        let n = "fedcba9876543210".repeat(4);
        assert_eq!(bridge_name(&n), "br-fedcba987654");
        assert_eq!(host_veth_name(&c, &n), "vb0123456fedcba");
        assert!(bridge_name(&n).len() <= 15 && host_veth_name(&c, &n).len() <= 15);
    }
}
