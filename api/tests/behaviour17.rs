//! Behaviours issue 17 found wrong against dockerd: State.Health before the first probe,
//! `rm` of a container created from a sparse body, commit's Parent, a restart policy's
//! create-start-inspect sequence.

use crate::common::Berth;
use serde_json::json;

#[tokio::test]
async fn health_is_starting_before_the_first_probe() {
    let b = Berth::with_busybox().await;
    // The probe runs long (its timeout longer still): nothing is recorded while it runs.
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sleep", "60"],
                "Healthcheck": {"Test": ["CMD", "sleep", "30"],
                    "Interval": 60_000_000_000u64, "Timeout": 50_000_000_000u64}}),
        )
        .await;
    let state = &b.inspect(&id).await["State"];
    assert_eq!(
        state["Health"],
        json!({"Status": "starting", "FailingStreak": 0, "Log": []}),
        "State.Health right after start: expected dockerd's starting record, got {state}"
    );
}

/// docker-py's create-with-restart-policy sequence: create (`always`), start, wait, inspect
/// the policy, remove refused while it restarts. dockerd's wait answers at the exit even when
/// the policy starts the container again; berth's waited for a stop that never came.
#[tokio::test]
async fn wait_answers_at_an_exit_the_restart_policy_follows() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sleep", "1"],
                "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}}),
        )
        .await;
    for condition in ["not-running", "next-exit"] {
        let t = std::time::Instant::now();
        let r = b
            .post(&format!("/containers/{id}/wait?condition={condition}"))
            .await;
        assert_eq!(r.status, 200, "wait {condition}: {}", r.text());
        assert_eq!(
            r.json()["StatusCode"],
            0,
            "wait {condition}: expected the exit's code 0, got {}",
            r.text()
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(15),
            "wait {condition}: answered after {:?}",
            t.elapsed()
        );
    }
    let policy = &b.inspect(&id).await["HostConfig"]["RestartPolicy"];
    assert_eq!(
        *policy,
        json!({"Name": "always", "MaximumRetryCount": 0}),
        "the policy in inspect"
    );
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(
        r.status,
        409,
        "remove of a restarting container without force: {}",
        r.text()
    );
}

/// Commit with a body (docker-py's `conf=`): the image's config from it, merged with the
/// container's; `Parent` the image the container was made from; the history sizes per layer.
#[tokio::test]
async fn commit_takes_a_config_and_names_its_parent() {
    let b = Berth::with_busybox().await;
    let base = b.get("/images/busybox/json").await.json();
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "head -c 5000 /dev/zero > /f"],
                "Env": ["FROM_CONTAINER=1"], "WorkingDir": "/tmp"}),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0, "the container's command");
    let r = b
        .post_json(
            &format!("/commit?container={id}&repo=c17&tag=t"),
            &json!({"Cmd": ["cat", "/f"], "Env": ["FROM_CONF=1"]}),
        )
        .await;
    assert_eq!(r.status, 201, "commit: {}", r.text());
    let img = b.get("/images/c17:t/json").await.json();
    assert_eq!(
        img["Parent"], base["Id"],
        "Parent: expected the image the container was made from, got {}",
        img["Parent"]
    );
    let config = &img["Config"];
    assert_eq!(
        config["Cmd"],
        json!(["cat", "/f"]),
        "Cmd from the body: {config}"
    );
    let env = config["Env"].as_array().cloned().unwrap_or_default();
    for want in ["FROM_CONF=1", "FROM_CONTAINER=1"] {
        assert!(
            env.contains(&json!(want)),
            "Env: expected {want} (the body's, then the container's), got {env:?}"
        );
    }
    assert_eq!(
        config["WorkingDir"], "/tmp",
        "WorkingDir from the container"
    );
    let history = b.get("/images/c17:t/history").await.json();
    let top = history[0]["Size"].as_u64().unwrap_or(0);
    assert!(
        (5000..100_000).contains(&top),
        "history: the committed layer's size (a 5000-byte file), got {history}"
    );
    let below = history[1]["Size"].as_u64().unwrap_or(0);
    assert_eq!(
        json!(below),
        base["Size"],
        "history: the base layer's size under it, got {history}"
    );
}
