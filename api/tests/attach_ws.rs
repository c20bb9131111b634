//! `GET /containers/{id}/attach/ws`: the attach over a websocket, dockerd's way: the output
//! raw in messages (no multiplexing headers without a TTY), the client's messages the
//! container's stdin; a missing container is a plain 404 before any upgrade.
//! Needs root and `cargo build --workspace` (see common/mod.rs).

use crate::common;

use common::{Berth, LIMIT};
use futures_util::{SinkExt, StreamExt};
use hyper::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Attach to a fresh `read l; echo got:$l` container at `GET /{version}/containers/{id}/attach/ws
/// ?{query}`, send "hi\n", and return its output with whether it came in text messages.
async fn echo_through_websocket(version: &str, query: &str) -> (Vec<u8>, bool) {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            None,
            &json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c", "read l; echo got:$l"],
                "OpenStdin": true,
            }),
        )
        .await;
    let sock = tokio::net::UnixStream::connect(b.sock()).await.unwrap();
    let url = format!("ws://docker/{version}/containers/{id}/attach/ws?{query}");
    let (mut ws, resp) = tokio_tungstenite::client_async(url.as_str(), sock)
        .await
        .unwrap_or_else(|e| panic!("expected a websocket handshake on {url}, got {e}"));
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::binary(b"hi\n".to_vec())).await.unwrap();
    let (mut out, mut text) = (Vec::new(), false);
    loop {
        let msg = tokio::time::timeout(LIMIT, ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{url}: expected got:hi within {LIMIT:?}, had {:?}",
                    String::from_utf8_lossy(&out)
                )
            });
        match msg {
            Some(Ok(Message::Binary(d))) => out.extend_from_slice(&d),
            Some(Ok(Message::Text(t))) => {
                text = true;
                out.extend_from_slice(t.as_bytes());
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert_eq!(b.wait(&id).await, 0, "the container ends with its output");
    (out, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_attach_carries_stdin_in_and_raw_output_out() {
    let (out, text) = echo_through_websocket("v1.47", "stdin=1&stdout=1&stream=1").await;
    assert_eq!(
        out,
        b"got:hi\n",
        "expected the raw output got:hi (no multiplexing header), got {:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(!text, "expected binary messages at API 1.47, got text ones");
}

/// dockerd before API 1.42 attached stdin, stdout and stderr whatever the query said, and
/// before 1.28 sent text messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_attach_before_api_1_42_attaches_all_streams() {
    let (out, text) = echo_through_websocket("v1.41", "stream=1").await;
    assert_eq!(
        out,
        b"got:hi\n",
        "expected got:hi with no stream asked for at API 1.41, got {:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(!text, "expected binary messages at API 1.41, got text ones");
    let (out, text) = echo_through_websocket("v1.27", "stream=1").await;
    assert_eq!(
        out,
        b"got:hi\n",
        "API 1.27: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(text, "expected text messages at API 1.27, got binary ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_attach_to_a_missing_container_is_404_before_any_upgrade() {
    let b = Berth::start();
    let sock = tokio::net::UnixStream::connect(b.sock()).await.unwrap();
    let url = "ws://docker/v1.47/containers/nosuch/attach/ws?stdout=1&stream=1";
    match tokio_tungstenite::client_async(url, sock).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{resp:?}");
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            assert!(
                body.contains("No such container: nosuch"),
                "expected dockerd's message, got {body:?}"
            );
        }
        other => panic!("expected a 404 answer and no upgrade, got {other:?}"),
    }
}
