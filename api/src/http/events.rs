//! `GET /events`: the events log replayed from `since`, then followed until `until` or until
//! the client goes away; one JSON object per line, headers sent at once.

use super::query::parse_filters;
use super::{AppState, Route};
use crate::engine::events::{check_filters, include, POLL};
use crate::engine::EngineError;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn routes() -> Vec<Route> {
    vec![Route::get("/events", events)]
}

/// Docker's event timestamps: unix seconds with an optional fraction ("1700000000.5",
/// "1700000000.000000001"), as moby's `ParseTimestamps` reads them, or RFC 3339.
pub fn parse_timestamp(s: &str) -> Result<Option<SystemTime>, EngineError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || EngineError::invalid_parameter(format!("invalid timestamp: {s:?}"));
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if let Ok(secs) = secs.parse::<i64>() {
        let digits = &frac[..frac.len().min(9)];
        let nanos = if digits.is_empty() {
            0
        } else {
            let n: u32 = digits.parse().map_err(|_| bad())?;
            n * 10u32.pow(9 - digits.len() as u32)
        };
        let secs = secs.max(0) as u64;
        return Ok(Some(UNIX_EPOCH + Duration::new(secs, nanos)));
    }
    humantime::parse_rfc3339_weak(s)
        .map(Some)
        .map_err(|_| bad())
}

async fn events(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, EngineError> {
    let since = parse_timestamp(q.get("since").map(String::as_str).unwrap_or(""))?;
    let until = parse_timestamp(q.get("until").map(String::as_str).unwrap_or(""))?;
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    check_filters(&filters)?;
    let engine = s.engine;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    // One blocking thread per reader: it polls the file and ends when the client has gone
    // (the channel closes) or `until` has passed.
    tokio::task::spawn_blocking(move || {
        let mut reader = engine.events_reader(since);
        loop {
            for ev in reader.read_new() {
                if until.is_some_and(|u| ev.system_time() > u) {
                    return;
                }
                if !include(&filters, &ev) {
                    continue;
                }
                let mut line = match serde_json::to_vec(&ev) {
                    Ok(l) => l,
                    Err(_) => continue,
                };
                line.push(b'\n');
                if tx.blocking_send(Ok(Bytes::from(line))).is_err() {
                    return;
                }
            }
            if until.is_some_and(|u| SystemTime::now() > u) || tx.is_closed() {
                return;
            }
            std::thread::sleep(POLL);
        }
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(s: &str) -> u128 {
        parse_timestamp(s)
            .unwrap()
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[test]
    fn timestamps_as_moby_reads_them() {
        assert_eq!(nanos("1700000000"), 1_700_000_000_000_000_000);
        assert_eq!(nanos("1700000000.5"), 1_700_000_000_500_000_000);
        assert_eq!(nanos("1700000000.000000001"), 1_700_000_000_000_000_001);
        assert_eq!(nanos("1970-01-01T00:00:01Z"), 1_000_000_000);
        assert!(parse_timestamp("").unwrap().is_none());
        assert!(parse_timestamp("soon").is_err());
    }
}
