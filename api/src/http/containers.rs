//! `/containers/...`: each handler decodes the request, runs the engine off the async threads,
//! and answers in dockerd's shape. Attach is hijacked (101); wait and logs stream.

use super::blocking;
use super::query::{parse_filters, truthy};
use super::version::ApiVersion;
use super::{AppState, Route};
use crate::engine::containers::attach::{self, AttachHello, Stream};
use crate::engine::containers::create::Created;
use crate::engine::containers::list::ListOptions;
use crate::engine::containers::logs::LogOptions;
use crate::engine::containers::wait::{WaitCondition, Waiter};
use crate::engine::detach_keys::DetachKeys;
use crate::engine::images::platform::Platform;
use crate::engine::time::parse_log_bound;
use crate::engine::EngineError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::time::Duration;

type Q = Query<HashMap<String, String>>;
type HResult = Result<Response, EngineError>;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/containers/json", list),
        Route::post("/containers/create", create),
        Route::get("/containers/{id}/json", inspect),
        Route::post("/containers/{id}/start", start),
        Route::post("/containers/{id}/stop", stop),
        Route::post("/containers/{id}/restart", restart),
        Route::post("/containers/{id}/kill", kill),
        Route::post("/containers/{id}/pause", pause),
        Route::post("/containers/{id}/unpause", unpause),
        Route::post("/containers/{id}/rename", rename),
        Route::post("/containers/{id}/resize", resize),
        Route::post("/containers/{id}/wait", wait),
        Route::post("/containers/{id}/attach", attach),
        Route::get("/containers/{id}/logs", logs),
        Route::delete("/containers/{id}", remove),
        Route::delete("/containers/{id}/{alias}", remove_by_link_name),
        Route::post("/containers/prune", prune),
        Route::post("/containers/{id}/update", update),
    ]
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| truthy(v))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn list(State(s): State<AppState>, Query(q): Q) -> HResult {
    let opts = ListOptions {
        all: flag(&q, "all"),
        limit: q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(0),
        size: flag(&q, "size"),
        filters: parse_filters(q.get("filters").map(String::as_str))?,
    };
    let e = s.engine;
    // Written on the blocking thread from each row's pre-encoded parts.
    let body = blocking(move || e.list_containers_json(&opts)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

async fn create(
    State(s): State<AppState>,
    axum::Extension(version): axum::Extension<ApiVersion>,
    Query(q): Q,
    body: Bytes,
) -> HResult {
    let mut body: crate::engine::wire::CreateBody = if body.is_empty() {
        return Err(EngineError::invalid_parameter(
            "config cannot be empty in order to create a container".into(),
        ));
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))?
    };
    before_read_only_knobs(version, &mut body.host_config)?;
    let name = q.get("name").cloned();
    // `platform` (API 1.41 on): the image must be of that platform, as dockerd checks it.
    let platform = match q.get("platform").filter(|p| !p.is_empty()) {
        Some(p)
            if version
                >= (ApiVersion {
                    major: 1,
                    minor: 41,
                }) =>
        {
            Some(Platform::parse(p)?)
        }
        _ => None,
    };
    let e = s.engine;
    let Created { id, warnings } = blocking(move || {
        if let Some(p) = &platform {
            e.check_image_platform(&body.config.image, p)?;
        }
        e.create_container(name.as_deref(), body)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

/// Before API 1.44 a read-only bind was read-only on its top mount only, and
/// BindOptions.ReadOnlyForceRecursive did not exist: dockerd keeps the first for such clients
/// and refuses the second.
fn before_read_only_knobs(
    version: ApiVersion,
    h: &mut crate::engine::wire::HostConfig,
) -> Result<(), EngineError> {
    if version
        >= (ApiVersion {
            major: 1,
            minor: 44,
        })
    {
        return Ok(());
    }
    for m in h.mounts.iter_mut().flatten().filter(|m| m.kind == "bind") {
        if let Some(o) = m.bind_options.as_mut() {
            if o.read_only_force_recursive {
                return Err(EngineError::invalid_parameter(
                    "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer".into(),
                ));
            }
            // Not a field of these versions: ignored, as dockerd does.
            o.read_only_non_recursive = false;
        }
    }
    h.read_only_non_recursive_default = true;
    Ok(())
}

async fn inspect(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    let size = flag(&q, "size");
    let e = s.engine;
    let v = blocking(move || e.inspect_size(&id, size)).await?;
    Ok(Json(v).into_response())
}

async fn start(State(s): State<AppState>, Path(id): Path<String>) -> HResult {
    let e = s.engine;
    blocking(move || e.start(&id)).await?;
    Ok(no_content())
}

/// `t` of a stop or restart. The query is read as a map, as every other route's: a repeated
/// key is no 400 (axum's typed query refused it, in plain text; dockerd reads one value).
fn timeout_of(q: &HashMap<String, String>) -> Result<Option<i64>, EngineError> {
    match q.get("t").map(String::as_str) {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| EngineError::invalid_parameter(format!("invalid value for t: {t}"))),
    }
}

fn stop_signal_of(q: &HashMap<String, String>) -> Option<String> {
    q.get("signal").filter(|s| !s.is_empty()).cloned()
}

async fn stop(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    let t = timeout_of(&q)?;
    let e = s.engine;
    blocking(move || e.stop(&id, t, stop_signal_of(&q))).await?;
    Ok(no_content())
}

async fn restart(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    let t = timeout_of(&q)?;
    let e = s.engine;
    blocking(move || e.restart(&id, t, stop_signal_of(&q))).await?;
    Ok(no_content())
}

async fn kill(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    let e = s.engine;
    let signal = q.get("signal").cloned();
    blocking(move || e.kill(&id, signal)).await?;
    Ok(no_content())
}

async fn pause(State(s): State<AppState>, Path(id): Path<String>) -> HResult {
    let e = s.engine;
    blocking(move || e.pause(&id)).await?;
    Ok(no_content())
}

async fn unpause(State(s): State<AppState>, Path(id): Path<String>) -> HResult {
    let e = s.engine;
    blocking(move || e.unpause(&id)).await?;
    Ok(no_content())
}

async fn rename(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    let name = q.get("name").cloned().unwrap_or_default();
    let e = s.engine;
    blocking(move || e.rename(&id, &name)).await?;
    Ok(no_content())
}

async fn resize(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    let (h, w) = super::query::terminal_size(&q)?;
    let e = s.engine;
    blocking(move || e.resize(&id, h, w)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn update(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> HResult {
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))?;
    let e = s.engine;
    let warnings = blocking(move || e.update(&id, &v)).await?;
    Ok(Json(serde_json::json!({"Warnings": warnings})).into_response())
}

async fn remove(State(s): State<AppState>, Path(id): Path<String>, Query(q): Q) -> HResult {
    if flag(&q, "link") {
        // `docker rm --link db`: a container's own name is no link (dockerd's words and 500).
        let e = s.engine;
        blocking(move || e.lookup(&id)).await?;
        return Err(EngineError::system_message(
            "Conflict, cannot remove the default link name of the container".into(),
        ));
    }
    let force = flag(&q, "force");
    let volumes = flag(&q, "v");
    let e = s.engine;
    blocking(move || e.remove_with_volumes(&id, force, volumes)).await?;
    Ok(no_content())
}

/// `DELETE /containers/web/db`: a link's name. With `link=1` (`docker rm --link /web/db`) the
/// link goes; without, the container it names goes, as dockerd's names store resolves it.
async fn remove_by_link_name(
    State(s): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    Query(q): Q,
) -> HResult {
    let e = s.engine;
    if flag(&q, "link") {
        blocking(move || e.remove_link(&parent, &alias)).await?;
        return Ok(no_content());
    }
    let force = flag(&q, "force");
    let volumes = flag(&q, "v");
    blocking(move || {
        let child = e.link_target(&parent, &alias)?;
        e.remove_with_volumes(&child, force, volumes)
    })
    .await?;
    Ok(no_content())
}

async fn prune(State(s): State<AppState>, Query(q): Q) -> HResult {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let e = s.engine;
    let (deleted, space) = blocking(move || e.prune_containers(&filters)).await?;
    Ok(Json(serde_json::json!({
        "ContainersDeleted": if deleted.is_empty() { serde_json::Value::Null } else { serde_json::json!(deleted) },
        "SpaceReclaimed": space,
    }))
    .into_response())
}

/// `POST /containers/{id}/wait`: headers at once (the CLI starts the container only after it
/// has them), then one JSON object when the condition is met.
async fn wait(State(s): State<AppState>, Path(reference): Path<String>, Query(q): Q) -> HResult {
    let condition = WaitCondition::parse(q.get("condition").map(String::as_str).unwrap_or(""))?;
    let e = s.engine.clone();
    // The watch is set and the first state read before the headers go.
    let waiter = blocking(move || {
        let id = e.lookup(&reference)?;
        e.waiter(&id, condition)
    })
    .await?;
    let stream = futures_util::stream::once(async move {
        let code = wait_for(waiter).await;
        let body = serde_json::json!({"StatusCode": code, "Error": serde_json::Value::Null});
        Ok::<_, std::io::Error>(Bytes::from(format!("{body}\n")))
    });
    Ok(json_stream(Body::from_stream(stream)))
}

/// Run the waiter's steps on blocking threads (the wait ends with the client between steps);
/// the exit code.
async fn wait_for(mut waiter: Waiter) -> i32 {
    loop {
        let step = tokio::task::spawn_blocking(move || {
            let code = waiter.check();
            if code.is_none() {
                waiter.pause();
            }
            (waiter, code)
        })
        .await;
        let (w, code) = match step {
            Ok(step) => step,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        if let Some(code) = code {
            // Closing its inotify instance takes an SRCU grace period: not before the answer,
            // and not on a worker of the runtime.
            drop(tokio::task::spawn_blocking(move || drop(w)));
            return code;
        }
        waiter = w;
    }
}

fn json_stream(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn log_options(q: &HashMap<String, String>) -> Result<LogOptions, EngineError> {
    let tail =
        match q.get("tail").map(String::as_str) {
            None | Some("") | Some("all") => None,
            Some(n) => Some(n.parse::<i64>().map(|n| n.max(0) as usize).map_err(|_| {
                EngineError::invalid_parameter(format!("invalid value for tail: {n}"))
            })?),
        };
    Ok(LogOptions {
        stdout: flag(q, "stdout"),
        stderr: flag(q, "stderr"),
        timestamps: flag(q, "timestamps"),
        details: flag(q, "details"),
        tail,
        since: parse_log_bound(q.get("since").map(String::as_str).unwrap_or(""))?,
        until: parse_log_bound(q.get("until").map(String::as_str).unwrap_or(""))?,
    })
}

fn frame(tty: bool, stream: Stream, data: &[u8]) -> Bytes {
    if tty {
        Bytes::copy_from_slice(data)
    } else {
        Bytes::from(attach::frame(attach::stream_number(stream), data))
    }
}

fn stream_content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// `GET /containers/{id}/logs`: what is logged, then with `follow` what comes until the
/// container stops.
async fn logs(State(s): State<AppState>, Path(reference): Path<String>, Query(q): Q) -> HResult {
    let opts = log_options(&q)?;
    let follow = flag(&q, "follow");
    let e = s.engine.clone();
    let (id, tty, entries, mut cursor) = blocking(move || {
        let id = e.lookup(&reference)?;
        let tty = e.record(&id)?.config.tty;
        let (entries, cursor) = e.logs(&id, &opts)?;
        Ok((id, tty, entries, cursor))
    })
    .await?;
    let opts = log_options(&q)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let e = s.engine.clone();
    tokio::spawn(async move {
        // The cursor is where the snapshot ended: nothing is lost or sent twice.
        for entry in &entries {
            if tx
                .send(Ok(frame(tty, entry.stream, &opts.render(entry))))
                .await
                .is_err()
            {
                return;
            }
        }
        if !follow {
            return;
        }
        loop {
            let running = {
                let (e, id) = (e.clone(), id.clone());
                tokio::task::spawn_blocking(move || {
                    e.state(&id).map(|st| st.status.is_live()).unwrap_or(false)
                })
                .await
                .unwrap_or(false)
            };
            for entry in cursor.read_new() {
                if opts.wants(&entry)
                    && tx
                        .send(Ok(frame(tty, entry.stream, &opts.render(&entry))))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            if !running {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, stream_content_type(tty));
    Ok(r)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `POST /containers/{id}/attach`: upgrade the connection (101) and join it to the shim's attach
/// socket: stdin one way, output the other, until the container's output ends.
async fn attach(
    State(s): State<AppState>,
    Path(reference): Path<String>,
    Query(q): Q,
    mut req: Request,
) -> HResult {
    let hello = AttachHello {
        stdin: flag(&q, "stdin"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        raw: None,
    };
    let replay_logs = flag(&q, "logs");
    let stream = flag(&q, "stream");
    let e = s.engine.clone();
    let detach_keys = q.get("detachKeys").cloned().unwrap_or_default();
    let (id, tty, keys) = blocking(move || {
        let id = e.lookup(&reference)?;
        let tty = e.record(&id)?.config.tty;
        let keys = e.attach_detach_keys(&id, &detach_keys)?;
        Ok((id, tty, keys))
    })
    .await?;
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    if !wants_upgrade {
        return Err(EngineError::invalid_parameter(
            "attach needs a connection upgrade (Upgrade: tcp)".into(),
        ));
    }
    // Connect to the shim before answering, so that no output is missed and errors are plain.
    let shim = if stream {
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
    let replay = if replay_logs {
        log_replay(&s.engine, &id, &hello).await?
    } else {
        Vec::new()
    };
    let conn = req.extensions().get::<super::conn::ConnFd>().copied();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let engine = s.engine.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        super::conn::head_read(conn).await;
        let mut client = hyper_util::rt::TokioIo::new(upgraded);
        use tokio::io::AsyncWriteExt;
        for entry in &replay {
            let bytes = frame(tty, entry.stream, &entry.log);
            if client.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let Some(shim) = shim else {
            let _ = client.shutdown().await;
            return;
        };
        if pump(client, shim, keys).await {
            let _ = blocking(move || {
                engine.attach_detached(&id);
                Ok(())
            })
            .await;
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, stream_content_type(tty));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    Ok(r)
}

/// What an attach with `logs=1` sends first: the container's stored log, of the streams the
/// client asked for (the HTTP attach and the websocket one alike).
pub(super) async fn log_replay(
    engine: &crate::engine::Engine,
    id: &crate::engine::ids::ContainerId,
    hello: &AttachHello,
) -> Result<Vec<crate::engine::containers::logs::Entry>, EngineError> {
    let (e, id) = (engine.clone(), id.clone());
    let opts = LogOptions {
        stdout: hello.stdout,
        stderr: hello.stderr,
        ..Default::default()
    };
    blocking(move || {
        Ok(e.logs(&id, &opts)
            .map(|(entries, _)| entries)
            .unwrap_or_default())
    })
    .await
}

/// Copy client -> shim (stdin; the client's half-close becomes the shim's) and shim -> client
/// (output; its end closes the client) until the output ends. With `keys`, the client's stdin is
/// watched for them: once read, the client is let go (its connection closed, the shim's too)
/// and the container goes on. True when the client detached so.
pub async fn pump<C>(client: C, shim: tokio::net::UnixStream, keys: Option<DetachKeys>) -> bool
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = shim.into_split();
    let mut stdin = tokio::spawn(async move {
        let Some(keys) = keys else {
            let _ = tokio::io::copy(&mut client_r, &mut shim_w).await;
            let _ = shim_w.shutdown().await;
            return false;
        };
        let mut scanner = keys.scanner();
        let (mut buf, mut out) = (vec![0u8; 8192], Vec::with_capacity(8192));
        loop {
            let n = client_r.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                let _ = shim_w.shutdown().await;
                return false;
            }
            out.clear();
            let detached = scanner.feed(&buf[..n], &mut out);
            if shim_w.write_all(&out).await.is_err() {
                return false;
            }
            if detached {
                return true;
            }
        }
    });
    let mut detached = false;
    {
        let output = tokio::io::copy(&mut shim_r, &mut client_w);
        tokio::pin!(output);
        let mut stdin_ended = false;
        loop {
            tokio::select! {
                _ = &mut output => break,
                ended = &mut stdin, if !stdin_ended => {
                    stdin_ended = true;
                    if matches!(ended, Ok(true)) {
                        detached = true;
                        break;
                    }
                }
            }
        }
    }
    let _ = client_w.shutdown().await;
    stdin.abort();
    detached
}
