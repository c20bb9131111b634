//! berth's state is root's alone: the root is 0710 and the run root 0711 with its `containers/`
//! 0700 (dockerd's since CVE-2021-41091), records are 0600, and a root or run root left looser
//! (by an older berth) is tightened at the next start. Another user of the host reads nothing:
//! not a container's configuration (its environment, its secrets), not its log. The API socket
//! is 0660. Needs root and `cargo build --workspace` first.

use crate::common;

use common::Berth;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `cat path` as the user nobody (65534): what it printed, or None when it could not read.
fn read_as_nobody(path: &Path) -> Option<String> {
    let mut cmd = Command::new("cat");
    cmd.arg(path);
    // SAFETY: only async-signal-safe calls (setgroups, setgid, setuid) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setgroups(&[]).map_err(std::io::Error::from)?;
            nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).map_err(std::io::Error::from)?;
            nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).map_err(std::io::Error::from)
        });
    }
    let out = cmd.output().expect("running cat as nobody");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_reads_nothing_of_the_state_and_loose_roots_are_tightened() {
    let mut b = Berth::with_busybox().await;
    let id = b
        .run(
            None,
            &json!({
                "Image": "busybox",
                "Env": ["SECRET=hunter2"],
                "Cmd": ["sh", "-c", "echo the-log-line; sleep 100"],
            }),
        )
        .await;
    let dir = b.root().join("containers").join(&id);
    let run = b.run_root();
    for (path, want) in [
        (b.root(), 0o710),
        (run.clone(), 0o711),
        (run.join("containers"), 0o700),
        (run.join("containers").join(&id), 0o700),
        (dir.join("config.json"), 0o600),
        (dir.join("container.json"), 0o600),
        (dir.join("state.json"), 0o600),
        (b.sock(), 0o660),
    ] {
        assert_eq!(
            mode(&path),
            want,
            "{} has mode {:o}, not {want:o}",
            path.display(),
            mode(&path)
        );
    }
    for file in [dir.join("config.json"), dir.join(format!("{id}-json.log"))] {
        assert_eq!(
            read_as_nobody(&file),
            None,
            "another user read {}",
            file.display()
        );
    }

    // A root and run root an older berth left world-readable are tightened at the next start.
    b.kill_server();
    for d in [b.root(), run.clone(), run.join("containers")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The container's hostname file is 0644 (the container's users read it): only the root's
    // mode keeps it from the host's other users.
    let hostname = dir.join("hostname");
    assert!(
        read_as_nobody(&hostname).is_some(),
        "the test's loosened root should let nobody read {} before the restart",
        hostname.display()
    );
    b.serve();
    assert_eq!(mode(&b.root()), 0o710, "the root was not tightened");
    assert_eq!(mode(&run), 0o711, "the run root was not tightened");
    assert_eq!(mode(&run.join("containers")), 0o700);
    assert_eq!(
        read_as_nobody(&hostname),
        None,
        "another user reads the container's files after the restart"
    );
}

/// berth's own CLI tightens a loose root too, before it reads or writes anything.
#[test]
fn the_cli_tightens_a_loose_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let run = tmp.path().join("run");
    std::fs::create_dir_all(root.join("containers")).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    for d in [&root, &run] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&root)
        .arg("--run-root")
        .arg(&run)
        .args(["ps", "-a"])
        .output()
        .expect("running berth ps");
    assert!(out.status.success(), "berth ps: {out:?}");
    assert_eq!(mode(&root), 0o710);
    assert_eq!(mode(&run), 0o711);
    assert_eq!(mode(&run.join("containers")), 0o700);
}
