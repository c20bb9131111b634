//! The security part of the spec: SecurityOpt (seccomp, no_new_privileges, AppArmor, labels)
//! and the capabilities, each checked as the shim will read it.

use super::invalid;
use crate::engine::containers::{apparmor, boundary};
use crate::engine::wire::HostConfig;
use crate::engine::{Engine, Result};
use berth_shim::spec::SeccompSpec;

/// What the process runs under.
pub(super) struct Security {
    pub seccomp: SeccompSpec,
    pub no_new_privileges: bool,
    pub apparmor_profile: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

/// The request's security, on this host: AppArmor's profiles are loaded (and the state kept
/// under the engine's root) where the host enforces it.
pub(super) fn security(engine: &Engine, h: &HostConfig) -> Result<Security> {
    let (seccomp, no_new_privileges, apparmor_profile) = security_opts(
        h.security_opt.as_deref().unwrap_or(&[]),
        h.privileged,
        &engine.paths.root,
        apparmor::host_enabled(),
        &apparmor::Host::real(),
    )?;
    let cap_add = h.cap_add.clone().unwrap_or_default();
    let cap_drop = h.cap_drop.clone().unwrap_or_default();
    berth_shim::security::caps::resolve(h.privileged, &cap_add, &cap_drop)
        .map_err(|e| invalid(e.to_string()))?;
    if let SeccompSpec::Profile(p) = &seccomp {
        berth_shim::security::seccomp::Profile::parse(p).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(Security {
        seccomp,
        no_new_privileges,
        apparmor_profile,
        cap_add,
        cap_drop,
    })
}

/// SecurityOpt: the seccomp profile, no_new_privileges, and the AppArmor profile to apply
/// (`enabled`: whether the host enforces AppArmor; `host`: where its state is).
pub(super) fn security_opts(
    opts: &[String],
    privileged: bool,
    root: &std::path::Path,
    enabled: bool,
    host: &apparmor::Host,
) -> Result<(SeccompSpec, bool, Option<String>)> {
    let mut seccomp = SeccompSpec::Default;
    let mut nnp = false;
    let mut profiles = Vec::new();
    for o in opts {
        let (k, v) = o
            .split_once('=')
            .or_else(|| o.split_once(':'))
            .unwrap_or((o.as_str(), ""));
        match k {
            "no-new-privileges" => {
                nnp = v.is_empty() || v == "true";
                if !matches!(v, "" | "true" | "false") {
                    return Err(invalid(format!("invalid --security-opt 2: {o:?}")));
                }
            }
            "seccomp" if v == "unconfined" => seccomp = SeccompSpec::Unconfined,
            "seccomp" if v == "builtin" || v.is_empty() => seccomp = SeccompSpec::Default,
            // The docker CLI reads the profile file and sends its content.
            "seccomp" => seccomp = SeccompSpec::Profile(v.to_string()),
            "label" => boundary::label(o)?,
            "apparmor" => profiles.push(v),
            _ => return Err(invalid(format!("invalid --security-opt 1: {o:?}"))),
        }
    }
    // Where AppArmor is on: the default loaded if need be, a named profile found loaded.
    let profile = apparmor::for_container(&profiles, privileged, enabled, root, host)?;
    Ok((seccomp, nnp, profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where AppArmor is on, the spec carries the profile the shim puts the process under.
    #[test]
    fn the_spec_carries_the_apparmor_profile_where_apparmor_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let host = apparmor::Host {
            profiles: dir.path().join("profiles"),
            parser: "true".into(),
            boot_id: dir.path().join("boot_id"),
        };
        std::fs::write(&host.profiles, "mine (enforce)\n").unwrap();
        std::fs::write(&host.boot_id, "boot-1\n").unwrap();
        let root = dir.path().join("root");
        let opts = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (o, privileged, enabled, want) in [
            (opts(&["apparmor=mine"]), false, true, Some("mine")),
            (opts(&[]), false, true, Some("berth-default")),
            (opts(&["apparmor=unconfined"]), false, true, None),
            (opts(&[]), true, true, None),
            (opts(&["apparmor=mine"]), false, false, None),
            (opts(&[]), false, false, None),
        ] {
            let got = security_opts(&o, privileged, &root, enabled, &host).map(|(_, _, p)| p);
            assert_eq!(
                got,
                Ok(want.map(str::to_string)),
                "{o:?}, privileged {privileged}, AppArmor on {enabled}: expected the profile {want:?}"
            );
        }
    }
}
