//! Response bodies produced by blocking engine work: the engine writes to a [`ChannelWriter`] on
//! a blocking thread, the client reads the other end as the body streams. A failure after the
//! first byte can only cut the stream short (the status line is gone), so the body ends with an
//! error and the client sees a truncated archive, as with dockerd.

use crate::engine::EngineError;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::io::{self, Write};
use tokio::sync::mpsc;

/// A `Write` whose bytes become a response body, in chunks of up to 256 KiB.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// End the body with an error (the client sees the stream cut).
    pub fn fail(mut self, e: &EngineError) {
        let _ = self.send();
        let _ = self.tx.blocking_send(Err(io::Error::other(e.to_string())));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// A streamed body of `content_type` written by `work` on a blocking thread.
pub fn streamed(
    content_type: &'static str,
    work: impl FnOnce(&mut ChannelWriter) -> Result<(), EngineError> + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<io::Result<bytes::Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match work(&mut w) {
            Ok(()) => drop(w),
            Err(e) => {
                // Logged here, where it is handled: the client only sees the stream cut.
                tracing::warn!("streamed response failed: {e}");
                w.fail(&e)
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response()
}

enum Progress {
    Line(serde_json::Value),
    Fail(EngineError),
}

/// dockerd's progress stream (pull, push): JSON lines as `work` reports them. A failure before
/// the first line is an ordinary HTTP error (dockerd answers 404 for an unknown image); after it,
/// the failure is the stream's last line, as `{"errorDetail":{"message":..},"error":..}`.
pub async fn progress(
    work: impl FnOnce(&mut dyn FnMut(serde_json::Value)) -> Result<(), EngineError> + Send + 'static,
) -> Response {
    let (tx, mut rx) = mpsc::channel::<Progress>(64);
    tokio::task::spawn_blocking(move || {
        let line_tx = tx.clone();
        let mut send = move |v: serde_json::Value| {
            let _ = line_tx.blocking_send(Progress::Line(v));
        };
        if let Err(e) = work(&mut send) {
            let _ = tx.blocking_send(Progress::Fail(e));
        }
    });
    let first = match rx.recv().await {
        Some(Progress::Fail(e)) => return e.into_response(),
        Some(Progress::Line(v)) => Some(v),
        None => None,
    };
    let line = |v: serde_json::Value| {
        let mut b = v.to_string().into_bytes();
        b.push(b'\n');
        Ok::<_, io::Error>(bytes::Bytes::from(b))
    };
    let head = futures_util::stream::iter(first.map(line));
    let rest = futures_util::stream::unfold(rx, move |mut rx| async move {
        let item = match rx.recv().await? {
            Progress::Line(v) => v,
            Progress::Fail(e) => {
                let m = e.to_string();
                let mut detail = serde_json::json!({"message": m});
                // A build step's exit code, as dockerd reports a failed RUN.
                if let Some(code) = e.exit_code() {
                    detail["code"] = code.into();
                }
                serde_json::json!({"errorDetail": detail, "error": m})
            }
        };
        Some((line(item), rx))
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rest));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A request body as a blocking reader, for engine work on a blocking thread.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl BodyReader {
    pub fn new(body: axum::body::Body) -> BodyReader {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut s = body.into_data_stream();
            while let Some(chunk) = futures_util::StreamExt::next(&mut s).await {
                let item = chunk.map_err(io::Error::other);
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        BodyReader {
            rx,
            cur: bytes::Bytes::new(),
        }
    }
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.cur = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}
