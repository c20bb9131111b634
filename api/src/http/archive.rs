//! `/containers/{id}/archive` (docker cp): HEAD (the path's stat), GET (a tar of the path) and
//! PUT (extract a tar into a directory), each with dockerd's `X-Docker-Container-Path-Stat`
//! header where dockerd sends it. HEAD answers never carry a body, not even an error's.

use super::blocking;
use super::query::truthy;
use super::stream::{streamed, BodyReader};
use super::{AppState, Route};
use crate::engine::containers::archive::PutOptions;
use crate::engine::EngineError;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub fn routes() -> Vec<Route> {
    vec![
        Route::head("/containers/{id}/archive", head),
        Route::get("/containers/{id}/archive", get),
        Route::put("/containers/{id}/archive", put),
    ]
}

/// The `path` parameter, required.
pub fn path_param(q: &HashMap<String, String>) -> Result<String, EngineError> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.clone()),
        _ => Err(EngineError::invalid_parameter("path is required".into())),
    }
}

/// The PUT options (`noOverwriteDirNonDir`, `copyUIDGID`).
pub fn put_options(q: &HashMap<String, String>) -> PutOptions {
    let flag = |k: &str| q.get(k).is_some_and(|v| truthy(v));
    PutOptions {
        no_overwrite_dir_non_dir: flag("noOverwriteDirNonDir"),
        copy_uid_gid: flag("copyUIDGID"),
        ..PutOptions::default()
    }
}

fn with_stat(mut r: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(STAT_HEADER, v);
    }
    r
}

async fn head(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Response {
    let r = match path_param(&q) {
        Ok(path) => {
            let e = s.engine;
            blocking(move || e.archive_stat(&id, &path)).await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(stat) => with_stat(StatusCode::OK.into_response(), &stat.header_value()),
        Err(e) => {
            let mut resp = e.into_response();
            *resp.body_mut() = Body::empty();
            resp.headers_mut()
                .remove(axum::http::header::CONTENT_LENGTH);
            resp
        }
    }
}

async fn get(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Response {
    let path = match path_param(&q) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let e = s.engine.clone();
    let (id2, path2) = (id.clone(), path.clone());
    let stat = match blocking(move || e.archive_stat(&id2, &path2)).await {
        Ok(st) => st,
        Err(e) => return e.into_response(),
    };
    let engine = s.engine;
    let r = streamed("application/x-tar", move |w| {
        engine.archive_get(&id, &path, w)
    });
    with_stat(r, &stat.header_value())
}

/// How much of a refused upload is still read before the answer.
const DRAIN_ON_ERROR: u64 = 64 << 20;

async fn put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Body,
) -> Response {
    let path = match path_param(&q) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let opts = put_options(&q);
    let mut reader = BodyReader::new(body);
    let e = s.engine;
    let put = move || {
        let r = e.archive_put(&id, &path, &opts, &mut reader);
        if r.is_err() {
            // Refused before the whole archive was read (a read-only path, a missing
            // directory): read what the client still sends, up to a bound, as dockerd's Go
            // server does, so that it gets the error and not a broken pipe.
            let _ = std::io::copy(
                &mut std::io::Read::take(&mut reader, DRAIN_ON_ERROR),
                &mut std::io::sink(),
            );
        }
        r
    };
    match blocking(put).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q: HashMap<String, String> = [
            ("path".to_string(), "/etc".to_string()),
            ("noOverwriteDirNonDir".to_string(), "true".to_string()),
            ("copyUIDGID".to_string(), "0".to_string()),
        ]
        .into();
        assert_eq!(path_param(&q).unwrap(), "/etc");
        let o = put_options(&q);
        assert!(o.no_overwrite_dir_non_dir && !o.copy_uid_gid);
        assert!(path_param(&HashMap::new()).is_err());
    }
}
