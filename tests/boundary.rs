//! The container boundary at creation (issue 16, items 3 and 5): an image's symlinks at the mount
//! targets stay inside its root, kernel filesystems go on directories only, masks come from
//! berth's own null device and stay read-only under read-only paths, and the inheritable
//! capabilities are empty. Root, real kernel.
//!
//! The battery runs twice (issue 23): `host::` in the host's user namespace and `userns::` in a
//! private one (a range of 65536 ids from 100000), each case written once and given the mode.

use berth_shim::spawn::SpawnError;
use berth_shim::spec::{ContainerSpec, IdMap, UserNamespace};
use berth_tests::{make_busybox_layer, TestEnv};
use std::path::{Path, PathBuf};

/// The user namespace a case's containers run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Private,
}

/// Runs each case once per mode: `boundary::host::<case>` and `boundary::userns::<case>`.
macro_rules! in_both_modes {
    ($($case:ident),* $(,)?) => {
        mod host {
            $(#[test] fn $case() { super::$case(super::Mode::Host) })*
        }
        mod userns {
            $(#[test] fn $case() { super::$case(super::Mode::Private) })*
        }
    };
}

in_both_modes!(
    a_symlinked_etc_hostname_is_resolved_inside_the_root,
    an_image_whose_dev_is_a_symlink_is_refused,
    an_image_whose_proc_is_a_file_or_a_symlink_is_refused,
    masks_are_berths_null_device_and_read_only_under_read_only_paths,
    inheritable_capabilities_are_empty_and_effective_are_dockerds,
    the_apparmor_exec_label_is_written_before_execve,
);

/// `env`'s spec for `args`, in `mode`'s user namespace.
fn spec_in(env: &TestEnv, mode: Mode, args: &[&str]) -> ContainerSpec {
    let mut spec = env.spec(args);
    if mode == Mode::Private {
        let map = IdMap {
            container_id: 0,
            host_id: 100_000,
            size: 65_536,
        };
        spec.namespaces.user = Some(UserNamespace {
            uid_map: vec![map],
            gid_map: vec![map],
        });
    }
    spec
}

/// A fresh busybox layer of the test's own, changed by `craft`.
fn crafted_layer(env: &TestEnv, name: &str, craft: impl FnOnce(&Path)) -> PathBuf {
    let layer = env.tmp.path().join(name);
    make_busybox_layer(&layer);
    craft(&layer);
    layer
}

/// Start `args` on `layer` and expect the start to fail; the message.
fn expect_refused(env: &TestEnv, mode: Mode, layer: PathBuf, args: &[&str]) -> String {
    let mut spec = spec_in(env, mode, args);
    spec.rootfs.layers = vec![layer];
    match env.start(&spec) {
        Err(SpawnError::Start { message, .. }) => message,
        other => panic!("expected the start of {args:?} to be refused, got {other:?}"),
    }
}

fn run_on(env: &TestEnv, mode: Mode, layer: PathBuf, args: &[&str]) -> (i32, String) {
    let mut spec = spec_in(env, mode, args);
    spec.rootfs.layers = vec![layer];
    env.run_to_end(&spec)
}

fn a_symlinked_etc_hostname_is_resolved_inside_the_root(mode: Mode) {
    let env = TestEnv::new();
    let host_dir = env.tmp.path().join("host-side");
    std::fs::create_dir(&host_dir).unwrap();
    let host_file = host_dir.join("hostname");
    let layer = crafted_layer(&env, "hostname-link", |l| {
        std::os::unix::fs::symlink(&host_file, l.join("etc/hostname")).unwrap();
    });
    let (code, out) = run_on(&env, mode, layer, &["cat", "/etc/hostname"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "testbox\n"),
        "expected the container's hostname through the image's symlink"
    );
    assert!(
        !host_file.exists(),
        "expected nothing made on the host at {host_file:?}, found {:?}",
        std::fs::symlink_metadata(&host_file)
    );
}

fn an_image_whose_dev_is_a_symlink_is_refused(mode: Mode) {
    let env = TestEnv::new();
    let host_dev = env.tmp.path().join("host-dev");
    std::fs::create_dir(&host_dev).unwrap();
    let layer = crafted_layer(&env, "dev-link", |l| {
        std::fs::remove_dir(l.join("dev")).unwrap();
        std::os::unix::fs::symlink(&host_dev, l.join("dev")).unwrap();
    });
    let message = expect_refused(&env, mode, layer, &["true"]);
    assert!(
        message.contains("filesystem \"tmpfs\" must be mounted on ordinary directory"),
        "expected a refusal naming the image's /dev, got {message:?}"
    );
    assert!(
        std::fs::read_dir(&host_dev).unwrap().next().is_none(),
        "expected the host directory {host_dev:?} untouched"
    );
}

fn an_image_whose_proc_is_a_file_or_a_symlink_is_refused(mode: Mode) {
    let env = TestEnv::new();
    let host_proc = env.tmp.path().join("host-proc");
    std::fs::create_dir(&host_proc).unwrap();
    let link = crafted_layer(&env, "proc-link", |l| {
        std::fs::remove_dir(l.join("proc")).unwrap();
        std::os::unix::fs::symlink(&host_proc, l.join("proc")).unwrap();
    });
    let file = crafted_layer(&env, "proc-file", |l| {
        std::fs::remove_dir(l.join("proc")).unwrap();
        std::fs::write(l.join("proc"), b"not a directory").unwrap();
    });
    for (what, layer) in [("symlink", link), ("file", file)] {
        let message = expect_refused(&env, mode, layer, &["true"]);
        assert!(
            message.contains("filesystem \"proc\" must be mounted on ordinary directory"),
            "expected a /proc that is a {what} refused by name, got {message:?}"
        );
    }
}

fn masks_are_berths_null_device_and_read_only_under_read_only_paths(mode: Mode) {
    let env = TestEnv::new();
    let mut spec = spec_in(
        &env,
        mode,
        &[
            "sh",
            "-c",
            "stat -c '%F %t:%T' /proc/keys /proc/timer_list; \
         grep ' /proc/sys/kernel/core_pattern ' /proc/self/mountinfo | tail -n1 | cut -d' ' -f6; \
         grep ' /proc/sys ' /proc/self/mountinfo | tail -n1 | cut -d' ' -f6; \
         if echo x > /proc/sys/kernel/core_pattern; then echo WROTE; else echo REFUSED; fi",
        ],
    );
    // A mask under a read-only path (dockerd accepts any MaskedPaths).
    spec.masked_paths
        .push("/proc/sys/kernel/core_pattern".to_string());
    let (code, out) = env.run_to_end(&spec);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.contains("can't create"))
        .collect();
    assert_eq!(code, 0, "the checks ended with {code}: {out}");
    for (i, what) in [(0, "/proc/keys"), (1, "/proc/timer_list")] {
        assert_eq!(
            lines.get(i).copied(),
            Some("character special file 1:3"),
            "expected {what} masked by a char 1:3 node: {out:?}"
        );
    }
    // The mounts seen at the path (the last one listed there).
    for (i, what) in [(2, "the mask on core_pattern"), (3, "/proc/sys")] {
        let opts = lines.get(i).copied().unwrap_or_default();
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "expected {what} mounted read-only, got options {opts:?}: {out}"
        );
    }
    assert_eq!(
        lines.get(4).copied(),
        Some("REFUSED"),
        "expected the write to core_pattern to fail: {out}"
    );
}

