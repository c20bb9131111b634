//! AppArmor for containers: berth's default profile (in the spirit of dockerd's
//! docker-default, written for berth) and which profile a container gets. Where AppArmor is
//! not enabled, as dockerd does, `apparmor=` options are accepted and nothing is applied.

use crate::engine::{EngineError, Result};

/// The name the default profile is loaded under.
pub const DEFAULT_PROFILE: &str = "berth-default";

/// Where the kernel says whether AppArmor is on.
const ENABLED: &str = "/sys/module/apparmor/parameters/enabled";

/// Whether this host enforces AppArmor (`Y` in the module's `enabled` parameter).
pub fn host_enabled() -> bool {
    std::fs::read_to_string(ENABLED).is_ok_and(|s| s.trim() == "Y")
}

/// The profile a container runs under: None for none (AppArmor off, or `unconfined`),
/// else the profile's name. `opts` are the `apparmor=` values of SecurityOpt, the last one
/// winning; a privileged container without one is unconfined, as in dockerd.
pub fn select(opts: &[&str], privileged: bool, enabled: bool) -> Result<Option<String>> {
    let chosen = opts.last().copied();
    if let Some(name) = chosen {
        let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
        if name.is_empty() || !name.chars().all(word) {
            return Err(EngineError::InvalidParameter(format!(
                "invalid --security-opt \"apparmor={name}\": not a profile name"
            )));
        }
    }
    if !enabled {
        return Ok(None);
    }
    Ok(match chosen {
        Some("unconfined") => None,
        Some(name) => Some(name.to_string()),
        None if privileged => None,
        None => Some(DEFAULT_PROFILE.to_string()),
    })
}

/// The text of the default profile, for `apparmor_parser -r`: the container may use the
/// network, files and capabilities its other confinement allows, but may not mount, write
/// the kernel's knobs under /proc and /sys, or trace and signal anything outside its profile.
pub fn profile_text() -> String {
    let name = DEFAULT_PROFILE;
    format!(
        r#"#include <tunables/global>

profile {name} flags=(attach_disconnected,mediate_deleted) {{
  #include <abstractions/base>

  network,
  capability,
  file,
  umount,

  # Signals and ptrace only among processes under this same profile.
  signal (receive) peer=unconfined,
  signal (send,receive) peer={name},
  ptrace (trace,read,tracedby,readby) peer={name},

  # No new mounts, and no way around the container's root.
  deny mount,
  deny pivot_root,

  # The kernel's knobs and the host's secrets under /proc.
  deny @{{PROC}}/* w,
  deny @{{PROC}}/{{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}}/** w,
  deny @{{PROC}}/sys/[^k]** w,
  deny @{{PROC}}/sys/kernel/{{?,??,[^s][^h][^m]**}} w,
  deny @{{PROC}}/sysrq-trigger rwklx,
  deny @{{PROC}}/kcore rwklx,
  deny @{{PROC}}/kmem rwklx,
  deny @{{PROC}}/mem rwklx,

  # The host's devices and firmware under /sys.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_confines_what_docker_default_confines() {
        let t = profile_text();
        assert!(
            t.contains("profile berth-default flags=(attach_disconnected,mediate_deleted) {"),
            "{t}"
        );
        for rule in [
            "deny mount,",
            "deny @{PROC}/sysrq-trigger rwklx,",
            "deny @{PROC}/kcore rwklx,",
            "deny /sys/firmware/** rwklx,",
            "deny /sys/kernel/security/** rwklx,",
            "ptrace (trace,read,tracedby,readby) peer=berth-default,",
        ] {
            assert!(t.contains(rule), "the profile lacks {rule:?}:\n{t}");
        }
        assert_eq!(
            t.matches('{').count(),
            t.matches('}').count(),
            "unbalanced braces:\n{t}"
        );
    }

    #[test]
    fn selection() {
        let pick = |opts: &[&str], privileged, enabled| select(opts, privileged, enabled);
        assert_eq!(pick(&[], false, true), Ok(Some("berth-default".into())));
        assert_eq!(pick(&[], true, true), Ok(None), "privileged");
        assert_eq!(pick(&["unconfined"], false, true), Ok(None));
        assert_eq!(pick(&["mine"], true, true), Ok(Some("mine".into())));
        assert_eq!(
            pick(&["mine", "other"], false, true),
            Ok(Some("other".into()))
        );
        // AppArmor off: accepted, nothing applied (dockerd's behaviour).
        assert_eq!(pick(&[], false, false), Ok(None));
        assert_eq!(pick(&["mine"], false, false), Ok(None));
        assert!(pick(&["a b"], false, false).is_err());
        assert!(pick(&[""], false, true).is_err());
    }
}
