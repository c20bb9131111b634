//! AppArmor for containers: berth's default profile (in the spirit of dockerd's
//! docker-default, written for berth), which profile a container gets, and making it ready:
//! the default is loaded with `apparmor_parser` (once per boot and profile text), a named one
//! must be loaded already. The shim puts the container's processes under it at execve. Where
//! AppArmor is not enabled, as dockerd does, `apparmor=` options are accepted and nothing is
//! applied.

use crate::engine::{EngineError, Result};
use std::path::{Path, PathBuf};

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
            return Err(EngineError::invalid_parameter(format!(
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

/// Where the host keeps AppArmor's state; tests point these at files of their own.
#[derive(Debug, Clone)]
pub struct Host {
    /// The kernel's list of loaded profiles, one `name (mode)` a line.
    pub profiles: PathBuf,
    /// The program that loads a profile.
    pub parser: PathBuf,
    /// What changes at each boot.
    pub boot_id: PathBuf,
}

impl Host {
    /// This machine's.
    pub fn real() -> Host {
        Host {
            profiles: "/sys/kernel/security/apparmor/profiles".into(),
            parser: "apparmor_parser".into(),
            boot_id: "/proc/sys/kernel/random/boot_id".into(),
        }
    }
}

impl crate::engine::Engine {
    /// At the server's start: where AppArmor is on, the default profile loaded (a host without
    /// `apparmor_parser` is refused here rather than at the first container).
    pub fn ensure_apparmor(&self) -> Result<()> {
        if host_enabled() {
            ensure_default(&self.paths.root, &Host::real())?;
        }
        Ok(())
    }
}

/// The profile a container gets, made ready: [`select`], then the default loaded when it is
/// not, or a named profile found loaded. None: nothing to apply.
pub fn for_container(
    opts: &[&str],
    privileged: bool,
    enabled: bool,
    root: &Path,
    host: &Host,
) -> Result<Option<String>> {
    let Some(name) = select(opts, privileged, enabled)? else {
        return Ok(None);
    };
    if name == DEFAULT_PROFILE {
        ensure_default(root, host)?;
    } else if !is_loaded(&name, host)? {
        return Err(EngineError::invalid_parameter(not_loaded(
            &name,
            "it is not loaded",
        )));
    }
    Ok(Some(name))
}

/// dockerd's words for a profile that cannot be used.
fn not_loaded(name: &str, why: &str) -> String {
    format!("AppArmor enabled on system but the {name} profile could not be loaded: {why}")
}

/// Whether `name` is in the kernel's list of loaded profiles.
fn is_loaded(name: &str, host: &Host) -> Result<bool> {
    let list = std::fs::read_to_string(&host.profiles)
        .map_err(|e| EngineError::system(host.profiles.display(), e))?;
    Ok(listed(name, &list))
}

/// Whether a line of `list` (`name (enforce)`) names `name`.
fn listed(name: &str, list: &str) -> bool {
    list.lines()
        .any(|l| l.rsplit_once(" (").map_or(l, |(n, _)| n) == name)
}

/// Load [`DEFAULT_PROFILE`] unless it is loaded and was loaded from this text since this boot:
/// its text is written to `<root>/apparmor/berth-default` and given to `apparmor_parser -Kr`;
/// `<root>/apparmor/berth-default.loaded` records the boot and the text's digest.
pub fn ensure_default(root: &Path, host: &Host) -> Result<()> {
    let dir = root.join("apparmor");
    let file = dir.join(DEFAULT_PROFILE);
    let stamp_path = dir.join(format!("{DEFAULT_PROFILE}.loaded"));
    let text = profile_text();
    let boot = std::fs::read_to_string(&host.boot_id)
        .map_err(|e| EngineError::system(host.boot_id.display(), e))?;
    let stamp = format!(
        "{}\n{}\n",
        boot.trim(),
        crate::engine::images::store::sha256_hex(text.as_bytes())
    );
    if is_loaded(DEFAULT_PROFILE, host)?
        && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
    {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::system(dir.display(), e))?;
    write_atomic(&file, text.as_bytes())?;
    let out = std::process::Command::new(&host.parser)
        .arg("-Kr")
        .arg(&file)
        .output()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} not found: install AppArmor's user-space tools (Debian: apparmor)",
                    host.parser.display()
                )
            } else {
                format!("running {}: {e}", host.parser.display())
            };
            EngineError::system_message(not_loaded(DEFAULT_PROFILE, &why))
        })?;
    if !out.status.success() {
        let why = format!(
            "{} -Kr {}: {}: {}",
            host.parser.display(),
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return Err(EngineError::system_message(not_loaded(
            DEFAULT_PROFILE,
            &why,
        )));
    }
    write_atomic(&stamp_path, stamp.as_bytes())
}

