//! The parts of a create that need neither an engine nor the host, in [`super::translate`]'s
//! order: the body checked and merged with an image's config as far as that goes. Nothing here
//! reads or writes a file; the fuzz target `create_body` drives create's parsing through it.

use super::{devices, health, log, network, process, resources, security, unsupported};
use crate::engine::containers::apparmor;
use crate::engine::ids::ContainerId;
use crate::engine::images::ImageConfig;
use crate::engine::wire::CreateBody;
use crate::engine::Result;
use berth_shim::spec::SeccompSpec;

/// Check `body` against `image` as create does, short of what needs the host: the devices'
/// nodes, AppArmor, the namespaces of other containers, the mounts, the networks and the
/// cgroup hierarchies. Returns the process's argv.
pub fn translate_offline(body: &CreateBody, image: &ImageConfig) -> Result<Vec<String>> {
    let (c, h) = (&body.config, &body.host_config);
    unsupported::refuse(body)?;
    unsupported::runtime(h)?;
    unsupported::isolation(h)?;
    unsupported::volume_driver(h)?;
    let merged = process::merge(&ContainerId::generate(), c, h, image)?;
    resources::restart_policy(&h.restart_policy.name, h.restart_policy.maximum_retry_count)?;
    resources::resources(h)?;
    resources::cgroup_parent(&h.cgroup_parent)?;
    resources::oom_score_adj(h.oom_score_adj)?;
    for m in h.devices.iter().flatten().map(devices::completed) {
        devices::DeviceAccess::parse_mode(&m.cgroup_permissions)?;
    }
    for r in h.device_cgroup_rules.iter().flatten() {
        devices::DeviceRule::parse(r)?;
    }
    // AppArmor off: its profiles are the host's.
    let host = apparmor::Host::real();
    let opts = h.security_opt.as_deref().unwrap_or(&[]);
    let none = std::path::Path::new("/nonexistent");
    let (seccomp, ..) = security::security_opts(opts, h.privileged, none, false, &host)?;
    if let SeccompSpec::Profile(p) = &seccomp {
        berth_shim::security::seccomp::Profile::parse(p)
            .map_err(|e| super::invalid(e.to_string()))?;
    }
    berth_shim::security::caps::resolve(
        h.privileged,
        h.cap_add.as_deref().unwrap_or(&[]),
        h.cap_drop.as_deref().unwrap_or(&[]),
    )
    .map_err(|e| super::invalid(e.to_string()))?;
    process::rlimits(h)?;
    log::log_spec(
        &h.log_config.kind,
        &h.log_config.config,
        &merged.labels,
        &merged.env,
    )?;
    let exposed = network::exposed(c, h, image);
    network::ports(h, &exposed, &merged.labels)?;
    health::health_spec(c.healthcheck.as_ref().or(image.healthcheck.as_ref()))?;
    Ok(std::iter::once(merged.path).chain(merged.args).collect())
}
