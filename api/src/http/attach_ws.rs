//! `GET /containers/{id}/attach/ws`: attach over a websocket. The query is the hijacked
//! attach's; after the handshake the container's output goes out as websocket messages, raw
//! (never multiplexed, TTY or not: dockerd's), and the client's messages go to its stdin.

use super::containers::{log_replay, pump};
use super::query::truthy;
use super::version::ApiVersion;
use super::{blocking, AppState, Route};
use crate::engine::containers::attach::AttachHello;
use crate::engine::EngineError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

pub fn routes() -> Vec<Route> {
    vec![Route::get("/containers/{id}/attach/ws", attach_ws)]
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| truthy(v))
}

/// The container is looked up (404) and the shim joined (409) before the upgrade, so that
/// errors are plain HTTP answers and no output is missed.
async fn attach_ws(
    State(s): State<AppState>,
    Path(reference): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    axum::Extension(version): axum::Extension<ApiVersion>,
    req: Request,
) -> Result<Response, EngineError> {
    let at_least = |minor| version >= ApiVersion { major: 1, minor };
    // Before API 1.42 dockerd attached all three streams whatever the query said.
    let chosen = |k| !at_least(42) || flag(&q, k);
    let hello = AttachHello {
        stdin: chosen("stdin"),
        stdout: chosen("stdout"),
        stderr: chosen("stderr"),
        raw: Some(true),
    };
    let e = s.engine.clone();
    let detach_keys = q.get("detachKeys").cloned().unwrap_or_default();
    let (id, keys) = blocking(move || {
        let id = e.lookup(&reference)?;
        let keys = e.attach_detach_keys(&id, &detach_keys)?;
        Ok((id, keys))
    })
    .await?;
    let (mut parts, _) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &s).await {
        Ok(u) => u,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let shim = if flag(&q, "stream") {
        let (e, id2) = (s.engine.clone(), id.clone());
        let sock = blocking(move || e.attach(&id2, hello)).await?;
        sock.set_nonblocking(true)
            .map_err(|e| EngineError::system("attach socket", e))?;
        Some(
            tokio::net::UnixStream::from_std(sock)
                .map_err(|e| EngineError::system("attach socket", e))?,
        )
    } else {
        None
    };
    let replay = if flag(&q, "logs") {
        log_replay(&s.engine, &id, &hello).await?
    } else {
        Vec::new()
    };
    // dockerd sends binary messages from API 1.28 on, text ones before.
    let binary = at_least(28);
    let engine = s.engine.clone();
    Ok(upgrade.on_upgrade(move |ws| async move {
        let (near, far) = tokio::io::duplex(64 * 1024);
        let bridge = tokio::spawn(bridge(ws, far, binary, replay.into_iter().map(|e| e.log)));
        let Some(shim) = shim else {
            drop(near);
            let _ = bridge.await;
            return;
        };
        let detached = pump(near, shim, keys).await;
        let _ = bridge.await;
        if detached {
            let _ = blocking(move || {
                engine.attach_detached(&id);
                Ok(())
            })
            .await;
        }
    }))
}

fn message(binary: bool, data: Vec<u8>) -> Message {
    if binary {
        Message::Binary(data.into())
    } else {
        Message::Text(String::from_utf8_lossy(&data).into_owned().into())
    }
}

/// Carry `far` (the attach stream's other end) over `ws`: its bytes out as messages (after
/// `replay`), the client's messages in; the client's close is stdin's end, the stream's end
/// closes the websocket.
async fn bridge(
    ws: WebSocket,
    far: DuplexStream,
    binary: bool,
    replay: impl Iterator<Item = Vec<u8>>,
) {
    let (mut sink, mut incoming) = ws.split();
    let (mut far_r, mut far_w) = tokio::io::split(far);
    let stdin = tokio::spawn(async move {
        while let Some(Ok(msg)) = incoming.next().await {
            let data: &[u8] = match &msg {
                Message::Binary(b) => b,
                Message::Text(t) => t.as_bytes(),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if far_w.write_all(data).await.is_err() {
                return;
            }
        }
        let _ = far_w.shutdown().await;
    });
    for data in replay {
        if sink.send(message(binary, data)).await.is_err() {
            stdin.abort();
            return;
        }
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match far_r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if sink.send(message(binary, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
    stdin.abort();
}
