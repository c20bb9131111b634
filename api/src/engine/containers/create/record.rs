//! The container's record: what the client sent, completed as dockerd completes it.

use super::process::Merged;
use crate::engine::containers::mounts::MountPoint;
use crate::engine::containers::{devices, ContainerRecord, RECORD_VERSION};
use crate::engine::ids::ContainerId;
use crate::engine::images::Image;
use crate::engine::wire::{CreateBody, StringOrList};
use serde_json::Value;
use std::collections::BTreeMap;

/// The record of the container `id` made from `body` and `image` (its name is set once
/// reserved, its networks once allocated).
pub(super) fn record(
    id: &ContainerId,
    body: &CreateBody,
    image: &Image,
    m: Merged,
    exposed: BTreeMap<String, Value>,
    mount_points: Vec<MountPoint>,
) -> ContainerRecord {
    let c = &body.config;
    let h = &body.host_config;
    let ic = &image.config;
    let mut config = c.clone();
    config.hostname = m.hostname;
    config.env = Some(m.env);
    config.cmd = (!m.cmd.is_empty()).then_some(StringOrList::List(m.cmd));
    config.entrypoint = (!m.entrypoint.is_empty()).then_some(StringOrList::List(m.entrypoint));
    config.working_dir = if m.working_dir == "/"
        && c.working_dir.is_empty()
        && ic.working_dir.as_deref().unwrap_or("").is_empty()
    {
        String::new()
    } else {
        m.working_dir
    };
    config.user = m.user;
    config.labels = Some(m.labels);
    config.stop_signal =
        (m.stop_signal != "SIGTERM" || c.stop_signal.is_some()).then_some(m.stop_signal);
    config.exposed_ports = (!exposed.is_empty()).then_some(exposed);
    if config.volumes.is_none() {
        config.volumes = ic.volumes.clone();
    }
    if config.healthcheck.is_none() {
        config.healthcheck = ic.healthcheck.clone();
    }
    let mut host_config = h.clone();
    if let Some(list) = &mut host_config.devices {
        *list = list.iter().map(devices::completed).collect();
    }
    if host_config.log_config.kind.is_empty() {
        host_config.log_config.kind = "json-file".to_string();
    }
    if host_config.network_mode.is_empty() || host_config.network_mode == "default" {
        host_config.network_mode = "bridge".to_string();
    }
    if host_config.runtime.is_empty() {
        host_config.runtime = "runc".to_string();
    }
    if host_config.restart_policy.name.is_empty() {
        host_config.restart_policy.name = "no".to_string();
    }
    ContainerRecord {
        version: RECORD_VERSION,
        id: id.clone(),
        name: String::new(),
        created: berth_shim::state::now_rfc3339(),
        image_ref: c.image.clone(),
        image_id: image.id.clone(),
        path: m.path,
        args: m.args,
        config,
        host_config,
        networking_config: body.networking_config.clone(),
        mount_points,
        networks: Default::default(),
        links: Vec::new(),
    }
}
