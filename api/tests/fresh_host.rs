//! berth on a machine nobody prepared: bpffs and tracefs not mounted, and the host's mounts
//! private (no systemd), recreated in a mount namespace of each test's own
//! (`common::fresh_host`). The eBPF monitor's mounts must be made there, in the "host's"
//! namespace, by berth (the server, or each shim before it seals itself in a namespace of its
//! own), so that the pins outlive every shim: counts and events work, the next start finds the
//! programs loaded, and a reader in the host's namespace finds the pins. When the monitor
//! cannot work, its endpoints say why instead of answering with empty counts. Needs root,
//! util-linux (unshare, nsenter) and `cargo build --workspace` first.

use crate::common;

use common::fresh_host::FreshHost;
use common::{encode, Berth, ServeOptions};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Waits until the shim of the container whose directory is `dir` has exited: after that only
/// what it left on the host's mounts is there.
fn wait_shim_gone(dir: &Path) {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).expect("state.json"))
            .expect("state.json is JSON");
    let pid = state["shim_pid"].as_i64().expect("shim_pid in state.json");
    assert!(pid > 0, "no shim pid in {state}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains("berth-shim") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the shim {pid} did not exit after its container"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The versioned pin directory (`v<ABI>-<hash>`) under `pins`, as seen from `host`.
fn versioned(host: &FreshHost, pins: &Path) -> PathBuf {
    let dir = host.path(pins);
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no pins at {} in the host's namespace: {e}", pins.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('v'))
        })
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one build's pins under {dir:?}: {entries:?}"
    );
    entries.into_iter().next().unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs `cmd` in a container that asks for counts and exec events, waits for it and for its
/// shim; the container's id.
async fn run_counted(b: &Berth, cmd: &str) -> String {
    let id = b
        .run(
            None,
            &json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c", cmd],
                "Labels": {"berth.monitor": "exec,counts"},
            }),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0, "the container failed");
    wait_shim_gone(&b.root().join("containers").join(&id));
    id
}

