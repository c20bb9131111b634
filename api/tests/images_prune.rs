//! `POST /images/prune` and the filters of `GET /images/json`, through the router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use berth::engine::Engine;
use berth_shim::Paths;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Tears the root's networks down at the end (the engine makes the default bridge on first
/// use): bridges and firewall tables are the host's, not the temporary directory's.
struct Networks(std::path::PathBuf);

impl Drop for Networks {
    fn drop(&mut self) {
        if let Err(e) = berth_shim::net::teardown(&self.0) {
            eprintln!("cleanup: network teardown: {e}");
        }
    }
}

fn sha(b: &[u8]) -> String {
    berth::engine::images::store::sha256_hex(b)
}

/// Load an image of one small layer holding `name`, created at `created`, with `labels`.
fn load(e: &Engine, name: &str, created: &str, labels: Value, tags: &[&str]) -> String {
    let mut lb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(name.len() as u64);
    h.set_mode(0o644);
    lb.append_data(&mut h, name, name.as_bytes()).unwrap();
    let layer = lb.into_inner().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]},
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |n: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, n, data).unwrap();
    };
    add("l.tar", &layer);
    add("c.json", &config);
    add(
        "manifest.json",
        json!([{"Config": "c.json", "RepoTags": tags, "Layers": ["l.tar"]}])
            .to_string()
            .as_bytes(),
    );
    e.load(&b.into_inner().unwrap()[..]).unwrap();
    format!("sha256:{}", sha(&config))
}

async fn call(app: &axum::Router, method: &str, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|i| i["Id"].as_str().unwrap().to_string())
        .collect()
}

fn q(filters: Value) -> String {
    let s = filters.to_string();
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let _networks = Networks(dir.path().join("root"));
    let e = Engine::new(Paths::new(dir.path().join("root"), dir.path().join("run")));
    let old = load(
        &e,
        "old",
        "2020-01-01T00:00:00Z",
        json!({"keep": "yes"}),
        &["old:1"],
    );
    let mid = load(&e, "mid", "2021-01-01T00:00:00Z", json!({}), &[]);
    let new = load(
        &e,
        "new",
        "2022-01-01T00:00:00Z",
        json!({"x": "1"}),
        &["new:1"],
    );
    let app = berth::http::router(berth::http::AppState { engine: e.clone() });

    let list = |f: Value| format!("/images/json?filters={}", q(f));
    let (s, v) = call(&app, "GET", &list(json!({"dangling": ["true"]}))).await;
    assert_eq!((s, ids(&v)), (StatusCode::OK, vec![mid.clone()]));
    let (_, v) = call(&app, "GET", &list(json!({"before": ["new:1"]}))).await;
    assert_eq!(ids(&v), vec![mid.clone(), old.clone()], "before new:1");
    let (_, v) = call(&app, "GET", &list(json!({"since": ["old:1"]}))).await;
    assert_eq!(ids(&v), vec![new.clone(), mid.clone()], "since old:1");
    let (_, v) = call(&app, "GET", &list(json!({"label": ["x=1"]}))).await;
    assert_eq!(ids(&v), vec![new.clone()]);
    let (_, v) = call(&app, "GET", &list(json!({"reference": ["ol*"]}))).await;
    assert_eq!(ids(&v), vec![old.clone()]);
    let (s, v) = call(&app, "GET", &list(json!({"bogus": ["1"]}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = call(&app, "GET", &list(json!({"before": ["nosuch"]}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Default: dangling only.
    let (s, v) = call(&app, "POST", "/images/prune").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["ImagesDeleted"]
            .as_array()
            .unwrap()
            .contains(&json!({"Deleted": mid})),
        "{v}"
    );
    assert!(v["SpaceReclaimed"].as_u64().unwrap() > 0, "{v}");
    assert!(e.image(&mid).is_err());
    let (_, v) = call(&app, "POST", "/images/prune").await;
    assert_eq!(v, json!({"ImagesDeleted": null, "SpaceReclaimed": 0}));

    // A container holds `new`; label!=keep spares `old`: nothing goes.
    let c = e
        .create_container(
            None,
            serde_json::from_value(json!({"Image": "new:1", "Cmd": ["true"]})).unwrap(),
        )
        .unwrap();
    let all = |f: Value| format!("/images/prune?filters={}", q(f));
    let (_, v) = call(
        &app,
        "POST",
        &all(json!({"dangling": ["false"], "label!": ["keep"]})),
    )
    .await;
    assert_eq!(v["ImagesDeleted"], Value::Null, "{v}");
    // until before old's creation: nothing; then everything unused (old) goes, untagged first.
    let (_, v) = call(
        &app,
        "POST",
        &all(json!({"dangling": ["false"], "until": ["2019-01-01T00:00:00Z"]})),
    )
    .await;
    assert_eq!(v["ImagesDeleted"], Value::Null, "{v}");
    let (_, v) = call(&app, "POST", &all(json!({"dangling": ["false"]}))).await;
    assert_eq!(v["ImagesDeleted"][0], json!({"Untagged": "old:1"}), "{v}");
    assert_eq!(v["ImagesDeleted"][1], json!({"Deleted": old}), "{v}");
    assert!(e.image("new:1").is_ok(), "an image in use was pruned");
    e.remove(&c.id, true).unwrap();
    let (s, _) = call(&app, "POST", &all(json!({"dangling": ["maybe"]}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
