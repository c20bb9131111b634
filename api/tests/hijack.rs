//! Hijacked streams start only once the client has read the `101` head: docker-py reads the
//! stream straight from the socket under its buffered HTTP reader, so stream bytes that reach
//! it together with the head are lost to it (docker/docker-py#3332: exec_run's output empty).
//! Needs root and `cargo build --workspace` (see common/mod.rs).

use crate::common;

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

/// A container that never reads its stdin, fed far more than a pipe holds by an attached
/// client, wedges nothing: its shim keeps answering, so stop and remove work at once, and a
/// second client that never reads its output does not hold up the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_never_reads_its_stdin_cannot_wedge_its_shim() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            Some("deaf"),
            &json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.01; done"],
                "OpenStdin": true,
            }),
        )
        .await;
    let attach = |stdin: bool| {
        let sock = b.sock();
        let id = id.clone();
        async move {
            let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
            let head = format!(
                "POST /containers/{id}/attach?stream=1&stdin={}&stdout=1 HTTP/1.1\r\n\
                 Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                u8::from(stdin)
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                s.read_exact(&mut byte).await.unwrap();
                got.push(byte[0]);
            }
            assert!(
                got.starts_with(b"HTTP/1.1 101"),
                "attach: {}",
                String::from_utf8_lossy(&got)
            );
            s
        }
    };
    // One client that writes 8 MiB the container never reads, and never reads its output.
    let feeder = attach(true).await;
    let (_feeder_out, mut feeder_in) = feeder.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..128 {
            if feeder_in.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    // Let the pipe and the shim's buffer fill.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !writer.is_finished(),
        "the container took 8 MiB of stdin it never reads"
    );
    // A second client still gets output while the first is stuck.
    let mut reader = attach(false).await;
    let mut got = Vec::new();
    while got.len() < 8 + 5 {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(LIMIT, reader.read(&mut buf))
            .await
            .expect("no output for a second client while the first fed stdin")
            .unwrap();
        assert!(n > 0, "the second client's stream ended");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        stream_text(&frames(&got[..8 + 5]), 1) == "tick\n",
        "the second client read {:?}",
        String::from_utf8_lossy(&got)
    );
    // The shim answers (a wedged one never would: the call would time out).
    let r = b.post(&format!("/containers/{id}/stop?t=1")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "stop: {}", r.text());
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "rm -f: {}", r.text());
    writer.abort();
}