/// `bytes` to `path` through a temporary file of this call's own (two creates may load the
/// profile at once), fsynced, then renamed.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| EngineError::system(tmp.display(), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| EngineError::system(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| EngineError::system(path.display(), e))
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
    use crate::engine::ErrorKind;

    #[test]
    fn the_profile_confines_what_docker_default_confines() {
        let t = profile_text();
        assert!(
            t.starts_with("#include <tunables/global>\n"),
            "expected the tunables included first:\n{t}"
        );
        assert!(
            t.contains("profile berth-default flags=(attach_disconnected,mediate_deleted) {"),
            "{t}"
        );
        for rule in [
            "#include <abstractions/base>",
            "deny @{PROC}/* w,",
            "deny @{PROC}/sys/[^k]** w,",
            "deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,",
            "deny @{PROC}/mem rwklx,",
            "deny pivot_root,",
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

    /// AppArmor's own parser reads the text (-Q: not loaded, so no kernel module is needed;
    /// -K: no cache).
    #[test]
    fn apparmor_parser_accepts_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(DEFAULT_PROFILE);
        std::fs::write(&file, profile_text()).unwrap();
        let out = match std::process::Command::new("apparmor_parser")
            .args(["-Q", "-K"])
            .arg(&file)
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // No silent skips in CI: there the parser is required.
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "apparmor_parser is not installed (scripts/install-deps.sh installs it)"
                );
                eprintln!("skipping: apparmor_parser is not installed (scripts/install-deps.sh)");
                return;
            }
            Err(e) => panic!("running apparmor_parser: {e}"),
        };
        assert!(
            out.status.success(),
            "expected apparmor_parser -Q -K to accept the profile, got {}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            profile_text()
        );
    }

    /// A host of temporary files: a parser that logs its arguments, an empty profile list,
    /// a boot id.
    struct FakeHost {
        dir: tempfile::TempDir,
        host: Host,
    }

    fn fake_host() -> FakeHost {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let parser = dir.path().join("apparmor_parser");
        let log = dir.path().join("parser.log");
        std::fs::write(
            &parser,
            format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&parser, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = Host {
            profiles: dir.path().join("profiles"),
            parser,
            boot_id: dir.path().join("boot_id"),
        };
        std::fs::write(&host.profiles, "docker-default (enforce)\n").unwrap();
        std::fs::write(&host.boot_id, "boot-1\n").unwrap();
        FakeHost { dir, host }
    }

    impl FakeHost {
        fn root(&self) -> PathBuf {
            self.dir.path().join("root")
        }
        fn parser_runs(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("parser.log"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    #[test]
    fn apparmor_off_applies_nothing_and_runs_nothing() {
        let f = fake_host();
        for opts in [&[][..], &["mine"][..], &["unconfined"][..]] {
            let got = for_container(opts, false, false, &f.root(), &f.host);
            assert_eq!(
                got,
                Ok(None),
                "AppArmor off, {opts:?}: expected nothing applied"
            );
        }
        assert_eq!(f.parser_runs(), Vec::<String>::new(), "the parser ran");
    }

    #[test]
    fn the_default_is_loaded_once_per_boot_and_text() {
        let f = fake_host();
        let root = f.root();
        let got = for_container(&[], false, true, &root, &f.host);
        assert_eq!(got, Ok(Some(DEFAULT_PROFILE.into())));
        let file = root.join("apparmor/berth-default");
        assert_eq!(
            f.parser_runs(),
            vec![format!("-Kr {}", file.display())],
            "expected one load of the written profile"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), profile_text());
        // The kernel lists it now: no second load.
        std::fs::write(&f.host.profiles, "berth-default (enforce)\n").unwrap();
        for_container(&[], false, true, &root, &f.host).unwrap();
        assert_eq!(f.parser_runs().len(), 1, "loaded again in the same boot");
        // A new boot (or an unloaded profile, or a new text): loaded again.
        std::fs::write(&f.host.boot_id, "boot-2\n").unwrap();
        for_container(&[], false, true, &root, &f.host).unwrap();
        assert_eq!(f.parser_runs().len(), 2, "not loaded again after a reboot");
        std::fs::write(&f.host.profiles, "").unwrap();
        for_container(&[], false, true, &root, &f.host).unwrap();
        assert_eq!(f.parser_runs().len(), 3, "not loaded again once unloaded");
        // Privileged or unconfined: nothing.
        assert_eq!(for_container(&[], true, true, &root, &f.host), Ok(None));
        assert_eq!(
            for_container(&["unconfined"], false, true, &root, &f.host),
            Ok(None)
        );
    }

    #[test]
    fn concurrent_creates_load_the_default_without_tripping_over_each_other() {
        let f = fake_host();
        let root = f.root();
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| ensure_default(&root, &f.host)))
                .collect();
            for r in runs {
                let got = r.join().unwrap();
                assert_eq!(got, Ok(()), "expected every concurrent load to succeed");
            }
        });
    }

    #[test]
    fn a_missing_parser_is_a_clear_error() {
        let mut f = fake_host();
        f.host.parser = f.dir.path().join("no-such-parser");
        let err = for_container(&[], false, true, &f.root(), &f.host)
            .expect_err("loaded without a parser")
            .to_string();
        assert!(
            err.contains(
                "AppArmor enabled on system but the berth-default profile could not be loaded"
            ) && err.contains("not found"),
            "expected dockerd's words and the parser missing, got {err:?}"
        );
    }

    #[test]
    fn a_named_profile_must_be_loaded() {
        let f = fake_host();
        let got = for_container(&["docker-default"], false, true, &f.root(), &f.host);
        assert_eq!(got, Ok(Some("docker-default".into())));
        match for_container(&["mine"], false, true, &f.root(), &f.host) {
            Err(e) if e.is(ErrorKind::InvalidParameter) => assert!(
                e.message().contains(
                    "AppArmor enabled on system but the mine profile could not be loaded"
                ),
                "got {e:?}"
            ),
            other => panic!("expected a 400 for a profile not loaded, got {other:?}"),
        }
        assert_eq!(f.parser_runs(), Vec::<String>::new(), "the parser ran");
    }

    #[test]
    fn listed_matches_whole_names() {
        let list = "berth-default (enforce)\n/usr/bin/man (complain)\n";
        assert!(listed("berth-default", list));
        assert!(listed("/usr/bin/man", list));
        assert!(!listed("berth", list), "a prefix matched");
        assert!(!listed("enforce", list));
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
