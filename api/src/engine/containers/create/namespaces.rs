//! The namespaces part of the spec, and the /dev/shm that goes with the IPC namespace.

use super::invalid;
use crate::engine::containers::boundary;
use crate::engine::wire::HostConfig;
use crate::engine::{Engine, Result};
use berth_shim::spec::{Namespaces, NsMode, ShmSource};

/// The namespaces the container gets. `container:<name>` is resolved at every start
/// (`lifecycle::start`'s `resolve_joins`); here the other container must exist.
pub(super) fn namespaces(engine: &Engine, h: &HostConfig) -> Result<Namespaces> {
    let join_container = |_kind: &str, reference: &str| -> Result<NsMode> {
        engine
            .lookup(reference)
            .map_err(|_| invalid(format!("No such container: {reference}")))?;
        Ok(NsMode::Private)
    };
    let mode = |value: &str, kind: &str| -> Result<NsMode> {
        match value {
            "" | "private" | "default" | "bridge" | "none" | "shareable" => Ok(NsMode::Private),
            "host" => Ok(NsMode::Host),
            v => match v.strip_prefix("container:") {
                Some(c) => join_container(kind, c),
                None if kind == "net" => Ok(NsMode::Private),
                None => Err(invalid(format!("invalid {kind} mode: {v}"))),
            },
        }
    };
    Ok(Namespaces {
        pid: mode(&h.pid_mode, "pid")?,
        net: mode(&h.network_mode, "net")?,
        ipc: mode(&h.ipc_mode, "ipc")?,
        uts: mode(&h.uts_mode, "uts")?,
        cgroup: boundary::cgroupns(h)?,
        user: None,
    })
}

/// Where the container's /dev/shm comes from, by its IPC mode.
pub(super) fn shm_source(h: &HostConfig) -> ShmSource {
    match h.ipc_mode.as_str() {
        "shareable" => ShmSource::Shareable,
        "host" => ShmSource::Bind("/dev/shm".into()),
        "none" => ShmSource::None,
        // container:<id> is resolved at every start (`lifecycle::start`'s `resolve_joins`).
        _ => ShmSource::Private,
    }
}
