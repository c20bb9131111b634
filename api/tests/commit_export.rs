//! A container's filesystem through a real `berth serve`: `docker diff`, `docker export` (also of
//! a running container) and `docker commit` (then a container of the new image sees the file).
//! Needs root and `cargo build --workspace` first.

use crate::common;

use common::{frames, stream_text, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;

fn sh(image: &str, script: &str) -> Value {
    json!({"Image": image, "Cmd": ["sh", "-c", script]})
}

fn tar_files(b: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(b);
    for e in a.entries().expect("a tar") {
        let mut e = e.expect("a tar entry");
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name.trim_end_matches('/').to_string(), data);
    }
    out
}

async fn output(b: &Berth, image: &str, script: &str) -> (i64, String) {
    let id = b.run(None, &sh(image, script)).await;
    let code = b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    (
        code,
        stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_export_commit() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            Some("changer"),
            &sh(
                "busybox",
                "echo hi > /new && rm /etc/group && mkdir -p /d && echo x > /d/f",
            ),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0);

    let r = b.get("/containers/changer/changes").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!([
            {"Path": "/d", "Kind": 1},
            {"Path": "/d/f", "Kind": 1},
            {"Path": "/etc", "Kind": 0},
            {"Path": "/etc/group", "Kind": 2},
            {"Path": "/new", "Kind": 1},
        ]),
        "changes of the container"
    );

    let r = b.get("/containers/changer/export").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let files = tar_files(&r.body);
    assert_eq!(files["new"], b"hi\n");
    assert_eq!(files["d/f"], b"x\n");
    assert!(
        files.contains_key("bin/busybox"),
        "export lacks the image's files"
    );
    assert!(files.contains_key("etc/passwd"));
    assert!(
        !files.contains_key("etc/group"),
        "a deleted file was exported"
    );
    assert!(
        !files.keys().any(|k| k.contains(".wh.")),
        "whiteouts leaked: {:?}",
        files.keys()
    );

    // export | import: the tarball is a root filesystem that runs.
    let r = b
        .call(
            "POST",
            "/images/create?fromSrc=-&repo=exported&tag=1",
            r.body.clone(),
        )
        .await;
    assert!(!r.text().contains("error"), "{}", r.text());
    assert_eq!(
        output(&b, "exported:1", "cat /new").await,
        (0, "hi\n".into())
    );

    let r = b
        .post("/commit?container=changer&repo=committed&tag=v1&comment=c1&author=me&changes=ENV%20C%3D1")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let image_id = r.json()["Id"].as_str().unwrap().to_string();
    let r = b.get("/images/committed:v1/json").await;
    let img = r.json();
    assert_eq!(img["Id"], image_id);
    assert_eq!(
        img["RootFS"]["Layers"].as_array().unwrap().len(),
        2,
        "{img}"
    );
    assert_eq!(img["Author"], "me");
    assert_eq!(img["Comment"], "c1");
    assert!(
        img["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("C=1")),
        "{img}"
    );
    assert_eq!(
        output(
            &b,
            "committed:v1",
            "cat /new /d/f; ls /etc/group 2>&1 >/dev/null; echo $C"
        )
        .await,
        (
            0,
            "hi\nx\nls: /etc/group: No such file or directory\n1\n".into()
        )
    );
    let r = b.get("/images/committed:v1/history").await;
    assert_eq!(r.json()[0]["Comment"], "c1", "{}", r.text());

    let r = b.post("/commit?container=nosuch").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_container_export_and_paused_commit() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &sh("busybox", "echo live > /live; exec sleep 60"))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = b.get(&format!("/containers/{id}/changes")).await;
        if r.text().contains("/live") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no /live: {}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = b.get(&format!("/containers/{id}/export")).await;
    assert_eq!(tar_files(&r.body)["live"], b"live\n");
    let r = b
        .post(&format!("/commit?container={id}&repo=live&pause=1"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        b.inspect(&id).await["State"]["Status"],
        "running",
        "the commit left the container paused"
    );
    assert_eq!(output(&b, "live", "cat /live").await, (0, "live\n".into()));
}
