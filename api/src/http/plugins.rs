//! Managed plugins, which berth does not have: it answers as a dockerd with none installed.
//! The list is empty, a named plugin is not found (404, dockerd's `plugin "x" not found`), and
//! installing one (pull, create, privileges of a remote) is refused with 501. Plugin names hold
//! '/' and ':', so `/plugins/{*rest}` is split by its last segment here, as images are.

use super::query::{parse_filters, QueryPairs};
use super::Route;
use crate::engine::EngineError;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/plugins", list),
        Route::get("/plugins/privileges", cannot_install),
        Route::post("/plugins/pull", cannot_install),
        Route::post("/plugins/create", cannot_install),
        Route::get("/plugins/{*rest}", by_name),
        Route::post("/plugins/{*rest}", by_name),
        Route::delete("/plugins/{*rest}", by_name),
        Route::dispatched("GET", "/plugins/{name}/json"),
        Route::dispatched("DELETE", "/plugins/{name}"),
        Route::dispatched("POST", "/plugins/{name}/enable"),
        Route::dispatched("POST", "/plugins/{name}/disable"),
        Route::dispatched("POST", "/plugins/{name}/push"),
        Route::dispatched("POST", "/plugins/{name}/upgrade"),
        Route::dispatched("POST", "/plugins/{name}/set"),
    ]
}

/// The filter keys dockerd's plugin list accepts.
const FILTERS: [&str; 2] = ["enabled", "capability"];

/// `GET /plugins`: none installed; unknown filter keys refused as dockerd refuses them.
async fn list(RawQuery(q): RawQuery) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    match parse_filters(q.get("filters")) {
        Ok(f) => match f.keys().find(|k| !FILTERS.contains(&k.as_str())) {
            Some(k) => {
                EngineError::invalid_parameter(format!("invalid filter '{k}'")).into_response()
            }
            None => Json(Vec::<serde_json::Value>::new()).into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// Any verb on a named plugin: no plugin has that name. A path with no known verb after the
/// name is an unknown page, as in dockerd's router.
async fn by_name(method: axum::http::Method, Path(rest): Path<String>) -> Response {
    let verbs: &[&str] = match method {
        axum::http::Method::GET => &["/json"],
        axum::http::Method::POST => &["/enable", "/disable", "/push", "/upgrade", "/set"],
        _ => &[""],
    };
    let name = verbs
        .iter()
        .find_map(|v| rest.strip_suffix(v).filter(|n| !n.is_empty()));
    match name {
        Some(name) => plugin_not_found(name).into_response(),
        None => super::error::page_not_found().await,
    }
}

/// dockerd's `errNotFound` (moby daemon/pkg/plugin/errors.go).
fn plugin_not_found(name: &str) -> EngineError {
    EngineError::not_found(format!("plugin {name:?} not found"))
}

async fn cannot_install() -> Response {
    EngineError::not_implemented("berth does not support plugins: none can be installed".into())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_in_dockers_words() {
        assert_eq!(
            plugin_not_found("vieux/sshfs:latest").to_string(),
            r#"plugin "vieux/sshfs:latest" not found"#
        );
    }
}
