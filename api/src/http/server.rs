//! The server: one listening unix socket, our own accept loop, and hyper's HTTP/1 server (with
//! upgrades, for hijacked attach and exec) running the router behind the version layer. It
//! exits by itself once no connection has been open for the idle timeout: berth is started on
//! demand (systemd socket activation) and needs no daemon between requests.

use super::{listener, router, version, AppState};
use crate::config::Settings;
use crate::engine::Engine;
use anyhow::Context;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

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
    let engine = Engine::new(settings.paths());
    // What a crashed process left half-made (never visible to clients) goes, off the accept path.
    let sweeper = engine.clone();
    tokio::task::spawn_blocking(move || sweeper.sweep());
    let router = router(AppState { engine });
    let result = accept_loop(listener, router, settings.idle_timeout_secs).await;
    // Under socket activation the socket is systemd's: it keeps listening (and queueing) for the
    // next berth. A socket we bound goes with us.
    if let Some(path) = bound {
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn accept_loop(
    listener: UnixListener,
    router: axum::Router,
    idle_timeout_secs: u64,
) -> anyhow::Result<()> {
    let connections = Connections::default();
    let idle = connections.idle(idle_timeout_secs);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            // A connection already queued wins over the idle timer.
            biased;
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => serve_connection(stream, connections.open(), router.clone()),
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

fn serve_connection(stream: UnixStream, open: Open, router: axum::Router) {
    // The connection (and, after an upgrade, the hijacked stream, which owns it) holds `open`
    // until it is dropped.
    let fd = super::conn::ConnFd(std::os::fd::AsRawFd::as_raw_fd(&stream));
    let io = TokioIo::new(Tracked {
        stream,
        _open: open,
    });
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let router = router.clone();
        // Hijacking handlers look at the connection itself (see `conn::head_read`).
        req.extensions_mut().insert(fd);
        async move { Ok::<_, Infallible>(version::serve(router, req.map(Body::new)).await) }
    });
    tokio::spawn(async move {
        // An error here is a client that went away or spoke bad HTTP: the end of the connection.
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades()
            .await;
    });
}

/// The number of open connections.
#[derive(Clone)]
struct Connections(Arc<watch::Sender<usize>>);

impl Default for Connections {
    fn default() -> Self {
        Connections(Arc::new(watch::Sender::new(0)))
    }
}

impl Connections {
    fn open(&self) -> Open {
        self.0.send_modify(|n| *n += 1);
        Open(self.0.clone())
    }

    /// Completes once no connection has been open for `secs` seconds; never when `secs` is 0.
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

/// One open connection; counted until dropped.
struct Open(Arc<watch::Sender<usize>>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A connection's stream that keeps it counted as open for as long as it exists.
struct Tracked {
    stream: UnixStream,
    _open: Open,
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

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_the_last_connection_to_close() {
        let connections = Connections::default();
        let open = connections.open();
        let idle = connections.idle(5);
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
        let connections = Connections::default();
        let idle = connections.idle(5);
        tokio::pin!(idle);
        assert!(tokio::time::timeout(Duration::from_secs(3), &mut idle)
            .await
            .is_err());
        drop(connections.open());
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
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        let server = tokio::spawn(accept_loop(listener, router, 1));

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
        let connections = Connections::default();
        let idle = connections.idle(0);
        assert!(tokio::time::timeout(Duration::from_secs(3600), idle)
            .await
            .is_err());
    }
}
