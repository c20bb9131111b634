//! What a shim holds on the host for its container's network beyond the endpoints: the host
//! ports it publishes (taken before the first start, kept across restarts by policy, given
//! back when the shim is done) with their forwarding rules, and the bandwidth limits on the
//! container's veth pair (set again at every start, since the pair is new each time).

use super::ports::{self, Endpoint, Reservation, Table};
use super::shape;
use crate::spec::ContainerSpec;
use std::path::{Path, PathBuf};

pub struct HostSide {
    table: Table,
    id: String,
    name: String,
    run_dir: PathBuf,
    reservation: Option<Reservation>,
}

impl HostSide {
    pub fn new(root: &Path, run_dir: &Path, spec: &ContainerSpec) -> HostSide {
        HostSide {
            table: Table::for_root(root),
            id: spec.id.clone(),
            name: spec.name.clone(),
            run_dir: run_dir.to_path_buf(),
            reservation: None,
        }
    }

    /// dockerd's wording for a failure to publish.
    fn failed(&self, e: impl std::fmt::Display) -> String {
        format!(
            "driver failed programming external connectivity on endpoint {} ({}): {e}",
            self.name, self.id
        )
    }

    /// Take the host ports `spec` publishes (once: a restart keeps them) and record them in
    /// `ports.json` for inspect and `docker ps`.
    pub fn reserve(&mut self, spec: &ContainerSpec) -> Result<(), String> {
        if self.reservation.is_some() || spec.ports.is_empty() {
            return Ok(());
        }
        let v6 = spec
            .endpoints
            .first()
            .is_some_and(|e| !e.address6.is_empty());
        let held = ports::reserve(&spec.ports, v6).map_err(|e| self.failed(e))?;
        ports::write_published(&self.run_dir, &held.published).map_err(|e| self.failed(e))?;
        self.reservation = Some(held);
        Ok(())
    }

    /// The container's endpoints are plugged in (its process has not run yet): forward the
    /// published ports to the first one (eth0) and shape its traffic.
    pub fn connect(
        &self,
        spec: &ContainerSpec,
        attached: &[super::Attached],
    ) -> Result<(), String> {
        let (Some(a), Some(ep)) = (attached.first(), spec.endpoints.first()) else {
            return Ok(());
        };
        let endpoint = Endpoint {
            ip: a.address,
            prefix_len: ep.prefix_len,
            ip6: ep.address6.parse().ok().map(|a| (a, ep.prefix_len6)),
            bridge: ep.bridge.clone(),
            host_veth: a.host_veth.clone(),
        };
        let netns = PathBuf::from(format!("/proc/{}/ns/net", a.pid));
        self.connect_endpoint(spec, &endpoint, &netns, &a.ifname)
    }

    /// Forward and shape for one endpoint: `netns` is the container's network namespace,
    /// `ifname` its end of the veth pair there.
    pub fn connect_endpoint(
        &self,
        spec: &ContainerSpec,
        ep: &Endpoint,
        netns: &Path,
        ifname: &str,
    ) -> Result<(), String> {
        if let Some(held) = &self.reservation {
            self.table
                .install(&self.id, ep, &held.published)
                .map_err(|e| self.failed(e))?;
        }
        shape::apply(&spec.bandwidth, &ep.host_veth, netns, ifname)
            .map_err(|e| format!("limiting the container's bandwidth: {e}"))
    }

    /// The container is done: its rules go, its ports are given back.
    pub fn release(&mut self) -> Result<(), String> {
        let Some(held) = self.reservation.take() else {
            return Ok(());
        };
        let published = ports::published_file(&self.run_dir);
        crate::cleanup::cleanup(
            format!("removing {}", published.display()),
            std::fs::remove_file(&published),
        );
        let removed = self.table.remove(&self.id).map_err(|e| e.to_string());
        drop(held);
        removed
    }
}
