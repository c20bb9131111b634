//! Volumes through a real `berth serve`: the `/volumes` verbs, a named volume carrying a file
//! from one container to the next, an image VOLUME's content copied into its new anonymous
//! volume, `rm -v`, a tmpfs volume of the local driver, and prune. Needs root and `cargo build
//! --workspace` first.

use crate::common;

use common::{frames, stream_text, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};

async fn output(b: &Berth, config: Value) -> (i64, String) {
    let id = b.run(None, &config).await;
    let code = b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    (
        code,
        stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2),
    )
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["Volumes"]
        .as_array()
        .unwrap_or_else(|| panic!("no Volumes in {list}"))
        .iter()
        .map(|v| v["Name"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_volume_verbs_and_sharing() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/volumes/create",
            &json!({"Name": "data", "Labels": {"team": "a"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert!(
        v["Mountpoint"]
            .as_str()
            .is_some_and(|m| m.ends_with("/volumes/data/_data")),
        "{v}"
    );
    let r = b.get("/volumes/data").await;
    assert_eq!(r.json()["Labels"], json!({"team": "a"}));
    b.get("/volumes/nope").await.assert_error(
        404,
        "get nope: no such volume",
        "inspect of a missing volume",
    );

    // A file written through the volume by one container is read by the next.
    let (code, out) = output(
        &b,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo shared > /data/f"],
               "HostConfig": {"Binds": ["data:/data"]}}),
    )
    .await;
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out) = output(
        &b,
        json!({"Image": "busybox", "Cmd": ["cat", "/data/f"],
               "HostConfig": {"Mounts": [{"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": true}]}}),
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "shared\n"));

    let r = b
        .get("/volumes?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D")
        .await;
    assert_eq!(names(&r.json()), Vec::<String>::new(), "data is in use");
    let r = b
        .get("/volumes?filters=%7B%22label%22%3A%5B%22team%3Da%22%5D%7D")
        .await;
    assert_eq!(names(&r.json()), vec!["data"]);

    let r = b.call("DELETE", "/volumes/data", "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("volume is in use"), "{}", r.text());
    let ids: Vec<String> = b
        .get("/containers/json?all=1")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect();
    for id in ids {
        let r = b.call("DELETE", &format!("/containers/{id}?v=1"), "").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    assert_eq!(
        b.get("/volumes/data").await.status,
        StatusCode::OK,
        "rm -v keeps named volumes"
    );
    let r = b.call("DELETE", "/volumes/data", "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(b.get("/volumes/data").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_volume_content_is_copied_and_rm_v_removes_it() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "mkdir /app && echo from-image > /app/f"]}),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0);
    let r = b
        .post(&format!(
            "/commit?container={id}&repo=withvol&changes=VOLUME%20%2Fapp"
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    let c = b
        .run(
            Some("user"),
            &json!({"Image": "withvol", "Cmd": ["cat", "/app/f"]}),
        )
        .await;
    assert_eq!(b.wait(&c).await, 0);
    let logs = b.get(&format!("/containers/{c}/logs?stdout=1")).await;
    assert_eq!(stream_text(&frames(&logs.body), 1), "from-image\n");
    let mounts = b.inspect("user").await["Mounts"].clone();
    let m = &mounts[0];
    assert_eq!(
        (m["Type"].as_str(), m["Destination"].as_str()),
        (Some("volume"), Some("/app")),
        "{mounts}"
    );
    let anon = m["Name"].as_str().unwrap().to_string();
    assert_eq!(anon.len(), 64);
    let v = b.get(&format!("/volumes/{anon}")).await.json();
    assert_eq!(v["Labels"], json!({"com.docker.volume.anonymous": ""}));

    // Prune leaves a volume in use, and (by default) named ones.
    let r = b
        .post_json("/volumes/create", &json!({"Name": "keep"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = b.post("/volumes/prune").await.json();
    assert_eq!(
        r["VolumesDeleted"],
        json!([]),
        "dockerd lists nothing pruned as []: {r}"
    );

    let r = b.call("DELETE", "/containers/user?v=1", "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        b.get(&format!("/volumes/{anon}")).await.status,
        StatusCode::NOT_FOUND,
        "rm -v"
    );

    let r = b.post("/volumes/prune").await.json();
    assert_eq!(r["VolumesDeleted"], json!([]), "named volumes stay: {r}");
    let r = b
        .post("/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D")
        .await
        .json();
    assert_eq!(r["VolumesDeleted"], json!(["keep"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmpfs_volume_and_tmpfs_mount_with_size() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/volumes/create",
            &json!({"Name": "scratch", "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let (code, out) = output(
        &b,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "grep -E ' /(v|t) ' /proc/mounts | cut -d' ' -f1-4"],
               "HostConfig": {"Binds": ["scratch:/v"],
                              "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}}]}}),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("tmpfs /v tmpfs rw") && out.contains("size=2048k"),
        "{out}"
    );
    assert!(
        out.contains("tmpfs /t tmpfs rw") && out.contains("size=1024k"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_remove_destroys_anonymous_volumes_with_their_events() {
    let b = Berth::with_busybox().await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = b
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo x > /anon/f"],
                    "Volumes": {"/anon": {}}, "HostConfig": {"AutoRemove": true}}),
        )
        .await;
    let anon = b.inspect(&id).await["Mounts"][0]["Name"]
        .as_str()
        .expect("an anonymous volume in Mounts")
        .to_string();
    let r = b.start_and_wait_removed(&id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    b.get(&format!("/volumes/{anon}")).await.assert_error(
        404,
        &format!("get {anon}: no such volume"),
        "after auto-remove",
    );
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = b.get(&format!("/events?since={since}&until={until}")).await;
    let evs: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String, String)> = evs
        .iter()
        .filter(|e| e["Action"] == "destroy")
        .map(|e| {
            (
                e["Type"].as_str().unwrap_or_default().to_string(),
                e["Actor"]["ID"].as_str().unwrap_or_default().to_string(),
                e["Actor"]["Attributes"]["driver"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("volume".to_string(), anon, "local".to_string()),
            ("container".to_string(), id, String::new()),
        ],
        "dockerd logs the volume's destroy, then the container's: {evs:?}"
    );
}
