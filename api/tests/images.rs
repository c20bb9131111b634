//! The image store end to end, as root: a busybox rootfs imported, resolved, tagged, listed and
//! removed; `docker save` and OCI archives loaded; concurrent imports; the HTTP routes.

use crate::common::busybox_tar;
use berth::engine::{Engine, EngineError, ErrorKind};
use berth_shim::Paths;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::new(Paths::new(dir.path().join("root"), dir.path().join("run")));
    (dir, e)
}

fn small_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

fn sha(b: &[u8]) -> String {
    berth::engine::images::store::sha256_hex(b)
}

fn layer_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("layers"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn busybox_import_resolve_tag_list_remove() {
    let (_d, e) = engine();
    let tar = busybox_tar();
    let img = e
        .import(
            &tar[..],
            Some("busybox"),
            &[r#"CMD ["sh"]"#.to_string(), "ENV PATH=/bin".to_string()],
            "from a test",
        )
        .unwrap();
    assert_eq!(img.repo_tags, ["busybox:latest"]);
    assert_eq!(img.diff_ids, [format!("sha256:{}", sha(&tar))]);
    assert_eq!(img.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(img.comment, "from a test");
    assert_eq!(img.os, "linux");
    let busybox = img.layers[0].join("bin/busybox");
    let meta = std::fs::metadata(&busybox).unwrap();
    assert_eq!(meta.len(), std::fs::metadata("/bin/busybox").unwrap().len());
    assert!(img.size >= meta.len());
    assert_eq!(
        std::fs::read_link(img.layers[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );

    let hex = img.id.strip_prefix("sha256:").unwrap();
    for r in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "library/busybox",
        &img.id,
        hex,
        &hex[..12],
        &format!("sha256:{}", &hex[..12]),
    ] {
        assert_eq!(
            e.image(r).map(|i| i.id),
            Ok(img.id.clone()),
            "resolving {r}"
        );
    }
    assert_eq!(
        e.image("nothere"),
        Err(EngineError::not_found(
            "No such image: nothere:latest".into()
        ))
    );
    assert_eq!(
        e.image("busybox:1.0"),
        Err(EngineError::not_found("No such image: busybox:1.0".into()))
    );

    e.tag("busybox", "localhost:5000/x/y", "1").unwrap();
    e.tag(&hex[..8], "mine", "").unwrap();
    let all = e.images().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].repo_tags,
        ["busybox:latest", "mine:latest", "localhost:5000/x/y:1"]
    );

    assert_eq!(
        e.remove_image("localhost:5000/x/y:1", false).unwrap(),
        [json!({"Untagged": "localhost:5000/x/y:1"})]
    );
    // By id while two tags remain: must be forced.
    let err = e.remove_image(&hex[..12], false).unwrap_err();
    assert!(
        err.is(ErrorKind::Conflict) && err.message().contains("multiple repositories"),
        "{err}"
    );
    assert_eq!(
        e.remove_image("mine", false).unwrap(),
        [json!({"Untagged": "mine:latest"})]
    );
    let root = e.paths.root.clone();
    assert_eq!(layer_dirs(&root), [sha(&tar)]);
    let out = e.remove_image("busybox", false).unwrap();
    assert_eq!(
        out,
        [
            json!({"Untagged": "busybox:latest"}),
            json!({"Deleted": img.id}),
            json!({"Deleted": format!("sha256:{}", sha(&tar))}),
        ]
    );
    assert!(
        layer_dirs(&root).is_empty(),
        "the last image took its layer"
    );
    assert!(e.images().unwrap().is_empty());
    assert_eq!(
        e.image("busybox"),
        Err(EngineError::not_found(
            "No such image: busybox:latest".into()
        ))
    );
}

#[test]
fn containers_hold_their_image() {
    let (_d, e) = engine();
    let tar = small_tar("hello", b"world");
    let img = e.import(&tar[..], Some("held:1"), &[], "").unwrap();
    assert_eq!(img.comment, "Imported from -");
    let c = e.paths.containers().join("c0ffee0000000000");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(
        c.join("container.json"),
        json!({"Image": img.id}).to_string(),
    )
    .unwrap();
    // A container dir without its record is tolerated.
    std::fs::create_dir_all(e.paths.containers().join("broken")).unwrap();

    let err = e.remove_image("held:1", false).unwrap_err();
    assert!(
        err.is(ErrorKind::Conflict) && err.message().contains("container c0ffee000000 is using"),
        "{err}"
    );
    let out = e.remove_image("held:1", true).unwrap();
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(e.image(&img.id).is_err(), "the image is gone from view");
    assert!(
        img.layers[0].join("hello").exists(),
        "but its layer stays for the container"
    );

    // Once the container is gone, the next removal collects the layer.
    std::fs::remove_dir_all(&c).unwrap();
    let other = e.import(&small_tar("x", b"y")[..], None, &[], "").unwrap();
    e.remove_image(&other.id, false).unwrap();
    assert!(layer_dirs(&e.paths.root).is_empty());
}

#[test]
fn docker_save_archive_loads() {
    let (_d, e) = engine();
    let layer = small_tar("etc/hostname", b"saved\n");
    let diff = format!("sha256:{}", sha(&layer));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"a": "b"}},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "ADD file"}],
    }))
    .unwrap();
    let id = sha(&config);
    let manifest = json!([{
        "Config": format!("{id}.json"),
        "RepoTags": ["saved:1", "localhost:5000/saved:2"],
        "Layers": ["abc/layer.tar"],
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    // Layers before the manifest, as `docker save` writes them.
    add("abc/layer.tar", &layer);
    add(&format!("{id}.json"), &config);
    add("manifest.json", manifest.to_string().as_bytes());
    let archive = b.into_inner().unwrap();

    let lines = e.load(&archive[..]).unwrap();
    assert_eq!(
        lines,
        [
            "Loaded image: saved:1",
            "Loaded image: localhost:5000/saved:2"
        ]
    );
    let img = e.image("saved:1").unwrap();
    assert_eq!(img.id, format!("sha256:{id}"));
    assert_eq!(img.created, "2024-01-02T03:04:05Z");
    assert_eq!(img.config.labels.unwrap()["a"], "b");
    assert_eq!(
        std::fs::read(img.layers[0].join("etc/hostname")).unwrap(),
        b"saved\n"
    );
    // Loading again is a no-op that still succeeds.
    assert_eq!(e.load(&archive[..]).unwrap().len(), 2);

    // A config that lies about its layer is refused.
    let bad_config = String::from_utf8(config.clone())
        .unwrap()
        .replace(&diff[7..], &"0".repeat(64));
    let bad_id = sha(bad_config.as_bytes());
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("l.tar", &small_tar("other", b"content"));
    add("c.json", bad_config.as_bytes());
    add(
        "manifest.json",
        json!([{"Config": "c.json", "RepoTags": ["liar:1"], "Layers": ["l.tar"]}])
            .to_string()
            .as_bytes(),
    );
    let err = e.load(&b.into_inner().unwrap()[..]).unwrap_err();
    assert!(err.to_string().contains("the config says"), "{err}");
    assert!(e.image(&bad_id).is_err());
}

#[test]
fn oci_layout_loads() {
    let (_d, e) = engine();
    let layer = small_tar("oci", b"layout");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&layer).unwrap();
    let blob = gz.finish().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(&config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{}", sha(&blob)), "size": blob.len()}],
    }))
    .unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{}", sha(&manifest)), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": "docker.io/library/oci:2",
                                       "org.opencontainers.image.ref.name": "2"}}],
    });
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(&format!("blobs/sha256/{}", sha(&blob)), &blob);
    add(&format!("blobs/sha256/{}", sha(&config)), &config);
    add(&format!("blobs/sha256/{}", sha(&manifest)), &manifest);
    add("index.json", index.to_string().as_bytes());
    let lines = e.load(&b.into_inner().unwrap()[..]).unwrap();
    assert_eq!(lines, ["Loaded image: oci:2"]);
    let img = e.image("oci:2").unwrap();
    assert_eq!(img.id, format!("sha256:{}", sha(&config)));
    assert!(img.layers[0].join("oci").exists());
}

