//! `GET /events`: the events log replayed from `since`, then followed until `until` or until
//! the client goes away; one JSON object per line, headers sent at once.

use super::query::parse_filters;
use super::{AppState, Route};
use crate::engine::events::check_filters;
use crate::engine::time::parse_timestamp;
use crate::engine::EngineError;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use std::collections::HashMap;

pub fn routes() -> Vec<Route> {
    vec![Route::get("/events", events)]
}

async fn events(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, EngineError> {
    let since = parse_timestamp(q.get("since").map(String::as_str).unwrap_or(""))?;
    let until = parse_timestamp(q.get("until").map(String::as_str).unwrap_or(""))?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(EngineError::invalid_parameter(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                q.get("since").map(String::as_str).unwrap_or(""),
                q.get("until").map(String::as_str).unwrap_or("")
            )));
        }
    }
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    check_filters(&filters)?;
    let engine = s.engine;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    // One blocking thread per reader: it ends when the client has gone (the channel closes)
    // or `until` has passed.
    tokio::task::spawn_blocking(move || {
        let closed = tx.clone();
        engine.follow_events(
            since,
            until,
            &filters,
            |ev| {
                let Ok(mut line) = serde_json::to_vec(ev) else {
                    return true;
                };
                line.push(b'\n');
                tx.blocking_send(Ok(Bytes::from(line))).is_ok()
            },
            || !closed.is_closed(),
        );
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
