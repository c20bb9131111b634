//! berth's log: `tracing` lines on stderr, at the level of `--log-level`/`BERTH_LOG`, each
//! inside the span of the request that caused it.

use crate::common::{Berth, ServeOptions};
use std::time::{Duration, Instant};

/// The server's log once it holds a line matching `want`, or what it holds after 10 s.
fn log_with(path: &std::path::Path, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(&want) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_logged_in_its_span_at_debug() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("serve.err");
    let b = Berth::start_with(ServeOptions {
        env: vec![("BERTH_LOG".into(), "debug".into())],
        stderr: Some(log.clone()),
        ..Default::default()
    });
    let r = b.get("/containers/nope/json").await;
    assert_eq!(r.status, 404, "{}", r.text());
    let want = |l: &str| {
        l.contains("DEBUG")
            && l.contains("request{method=GET path=/containers/nope/json}")
            && l.contains("answered")
            && l.contains("status=404")
    };
    let text = log_with(&log, want);
    assert!(
        text.lines().any(want),
        "no debug line for the request, in its span, with its status; the log:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_level_logs_no_request() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("serve.err");
    let b = Berth::start_with(ServeOptions {
        stderr: Some(log.clone()),
        ..Default::default()
    });
    // The debug line is written before the answer is sent, so it would be there by now.
    let r = b.get("/_ping").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains("answered"),
        "a request was logged at the default level (info):\n{text}"
    );
}

#[test]
fn an_unknown_level_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["--log-level", "loud", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "exit code; stderr: {err}");
    assert!(
        err.contains("unknown log level \"loud\": one of error, warn, info, debug, trace"),
        "stderr: {err}"
    );
}

/// The `shim.log` of a container run to its end (and removed): with `wait_for_debug`, once it
/// holds the debug line of the start (or after 10 s).
async fn shim_log(b: &Berth, wait_for_debug: bool) -> String {
    let id = b
        .run(
            None,
            &serde_json::json!({"Image": "busybox", "Cmd": ["true"]}),
        )
        .await;
    let code = b.wait(&id).await;
    assert_eq!(code, 0, "the container's exit code");
    let path = b.root().join("containers").join(&id).join("shim.log");
    let want = |l: &str| l.contains("DEBUG") && l.contains("container started pid=");
    let text = if wait_for_debug {
        log_with(&path, want)
    } else {
        std::fs::read_to_string(&path).unwrap_or_default()
    };
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(r.status, 204, "removing the container: {}", r.text());
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_logs_at_the_level_of_the_server_that_created_its_container() {
    let b = Berth::with_busybox_and(ServeOptions {
        env: vec![("BERTH_LOG".into(), "debug".into())],
        ..Default::default()
    })
    .await;
    let text = shim_log(&b, true).await;
    assert!(
        text.lines()
            .any(|l| l.contains("DEBUG") && l.contains("container started pid=")),
        "no debug line of the container's start in shim.log at BERTH_LOG=debug; shim.log:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_logs_no_debug_line_at_the_default_level() {
    let b = Berth::with_busybox().await;
    let text = shim_log(&b, false).await;
    assert!(
        !text.contains("DEBUG"),
        "a debug line in shim.log at the default level (info); shim.log:\n{text}"
    );
}
