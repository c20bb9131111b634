//! `/containers/{id}/exec` and `/exec/...`: create, start (hijacked unless detached), inspect,
//! resize.

use super::blocking;
use super::{AppState, Route};
use crate::engine::containers::attach::AttachHello;
use crate::engine::exec::ExecConfig;
use crate::engine::EngineError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::collections::HashMap;

type HResult = Result<Response, EngineError>;

pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/containers/{id}/exec", create),
        Route::post("/exec/{id}/start", start),
        Route::post("/exec/{id}/resize", resize),
        Route::get("/exec/{id}/json", inspect),
    ]
}

async fn create(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> HResult {
    let cfg: ExecConfig = serde_json::from_slice(&body)
        .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))?;
    let e = s.engine;
    let exec_id = blocking(move || e.exec_create(&id, cfg)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": exec_id })),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: bool,
    /// Rows and columns for the exec's terminal, over those given at create.
    console_size: Option<Vec<u16>>,
}

async fn start(State(s): State<AppState>, Path(id): Path<String>, mut req: Request) -> HResult {
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| EngineError::invalid_parameter(format!("reading the body: {e}")))?;
    let sb: StartBody = if body.is_empty() {
        StartBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))?
    };
    let e = s.engine.clone();
    if let Some([rows, cols]) = sb.console_size.as_deref() {
        if *rows > 0 && *cols > 0 {
            let (e, id, size) = (e.clone(), id.clone(), (*rows, *cols));
            blocking(move || e.exec_set_console_size(&id, size)).await?;
        }
    }
    if sb.detach {
        let id2 = id.clone();
        blocking(move || e.exec_start(&id2, false).map(drop)).await?;
        return Ok(StatusCode::OK.into_response());
    }
    // As dockerd: the start's `Tty` says how the output is framed, whatever the exec's own (an
    // exec made with a TTY and started without one sends its terminal's output in frames).
    let tty = sb.tty;
    let (e3, id3) = (s.engine.clone(), id.clone());
    let (sock, keys) = blocking(move || {
        let keys = e3.exec_detach_keys(&id3)?;
        let inspect = e3.exec_inspect(&id3)?;
        let hello = AttachHello {
            stdin: inspect["OpenStdin"].as_bool().unwrap_or(false),
            stdout: inspect["OpenStdout"].as_bool().unwrap_or(true),
            stderr: inspect["OpenStderr"].as_bool().unwrap_or(true),
            raw: Some(tty),
        };
        Ok((e3.exec_start_attached(&id3, hello)?, keys))
    })
    .await?;
    sock.set_nonblocking(true)
        .map_err(|e| EngineError::system("exec socket", e))?;
    let shim = tokio::net::UnixStream::from_std(sock)
        .map_err(|e| EngineError::system("exec socket", e))?;
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if !wants_upgrade {
        // Legacy clients: the raw stream on a plain 200, output only.
        let stream = tokio_util::io::ReaderStream::new(shim);
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return Ok(r);
    }
    let conn = req.extensions().get::<super::conn::ConnFd>().copied();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let engine = s.engine.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            super::conn::head_read(conn).await;
            let client = hyper_util::rt::TokioIo::new(upgraded);
            if super::containers::pump(client, shim, keys).await {
                let _ = blocking(move || {
                    engine.exec_detached(&id);
                    Ok(())
                })
                .await;
            }
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    Ok(r)
}

async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> HResult {
    let (h, w) = super::query::terminal_size(&q)?;
    let e = s.engine;
    blocking(move || e.exec_resize(&id, h, w)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(s): State<AppState>, Path(id): Path<String>) -> HResult {
    let e = s.engine;
    let v = blocking(move || e.exec_inspect(&id)).await?;
    Ok(Json(v).into_response())
}
