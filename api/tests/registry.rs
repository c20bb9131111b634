//! Pull and push against Debian's `docker-registry` (distribution 2.8) on 127.0.0.1: push, push
//! again (blobs exist), pull into a fresh store, pull again (up to date), a cross-repository
//! mount, an OCI index resolved to this machine's platform, an OCI manifest, basic auth from
//! `X-Registry-Auth`, and the bearer token flow against a small fake registry.

use crate::common::registry::Registry;
use crate::common::tar_of;
use berth::engine::images::registry::Credentials;
use berth::engine::{Engine, EngineError};
use berth_shim::Paths;
use serde_json::{json, Value};
use std::path::Path;

fn engine(dir: &Path, name: &str) -> Engine {
    Engine::new(Paths::new(
        dir.join(name).join("root"),
        dir.join(name).join("run"),
    ))
}

fn lines(
    f: impl FnOnce(&mut dyn FnMut(Value)) -> Result<(), EngineError>,
) -> (Vec<Value>, Result<(), EngineError>) {
    let mut out = Vec::new();
    let r = f(&mut |v| out.push(v));
    (out, r)
}

fn statuses(v: &[Value]) -> Vec<String> {
    v.iter()
        .filter_map(|l| l["status"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn push_pull_mount_index_and_oci() {
    let dir = tempfile::tempdir().unwrap();
    let Some(reg) = Registry::start(dir.path(), None) else {
        return;
    };
    let host = format!("127.0.0.1:{}", reg.port);
    let a = engine(dir.path(), "a");
    let img = a
        .import(
            &tar_of(&[("hello", b"world")])[..],
            Some(&format!("{host}/app:1")),
            &[],
            "",
        )
        .unwrap();

    let (out, r) = lines(|o| a.push(&format!("{host}/app"), "1", None, o));
    r.unwrap();
    let st = statuses(&out);
    assert_eq!(st[0], format!("The push refers to repository [{host}/app]"));
    assert!(st.contains(&"Pushed".to_string()), "{st:?}");
    assert!(out.iter().any(|l| l["status"] == "Pushing" && l["progressDetail"]["total"].as_u64().unwrap() > 0), "{out:?}");
    let aux = out
        .iter()
        .find(|l| l.get("aux").is_some())
        .expect("an aux line");
    let digest = aux["aux"]["Digest"].as_str().unwrap().to_string();
    assert!(
        st.last().unwrap().starts_with("1: digest: sha256:"),
        "{st:?}"
    );
    assert!(a
        .image(&format!("{host}/app:1"))
        .unwrap()
        .repo_digests
        .contains(&format!("{host}/app@{digest}")));

    let (out, r) = lines(|o| a.push(&format!("{host}/app:1"), "", None, o));
    r.unwrap();
    assert!(
        statuses(&out).contains(&"Layer already exists".to_string()),
        "{out:?}"
    );

    // Pull into a fresh store, then again.
    let b = engine(dir.path(), "b");
    let (out, r) = lines(|o| b.pull(&format!("{host}/app:1"), None, o));
    r.unwrap();
    let st = statuses(&out);
    assert_eq!(st[0], "Pulling from app");
    assert!(st.contains(&"Pull complete".to_string()), "{st:?}");
    assert!(
        out.iter()
            .any(|l| l["status"] == "Downloading"
                && l["progressDetail"]["current"].as_u64().is_some()),
        "{out:?}"
    );
    assert_eq!(st[st.len() - 2], format!("Digest: {digest}"));
    assert_eq!(
        st[st.len() - 1],
        format!("Status: Downloaded newer image for {host}/app:1")
    );
    let pulled = b.image(&format!("{host}/app:1")).unwrap();
    assert_eq!(pulled.id, img.id);
    assert_eq!(
        std::fs::read(pulled.layers[0].join("hello")).unwrap(),
        b"world"
    );
    let (out, r) = lines(|o| b.pull(&format!("{host}/app:1"), None, o));
    r.unwrap();
    let st = statuses(&out);
    assert!(st.contains(&"Already exists".to_string()), "{st:?}");
    assert_eq!(
        st.last().unwrap(),
        &format!("Status: Image is up to date for {host}/app:1")
    );
    b.image(&format!("{host}/app@{digest}"))
        .expect("pulled by tag, found by digest");

    // A layer pulled from app is mounted, not uploaded, into another repository.
    b.tag(&format!("{host}/app:1"), &format!("{host}/copy"), "1")
        .unwrap();
    let (out, r) = lines(|o| b.push(&format!("{host}/copy"), "1", None, o));
    r.unwrap();
    assert!(
        statuses(&out).contains(&"Mounted from app".to_string()),
        "{out:?}"
    );

    // An OCI index: the entry for this machine is chosen.
    let arm = a
        .import(
            &tar_of(&[("arch", b"other")])[..],
            Some(&format!("{host}/app:other")),
            &[],
            "",
        )
        .unwrap();
    let (out, r) = lines(|o| a.push(&format!("{host}/app"), "other", None, o));
    r.unwrap();
    let other_digest = out
        .iter()
        .find_map(|l| l["aux"]["Digest"].as_str().map(str::to_string))
        .unwrap();
    let size_of = |tag: &str| -> u64 {
        let resp = ureq::get(&format!("http://{host}/v2/app/manifests/{tag}"))
            .header(
                "accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .call()
            .unwrap();
        resp.into_body().read_to_vec().unwrap().len() as u64
    };
    let arch = berth::engine::images::host_arch();
    let not_arch = if arch == "arm64" { "amd64" } else { "arm64" };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": other_digest,
             "size": size_of("other"), "platform": {"os": "linux", "architecture": not_arch}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest,
             "size": size_of("1"), "platform": {"os": "linux", "architecture": arch}},
        ],
    });
    let resp = ureq::put(&format!("http://{host}/v2/app/manifests/multi"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .send(index.to_string())
        .unwrap();
    assert_eq!(resp.status(), 201);
    let c = engine(dir.path(), "c");
    let (out, r) = lines(|o| c.pull(&format!("{host}/app:multi"), None, o));
    r.unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(c.image(&format!("{host}/app:multi")).unwrap().id, img.id);
    assert_ne!(arm.id, img.id);

    // An OCI manifest of the same blobs.
    let docker_manifest: Value = serde_json::from_slice(
        &ureq::get(&format!("http://{host}/v2/app/manifests/1"))
            .header(
                "accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .call()
            .unwrap()
            .into_body()
            .read_to_vec()
            .unwrap(),
    )
    .unwrap();
    let mut oci = docker_manifest.clone();
    oci["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    oci["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    oci["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
    let resp = ureq::put(&format!("http://{host}/v2/app/manifests/oci"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .send(oci.to_string())
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (out, r) = lines(|o| c.pull(&format!("{host}/app:oci"), None, o));
    r.unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(c.image(&format!("{host}/app:oci")).unwrap().id, img.id);

    // Unknown tags and repositories.
    let (_, r) = lines(|o| c.pull(&format!("{host}/app:nosuch"), None, o));
    assert_eq!(
        r.unwrap_err().to_string(),
        format!("manifest for {host}/app:nosuch not found: manifest unknown: manifest unknown")
    );
}

#[test]
fn basic_auth_from_registry_auth() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let Some(reg) = Registry::start(dir.path(), Some(&htpasswd)) else {
        return;
    };
    let host = format!("127.0.0.1:{}", reg.port);
    let a = engine(dir.path(), "a");
    a.import(
        &tar_of(&[("x", b"y")])[..],
        Some(&format!("{host}/private:1")),
        &[],
        "",
    )
    .unwrap();
    let (_, r) = lines(|o| a.push(&format!("{host}/private:1"), "", None, o));
    assert!(r.is_err(), "a push without credentials went through");
    let header = |user: &str, pass: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE
            .encode(json!({"username": user, "password": pass, "serveraddress": host}).to_string())
    };
    let good = Credentials::from_header(&header("alice", "s3cret"));
    let (out, r) = lines(|o| a.push(&format!("{host}/private:1"), "", good.clone(), o));
    r.unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let b = engine(dir.path(), "b");
    let bad = Credentials::from_header(&header("alice", "wrong"));
    let (_, r) = lines(|o| b.pull(&format!("{host}/private:1"), bad, o));
    assert!(r.is_err(), "a pull with a wrong password went through");
    let (out, r) = lines(|o| b.pull(&format!("{host}/private:1"), good, o));
    r.unwrap_or_else(|e| panic!("{e}: {out:?}"));
}

/// A fake registry that asks for a bearer token, and a token server that wants alice's
/// password: a pull reaches the manifest only with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow() {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let challenge = format!(
        "Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\",scope=\"repository:app:pull\""
    );
    let ch = challenge.clone();
    let v2 = move |h: HeaderMap| {
        let ch = ch.clone();
        async move {
            if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer t0k") {
                return (
                    StatusCode::NOT_FOUND,
                    [("www-authenticate", ch)],
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                )
                    .into_response();
            }
            (StatusCode::UNAUTHORIZED, [("www-authenticate", ch)], "").into_response()
        }
    };
    let token = |State(seen): State<Arc<Mutex<Vec<String>>>>,
                 Query(q): Query<HashMap<String, String>>,
                 h: HeaderMap| async move {
        seen.lock().unwrap().push(format!(
            "{} {}",
            q.get("service").cloned().unwrap_or_default(),
            q.get("scope").cloned().unwrap_or_default()
        ));
        // alice:s3cret
        if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Basic YWxpY2U6czNjcmV0") {
            axum::Json(json!({"token": "t0k"})).into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    };
    let app = axum::Router::new()
        .route("/v2/", axum::routing::get(v2.clone()))
        .route("/v2/app/manifests/{tag}", axum::routing::get(v2))
        .route("/token", axum::routing::get(token))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "e");
    let creds = Credentials {
        username: "alice".into(),
        password: "s3cret".into(),
        ..Credentials::default()
    };
    let reference = format!("127.0.0.1:{port}/app:1");
    let (e2, r2) = (e.clone(), reference.clone());
    let r = tokio::task::spawn_blocking(move || lines(|o| e2.pull(&r2, Some(creds), o)).1)
        .await
        .unwrap();
    assert_eq!(
        r.unwrap_err().to_string(),
        format!("manifest for {reference} not found: manifest unknown: manifest unknown"),
        "the manifest request should carry the token"
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["fake repository:app:pull"]
    );
    let r = tokio::task::spawn_blocking(move || lines(|o| e.pull(&reference, None, o)).1)
        .await
        .unwrap();
    assert!(r.is_err(), "a token without credentials was granted");
}
