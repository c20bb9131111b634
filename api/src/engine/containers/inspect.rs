//! docker inspect: dockerd's JSON shape, from the record and the shim's state.

use super::ContainerRecord;
use crate::engine::{Engine, Result};
use berth_shim::state::{State, Status};
use serde_json::{json, Value};

impl Engine {
    pub fn inspect(&self, reference: &str) -> Result<Value> {
        self.inspect_size(reference, false)
    }

    /// Inspect with `size`: SizeRw (the bytes of the container's upper dir) and SizeRootFs (its
    /// image's layers and SizeRw), as dockerd; absent without it.
    pub fn inspect_size(&self, reference: &str, size: bool) -> Result<Value> {
        let id = self.lookup(reference)?;
        let record = self.record(&id)?;
        let state = self.state(&id)?;
        let mut v = inspect_json(self, &record, &state);
        if size {
            let (rw, root) = self.container_sizes(&id, &record.image_id);
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(root);
        }
        Ok(v)
    }

    /// SizeRw and SizeRootFs of a container: its upper dir, and that with its image's layers
    /// (0 for an image removed since).
    pub(crate) fn container_sizes(
        &self,
        id: &crate::engine::ids::ContainerId,
        image_id: &str,
    ) -> (u64, u64) {
        let rw = crate::engine::sizes::dir_size(&self.container_paths(id).upper());
        let image = self.image(image_id).map_or(0, |img| img.size);
        (rw, rw + image)
    }
}

/// Docker's `State` object.
pub fn state_json(state: &State) -> Value {
    let status = state.status;
    let mut v = json!({
        "Status": status.as_str(),
        "Running": matches!(status, Status::Running | Status::Paused | Status::Restarting),
        "Paused": status == Status::Paused,
        "Restarting": status == Status::Restarting,
        "OOMKilled": state.oom_killed,
        "Dead": status == Status::Dead,
        "Pid": if status.is_live() { state.pid } else { 0 },
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": state.started_at,
        "FinishedAt": state.finished_at,
    });
    if let Some(h) = &state.health {
        v["Health"] = serde_json::to_value(h).unwrap_or_default();
    }
    v
}

fn inspect_json(engine: &Engine, r: &ContainerRecord, state: &State) -> Value {
    let paths = engine.container_paths(&r.id);
    let mut host_config = serde_json::to_value(&r.host_config).unwrap_or_default();
    if let Some(h) = host_config.as_object_mut() {
        // dockerd shows the links it made (`/db:/web/db`), not those sent.
        h.insert("Links".into(), engine.links_json(&r.name, &r.links));
        h.entry("LogConfig")
            .or_insert(json!({"Type": "json-file", "Config": {}}));
        for (k, v) in [
            ("Binds", Value::Null),
            ("PortBindings", json!({})),
            ("Links", Value::Null),
            ("VolumesFrom", Value::Null),
            ("Devices", json!([])),
            ("Isolation", json!("")),
            ("CgroupnsMode", json!("private")),
            ("MaskedPaths", json!(berth_shim::spec::DEFAULT_MASKED_PATHS)),
            (
                "ReadonlyPaths",
                json!(berth_shim::spec::DEFAULT_READONLY_PATHS),
            ),
        ] {
            h.entry(k).or_insert(v);
        }
    }
    let mut config = serde_json::to_value(&r.config).unwrap_or_default();
    if let Some(c) = config.as_object_mut() {
        c.insert("Image".into(), json!(r.image_ref));
        c.entry("Labels").or_insert(json!({}));
        c.entry("OnBuild").or_insert(Value::Null);
    }
    // Ports as the live shim published them (none while the container does not run).
    let ports = if state.status.is_live() {
        super::ports::ports_json(
            r.config.exposed_ports.as_ref(),
            &berth_shim::net::ports::read_published(&paths.run),
        )
    } else {
        json!({})
    };
    let (networks, bridge) = engine.container_networks(&r.id, &r.host_config.network_mode);
    let top = |k: &str| -> Value {
        bridge
            .as_ref()
            .and_then(|b| b.get(k).cloned())
            .unwrap_or(json!(""))
    };
    // Records written before mount points were kept show their binds.
    let mounts: Vec<Value> = if !r.mount_points.is_empty() {
        r.mount_points.iter().map(|m| json!(m)).collect()
    } else {
        r.host_config
            .binds
            .iter()
            .flatten()
            .filter_map(|b| {
                let parts: Vec<&str> = b.split(':').collect();
                let (src, dst) = (parts.first()?, parts.get(1)?);
                let ro = parts.get(2).is_some_and(|o| o.split(',').any(|x| x == "ro"));
                Some(json!({
                    "Type": "bind", "Source": src, "Destination": dst, "Mode": parts.get(2).unwrap_or(&""),
                    "RW": !ro, "Propagation": "rprivate"
                }))
            })
            .collect()
    };
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.path,
        "Args": r.args,
        "State": state_json(state),
        "Image": r.image_id,
        "ResolvConfPath": paths.resolv_conf(),
        "HostnamePath": paths.hostname(),
        "HostsPath": paths.hosts(),
        "LogPath": paths.log(),
        "Name": r.name,
        "RestartCount": state.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": Value::Null,
        "HostConfig": host_config,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "UpperDir": paths.upper(),
                "WorkDir": paths.work(),
                "MergedDir": paths.rootfs(),
            }
        },
        "Mounts": mounts,
        "Config": config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": "",
            "Ports": ports,
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": Value::Null,
            "SecondaryIPv6Addresses": Value::Null,
            "EndpointID": top("EndpointID"),
            "Gateway": top("Gateway"),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": top("IPAddress"),
            "IPPrefixLen": bridge.as_ref().and_then(|b| b.get("IPPrefixLen").cloned()).unwrap_or(json!(0)),
            "IPv6Gateway": "",
            "MacAddress": top("MacAddress"),
            "Networks": networks,
        },
    })
}
