//! The container API of a real `berth serve`, driven by a hyper 1 client over its unix socket:
//! status codes, headers and bodies where dockerd defines them
//! (/work/shared/reference/docker-api-inventory.md §3). Needs root; run
//! `cargo build --workspace` first so that `berth-shim` is next to `berth`.

use crate::common;

use bytes::Bytes;
use common::{connect, encode, frames, request, stream_text, Berth, LIMIT};
use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sh(script: &str) -> Value {
    json!({"Image": "busybox", "Cmd": ["sh", "-c", script]})
}

/// `State.FinishedAt` of an inspect body, as a time.
fn finished_at(v: &Value) -> SystemTime {
    let s = v["State"]["FinishedAt"].as_str().expect("no FinishedAt");
    humantime::parse_rfc3339_weak(s).unwrap_or_else(|e| panic!("FinishedAt {s:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_inspect_and_create_errors() {
    let b = Berth::with_busybox().await;
    let config = json!({"Image": "busybox", "Cmd": ["true"]});
    let r = b.post_json("/containers/create?name=web", &config).await;
    assert_eq!(r.status, StatusCode::CREATED, "create: {}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v = r.json();
    let keys: Vec<&String> = v.as_object().expect("not an object").keys().collect();
    assert_eq!(keys, ["Id", "Warnings"], "create body: {v}");
    assert_eq!(v["Warnings"], json!([]), "create body: {v}");
    let id = v["Id"].as_str().unwrap().to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "Id {id:?} is not 64 hex digits"
    );

    let i = b.inspect("web").await;
    assert_eq!(i["Id"], id.as_str(), "{i}");
    assert_eq!(i["Name"], "/web", "{i}");
    assert_eq!(i["State"]["Status"], "created", "{i}");
    assert_eq!(i["HostConfig"]["LogConfig"]["Type"], "json-file", "{i}");

    let r = b.post_json("/containers/create?name=web", &config).await;
    r.assert_error(
        409,
        &format!(
            "Conflict. The container name \"/web\" is already in use by container \"{id}\". \
             You have to remove (or rename) that container to be able to reuse that name."
        ),
        "create with a name in use",
    );

    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "nosuch", "Cmd": ["true"]}),
        )
        .await;
    r.assert_error(
        404,
        "No such image: nosuch:latest",
        "create from an unknown image",
    );

    let small = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 1024}});
    let r = b.post_json("/containers/create", &small).await;
    r.assert_error(
        400,
        "Minimum memory limit allowed is 6MB",
        "create with Memory 1024",
    );

    let r = b.call("POST", "/containers/create", "{\"Image\": ").await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "invalid JSON: {}",
        r.text()
    );
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        !message.is_empty(),
        "invalid JSON: no message in {}",
        r.text()
    );

    // The versioned paths reach the same routes.
    let r = b
        .post_json("/v1.47/containers/create?name=versioned", &config)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "versioned create: {}",
        r.text()
    );
    let vid = r.json()["Id"].as_str().unwrap().to_string();
    let r = b.get("/v1.47/containers/versioned/json").await;
    assert_eq!(r.status, StatusCode::OK, "versioned inspect: {}", r.text());
    assert_eq!(r.json()["Id"], vid.as_str());
    let r = b.get(&format!("/v1.47/containers/{id}/json")).await;
    assert_eq!(r.json()["Name"], "/web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_wait_stop_kill() {
    let b = Berth::with_busybox().await;
    let id = b.create(Some("five"), &sh("sleep 1; exit 5")).await;
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "start: {}", r.text());
    assert!(r.body.is_empty(), "204 with a body: {:?}", r.text());

    // A second start is a 304 with no body; the wait then goes on the same keep-alive
    // connection (as the CLI's does), which a stray byte after the 304 would break.
    let mut tx = connect(&b.sock()).await;
    let again = format!("/containers/{id}/start");
    let r = tx.send_request(request("POST", &again, Bytes::new())).await;
    let r = r.expect("second start");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "second start");
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty(), "304 with a body: {body:?}");

    // The head of the wait answer comes at once, the body only once the container has exited.
    tx.ready()
        .await
        .expect("the connection is not reusable after the 304");
    let path = format!("/containers/{id}/wait?condition=not-running");
    let head = tokio::time::timeout(
        Duration::from_secs(5),
        tx.send_request(request("POST", &path, Bytes::new())),
    )
    .await
    .expect("the wait headers did not come within 5 s")
    .expect("wait request");
    let head_at = SystemTime::now();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()
            .get("Content-Type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let body = tokio::time::timeout(LIMIT, head.into_body().collect())
        .await
        .expect("no wait body")
        .expect("wait body")
        .to_bytes();
    let body_at = SystemTime::now();
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("wait body {body:?} is not JSON: {e}"));
    assert_eq!(v, json!({"StatusCode": 5, "Error": null}), "wait body");

    let i = b.inspect(&id).await;
    assert_eq!(i["State"]["Status"], "exited", "{i}");
    assert_eq!(i["State"]["ExitCode"], 5, "{i}");
    let finished = finished_at(&i);
    assert!(
        head_at < finished,
        "wait headers came at {head_at:?}, after the exit at {finished:?}"
    );
    assert!(
        body_at >= finished,
        "wait body came at {body_at:?}, before the exit at {finished:?}"
    );

    let r = b.post(&format!("/containers/{id}/stop")).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_MODIFIED,
        "stop of an exited container: {}",
        r.text()
    );
    assert!(r.body.is_empty(), "304 with a body: {:?}", r.text());

    let r = b.post(&format!("/containers/{id}/kill")).await;
    r.assert_error(
        409,
        &format!("cannot kill container: {id}: container {id} is not running"),
        "kill of an exited container",
    );
    let r = b.post("/containers/five/kill").await;
    r.assert_error(
        409,
        &format!("cannot kill container: five: container {id} is not running"),
        "kill of an exited container by name",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_multiplexed_follow_and_tty() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &sh("echo out1; echo err1 >&2; echo out2"))
        .await;
    assert_eq!(b.wait(&id).await, 0);

    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "logs: {}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let f = frames(&r.body);
    assert_eq!(stream_text(&f, 1), "out1\nout2\n", "stdout frames: {f:?}");
    assert_eq!(stream_text(&f, 2), "err1\n", "stderr frames: {f:?}");
    assert!(f.iter().all(|(s, _)| *s == 1 || *s == 2), "{f:?}");

    let r = b.get(&format!("/containers/{id}/logs?stderr=1")).await;
    assert_eq!(frames(&r.body), [(2, b"err1\n".to_vec())]);

    // A bound that cannot be read is refused, not read as no bound (dockerd 20.10 answers 500
    // "strconv.ParseInt: ..." here; a client's bad input is a 400).
    for (q, bad) in [("since", "garbage"), ("until", "10m")] {
        let r = b
            .get(&format!("/containers/{id}/logs?stdout=1&{q}={bad}"))
            .await;
        r.assert_error(400, &format!("invalid timestamp: {bad:?}"), q);
    }
    let r = b.get(&format!("/containers/{id}/logs")).await;
    r.assert_error(
        400,
        "Bad parameters: you must choose at least one stream",
        "logs with neither stream",
    );

    // follow: lines come as they are written, and the stream ends when the container exits.
    let id = b
        .run(
            None,
            &sh("for i in 1 2 3 4; do echo line$i; sleep 0.5; done"),
        )
        .await;
    let mut tx = connect(&b.sock()).await;
    let path = format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1");
    let resp = tx
        .send_request(request("GET", &path, Bytes::new()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let (mut raw, mut arrivals) = (Vec::new(), Vec::new());
    let started = Instant::now();
    loop {
        let next = tokio::time::timeout(LIMIT, body.frame())
            .await
            .expect("logs?follow=1 did not end within 30 s of the container's exit");
        let Some(chunk) = next else { break };
        if let Ok(data) = chunk.expect("follow body").into_data() {
            raw.extend_from_slice(&data);
            arrivals.push(started.elapsed());
        }
    }
    let f = frames(&raw);
    assert_eq!(stream_text(&f, 1), "line1\nline2\nline3\nline4\n", "{f:?}");
    let spread = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        spread >= Duration::from_millis(700),
        "the lines came in one burst ({arrivals:?}), not as they were written"
    );
    let i = b.inspect(&id).await;
    assert_eq!(
        i["State"]["Running"], false,
        "follow ended before the exit: {i}"
    );

    // TTY: raw bytes, no frames, the pty's CRLF.
    let tty = json!({"Image": "busybox", "Cmd": ["echo", "hi"], "Tty": true});
    let id = b.run(None, &tty).await;
    assert_eq!(b.wait(&id).await, 0);
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "tty logs: {}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(r.text(), "hi\r\n", "tty logs");
}

