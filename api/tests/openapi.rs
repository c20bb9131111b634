//! `openapi.yaml` (repository root) and the router describe the same routes: every
//! (method, path) of `route_table()` is in the document and every operation of the document is
//! in the table; and the real router serves each of them (a probe never gets the
//! "page not found" fallback).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use berth::engine::Engine;
use berth::http::{route_table, router, AppState};
use http_body_util::BodyExt;
use std::collections::BTreeSet;
use std::time::Duration;
use tower::ServiceExt;

const METHODS: [&str; 7] = ["get", "head", "post", "put", "delete", "patch", "options"];

fn openapi_operations() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{path} should be OpenAPI 3"
    );
    let paths = doc["paths"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{path} has no paths"));
    let mut ops = BTreeSet::new();
    for (p, item) in paths {
        let p = p.as_str().expect("a path is a string");
        let item = item.as_mapping().expect("a path item is a mapping");
        for (method, _) in item {
            let method = method.as_str().expect("a method is a string");
            if METHODS.contains(&method) {
                ops.insert((method.to_uppercase(), p.to_string()));
            }
        }
    }
    ops
}

/// The table without wildcard dispatchers (`{*rest}`), which are not API paths.
fn table_operations() -> BTreeSet<(String, String)> {
    route_table()
        .into_iter()
        .filter(|(_, p)| !p.contains("{*"))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn route_table_has_no_duplicates() {
    let table = route_table();
    let set: BTreeSet<_> = table.iter().collect();
    assert_eq!(set.len(), table.len(), "duplicate routes in {table:?}");
}

#[test]
fn every_route_is_documented_and_every_operation_routed() {
    let doc = openapi_operations();
    let table = table_operations();
    let undocumented: Vec<_> = table.difference(&doc).collect();
    let unrouted: Vec<_> = doc.difference(&table).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "router and openapi.yaml disagree.\n  routes missing from openapi.yaml: {undocumented:?}\n  \
         operations missing from the router: {unrouted:?}"
    );
}

/// `/containers/{id}/json` -> `/containers/x/json`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('x');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Tears the root's networks down at the end (probing `/networks` makes the default bridge):
/// bridges and firewall tables are the host's, not the temporary directory's.
struct Networks(std::path::PathBuf);

impl Drop for Networks {
    fn drop(&mut self) {
        if let Err(e) = berth_shim::net::teardown(&self.0) {
            eprintln!("cleanup: network teardown: {e}");
        }
    }
}

fn app(tmp: &tempfile::TempDir) -> axum::Router {
    let engine = Engine::new(berth_shim::Paths::new(
        tmp.path().join("root"),
        tmp.path().join("run"),
    ));
    router(AppState { engine })
}

#[tokio::test]
async fn the_router_serves_every_documented_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let _networks = Networks(tmp.path().join("root"));
    let app = app(&tmp);
    for (method, path) in openapi_operations() {
        let uri = concrete(&path);
        let req = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        // The fallback answers at once; a route still working after a while (a wait, a stream)
        // was found.
        let Ok(resp) = tokio::time::timeout(Duration::from_secs(5), app.clone().oneshot(req)).await
        else {
            continue;
        };
        let resp = resp.unwrap();
        if resp.status() != StatusCode::NOT_FOUND {
            continue;
        }
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !String::from_utf8_lossy(&body).contains("page not found"),
            "{method} {uri} (openapi {path}) got the page-not-found fallback"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_page_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let _networks = Networks(tmp.path().join("root"));
    let app = app(&tmp);
    for (method, uri) in [
        ("GET", "/no/such/path"),
        ("DELETE", "/_ping"),
        ("POST", "/info"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            br#"{"message":"page not found"}"#,
            "{method} {uri}"
        );
    }
}

/// The query keys a handler file reads by name: `q.get("k")`, `q.flag("k")`, `q.all("k")`,
/// `flag(&q, "k")`, `flag(q, "k")`.
fn query_keys_read(code: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for prefix in [
        "q.get(\"",
        "q.flag(\"",
        "q.all(\"",
        "flag(&q, \"",
        "flag(q, \"",
    ] {
        for (i, _) in code.match_indices(prefix) {
            let rest = &code[i + prefix.len()..];
            if let Some(end) = rest.find('"') {
                keys.insert(rest[..end].to_string());
            }
        }
    }
    keys
}

/// The first segment of each route a handler file registers (`Route::get("/images/...")` ->
/// `images`).
fn route_segments(code: &str) -> BTreeSet<String> {
    let mut segs = BTreeSet::new();
    for m in ["get", "head", "post", "put", "delete"] {
        let prefix = format!("Route::{m}(\"/");
        for (i, _) in code.match_indices(&prefix) {
            let rest = &code[i + prefix.len()..];
            let end = rest.find(['/', '"']).unwrap_or(rest.len());
            segs.insert(rest[..end].to_string());
        }
    }
    segs
}

/// The query (and header) parameter names of the document's operations under `/<segment>`.
fn documented_params(doc: &serde_norway::Value, segment: &str) -> BTreeSet<String> {
    let params = &doc["components"]["parameters"];
    let mut names = BTreeSet::new();
    for (p, item) in doc["paths"].as_mapping().unwrap() {
        let p = p.as_str().unwrap();
        let first = p.trim_start_matches('/').split('/').next().unwrap_or("");
        if first != segment {
            continue;
        }
        for (_, op) in item.as_mapping().unwrap() {
            let Some(list) = op.get("parameters").and_then(|l| l.as_sequence()) else {
                continue;
            };
            for param in list {
                let param = match param.get("$ref").and_then(|r| r.as_str()) {
                    Some(r) => &params[r.rsplit('/').next().unwrap()],
                    None => param,
                };
                if let Some(n) = param.get("name").and_then(|n| n.as_str()) {
                    names.insert(n.to_string());
                }
            }
        }
    }
    names
}

/// Each query key a handler reads by name is a parameter of the document under the routes
/// that handler file serves (the document once lacked `shared-size`, `size` and `platform`).
#[test]
fn every_query_key_read_is_documented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut missing = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        let code = std::fs::read_to_string(&file).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or("");
        let segs = route_segments(code);
        let keys = query_keys_read(code);
        if segs.is_empty() || keys.is_empty() {
            continue;
        }
        let documented: BTreeSet<String> = segs
            .iter()
            .flat_map(|s| documented_params(&doc, s))
            .collect();
        for k in keys {
            checked += 1;
            if !documented.contains(&k) {
                missing.push(format!("{} reads {k:?}", file.display()));
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} query keys found in the handlers"
    );
    assert!(
        missing.is_empty(),
        "query keys read but not in openapi.yaml:\n  {}",
        missing.join("\n  ")
    );
}
