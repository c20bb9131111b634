//! Found by the soak (issue 20, part 3; docker-compat/soak.py): an operation that waited for
//! a container's operation lock while `rm -f` removed the container went on with the lock of
//! a file no longer there, and failed with a 500 naming the missing config.json (network
//! disconnect, start). dockerd answers not-found or conflict. The race is run a number of
//! rounds; no round may give another answer. Needs root and `cargo build --workspace` (see
//! common/mod.rs).

use crate::common;

use common::{Berth, Reply};
use hyper::StatusCode;
use serde_json::json;

const ROUNDS: usize = 20;

fn assert_among(round: usize, what: &str, r: &Reply, allowed: &[StatusCode]) {
    assert!(
        allowed.contains(&r.status),
        "round {round}: expected {what} to answer one of {allowed:?}, got {} {}",
        r.status,
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disconnect_or_a_start_racing_a_removal_is_not_found_or_done() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json("/networks/create", &json!({"Name": "racenet"}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "network create: {}",
        r.text()
    );
    for round in 0..ROUNDS {
        let id = b
            .create(
                None,
                &json!({"Image": "busybox", "Cmd": ["sleep", "1000"],
                        "HostConfig": {"NetworkMode": "racenet"}}),
            )
            .await;
        let rm = format!("/containers/{id}?force=1");
        let start = format!("/containers/{id}/start");
        let disconnect = json!({"Container": id});
        let (started, disconnected, removed) = tokio::join!(
            b.post(&start),
            b.post_json("/networks/racenet/disconnect", &disconnect),
            b.call("DELETE", &rm, "")
        );
        assert_eq!(
            removed.status,
            StatusCode::NO_CONTENT,
            "rm -f: {}",
            removed.text()
        );
        let ok = [
            StatusCode::NO_CONTENT,
            StatusCode::NOT_FOUND,
            StatusCode::CONFLICT,
        ];
        assert_among(round, "a start beside rm -f", &started, &ok);
        let ok = [StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::CONFLICT];
        assert_among(round, "a disconnect beside rm -f", &disconnected, &ok);
    }
}

/// Found by CI: a start right after `docker wait` saw the container exited while its shim was
/// still finishing (deleting the veths, after recording the exit) and failed with 500 "is
/// already running" (the old shim's lock). The start waits for the old shim to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_right_after_the_exit_waits_for_the_old_shim() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json("/networks/create", &json!({"Name": "againnet"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"],
                    "HostConfig": {"NetworkMode": "againnet"}}),
        )
        .await;
    for round in 0..8 {
        let r = b.post(&format!("/containers/{id}/kill")).await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "round {round}: kill: {}",
            r.text()
        );
        b.wait(&id).await;
        let r = b.post(&format!("/containers/{id}/start")).await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "round {round}: a start right after the exit: {}",
            r.text()
        );
    }
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}
