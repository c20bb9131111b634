//! Detach keys (issue 17): read on an attached client's stdin, they let the client go (the
//! server closes its connection) and the container or exec goes on, as dockerd does for
//! sessions with a TTY: ctrl-p,ctrl-q by default, `detachKeys` on attach, `DetachKeys` on exec
//! create; a partial sequence is passed through; a session without a TTY passes the keys on.
//! Needs root and `cargo build --workspace` (see common/mod.rs).

use crate::common;

use common::{Berth, LIMIT};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// An upgraded connection, its head read.
struct Hijacked {
    s: UnixStream,
    /// What came after the head so far.
    out: Vec<u8>,
}

impl Hijacked {
    async fn open(b: &Berth, path: &str, body: &str) -> Hijacked {
        let mut s = UnixStream::connect(b.sock()).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut h = Hijacked { s, out: Vec::new() };
        let head = h.read_until(b"\r\n\r\n").await;
        let head = String::from_utf8_lossy(&head).into_owned();
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "POST {path}: expected a 101, got {head:?}"
        );
        h.out.clear();
        h
    }

    /// Read until `needle` has come; everything read so far.
    async fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        while !self.out.windows(needle.len()).any(|w| w == needle) {
            let n = tokio::time::timeout(LIMIT, self.s.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "waited {LIMIT:?} for {needle:?}, got {:?}",
                        String::from_utf8_lossy(&self.out)
                    )
                })
                .unwrap();
            assert!(
                n > 0,
                "the stream ended before {needle:?}: {:?}",
                String::from_utf8_lossy(&self.out)
            );
            self.out.extend_from_slice(&buf[..n]);
        }
        self.out.clone()
    }

    /// Send `keys`, one write each with a pause between (as typed).
    async fn type_keys(&mut self, keys: &[&[u8]]) {
        for k in keys {
            self.s.write_all(k).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// True when the server closes the stream within `wait` (what was read is kept).
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.s.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.out.extend_from_slice(&buf[..n]),
            }
        }
    }
}

async fn running(b: &Berth, id: &str) -> bool {
    b.inspect(id).await["State"]["Running"] == true
}

async fn events_named(b: &Berth, name: &str) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = b.get(&format!("/events?since=0&until={now}")).await;
    assert_eq!(r.status, StatusCode::OK, "events: {}", r.text());
    r.text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["Action"] == name)
        .collect()
}

