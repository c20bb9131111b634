//! `GET /system/df` (docker system df) and `POST /build/prune`: berth has no builder cache, so a
//! build-cache prune reclaims nothing, as on a dockerd whose cache is empty (`docker system
//! prune` calls it last).

use super::blocking;
use super::query::{parse_filters, QueryPairs};
use super::version::ApiVersion;
use super::{AppState, Route};
use crate::engine::disk_usage::Parts;
use crate::engine::EngineError;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/system/df", df),
        Route::post("/build/prune", build_prune),
    ]
}

/// The filter keys dockerd's build-cache prune accepts.
const BUILD_PRUNE_FILTERS: [&str; 11] = [
    "until",
    "unused-for",
    "id",
    "parent",
    "type",
    "description",
    "inuse",
    "shared",
    "private",
    "label",
    "label!",
];

async fn df(
    State(st): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    RawQuery(q): RawQuery,
) -> Response {
    // `type` is read from API 1.42 on, as dockerd does.
    let types = if version
        >= (ApiVersion {
            major: 1,
            minor: 42,
        }) {
        QueryPairs::parse(q.as_deref()).all("type")
    } else {
        Vec::new()
    };
    let parts = match Parts::from_types(&types) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let engine = st.engine;
    match blocking(move || engine.disk_usage(parts)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Nothing to prune; the filters are still checked, as dockerd checks them.
async fn build_prune(RawQuery(q): RawQuery) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    let filters = match parse_filters(q.get("filters")) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if let Some(k) = filters
        .keys()
        .find(|k| !BUILD_PRUNE_FILTERS.contains(&k.as_str()))
    {
        return EngineError::invalid_parameter(format!("invalid filter '{k}'")).into_response();
    }
    Json(json!({"CachesDeleted": null, "SpaceReclaimed": 0})).into_response()
}
