//! What berth answers for features it does not have, as dockerd answers them: swarm (a node
//! outside any swarm), plugins (none installed), cluster volume update, build cache (none), the
//! image index (none), and `GET /system/df` for what it has. API versions up to 1.50.

use crate::common::Berth;
use serde_json::json;

const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \
                             \"docker swarm join\" to connect this node to swarm and try again.";

#[tokio::test]
async fn swarm_endpoints_answer_as_a_node_outside_a_swarm() {
    let b = Berth::start();
    b.post("/v1.50/swarm/leave?force=1").await.assert_error(
        503,
        "This node is not part of a swarm",
        "POST /swarm/leave",
    );
    for (method, path) in [
        ("GET", "/swarm"),
        ("GET", "/swarm/unlockkey"),
        ("POST", "/swarm/update"),
        ("GET", "/nodes"),
        ("GET", "/nodes/x"),
        ("DELETE", "/nodes/x"),
        ("GET", "/services"),
        ("POST", "/services/create"),
        ("GET", "/services/x"),
        ("GET", "/services/x/logs"),
        ("GET", "/tasks"),
        ("GET", "/tasks/x"),
        ("GET", "/secrets"),
        ("POST", "/secrets/create"),
        ("DELETE", "/secrets/x"),
        ("GET", "/configs"),
        ("GET", "/configs/x"),
        ("POST", "/configs/x/update"),
    ] {
        let what = format!("{method} {path}");
        b.call(method, &format!("/v1.41{path}"), "")
            .await
            .assert_error(503, NOT_A_MANAGER, &what);
    }
    b.post_json("/swarm/init", &json!({"ListenAddr": "0.0.0.0:2377"}))
        .await
        .assert_error(
            501,
            "berth does not support swarm mode: this node cannot init or join a swarm",
            "POST /swarm/init",
        );
    b.call("PUT", "/volumes/v1?version=1", "{}")
        .await
        .assert_error(
            503,
            "volume update only valid for cluster volumes, but swarm is unavailable",
            "PUT /volumes/v1",
        );
}

#[tokio::test]
async fn plugins_answer_as_a_dockerd_with_none_installed() {
    let b = Berth::start();
    let r = b.get("/plugins").await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (200, json!([])),
        "GET /plugins"
    );
    b.get("/plugins?filters=%7B%22x%22%3A%5B%22y%22%5D%7D")
        .await
        .assert_error(400, "invalid filter 'x'", "GET /plugins with filter x");
    for (method, path, name) in [
        (
            "GET",
            "/plugins/vieux/sshfs:latest/json",
            "vieux/sshfs:latest",
        ),
        ("DELETE", "/plugins/foo", "foo"),
        ("POST", "/plugins/foo/enable?timeout=0", "foo"),
        ("POST", "/plugins/foo/disable", "foo"),
        ("POST", "/plugins/a/b/set", "a/b"),
    ] {
        b.call(method, path, "").await.assert_error(
            404,
            &format!("plugin \"{name}\" not found"),
            &format!("{method} {path}"),
        );
    }
    b.post("/plugins/pull?remote=vieux/sshfs")
        .await
        .assert_error(
            501,
            "berth does not support plugins: none can be installed",
            "POST /plugins/pull",
        );
}

#[tokio::test]
async fn build_cache_and_search_and_versions() {
    let b = Berth::start();
    let r = b.post("/v1.50/build/prune?all=1").await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (200, json!({"CachesDeleted": null, "SpaceReclaimed": 0})),
        "POST /build/prune"
    );
    b.post("/build/prune?filters=%7B%22nope%22%3A%5B%22y%22%5D%7D")
        .await
        .assert_error(400, "invalid filter 'nope'", "build prune filter nope");
    b.get("/images/search?term=busybox").await.assert_error(
        501,
        "berth has no registry index to search: image search is not supported",
        "GET /images/search",
    );
    for v in ["1.48", "1.49", "1.50"] {
        let r = b.get(&format!("/v{v}/version")).await;
        assert_eq!(r.status.as_u16(), 200, "/v{v}/version: {}", r.text());
        assert_eq!(r.json()["ApiVersion"], "1.50", "/v{v}/version");
    }
    b.get("/v1.51/version").await.assert_error(
        400,
        "client version 1.51 is too new. Maximum supported API version is 1.50",
        "/v1.51/version",
    );
}

#[tokio::test]
async fn system_df_counts_images_containers_and_volumes() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json("/volumes/create", &json!({"Name": "dfvol"}))
        .await;
    assert_eq!(r.status.as_u16(), 201, "volume create: {}", r.text());
    let id = b
        .create(
            Some("dfc"),
            &json!({"Image": "busybox", "Cmd": ["true"],
                    "HostConfig": {"Mounts": [{"Type": "volume", "Source": "dfvol", "Target": "/v"}]}}),
        )
        .await;
    let r = b.get("/system/df").await;
    assert_eq!(r.status.as_u16(), 200, "GET /system/df: {}", r.text());
    let df = r.json();
    let images = df["Images"].as_array().expect("Images is a list");
    assert_eq!(images.len(), 1, "one image: {df}");
    assert_eq!(images[0]["Containers"], 1, "busybox's containers: {df}");
    assert_eq!(images[0]["SharedSize"], 0, "busybox shares no layer: {df}");
    let size = images[0]["Size"].as_u64().expect("image Size");
    assert!(size > 0, "busybox has a size: {df}");
    assert_eq!(
        df["LayersSize"], size,
        "LayersSize is busybox's layers: {df}"
    );
    let containers = df["Containers"].as_array().expect("Containers is a list");
    assert_eq!(containers.len(), 1, "one container: {df}");
    assert_eq!(containers[0]["Id"], id.as_str(), "{df}");
    assert!(containers[0]["SizeRw"].is_u64(), "container SizeRw: {df}");
    let volumes = df["Volumes"].as_array().expect("Volumes is a list");
    assert_eq!(volumes.len(), 1, "one volume: {df}");
    assert_eq!(
        volumes[0]["UsageData"]["RefCount"], 1,
        "dfvol is used once: {df}"
    );
    assert!(volumes[0]["UsageData"]["Size"].is_u64(), "{df}");
    assert_eq!(df["BuildCache"], json!([]), "no build cache: {df}");

    let r = b.get("/v1.50/system/df?type=volume").await;
    let only: Vec<String> = r.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(only, ["Volumes"], "type=volume: {}", r.text());
    b.get("/v1.50/system/df?type=images").await.assert_error(
        400,
        "unknown object type: images",
        "type=images",
    );
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1"), "")
        .await;
    assert_eq!(r.status.as_u16(), 204, "rm: {}", r.text());
}
