//! Found by the soak (issue 20, part 3; docker-compat/soak.py): an exec's start racing the
//! end or the removal of its container. dockerd answers such a start with the documented
//! conflict or not-found; berth answered 500 ("exec: container … is not running", "reading
//! …/spec.json"), and a start racing `rm -f` left the removed container's run directory (the
//! exec helper made it again). Each race is run a number of rounds, since it is a race; no
//! round may give another answer or leave anything behind. Needs root and
//! `cargo build --workspace` (see common/mod.rs).

use crate::common;

use common::{eventually, Berth};
use hyper::StatusCode;
use serde_json::json;

const ROUNDS: usize = 20;

/// A running container and an exec made in it: (container id, exec id).
async fn container_with_exec(b: &Berth) -> (String, String) {
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
        .await;
    let r = b
        .post_json(&format!("/containers/{id}/exec"), &json!({"Cmd": ["true"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "exec create: {}", r.text());
    (id, r.json()["Id"].as_str().expect("no Id").to_string())
}

/// A detached exec start (as `docker exec -d`).
async fn start_detached(b: &Berth, exec: &str) -> common::Reply {
    b.post_json(&format!("/exec/{exec}/start"), &json!({"Detach": true}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exec_start_racing_a_kill_is_started_or_a_conflict() {
    let b = Berth::with_busybox().await;
    for round in 0..ROUNDS {
        let (id, exec) = container_with_exec(&b).await;
        let kill = format!("/containers/{id}/kill");
        let (started, killed) = tokio::join!(start_detached(&b, &exec), b.post(&kill));
        assert_eq!(
            killed.status,
            StatusCode::NO_CONTENT,
            "kill: {}",
            killed.text()
        );
        assert!(
            started.status == StatusCode::OK || started.status == StatusCode::CONFLICT,
            "round {round}: expected the exec started (200) or a conflict (409) beside a kill, \
             got {} {}",
            started.status,
            started.text()
        );
        let r = b
            .call("DELETE", &format!("/containers/{id}?force=1"), "")
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "rm: {}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exec_start_racing_a_removal_is_not_found_or_done_and_leaves_nothing() {
    let b = Berth::with_busybox().await;
    for round in 0..ROUNDS {
        let (id, exec) = container_with_exec(&b).await;
        let rm = format!("/containers/{id}?force=1");
        let (started, removed) = tokio::join!(start_detached(&b, &exec), b.call("DELETE", &rm, ""));
        assert_eq!(
            removed.status,
            StatusCode::NO_CONTENT,
            "rm -f: {}",
            removed.text()
        );
        assert!(
            [StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::CONFLICT].contains(&started.status),
            "round {round}: expected the exec started (200), not found (404) or a conflict (409) \
             beside a removal, got {} {}",
            started.status,
            started.text()
        );
        let run = b.run_root().join("containers").join(&id);
        eventually(
            &format!("round {round}: the removed container's run dir {run:?} gone"),
            || !run.exists(),
        );
        let dir = b.root().join("containers").join(&id);
        assert!(
            !dir.exists(),
            "round {round}: expected {dir:?} gone after rm -f"
        );
    }
}
