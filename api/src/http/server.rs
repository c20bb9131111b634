//! The server: one listening unix socket, our own accept loop, and hyper's HTTP/1 server (with
//! upgrades, for hijacked attach and exec) running the router behind the version layer. It
//! exits by itself once it has been idle for the idle timeout: berth is started on demand
//! (systemd socket activation) and needs no daemon between requests.
//!
//! Busy (what keeps it from idling out): a request in flight, from its head until its response
//! body is sent (a followed `/events` or log stream is one long request); a hijacked stream
//! until it closes; a new connection until its first request head (at most the header timeout).
//! A kept-alive connection between requests is not busy: its client reconnects if it is gone.
//! Bounds: a connection that sends no whole request head within the header timeout is closed
//! (also between the requests of a kept-alive connection), and at most `max_connections` are
//! served at once. Further connections wait in the kernel's listen queue rather than being
//! refused: whoever may connect is root-equivalent, so the cap only guards berth's descriptors
//! and memory against a runaway client, and a client that waits is served once one closes (an
//! idle one within the header timeout).

use super::{listener, router, version, AppState};
use crate::config::Settings;
use crate::engine::Engine;
use anyhow::Context;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

/// How long connections may take and how many there may be.
#[derive(Debug, Clone, Copy)]
struct Limits {
    idle_timeout_secs: u64,
    header_timeout: Duration,
    max_connections: usize,
}

/// Serve the API until idle (or forever with an idle timeout of 0).
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    for dir in [&settings.root, &settings.run_root] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (std_listener, bound): (_, Option<PathBuf>) = match listener::from_systemd()? {
        Some(l) => (l, None),
        None => (
            listener::bind(&settings.socket)?,
            Some(settings.socket.clone()),
        ),
    };
    let listener = UnixListener::from_std(std_listener).context("registering the listener")?;
    let engine = Engine::with_settings(settings.paths(), settings.engine.clone());
    // Where AppArmor is on, containers get its default profile: loadable, or no server.
    engine
        .ensure_apparmor()
        .context("AppArmor's default profile")?;
    // What a crashed process left half-made (never visible to clients) goes, off the accept path.
    let sweeper = engine.clone();
    tokio::task::spawn_blocking(move || sweeper.sweep());
    let router = router(AppState { engine });
    let limits = Limits {
        idle_timeout_secs: settings.idle_timeout_secs,
        header_timeout: Duration::from_millis(settings.header_timeout_ms),
        max_connections: settings.max_connections,
    };
    let result = accept_loop(listener, router, limits).await;
    // Under socket activation the socket is systemd's: it keeps listening (and queueing) for the
    // next berth. A socket we bound goes with us.
    if let Some(path) = bound {
        crate::engine::cleanup(
            format!("removing {}", path.display()),
            std::fs::remove_file(&path),
        );
    }
    result
}

async fn accept_loop(
    listener: UnixListener,
    router: axum::Router,
    limits: Limits,
) -> anyhow::Result<()> {
    let activity = Activity::default();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let idle = activity.idle(limits.idle_timeout_secs);
    tokio::pin!(idle);
    let mut slot: Option<OwnedSemaphorePermit> = None;
    loop {
        tokio::select! {
            // A connection already queued wins over the idle timer.
            biased;
            permit = slots.clone().acquire_owned(), if slot.is_none() => {
                slot = Some(permit.context("the connection slots closed")?);
            }
            accepted = listener.accept(), if slot.is_some() => match accepted {
                Ok((stream, _)) => {
                    let Some(permit) = slot.take() else { continue };
                    serve_connection(stream, permit, &activity, router.clone(), limits.header_timeout);
                }
                Err(e) if transient(&e) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return Err(e).context("accepting a connection"),
            },
            () = &mut idle => return Ok(()),
        }
    }
}

/// Accept errors that pass: the peer gave up, or fds or memory ran short for a moment.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EMFILE | libc::ENFILE | libc::ENOBUFS)
            | Some(libc::ENOMEM)
    )
}