const ATTACH: &str = "attach?stream=1&stdin=1&stdout=1&stderr=1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_with_a_tty_detaches_on_the_keys_and_the_container_goes_on() {
    let b = Berth::with_busybox().await;
    let config = json!({"Image": "busybox", "Cmd": ["cat"], "Tty": true, "OpenStdin": true});
    let id = b.run(None, &config).await;

    // The default, typed key by key.
    let mut a = Hijacked::open(&b, &format!("/containers/{id}/{ATTACH}"), "").await;
    a.type_keys(&[b"one\n"]).await;
    a.read_until(b"one\r\n").await;
    a.type_keys(&[b"\x10", b"\x11"]).await;
    assert!(
        a.ends_within(LIMIT).await,
        "ctrl-p ctrl-q did not end the attach: {:?}",
        String::from_utf8_lossy(&a.out)
    );
    assert!(running(&b, &id).await, "the container stopped on detach");

    // The default sequence in one write, after other input.
    let mut a = Hijacked::open(&b, &format!("/containers/{id}/{ATTACH}"), "").await;
    a.type_keys(&[b"two\n\x10\x11"]).await;
    assert!(
        a.ends_within(LIMIT).await,
        "ctrl-p ctrl-q in one write did not detach"
    );
    assert!(running(&b, &id).await, "the container stopped on detach");

    // A custom sequence; a partial one (its first key, then another) is passed through.
    let path = format!("/containers/{id}/{ATTACH}&detachKeys=ctrl-a,x");
    let mut a = Hijacked::open(&b, &path, "").await;
    a.type_keys(&[b"\x10", b"z", b"\x01", b"y\n"]).await;
    // The terminal echoes what cat got (^Pz^Ay), then cat's own copy of the bytes.
    a.read_until(b"\x10z\x01y\r\n").await;
    assert!(
        !a.ends_within(Duration::from_millis(300)).await,
        "the default keys detached where ctrl-a,x was asked for"
    );
    a.type_keys(&[b"\x01", b"x"]).await;
    assert!(a.ends_within(LIMIT).await, "ctrl-a x did not detach");
    assert!(running(&b, &id).await, "the container stopped on detach");

    let detaches = events_named(&b, "detach").await;
    assert_eq!(
        detaches.len(),
        3,
        "one detach event per detach, as dockerd logs them: {detaches:?}"
    );
    assert_eq!(detaches[0]["id"], id.as_str(), "{detaches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_without_a_tty_passes_the_keys_on() {
    let b = Berth::with_busybox().await;
    let config = json!({"Image": "busybox", "Cmd": ["cat"], "OpenStdin": true});
    let id = b.run(None, &config).await;
    let mut a = Hijacked::open(&b, &format!("/containers/{id}/{ATTACH}"), "").await;
    a.type_keys(&[b"\x10", b"\x11", b"\n"]).await;
    a.read_until(b"\x11").await;
    assert!(
        !a.ends_within(Duration::from_millis(300)).await,
        "a session without a TTY detached"
    );
    assert!(running(&b, &id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_detach_keys_get_dockerds_errors() {
    let b = Berth::with_busybox().await;
    let config = json!({"Image": "busybox", "Cmd": ["cat"], "Tty": true, "OpenStdin": true});
    let id = b.run(None, &config).await;
    for spec in ["ctrl-", "ctrl-A", "ab", "ctrl-p,,ctrl-q"] {
        let r = b
            .post(&format!(
                "/containers/{id}/{ATTACH}&detachKeys={}",
                common::encode(spec)
            ))
            .await;
        r.assert_error(
            400,
            &format!("Invalid detach keys ({spec}) provided"),
            "attach with bad detachKeys",
        );
        let r = b
            .post_json(
                &format!("/containers/{id}/exec"),
                &json!({"Cmd": ["true"], "DetachKeys": spec}),
            )
            .await;
        // dockerd answers a plain error: 500.
        r.assert_error(
            500,
            &format!("Invalid escape keys ({spec}) provided"),
            "exec create with bad DetachKeys",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_with_a_tty_detaches_on_its_keys_and_goes_on() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
        .await;
    // docker-py spells the key `detachKeys`.
    for (spec, keys, key) in [
        ("", [b"\x10", b"\x11"], "DetachKeys"),
        ("ctrl-a,x", [b"\x01", b"x"], "DetachKeys"),
        ("ctrl-a,x", [b"\x01", b"x"], "detachKeys"),
    ] {
        let mut config = json!({"Cmd": ["cat"], "Tty": true, "AttachStdin": true,
                                "AttachStdout": true, "AttachStderr": true});
        config[key] = json!(spec);
        let r = b
            .post_json(&format!("/containers/{id}/exec"), &config)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let exec = r.json()["Id"].as_str().unwrap().to_string();
        let inspect = b.get(&format!("/exec/{exec}/json")).await.json();
        let want = if spec.is_empty() { "" } else { "AXg=" };
        assert_eq!(
            inspect["DetachKeys"], want,
            "dockerd shows the keys' bytes in base64: {inspect}"
        );
        let mut a = Hijacked::open(
            &b,
            &format!("/exec/{exec}/start"),
            r#"{"Detach":false,"Tty":true}"#,
        )
        .await;
        a.type_keys(&[b"hi\n"]).await;
        a.read_until(b"hi\r\nhi\r\n").await;
        a.type_keys(&[keys[0].as_slice(), keys[1].as_slice()]).await;
        assert!(
            a.ends_within(LIMIT).await,
            "keys {spec:?} did not end the exec's attach: {:?}",
            String::from_utf8_lossy(&a.out)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let inspect = b.get(&format!("/exec/{exec}/json")).await.json();
        assert_eq!(
            inspect["Running"], true,
            "the exec goes on after its client detached: {inspect}"
        );
    }
    let detaches = events_named(&b, "exec_detach").await;
    assert_eq!(detaches.len(), 3, "an exec_detach event each: {detaches:?}");
}
