//! `POST /auth` (docker login) against Debian's `docker-registry` behind htpasswd (basic) and a
//! small fake registry with a token server (bearer); `GET /distribution/{name}/json` against
//! an image pushed to the registry.

use crate::common::registry::Registry;
use crate::common::Berth;
use base64::Engine as _;
use serde_json::json;

fn auth_header(user: &str, pass: &str, host: &str) -> String {
    base64::engine::general_purpose::URL_SAFE
        .encode(json!({"username": user, "password": pass, "serveraddress": host}).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_basic_auth_and_distribution_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let Some(reg) = Registry::start(dir.path(), Some(&htpasswd)) else {
        return;
    };
    let host = format!("127.0.0.1:{}", reg.port);
    let b = Berth::with_busybox().await;

    let r = b
        .post_json(
            "/v1.50/auth",
            &json!({"username": "alice", "password": "s3cret", "serveraddress": host}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (200, json!({"Status": "Login Succeeded"})),
        "login with alice's password"
    );
    b.post_json(
        "/auth",
        &json!({"username": "alice", "password": "wrong", "serveraddress": format!("http://{host}")}),
    )
    .await
    .assert_error(
        500,
        &format!("login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"),
        "login with a wrong password",
    );

    // An image in the registry, then its descriptor and platform.
    let tagged = format!("{host}/app:1");
    let r = b
        .post(&format!("/images/busybox/tag?repo={host}/app&tag=1"))
        .await;
    assert_eq!(r.status.as_u16(), 201, "tag: {}", r.text());
    let r = b
        .call_with_headers(
            "POST",
            &format!("/images/{tagged}/push"),
            &[("x-registry-auth", &auth_header("alice", "s3cret", &host))],
        )
        .await;
    assert!(
        r.status.is_success() && !r.text().contains("errorDetail"),
        "push: {}",
        r.text()
    );
    let r = b
        .call_with_headers(
            "GET",
            &format!("/distribution/{tagged}/json"),
            &[("x-registry-auth", &auth_header("alice", "s3cret", &host))],
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "distribution: {}", r.text());
    let v = r.json();
    assert_eq!(
        v["Descriptor"]["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
        "{v}"
    );
    assert!(
        v["Descriptor"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
        "{v}"
    );
    assert!(
        v["Descriptor"]["size"].as_u64().is_some_and(|s| s > 0),
        "{v}"
    );
    let arch = berth::engine::system::host::go_arch();
    assert_eq!(
        v["Platforms"],
        json!([{"architecture": arch, "os": "linux"}]),
        "{v}"
    );
    // The same digest as the image's RepoDigests after the push.
    let img = b.get(&format!("/images/{tagged}/json")).await.json();
    let digest = v["Descriptor"]["digest"].as_str().unwrap();
    assert!(
        img["RepoDigests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().is_some_and(|d| d.ends_with(digest))),
        "RepoDigests {} should hold {digest}",
        img["RepoDigests"]
    );
    // dockerd 20.10 answers 500 `Head "http://<host>/v2/app/manifests/nosuch": no basic auth
    // credentials` (its first request is a HEAD, berth's a GET: the words name each's own).
    b.get(&format!("/distribution/{host}/app:nosuch/json"))
        .await
        .assert_error(
            500,
            &format!("Get \"http://{host}/v2/app/manifests/nosuch\": no basic auth credentials"),
            "distribution of a tag without credentials",
        );
}

/// A fake registry that asks for a bearer token from its token server, which wants alice's
/// password and gives a refresh token: `POST /auth` answers it as the identity token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_token_server() {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::collections::HashMap;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let challenge = format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"");
    let v2 = move |h: HeaderMap| {
        let ch = challenge.clone();
        async move {
            if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer t0k") {
                return (StatusCode::OK, "{}").into_response();
            }
            (StatusCode::UNAUTHORIZED, [("www-authenticate", ch)], "").into_response()
        }
    };
    let token = |Query(q): Query<HashMap<String, String>>, h: HeaderMap| async move {
        let alice =
            h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Basic YWxpY2U6czNjcmV0"); // alice:s3cret
        let offline = q.get("offline_token").map(String::as_str) == Some("true");
        if alice && offline {
            axum::Json(json!({"token": "t0k", "refresh_token": "r3fresh"})).into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    };
    let app = axum::Router::new()
        .route("/v2/", axum::routing::get(v2))
        .route("/token", axum::routing::get(token));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let b = Berth::start();
    let host = format!("127.0.0.1:{port}");
    let r = b
        .post_json(
            "/auth",
            &json!({"username": "alice", "password": "s3cret", "serveraddress": host}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (
            200,
            json!({"Status": "Login Succeeded", "IdentityToken": "r3fresh"})
        ),
        "login through the token server"
    );
    b.post_json(
        "/auth",
        &json!({"username": "alice", "password": "nope", "serveraddress": host}),
    )
    .await
    .assert_error(
        401,
        &format!("Get \"http://{host}/v2/\": unauthorized: incorrect username or password"),
        "login with a wrong password",
    );
}
