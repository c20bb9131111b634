//! `GET /containers/{id}/seccomp-profile` of a real `berth serve`: the profile made from what
//! the eBPF monitor counted runs the same workload again (passed as docker run's
//! `--security-opt seccomp=<file>` sends it, inline) and stops a workload that makes a call the
//! first never made. Needs root, a kernel that loads the programs and
//! `cargo build --workspace` first.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};

const WORKLOAD: &str =
    "ls / >/dev/null; cat /etc/hostname >/dev/null; echo hi > /tmp/x; cat /tmp/x";

async fn logs(b: &Berth, id: &str) -> String {
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let raw = r.body.to_vec();
    common::frames(&raw)
        .into_iter()
        .map(|(_, d)| String::from_utf8_lossy(&d).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_from_what_was_seen_runs_the_workload_and_stops_another() {
    let b = Berth::with_busybox().await;
    let first = b
        .run(
            Some("first"),
            &json!({"Image": "busybox", "Labels": {"berth.monitor": "counts"},
                    "Cmd": ["sh", "-c", WORKLOAD]}),
        )
        .await;
    assert_eq!(b.wait(&first).await, 0);
    let r = b.get("/containers/first/seccomp-profile").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let profile = r.json();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO", "{profile}");
    let names: Vec<&str> = profile["syscalls"][0]["names"]
        .as_array()
        .unwrap_or_else(|| panic!("no names: {profile}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for want in ["execve", "write", "openat", "getdents64"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for never in ["mkdir", "mkdirat", "mount", "ptrace"] {
        assert!(
            !names.contains(&never),
            "{never} was never called: {names:?}"
        );
    }

    // The same workload under the profile: it runs.
    let opt = format!("seccomp={profile}");
    let again = b
        .run(
            Some("again"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", WORKLOAD],
                    "HostConfig": {"SecurityOpt": [opt]}}),
        )
        .await;
    assert_eq!(b.wait(&again).await, 0, "logs: {}", logs(&b, &again).await);
    assert_eq!(logs(&b, &again).await, "hi\n");

    // Another workload, which makes a directory: mkdir is refused.
    let other = b
        .run(
            Some("other"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "mkdir /tmp/d"],
                    "HostConfig": {"SecurityOpt": [opt]}}),
        )
        .await;
    assert_ne!(
        b.wait(&other).await,
        0,
        "mkdir outside the profile succeeded"
    );
    let out = logs(&b, &other).await;
    assert!(out.contains("Operation not permitted"), "logs: {out}");
    // Without the profile the same command works: the profile is what stopped it.
    let free = b
        .run(
            Some("free"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "mkdir /tmp/d"]}),
        )
        .await;
    assert_eq!(b.wait(&free).await, 0);

    // Nothing counted yet: a conflict, not an empty profile; an unknown container: 404.
    b.create(Some("idle"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let r = b.get("/containers/idle/seccomp-profile").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let v: Value = r.json();
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("idle")),
        "{v}"
    );
    // A container that ran without asking for counts (no label): the answer says how to ask.
    let r = b.get("/containers/free/seccomp-profile").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let v: Value = r.json();
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("berth.monitor=counts")),
        "{v}"
    );
    b.get("/containers/nosuch/seccomp-profile")
        .await
        .assert_error(404, "No such container: nosuch", "an unknown container");
}