fn inheritable_capabilities_are_empty_and_effective_are_dockerds(mode: Mode) {
    let env = TestEnv::new();
    let spec = spec_in(
        &env,
        mode,
        &["grep", "-E", "^Cap(Inh|Eff|Amb)", "/proc/self/status"],
    );
    let (code, out) = env.run_to_end(&spec);
    assert_eq!(code, 0, "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {out:?}"))
            .to_string()
    };
    assert_eq!(field("CapInh:"), "0000000000000000", "CapInh: {out}");
    assert_eq!(field("CapAmb:"), "0000000000000000", "CapAmb: {out}");
    assert_eq!(field("CapEff:"), "00000000a80425fb", "CapEff: {out}");
}

/// The shim asks for the spec's AppArmor profile just before execve: a profile the kernel does
/// not have (AppArmor is off here; where it is on, the name is not loaded) makes the write of the
/// exec label fail, and the container does not start; without a profile it runs.
fn the_apparmor_exec_label_is_written_before_execve(mode: Mode) {
    let env = TestEnv::new();
    let mut spec = spec_in(&env, mode, &["true"]);
    spec.process.apparmor_profile = Some("berth-test-never-loaded".into());
    match env.start(&spec) {
        Err(SpawnError::Start {
            message, exit_code, ..
        }) => {
            assert!(
                message.starts_with("apparmor failed to apply profile: write /proc/self/attr/"),
                "expected runc's AppArmor failure, got {message:?}"
            );
            assert_eq!(exit_code, Some(127), "for {message:?}");
        }
        other => panic!("expected the start to fail at the exec label, got {other:?}"),
    }
    let (code, out) = env.run_to_end(&spec_in(&env, mode, &["true"]));
    assert_eq!(
        code, 0,
        "without a profile: expected exit 0, got {code}: {out}"
    );
}
