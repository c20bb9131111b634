//! `GET /distribution/{name}/json`: the registry's descriptor and platforms for a reference,
//! asked through the engine's registry client with the request's `X-Registry-Auth`. Names hold
//! '/', so the route is a wildcard split on its `/json` suffix.

use super::blocking;
use super::{AppState, Route};
use crate::engine::images::registry::{distribution, Credentials};
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/distribution/{*rest}", by_name),
        Route::dispatched("GET", "/distribution/{name}/json"),
    ]
}

async fn by_name(
    state: axum::extract::State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) else {
        return super::error::page_not_found().await;
    };
    let name = name.to_string();
    let creds = headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(Credentials::from_header);
    let settings = state.engine.settings.registries.clone();
    match blocking(move || distribution::inspect(&name, creds, &settings)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
