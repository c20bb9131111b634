//! What berth prints for people and scripts, with no API process: `berth status` with health
//! checks given by `run --health-*` flags and resources in use against their limits, `--format`
//! of the listings, and the completion script. Needs root and `cargo build --workspace` first.

use crate::cli_support;

use cli_support::Root;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `berth status`'s value for `key`.
fn status(r: &Root, container: &str, key: &str) -> String {
    let out = r.berth(&["status", container]).expect(0, "berth status");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("berth status has no {key}: {}", out.stdout))
}

/// Poll until `berth status` shows `want` for `key`, or 30 s pass.
fn wait_status(r: &Root, container: &str, key: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = status(r, container, key);
        if have == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key}: want {want:?}, still {have:?} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn containers(r: &Root) -> String {
    r.berth(&["list", "-aq"]).expect(0, "berth list -aq").stdout
}

#[test]
fn status_shows_health_and_limits() {
    let r = Root::new();
    r.berth(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "--cpus",
        "0.5",
        "-m",
        "64m",
        "--pids-limit",
        "40",
        "busybox",
        "sleep",
        "300",
    ])
    .expect(0, "run with a health check");
    wait_status(&r, "hc", "Health", "unhealthy (failing streak 2)");
    assert!(
        r.berth(&["list", "--format", "status"])
            .expect(0, "list")
            .stdout
            .contains("(unhealthy)"),
        "list does not say unhealthy"
    );
    r.berth(&["exec", "hc", "touch", "/tmp/ok"])
        .expect(0, "exec touch");
    wait_status(&r, "hc", "Health", "healthy");
    let healthy = r
        .berth(&["list", "-q", "--filter", "health=healthy"])
        .expect(0, "list --filter health=healthy")
        .stdout;
    assert_eq!(healthy.lines().count(), 1, "{healthy}");
    let cpu = status(&r, "hc", "CPU");
    assert!(cpu.ends_with("s used / 0.5 CPUs"), "CPU: {cpu}");
    let mem = status(&r, "hc", "Memory");
    assert!(mem.ends_with(" / 64MiB"), "Memory: {mem}");
    let pids = status(&r, "hc", "PIDs");
    assert!(pids.ends_with(" / 40"), "PIDs: {pids}");
    let js = r
        .berth(&["status", "--format", "json", "hc"])
        .expect(0, "status --format json")
        .stdout;
    let v: Value = serde_json::from_str(&js).unwrap_or_else(|e| panic!("{e}: {js}"));
    assert_eq!(v["Health"], "healthy", "{v}");
    assert_eq!(v["FailingStreak"], 0, "{v}");
    assert_eq!(v["Cpu"]["LimitCpus"], 0.5, "{v}");
    assert!(v["Cpu"]["UsageNanoseconds"].as_u64().is_some(), "{v}");
    assert_eq!(v["Memory"]["Limit"], 64 << 20, "{v}");

    // No health check: "none"; stopped: no resources, the exit code.
    r.berth(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"])
        .expect(0, "run");
    assert_eq!(status(&r, "plain", "Health"), "none");
    assert_eq!(
        status(&r, "plain", "CPU").split(" / ").nth(1),
        Some("unlimited")
    );
    r.berth(&["stop", "-t", "0", "plain"]).expect(0, "stop");
    assert_eq!(status(&r, "plain", "Exit code"), "137");
    let out = r.berth(&["status", "plain"]).expect(0, "status").stdout;
    assert!(
        !out.contains("CPU:"),
        "a stopped container has no CPU use: {out}"
    );

    // Wrong health flags: one line, 125, nothing made.
    let before = containers(&r);
    r.berth(&["run", "--no-healthcheck", "--health-cmd", "true", "busybox"])
        .fails_with(
            "--no-healthcheck conflicts with --health-* options",
            "conflict",
        );
    r.berth(&["run", "--health-interval", "-1s", "busybox"])
        .fails_with("--health-interval cannot be negative", "negative interval");
    r.berth(&["create", "--health-timeout", "soon", "busybox"])
        .fails_with("invalid duration", "a bad duration");
    assert_eq!(containers(&r), before, "a refused run left a container");
    let help = r.berth(&["run", "--help"]).expect(0, "run --help").stdout;
    for flag in [
        "--health-cmd",
        "--health-interval",
        "--health-retries",
        "--health-timeout",
        "--health-start-period",
        "--no-healthcheck",
        "--network-alias",
        "--ip",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}");
    }
}

#[test]
fn images_formats_and_completion() {
    let r = Root::new();
    let js = r
        .berth(&["images", "--format", "json"])
        .expect(0, "images --format json")
        .stdout;
    let row: Value = serde_json::from_str(js.trim())
        .unwrap_or_else(|e| panic!("one JSON object per line: {e}: {js}"));
    assert_eq!(
        (&row["Repository"], &row["Tag"]),
        (&Value::from("busybox"), &Value::from("latest"))
    );
    let id = row["ID"].as_str().unwrap_or_default().to_string();
    assert_eq!(id.len(), 12, "{row}");
    let fields = r
        .berth(&["images", "--format", "repository,tag,id"])
        .expect(0, "images --format fields")
        .stdout;
    assert_eq!(fields, format!("busybox\tlatest\t{id}\n"));
    r.berth(&["images", "--format", "colour"])
        .fails_with("unknown field", "a bad field");
    let script = r
        .berth(&["completion", "bash"])
        .expect(0, "completion bash")
        .stdout;
    for word in [
        "network",
        "connect",
        "disconnect",
        "prune",
        "--health-cmd",
        "--network-alias",
    ] {
        assert!(script.contains(word), "the bash completion lacks {word}");
    }
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let r = Root::new();
    let mut c = r.command(&["completion", "bash"]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("berth completion");
    // The reader goes away before berth writes: as `berth ... | head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "want death by SIGPIPE, got {:?}: {stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "said something: {stderr}");
}