fn serve_connection(
    stream: UnixStream,
    permit: OwnedSemaphorePermit,
    activity: &Activity,
    router: axum::Router,
    header_timeout: Duration,
) {
    let fd = super::conn::ConnFd(std::os::fd::AsRawFd::as_raw_fd(&stream));
    // Busy until its first request head: a client that connected is about to ask something.
    let held: Held = Arc::new(Mutex::new(Some(activity.busy())));
    // The connection (and, after an upgrade, the hijacked stream, which owns it) keeps its slot
    // and what `held` holds until it is dropped.
    let io = TokioIo::new(Tracked {
        stream,
        held: held.clone(),
        _slot: permit,
    });
    let activity = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let router = router.clone();
        let (activity, held) = (activity.clone(), held.clone());
        // Busy while this request is in flight: until its response body is sent or dropped.
        let request = activity.busy();
        hold(&held, None);
        // Hijacking handlers look at the connection itself (see `conn::head_read`).
        req.extensions_mut().insert(fd);
        // Every line logged while the request is served carries its method and path.
        let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
        async move {
            let started = std::time::Instant::now();
            let response = version::serve(router, req.map(Body::new)).await;
            tracing::debug!(
                status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "answered"
            );
            if response.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                // Hijacked: busy until the stream closes (`Tracked` drops it).
                hold(&held, Some(activity.busy()));
            }
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &request;
                    frame
                }))
            }))
        }
        .instrument(span)
    });
    tokio::spawn(async move {
        // An error here is a client that went away, spoke bad HTTP or sent no whole head in
        // time: the end of the connection.
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(io, service)
            .with_upgrades()
            .await;
    });
}

/// What a connection itself holds busy: nothing, its first wait for a request, or its hijacked
/// stream.
type Held = Arc<Mutex<Option<Busy>>>;

fn hold(held: &Held, busy: Option<Busy>) {
    // A poisoned lock only means a panic elsewhere while setting it: the value is still whole.
    *held.lock().unwrap_or_else(|p| p.into_inner()) = busy;
}

/// The number of busy holders (see the module comment).
#[derive(Clone)]
struct Activity(Arc<watch::Sender<usize>>);

impl Default for Activity {
    fn default() -> Self {
        Activity(Arc::new(watch::Sender::new(0)))
    }
}

impl Activity {
    fn busy(&self) -> Busy {
        self.0.send_modify(|n| *n += 1);
        Busy(self.0.clone())
    }

    /// Completes once nothing has been busy for `secs` seconds; never when `secs` is 0.
    async fn idle(&self, secs: u64) {
        if secs == 0 {
            return std::future::pending().await;
        }
        let timeout = Duration::from_secs(secs);
        let mut count = self.0.subscribe();
        loop {
            if count.wait_for(|n| *n == 0).await.is_err() {
                // The sender lives in `self`: unreachable, but never idle out by mistake.
                return std::future::pending().await;
            }
            tokio::select! {
                () = tokio::time::sleep(timeout) => {
                    if *count.borrow_and_update() == 0 {
                        return;
                    }
                }
                _ = count.changed() => {}
            }
        }
    }
}