/// The calls counted for `id`, by name.
async fn counted(b: &Berth, id: &str) -> Vec<(String, u64)> {
    let r = b.get(&format!("/containers/{id}/syscalls")).await;
    assert_eq!(r.status, StatusCode::OK, "syscalls of {id}: {}", r.text());
    r.json()["Syscalls"]
        .as_array()
        .expect("Syscalls is a list")
        .iter()
        .map(|row| {
            (
                row["Name"].as_str().unwrap_or_default().to_string(),
                row["Calls"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_works_on_a_host_where_bpffs_was_never_mounted() {
    let host = Arc::new(FreshHost::new());
    let b = Berth::with_busybox_and(ServeOptions {
        host: Some(host.clone()),
        ..Default::default()
    })
    .await;

    let first = run_counted(&b, "ls / >/dev/null; cat /etc/passwd >/dev/null").await;
    // The shim is gone: the pins are on the bpffs of the host's namespace, not of its own.
    let v = versioned(&host, &b.bpf_dir());
    for pin in [
        "maps/counts",
        "maps/watched",
        "progs/sec_exit",
        "links/exec",
    ] {
        assert!(
            v.join(pin).exists(),
            "{pin} is not pinned in the host's namespace after the shim exited"
        );
    }
    let calls = counted(&b, &first).await;
    assert!(
        calls.iter().any(|(n, c)| n == "execve" && *c >= 1),
        "no execve counted for the first container: {calls:?}"
    );
    assert!(
        calls.iter().map(|(_, c)| c).sum::<u64>() > 20,
        "too few calls counted for ls and cat: {calls:?}"
    );
    let filters = encode(&format!(
        r#"{{"type":["process"],"container":["{first}"]}}"#
    ));
    let r = b
        .get(&format!(
            "/events?since=0&until={}&filters={filters}",
            now() + 1
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let events: Vec<Value> = r
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["Action"] == "exec" && e["Actor"]["ID"] == first.as_str()),
        "no exec event of the first container: {events:#?}"
    );

    // The next start finds the programs pinned and loads nothing: the pins are the same
    // files (a load would have replaced them), and the second container is counted too.
    let loaded = std::fs::metadata(v.join("progs/sec_exit")).unwrap().ino();
    let second = run_counted(&b, "ls /bin >/dev/null").await;
    assert_eq!(
        std::fs::metadata(v.join("progs/sec_exit")).unwrap().ino(),
        loaded,
        "the second start loaded the programs again"
    );
    let calls = counted(&b, &second).await;
    assert!(
        calls.iter().any(|(n, c)| n == "execve" && *c >= 1),
        "no execve counted for the second container: {calls:?}"
    );
}

/// `berth` run inside the fresh host's namespace with its own root: stdout, or a panic with
/// everything it said.
fn cli(host: &FreshHost, tmp: &Path, args: &[&str]) -> String {
    let out = host
        .command(BERTH)
        .arg("--root")
        .arg(tmp.join("root"))
        .arg("--run-root")
        .arg(tmp.join("run"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running berth");
    assert!(
        out.status.success(),
        "berth {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No server at all: the CLI spawns the shim, and only the shim can make the mounts, before
/// it seals itself. Were they made after (inside its private namespace), the pins would die
/// with it and the counts read after it would be gone.
/// Removes the networks' kernel objects (bridges, firewall table) of a test's root on drop.
struct Teardown(PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = berth_shim::net::teardown(&self.0) {
            eprintln!("cleanup: network teardown of {}: {e}", self.0.display());
        }
    }
}

#[test]
fn a_shim_started_from_the_cli_leaves_its_pins_on_the_host() {
    let host = FreshHost::new();
    let _pins = common::bpf_pins::Pins::take();
    let tmp = tempfile::tempdir().unwrap();
    let _teardown = Teardown(tmp.path().join("root"));
    let bpffs = |what: &str| -> Value {
        let list: Value =
            serde_json::from_str(&cli(&host, tmp.path(), &["check", "--format", "json"]))
                .unwrap_or_else(|e| panic!("berth check --format json {what}: {e}"));
        let found = list
            .as_array()
            .expect("a list")
            .iter()
            .find(|r| r["Name"] == "bpffs");
        found
            .unwrap_or_else(|| panic!("no bpffs in berth check {what}: {list}"))
            .clone()
    };
    let before = bpffs("before");
    assert_eq!(before["Found"], "/sys/fs/bpf not mounted", "{before}");
    let tar = tmp.path().join("busybox.tar");
    std::fs::write(&tar, common::busybox_tar()).unwrap();
    cli(
        &host,
        tmp.path(),
        &["import", tar.to_str().unwrap(), "busybox"],
    );
    cli(
        &host,
        tmp.path(),
        &[
            "run",
            "--name",
            "counted",
            "-l",
            "berth.monitor=counts",
            "busybox",
            "ls",
            "/",
        ],
    );
    let inspect: Value = serde_json::from_str(&cli(&host, tmp.path(), &["inspect", "counted"]))
        .expect("inspect prints JSON");
    let id = inspect[0]["Id"].as_str().expect("an Id").to_string();
    wait_shim_gone(&tmp.path().join("root/containers").join(&id));
    let v = versioned(&host, &common::bpf_pins::dir());
    assert!(
        v.join("maps/counts").exists(),
        "the counts map is not pinned in the host's namespace after the shim exited"
    );
    let status: Value = serde_json::from_str(&cli(
        &host,
        tmp.path(),
        &["status", "--format", "json", "counted"],
    ))
    .expect("status --format json is JSON");
    assert!(
        status["Syscalls"]["Calls"].as_u64().unwrap_or(0) > 0,
        "berth status shows no counts: {status}"
    );
    let after = bpffs("after");
    assert_eq!(after["Found"], "/sys/fs/bpf mounted", "{after}");
    cli(&host, tmp.path(), &["rm", "counted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_that_cannot_work_says_why() {
    // Pins asked for on a filesystem that is not bpffs: the monitor cannot load there, as on a
    // host whose bpffs cannot be mounted.
    let tmp = tempfile::tempdir().unwrap();
    let pins = tmp.path().join("not-bpffs");
    let log = tmp.path().join("serve.err");
    let b = Berth::with_busybox_and(ServeOptions {
        env: vec![("BERTH_BPF_DIR".into(), pins.display().to_string())],
        stderr: Some(log.clone()),
        ..Default::default()
    })
    .await;
    let config = json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "ls / >/dev/null"],
        "Labels": {"berth.monitor": "counts"},
    });
    let id = b.run(None, &config).await;
    assert_eq!(
        b.wait(&id).await,
        0,
        "the container runs without the monitor"
    );
    let cause = format!("{} is not on a bpffs mount", pins.display());
    let want = format!("the eBPF monitor is unavailable: {cause}");
    for path in [
        format!("/containers/{id}/syscalls"),
        format!("/containers/{id}/seccomp-profile"),
    ] {
        b.get(&path).await.assert_error(503, &want, &path);
    }
    // A policy for a running container is refused, and nothing of it is kept.
    let sleeper = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "100"]}))
        .await;
    let path = format!("/containers/{sleeper}/policy");
    b.post_json(&path, &json!({"DenySyscalls": ["mkdir"]}))
        .await
        .assert_error(503, &want, &path);
    assert!(
        !b.root()
            .join("containers")
            .join(&sleeper)
            .join("policy.json")
            .exists(),
        "a refused policy was kept"
    );
    // `docker info` warns of it.
    let info = b.get("/info").await.json();
    let warning = format!("WARNING: eBPF monitor: {cause}");
    assert!(
        info["Warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|l| l == warning.as_str())),
        "no {warning:?} among /info's Warnings: {}",
        info["Warnings"]
    );
    // The server said so once, in one line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let said = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("eBPF monitor is unavailable"))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(said.len(), 1, "the server's log: {said:?}");
    assert!(
        said[0].contains(&cause),
        "the line names no cause: {}",
        said[0]
    );
}