#[test]
fn concurrent_imports_share_one_layer() {
    let (_d, e) = engine();
    let tar = busybox_tar();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (e, tar) = (e.clone(), tar.clone());
            std::thread::spawn(move || e.import(&tar[..], Some(&format!("same:{i}")), &[], ""))
        })
        .collect();
    let imgs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap().expect("both imports succeed"))
        .collect();
    assert_eq!(imgs[0].layers, imgs[1].layers);
    assert_eq!(layer_dirs(&e.paths.root), [sha(&tar)]);
    let tmp: Vec<_> = std::fs::read_dir(e.paths.root.join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "temp dirs left behind: {tmp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let (_d, e) = engine();
    let app = berth::http::router(berth::http::AppState { engine: e });
    let call = |method: &str, uri: &str, body: Vec<u8>| {
        let app = app.clone();
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };

    let (s, body) = call(
        "POST",
        "/images/create?fromSrc=-&repo=web&tag=1&changes=CMD%20%5B%22sh%22%5D&message=hi",
        small_tar("index.html", b"<p>hi</p>"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let status: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    let id = status["status"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:"), "{body}");

    let (s, body) = call("POST", "/images/create?fromSrc=-", b"not a tar".to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("errorDetail"), "{body}");

    let (s, body) = call("GET", "/images/json", vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["Id"], id);
    assert_eq!(list[0]["RepoTags"], json!(["web:1"]));
    assert_eq!(list[0]["Containers"], -1);

    let (s, body) = call("GET", "/images/web:1/json", vec![]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
    assert_eq!(v["Comment"], "hi");
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(v["GraphDriver"]["Name"], "overlay2");

    let (s, _) = call(
        "POST",
        "/images/web:1/tag?repo=localhost:5000/a/web&tag=2",
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = call("GET", "/images/localhost:5000/a/web:2/json", vec![]).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let (s, body) = call("GET", "/images/web:1/history", vec![]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("\"Comment\":\"hi\""), "{body}");

    let (s, body) = call("DELETE", "/images/nope", vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"message":"No such image: nope:latest"}"#);

    // A pull asks the registry (here one that is not there): an error before any progress line
    // is an HTTP error, as with dockerd. tests/registry.rs pulls from a real one.
    let (s, body) = call(
        "POST",
        "/images/create?fromImage=127.0.0.1:1/nope&tag=1",
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("http://127.0.0.1:1/v2/"), "{body}");

    let (s, body) = call("DELETE", "/images/localhost:5000/a/web:2", vec![]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, r#"[{"Untagged":"localhost:5000/a/web:2"}]"#);
    let (s, body) = call("DELETE", "/images/web:1?force=1", vec![]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains(&format!(r#"{{"Deleted":"{id}"}}"#)), "{body}");
}
