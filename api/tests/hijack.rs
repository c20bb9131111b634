//! Hijacked streams start only once the client has read the `101` head: docker-py reads the
//! stream straight from the socket under its buffered HTTP reader, so stream bytes that reach
//! it together with the head are lost to it (docker/docker-py#3332: exec_run's output empty).
//! Needs root and `cargo build --workspace` (see common/mod.rs).

// Each test binary uses part of the shared helpers.
#[allow(dead_code)]
mod common;

use common::{frames, stream_text, Berth, LIMIT};
use hyper::StatusCode;
use serde_json::json;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_output_waits_until_the_client_has_read_the_101_head() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            Some("hj"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}),
        )
        .await;
    let r = b
        .post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": ["sh", "-c", "echo py; exit 3"], "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();

    let mut s = tokio::net::UnixStream::connect(b.sock()).await.unwrap();
    let body = r#"{"Detach":false,"Tty":false}"#;
    let head = format!(
        "POST /v1.47/exec/{exec}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // A slow client: the exec has written its output and ended before the first read.
    let deadline = Instant::now() + LIMIT;
    loop {
        let v = b.get(&format!("/exec/{exec}/json")).await.json();
        if v["Running"] == false && v["ExitCode"] == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the exec never ended: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // One read, as docker-py's HTTP reader does: it must hold the head and nothing more.
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).await.unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        first.starts_with("HTTP/1.1 101") && first.ends_with("\r\n\r\n"),
        "the first read held more than the head: {first:?}"
    );
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut rest))
        .await
        .expect("the stream ends with the exec")
        .unwrap();
    assert_eq!(stream_text(&frames(&rest), 1), "py\n", "{rest:?}");
}
