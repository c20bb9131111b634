//! docker create: check the request, merge it with the image's config, translate it into the
//! shim's spec, and make the container appear whole (a directory renamed into place) with its
//! name reserved. The spec is made part by part, one file each.

mod health;
mod log;
mod namespaces;
mod network;
mod offline;
mod process;
mod record;
pub mod resources;
mod security;
mod unsupported;

use crate::engine::containers::mounts::{self, MountPoint};
use crate::engine::containers::{boundary, devices, ContainerRecord};
use crate::engine::ids::ContainerId;
use crate::engine::images::Image;
use crate::engine::wire::{CreateBody, HostConfig};
use crate::engine::{Engine, EngineError, Result};
use berth_shim::spec::{ContainerSpec, MountSpec, RestartName, RootPropagation, RootfsSpec};
pub use offline::translate_offline;
use resources::{resources, restart_policy};

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::invalid_parameter(msg.into())
}

/// The result of a create.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: ContainerId,
    pub warnings: Vec<String>,
}

impl Engine {
    /// Create a container from Docker's create body.
    pub fn create_container(&self, name: Option<&str>, body: CreateBody) -> Result<Created> {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            if !crate::engine::names::valid(n) {
                return Err(invalid(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        if body.config.image.is_empty() {
            return Err(invalid("config.Image: image must be specified"));
        }
        let label = |k: &str| body.config.labels.as_ref().and_then(|l| l.get(k));
        if let Some(v) = label(berth_shim::monitor::LABEL) {
            berth_monitor::events::wants(Some(v)).map_err(invalid)?;
        }
        if let Some(labels) = &body.config.labels {
            berth_monitor::Policy::from_labels(labels)
                .validate()
                .map_err(invalid)?;
        }
        let image = self.image(&body.config.image)?;
        let id = ContainerId::generate();
        // Held until the container appears: a volume it will use is not removed meanwhile.
        let volumes_lock = self.volumes_lock()?;
        let (record, spec, mut warnings) = translate(self, &id, &body, &image)?;
        let userns = crate::engine::userns::choose(&body.host_config, &self.settings.userns)?;
        self.refuse_joins_across_userns(&body.host_config, userns)?;
        crate::engine::userns::refuse_idmap_without_userns(&body.host_config, userns)?;
        let config_mac = Some(body.config.mac_address.as_str());
        let plan = self.plan_networks(&body.host_config, &body.networking_config, config_mac)?;
        // The first network carries the published ports: an IPv6 host address needs IPv6 there.
        let has_ipv6 = plan.first().is_some_and(|r| r.network.subnet6().is_some());
        crate::engine::containers::ports::check_ipv6_bindings(&spec.ports, has_ipv6)?;
        let links = self.register_links(&body.host_config)?;

        let names = self.names();
        let lock = names.lock()?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.trim_start_matches('/').to_string(),
            None => lock.generate(),
        };
        if let Some(owner) = lock.owner(&name) {
            return Err(EngineError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let record = ContainerRecord {
            name: format!("/{name}"),
            links,
            ..record
        };
        // Recorded in the pool before anything uses it; given back below if the create fails.
        let user = self.allocate_userns(id.as_str(), userns)?;
        let endpoints = match self.allocate_endpoints(&id, &name, &plan) {
            Ok(e) => e,
            Err(e) => {
                self.release_userns(id.as_str());
                return Err(e);
            }
        };
        let record = ContainerRecord {
            networks: self
                .endpoints_json(&id, &record.host_config.network_mode, &endpoints)
                .0
                .into_iter()
                .collect(),
            ..record
        };
        // The first network's host_binding_ipv4 is where its published ports bind by default.
        let host_binding = plan.first().and_then(|r| r.network.host_binding());

        let spec = ContainerSpec {
            name: name.clone(),
            ports: crate::engine::containers::ports::with_host_binding(spec.ports, host_binding),
            endpoints,
            settings: self.settings.runtime.clone(),
            namespaces: berth_shim::spec::Namespaces {
                user,
                ..spec.namespaces
            },
            ..spec
        };
        let (command, hostname) = (spec.process.args.clone(), spec.hostname.clone());
        let tag_context = log::TagContext {
            id: id.as_str(),
            name: &name,
            image_id: &image.id,
            image_name: &body.config.image,
            command: &command,
            hostname: &hostname,
        };
        let spec = log::with_tag(spec, &body.host_config.log_config.config, &tag_context);
        // Build the directory aside, then rename it into place: it appears whole or not at all.
        let containers = self.paths.containers();
        let tmp = containers.join(format!(".creating-{id}"));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&tmp)?;
            // The directory is nobody's until it is renamed into place: its files are written
            // there directly, each fsynced, and the directory once after the last of them.
            let rec = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
            berth_shim::fsutil::write_new_synced(&tmp.join("container.json"), &rec)?;
            crate::engine::containers::summary::write(&tmp, &record)?;
            let sp = serde_json::to_vec_pretty(&spec).map_err(std::io::Error::other)?;
            berth_shim::fsutil::write_new_synced(&tmp.join("config.json"), &sp)?;
            berth_shim::fsutil::sync_dir(&tmp)
        };
        let undo = |lock: Option<&crate::engine::names::NamesLock<'_>>| {
            if let Some(lock) = lock {
                lock.release(&name, &id);
            }
            berth_shim::cleanup::cleanup(
                format!("removing {}", tmp.display()),
                std::fs::remove_dir_all(&tmp),
            );
            self.release_endpoints(&id);
            self.release_userns(id.as_str());
        };
        if let Err(e) = write() {
            undo(None);
            return Err(EngineError::system("creating the container", e));
        }
        if let Err(e) = lock.reserve(&name, &id) {
            undo(None);
            return Err(e);
        }
        if let Err(e) = std::fs::rename(&tmp, containers.join(&id)) {
            undo(Some(&lock));
            return Err(EngineError::system("creating the container", e));
        }
        drop(lock);
        drop(volumes_lock);
        self.container_event(&id, "create", &[]);
        self.announce_endpoints(&id, &spec.endpoints);
        warnings.extend(crate::engine::containers::ports::warnings(
            &body.host_config,
        ));
        Ok(Created { id, warnings })
    }
}

/// Merge the request with the image and translate both into the record and the shim's spec.
/// The parts are checked in this order (the first fault is the one reported); the mounts,
/// which create the anonymous volumes, come after the checks but the healthcheck's. Returns
/// the warnings too (settings this kernel discards, as dockerd's).
fn translate(
    engine: &Engine,
    id: &ContainerId,
    body: &CreateBody,
    image: &Image,
) -> Result<(ContainerRecord, ContainerSpec, Vec<String>)> {
    let c = &body.config;
    let h = &body.host_config;
    unsupported::refuse(body)?;
    unsupported::runtime(h)?;
    unsupported::isolation(h)?;
    unsupported::volume_driver(h)?;
    for p in h.masked_paths.iter().chain(&h.readonly_paths).flatten() {
        if !p.starts_with('/') {
            return Err(invalid(format!(
                "invalid path {p:?} in MaskedPaths or ReadonlyPaths: the path must be absolute"
            )));
        }
    }
    let merged = process::merge(id, c, h, &image.config)?;
    let restart = restart_policy(&h.restart_policy.name, h.restart_policy.maximum_retry_count)?;
    if h.auto_remove && restart.name != RestartName::No {
        return Err(invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    let mut resources = resources(h)?;
    let cgroup_parent = resources::cgroup_parent(&h.cgroup_parent)?;
    let oom_score_adj = resources::oom_score_adj(h.oom_score_adj)?;
    let layout = berth_shim::cgroups::detect()
        .map_err(|e| EngineError::system("finding the cgroup hierarchies", e))?;
    let warnings = resources::fit_to_kernel(&mut resources, &layout)?;
    let (devices, device_cgroup_rules) = devices::translate(h)?;
    let security = security::security(engine, h)?;
    let rlimits = process::rlimits(h)?;
    let log = log::log_spec(
        &h.log_config.kind,
        &h.log_config.config,
        &merged.labels,
        &merged.env,
    )?;
    let namespaces = namespaces::namespaces(engine, h)?;
    let sysctls = boundary::sysctls(h, &namespaces)?;
    let exposed = network::exposed(c, h, &image.config);
    let (ports, bandwidth) = network::ports(h, &exposed, &merged.labels)?;
    let mounts = resolve_mounts(engine, h, body, image)?;
    let healthcheck =
        health::health_spec(c.healthcheck.as_ref().or(image.config.healthcheck.as_ref()))?;

    let spec = ContainerSpec {
        id: id.to_string(),
        healthcheck,
        hostname: merged.hostname.clone(),
        domainname: c.domainname.clone(),
        process: berth_shim::spec::ProcessSpec {
            oom_score_adj: Some(oom_score_adj),
            ..process::spec(&merged, c, h, rlimits, security)
        },
        rootfs: RootfsSpec {
            layers: image.layers.clone(),
            readonly: h.readonly_rootfs,
        },
        namespaces,
        resources,
        network: network::files(h),
        mounts: mounts.specs,
        root_propagation: mounts.root_propagation,
        anonymous_volumes: mounts.anonymous_volumes,
        shm_size: h.shm_size.max(0) as u64,
        shm_source: namespaces::shm_source(h),
        log,
        restart,
        auto_remove: h.auto_remove,
        ports,
        bandwidth,
        sysctls,
        devices,
        device_cgroup_rules,
        cgroup_parent,
        ..ContainerSpec::default()
    };
    let spec = ContainerSpec {
        masked_paths: h.masked_paths.clone().unwrap_or(spec.masked_paths),
        readonly_paths: h.readonly_paths.clone().unwrap_or(spec.readonly_paths),
        ..spec
    };
    let record = record::record(id, body, image, merged, exposed, mounts.points);
    Ok((record, spec, warnings))
}

/// The mounts part of the spec, and the record's mount points.
struct Mounts {
    specs: Vec<MountSpec>,
    points: Vec<MountPoint>,
    root_propagation: RootPropagation,
    /// The volumes made for this container, which `docker rm -v` removes with it.
    anonymous_volumes: Vec<String>,
}

/// The request's binds, mounts, tmpfs and volumes-from, and the volumes the image and the
/// request declare (each gets an anonymous volume, made now, unless something is mounted
/// there already).
fn resolve_mounts(
    engine: &Engine,
    h: &HostConfig,
    body: &CreateBody,
    image: &Image,
) -> Result<Mounts> {
    let mut config_volumes = image.config.volumes.clone().unwrap_or_default();
    config_volumes.extend(body.config.volumes.clone().unwrap_or_default());
    let resolved = mounts::resolve(engine, h, Some(&config_volumes), &image.layers)?;
    let anonymous_volumes: Vec<String> = resolved
        .points
        .iter()
        .filter(|p| p.kind == "volume")
        .filter(|p| engine.volume(&p.name).is_ok_and(|v| v.anonymous()))
        .map(|p| p.name.clone())
        .collect();
    let root_propagation = mounts::root_propagation(&resolved.specs).unwrap_or_default();
    Ok(Mounts {
        specs: resolved.specs,
        points: resolved.points,
        root_propagation,
        anonymous_volumes,
    })
}
