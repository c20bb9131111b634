//! `GET /system/df` (docker system df).

use super::blocking;
use super::query::QueryPairs;
use super::version::ApiVersion;
use super::{AppState, Route};
use crate::engine::disk_usage::Parts;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

pub fn routes() -> Vec<Route> {
    vec![Route::get("/system/df", df)]
}

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
