//! Reading a running container: `/containers/{id}/stats` (one object, or one a second as
//! NDJSON), `/containers/{id}/top` and `/containers/{id}/syscalls` (berth's eBPF counts) and
//! `/containers/{id}/seccomp-profile` (a profile made from them).

use super::query::truthy;
use super::{AppState, Route};
use crate::engine::containers::stats::{render, Sample};
use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::time::Duration;

type Q = Query<HashMap<String, String>>;

/// dockerd's collection interval: a streamed object a second, and the gap between the two
/// readings of a non-streamed one.
const INTERVAL: Duration = Duration::from_secs(1);

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/containers/{id}/stats", stats),
        Route::get("/containers/{id}/top", top),
        Route::get("/containers/{id}/syscalls", syscalls),
        Route::get("/containers/{id}/seccomp-profile", seccomp_profile),
        Route::post("/containers/{id}/policy", set_policy),
    ]
}

async fn sample(e: &Engine, id: &ContainerId) -> Result<Sample, EngineError> {
    let (e, id) = (e.clone(), id.clone());
    tokio::task::spawn_blocking(move || e.stats_sample(&id))
        .await
        .map_err(|err| EngineError::system("engine task", err))?
}

fn json_line(v: &serde_json::Value) -> Bytes {
    Bytes::from(format!("{v}\n"))
}

/// `stream` (default true): an object now, then one a second until the container stops or the
/// client goes. `stream=0`: one object, with precpu_stats from a reading a second earlier
/// unless `one-shot`.
async fn stats(
    State(s): State<AppState>,
    Path(reference): Path<String>,
    Query(q): Q,
) -> Result<Response, EngineError> {
    let stream = q.get("stream").is_none_or(|v| truthy(v));
    let one_shot = q.get("one-shot").is_some_and(|v| truthy(v));
    let e = s.engine;
    let id = {
        let e = e.clone();
        tokio::task::spawn_blocking(move || e.lookup(&reference))
            .await
            .map_err(|err| EngineError::system("engine task", err))??
    };
    let first = sample(&e, &id).await?;
    let mut r = if !stream {
        let v = if one_shot || first.read.is_none() {
            render(&first, None)
        } else {
            tokio::time::sleep(INTERVAL).await;
            render(&sample(&e, &id).await?, Some(&first))
        };
        Response::new(Body::from(json_line(&v)))
    } else {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            let mut pre: Option<Sample> = None;
            let mut now = first;
            loop {
                let running = now.read.is_some();
                if tx
                    .send(Ok(json_line(&render(&now, pre.as_ref()))))
                    .await
                    .is_err()
                    || !running
                {
                    return;
                }
                tokio::time::sleep(INTERVAL).await;
                let Ok(next) = sample(&e, &id).await else {
                    return;
                };
                pre = Some(std::mem::replace(&mut now, next));
            }
        });
        Response::new(Body::from_stream(futures_util::stream::poll_fn(
            move |cx| rx.poll_recv(cx),
        )))
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

async fn top(
    State(s): State<AppState>,
    Path(reference): Path<String>,
    Query(q): Q,
) -> Result<Response, EngineError> {
    let args = q.get("ps_args").cloned().unwrap_or_default();
    let e = s.engine;
    let top = tokio::task::spawn_blocking(move || e.top(&reference, &args))
        .await
        .map_err(|err| EngineError::system("engine task", err))??;
    Ok(Json(top).into_response())
}

async fn set_policy(
    State(s): State<AppState>,
    Path(reference): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, EngineError> {
    let policy: crate::engine::containers::syscalls::Policy = serde_json::from_slice(&body)
        .map_err(|e| EngineError::invalid_parameter(format!("decoding the policy: {e}")))?;
    let e = s.engine;
    tokio::task::spawn_blocking(move || e.set_policy(&reference, policy))
        .await
        .map_err(|err| EngineError::system("engine task", err))??;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

async fn seccomp_profile(
    State(s): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, EngineError> {
    let e = s.engine;
    let profile = tokio::task::spawn_blocking(move || e.seccomp_profile(&reference))
        .await
        .map_err(|err| EngineError::system("engine task", err))??;
    Ok(Json(profile).into_response())
}

async fn syscalls(
    State(s): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, EngineError> {
    let e = s.engine;
    let counts = tokio::task::spawn_blocking(move || e.syscalls(&reference))
        .await
        .map_err(|err| EngineError::system("engine task", err))??;
    Ok(Json(counts).into_response())
}