/// `POST attach` with the hijack headers on its own connection: the 101 and the raw stream.
async fn attach(
    b: &Berth,
    id: &str,
    query: &str,
) -> hyper_util::rt::TokioIo<hyper::upgrade::Upgraded> {
    let mut tx = connect(&b.sock()).await;
    let req = hyper::Request::builder()
        .method("POST")
        .uri(format!("/containers/{id}/attach?{query}"))
        .header("Host", "docker")
        .header("Content-Type", "text/plain")
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(LIMIT, tx.send_request(req))
        .await
        .expect("no attach answer")
        .expect("attach request");
    assert_eq!(
        resp.status(),
        StatusCode::SWITCHING_PROTOCOLS,
        "attach {query}"
    );
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(
        h("Upgrade").as_deref(),
        Some("tcp"),
        "attach Upgrade header"
    );
    assert_eq!(
        h("Content-Type").as_deref(),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let upgraded = hyper::upgrade::on(resp).await.expect("upgrade");
    hyper_util::rt::TokioIo::new(upgraded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_hijack_stdin_to_stdout() {
    let b = Berth::with_busybox().await;
    let config = json!({
        "Image": "busybox", "Cmd": ["cat"],
        "OpenStdin": true, "StdinOnce": true,
        "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
    });
    let id = b.create(None, &config).await;
    let mut io = attach(&b, &id, "stream=1&stdin=1&stdout=1&stderr=1").await;
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "start after attach: {}",
        r.text()
    );

    io.write_all(b"hello\n").await.unwrap();
    io.shutdown()
        .await
        .expect("half-close of the attach connection");
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, io.read_to_end(&mut out))
        .await
        .expect("the attach stream did not end after stdin closed")
        .expect("reading the attach stream");
    let code = b.wait(&id).await;
    let logs = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let state = &b.inspect(&id).await["State"];
    assert_eq!(
        frames(&out),
        [(1, b"hello\n".to_vec())],
        "attach output (exit code {code}, logged {:?}, state {state})",
        frames(&logs.body)
    );
    assert_eq!(code, 0, "cat's exit code");
}

/// Count of the stdout lines logged so far.
async fn logged_lines(b: &Berth, id: &str) -> usize {
    let r = b.get(&format!("/containers/{id}/logs?stdout=1")).await;
    assert_eq!(r.status, StatusCode::OK, "logs: {}", r.text());
    stream_text(&frames(&r.body), 1).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_client_that_vanishes_leaves_the_container_alone() {
    let b = Berth::with_busybox().await;
    let mut config = sh("while :; do echo tick; sleep 0.1; done");
    config["OpenStdin"] = json!(true);
    let id = b.run(None, &config).await;
    let mut io = attach(&b, &id, "stream=1&stdin=1&stdout=1&stderr=1").await;
    let mut head = [0u8; 8];
    tokio::time::timeout(LIMIT, io.read_exact(&mut head))
        .await
        .expect("no output on the attach stream")
        .expect("reading the attach stream");
    assert_eq!(head[0], 1, "first frame is not stdout: {head:?}");
    drop(io);

    // Ten ticks more: the shim has written output past the client's end many times.
    let before = logged_lines(&b, &id).await;
    let deadline = Instant::now() + LIMIT;
    loop {
        let after = logged_lines(&b, &id).await;
        if after >= before + 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the logs stopped growing after the attach client went: {before} then {after} lines"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let i = b.inspect(&id).await;
    assert_eq!(
        i["State"]["Status"], "running",
        "after the attach client went: {i}"
    );
}

/// Ids of `GET path`, a list body.
async fn listed(b: &Berth, path: &str) -> HashSet<String> {
    let r = b.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text());
    let v = r.json();
    v.as_array()
        .unwrap_or_else(|| panic!("GET {path}: not a list: {v}"))
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_all_and_filters() {
    let b = Berth::with_busybox().await;
    let running = b.run(Some("running"), &sh("sleep 1000")).await;
    let exited = b.run(Some("exited"), &sh("true")).await;
    assert_eq!(b.wait(&exited).await, 0);
    let created = b.create(Some("created"), &sh("true")).await;
    let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>();

    assert_eq!(
        listed(&b, "/containers/json").await,
        set(&[&running]),
        "running only"
    );
    assert_eq!(
        listed(&b, "/containers/json?all=1").await,
        set(&[&running, &exited, &created]),
        "all=1"
    );
    for filters in [r#"{"status":["exited"]}"#, r#"{"status":{"exited":true}}"#] {
        let path = format!("/containers/json?all=1&filters={}", encode(filters));
        assert_eq!(
            listed(&b, &path).await,
            set(&[&exited]),
            "filters {filters}"
        );
    }
    let path = format!("/containers/json?filters={}", encode(r#"{"nosuch":["x"]}"#));
    b.get(&path)
        .await
        .assert_error(400, "invalid filter 'nosuch'", "an unknown filter key");

    // Newest first; limit keeps the newest; sizes only when asked, as numbers.
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|c| c["Id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let all = b.get("/containers/json?all=1").await.json();
    assert_eq!(
        ids(&all),
        [created.clone(), exited.clone(), running.clone()],
        "newest first: {all}"
    );
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("SizeRw").is_none()),
        "sizes unasked: {all}"
    );
    let sized = b.get("/containers/json?all=1&size=1").await.json();
    assert_eq!(
        ids(&sized),
        [created.clone(), exited.clone(), running.clone()],
        "{sized}"
    );
    for c in sized.as_array().unwrap() {
        assert!(
            c["SizeRw"].is_u64() && c["SizeRootFs"].is_u64(),
            "sizes asked: {c}"
        );
    }
    let r = b.get("/containers/json?all=1&limit=1&size=1").await;
    assert_eq!(
        ids(&r.json()),
        std::slice::from_ref(&created),
        "limit=1: {}",
        r.text()
    );
    // The keys in dockerd's order, as its clients see them in the text.
    let text = r.text();
    let keys = [
        "Id",
        "Names",
        "Image",
        "ImageID",
        "Command",
        "Created",
        "Ports",
        "SizeRw",
        "SizeRootFs",
        "Labels",
        "State",
        "Status",
        "HostConfig",
        "NetworkSettings",
        "Mounts",
    ];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing: {text}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "key order: {text}");
}

/// The one element of `GET /containers/json?all=1` with this id.
async fn list_entry(b: &Berth, id: &str) -> Value {
    let r = b.get("/containers/json?all=1").await;
    assert_eq!(r.status, StatusCode::OK, "list: {}", r.text());
    r.json()
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["Id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not listed: {}", r.text()))
}

/// The listing reads each container's summary file: it follows renames, shows labels and
/// mounts as dockerd does, and a summary left stale by a crash between the record's write and
/// its own is never believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_entries_follow_the_record() {
    let mut b = Berth::with_busybox().await;
    let id = b
        .create(
            Some("first"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1"], "Labels": {"tier": "web"},
                    "HostConfig": {"Binds": ["listvol:/data:ro"]}}),
        )
        .await;
    let e = list_entry(&b, &id).await;
    assert_eq!(e["Names"], json!(["/first"]), "{e}");
    assert_eq!(e["Command"], "sleep 1", "{e}");
    assert_eq!(e["Labels"], json!({"tier": "web"}), "{e}");
    assert_eq!(
        (&e["State"], &e["Status"]),
        (&json!("created"), &json!("Created")),
        "{e}"
    );
    let mounts = e["Mounts"].as_array().cloned().unwrap_or_default();
    assert_eq!(mounts.len(), 1, "one mount listed: {e}");
    assert_eq!(
        (
            &mounts[0]["Type"],
            &mounts[0]["Name"],
            &mounts[0]["Destination"],
            &mounts[0]["RW"]
        ),
        (
            &json!("volume"),
            &json!("listvol"),
            &json!("/data"),
            &json!(false)
        ),
        "{e}"
    );
    assert_eq!(
        mounts,
        b.inspect(&id).await["Mounts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    );

    let dir = b.root().join("containers").join(&id);
    let summary = dir.join("summary.json");
    let before = std::fs::read(&summary).expect("a summary is written with the container");
    let r = b.post("/containers/first/rename?name=second").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "rename: {}", r.text());
    assert_eq!(list_entry(&b, &id).await["Names"], json!(["/second"]));

    // The listing's cache follows the state too.
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "start: {}", r.text());
    assert_eq!(b.wait(&id).await, 0);
    let e = list_entry(&b, &id).await;
    assert_eq!(e["State"], "exited", "{e}");
    assert!(
        e["Status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Exited (0)"),
        "{e}"
    );

    // A crash right after the record's write leaves the old summary: it must not be shown,
    // by a server that has not seen the record before either.
    b.kill_server();
    b.serve();
    std::fs::write(&summary, &before).unwrap();
    assert_eq!(
        list_entry(&b, &id).await["Names"],
        json!(["/second"]),
        "a stale summary was believed"
    );
    // Nor a torn or missing one.
    std::fs::write(&summary, &before[..before.len() / 2]).unwrap();
    assert_eq!(list_entry(&b, &id).await["Names"], json!(["/second"]));
    std::fs::remove_file(&summary).unwrap();
    assert_eq!(list_entry(&b, &id).await["Names"], json!(["/second"]));
    let r = b
        .call("DELETE", &format!("/containers/{id}?v=1"), Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "remove: {}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_pause_unpause_remove() {
    let b = Berth::with_busybox().await;
    let id = b.run(Some("old"), &sh("sleep 1000")).await;
    let r = b.post("/containers/old/rename?name=new").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "rename: {}", r.text());
    assert_eq!(b.inspect("new").await["Id"], id.as_str());
    b.get("/containers/old/json").await.assert_error(
        404,
        "No such container: old",
        "inspect by the old name",
    );

    let r = b.post("/containers/new/pause").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "pause: {}", r.text());
    let i = b.inspect("new").await;
    assert_eq!(i["State"]["Paused"], true, "{i}");
    assert_eq!(i["State"]["Status"], "paused", "{i}");
    b.post("/containers/new/pause").await.assert_error(
        409,
        &format!("container {id} is already paused"),
        "pause of a paused container",
    );
    let r = b.post("/containers/new/unpause").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "unpause: {}", r.text());
    let i = b.inspect("new").await;
    assert_eq!(
        (&i["State"]["Paused"], &i["State"]["Status"]),
        (&json!(false), &json!("running"))
    );

    b.call("DELETE", "/containers/new", Bytes::new())
        .await
        .assert_error(
            409,
            "cannot remove container \"/new\": container is running: stop the container before \
         removing or force remove",
            "DELETE of a running container",
        );
    let r = b
        .call("DELETE", "/containers/new?force=1", Bytes::new())
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "DELETE ?force=1: {}",
        r.text()
    );
    b.get("/containers/new/json").await.assert_error(
        404,
        "No such container: new",
        "inspect after removal",
    );
    b.get(&format!("/containers/{id}/json")).await.assert_error(
        404,
        &format!("No such container: {id}"),
        "inspect by id after removal",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_outlive_a_sigkilled_api_process() {
    let mut b = Berth::with_busybox().await;
    let id = b.run(Some("survivor"), &sh("sleep 1000")).await;
    let before = b.inspect(&id).await;
    let pid = before["State"]["Pid"].as_i64().expect("no Pid");
    assert!(pid > 0, "{before}");

    b.kill_server();
    b.serve();
    let after = b.inspect(&id).await;
    assert_eq!(
        after["State"]["Status"], "running",
        "after the API was killed: {after}"
    );
    assert_eq!(after["State"]["Pid"], pid, "the Pid changed: {after}");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container process {pid} is gone"
    );

    let r = b.post(&format!("/containers/{id}/stop?t=1")).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "stop through the new server: {}",
        r.text()
    );
    let i = b.inspect(&id).await;
    assert_eq!(i["State"]["Status"], "exited", "{i}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_creates() {
    let b = std::sync::Arc::new(Berth::with_busybox().await);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move {
                let r = b.post_json("/containers/create", &sh("true")).await;
                (r.status, r.text())
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "parallel create: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        ids.insert(v["Id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 16, "ids are not distinct: {ids:?}");
    let mut names = HashSet::new();
    for id in &ids {
        let name = b.inspect(id).await["Name"].as_str().unwrap().to_string();
        assert!(
            name.len() > 1 && name.starts_with('/'),
            "generated name {name:?}"
        );
        names.insert(name);
    }
    assert_eq!(
        names.len(),
        16,
        "generated names are not distinct: {names:?}"
    );
}