/// One busy holder; counted until dropped.
struct Busy(Arc<watch::Sender<usize>>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A connection's stream: holds its connection slot, and what the connection holds busy, for as
/// long as it exists.
struct Tracked {
    stream: UnixStream,
    held: Held,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        hold(&self.held, None);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(idle_timeout_secs: u64) -> Limits {
        Limits {
            idle_timeout_secs,
            header_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }

    /// A server on a socket in `tmp` answering GET /ping, with `limits`.
    fn ping_server(
        tmp: &tempfile::TempDir,
        limits: Limits,
    ) -> (PathBuf, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let path = tmp.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "OK" }));
        (path, tokio::spawn(accept_loop(listener, router, limits)))
    }

    const PING: &[u8] = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";

    /// Read one response to GET /ping (its head and the 2-byte body) from `client`.
    async fn read_pong(client: &mut UnixStream) -> String {
        let mut got = Vec::new();
        while !(got.ends_with(b"OK") && got.windows(4).any(|w| w == b"\r\n\r\n")) {
            let mut buf = [0u8; 256];
            let n = client.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before the whole response; got {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_does_not_keep_it_alive() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, server) = ping_server(&tmp, limits(1));
        let mut client = UnixStream::connect(&path).await.unwrap();
        client.write_all(PING).await.unwrap();
        let reply = read_pong(&mut client).await;
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "expected 200, got {reply:?}"
        );
        // The connection stays open, kept alive, with no request in flight.
        tokio::time::timeout(Duration::from_secs(4), server)
            .await
            .expect("expected an idle exit about 1 s after the response while a kept-alive connection sat idle; still serving after 4 s")
            .unwrap()
            .unwrap();
        drop(client);
    }

    #[tokio::test]
    async fn a_request_in_flight_keeps_it_alive() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let router = axum::Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(2500)).await;
                "OK"
            }),
        );
        let server = tokio::spawn(accept_loop(listener, router, limits(1)));
        let mut client = UnixStream::connect(&path).await.unwrap();
        client
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let reply = read_pong(&mut client).await;
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "expected 200 after 2.5 s, got {reply:?}"
        );
        assert!(
            !server.is_finished(),
            "idle exit while a request was in flight"
        );
    }

    #[tokio::test]
    async fn half_a_head_is_closed_after_the_header_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, _server) = ping_server(
            &tmp,
            Limits {
                header_timeout: Duration::from_millis(300),
                ..limits(0)
            },
        );
        let mut client = UnixStream::connect(&path).await.unwrap();
        client
            .write_all(b"GET /ping HTTP/1.1\r\nHos")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(3), client.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(_))),
            "expected the server to close a connection that sent half a head within 300 ms; after 3 s: {read:?}"
        );
        // A kept-alive connection that asks nothing more is closed the same way.
        let mut client = UnixStream::connect(&path).await.unwrap();
        client.write_all(PING).await.unwrap();
        read_pong(&mut client).await;
        let read =
            tokio::time::timeout(Duration::from_secs(3), client.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(_))),
            "expected an idle kept-alive connection closed after the header timeout; after 3 s: {read:?}"
        );
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_for_a_slot() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, _server) = ping_server(
            &tmp,
            Limits {
                max_connections: 2,
                ..limits(0)
            },
        );
        let first = UnixStream::connect(&path).await.unwrap();
        let _second = UnixStream::connect(&path).await.unwrap();
        // The third connects (the listen queue takes it) but is not served while two are open.
        let mut third = UnixStream::connect(&path).await.unwrap();
        third.write_all(PING).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(700), read_pong(&mut third)).await;
        assert!(
            early.is_err(),
            "expected the third of a cap of 2 to wait; it was answered: {early:?}"
        );
        drop(first);
        let reply = tokio::time::timeout(Duration::from_secs(3), read_pong(&mut third))
            .await
            .expect("expected the waiting connection served once a slot freed; nothing in 3 s");
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "expected 200, got {reply:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_the_last_connection_to_close() {
        let activity = Activity::default();
        let open = activity.busy();
        let idle = activity.idle(5);
        tokio::pin!(idle);
        // A connection held for a minute keeps it busy.
        assert!(tokio::time::timeout(Duration::from_secs(60), &mut idle)
            .await
            .is_err());
        drop(open);
        // Then five seconds with none.
        assert!(tokio::time::timeout(Duration::from_secs(4), &mut idle)
            .await
            .is_err());
        tokio::time::timeout(Duration::from_secs(2), &mut idle)
            .await
            .expect("idle 5 s after the last connection closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_connection_restarts_the_clock() {
        let activity = Activity::default();
        let idle = activity.idle(5);
        tokio::pin!(idle);
        assert!(tokio::time::timeout(Duration::from_secs(3), &mut idle)
            .await
            .is_err());
        drop(activity.busy());
        assert!(
            tokio::time::timeout(Duration::from_secs(4), &mut idle)
                .await
                .is_err(),
            "the clock restarts when a connection closes"
        );
        tokio::time::timeout(Duration::from_secs(2), &mut idle)
            .await
            .expect("idle 5 s after the last connection closed");
    }

    /// A hijacked connection outlives hyper's connection future; it must still count as open.
    #[tokio::test]
    async fn an_upgraded_connection_counts_until_it_closes() {
        use axum::http::StatusCode;

        async fn hijack(mut req: axum::extract::Request) -> axum::response::Response {
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(upgraded) = upgrade.await {
                    let mut io = TokioIo::new(upgraded);
                    let mut buf = [0u8; 64];
                    while io.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                }
            });
            axum::response::Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "Upgrade")
                .header("upgrade", "tcp")
                .body(Body::empty())
                .unwrap()
        }

        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let router = axum::Router::new().route("/hijack", axum::routing::post(hijack));
        let server = tokio::spawn(accept_loop(listener, router, limits(1)));

        let mut client = UnixStream::connect(&path).await.unwrap();
        client
            .write_all(b"POST /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(
                client.read(&mut byte).await.unwrap(),
                1,
                "closed before 101"
            );
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );

        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !server.is_finished(),
            "idle exit while a hijacked stream was open"
        );
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("no idle exit after the hijacked stream closed")
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn zero_never_idles() {
        let activity = Activity::default();
        let idle = activity.idle(0);
        assert!(tokio::time::timeout(Duration::from_secs(3600), idle)
            .await
            .is_err());
    }
}
