//! A container's filesystem: `GET /containers/{id}/export` (a tar of the merged root) and
//! `GET /containers/{id}/changes` (docker diff). Both read the layer dirs and the upper dir, so
//! they work on stopped and running containers alike.

use super::blocking;
use super::{AppState, Route};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/containers/{id}/export", export),
        Route::get("/containers/{id}/changes", changes),
    ]
}

async fn export(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let engine = st.engine;
    let e2 = engine.clone();
    let stack = match blocking(move || e2.container_stack(&id)).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    super::stream::streamed("application/x-tar", move |w| {
        engine.export_container(&stack, w)
    })
}

async fn changes(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let engine = st.engine;
    let r = blocking(move || {
        let stack = engine.container_stack(&id)?;
        engine.container_changes(&stack)
    })
    .await;
    match r {
        Ok(list) if list.is_empty() => Json(serde_json::Value::Null).into_response(),
        Ok(list) => Json(
            list.iter()
                .map(|c| json!({"Path": c.path, "Kind": c.kind as u8}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}
