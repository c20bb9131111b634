//! Issue 17's exec and kill items: an exec's output framed by its start's `Tty` (dockerd's
//! rule; docker-py's exec_start(tty=False) of an exec made with a TTY read "hello ou" as a
//! frame header), `User` names resolved in the container's root, and a SIGKILL's answer coming
//! once the exit is recorded. Needs root and `cargo build --workspace` (see common/mod.rs).

use crate::common;

use common::{frames, stream_text, Berth, LIMIT};
use hyper::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Create an exec in `id`; its id.
async fn exec_create(b: &Berth, id: &str, config: &Value) -> String {
    let r = b.post_json(&format!("/containers/{id}/exec"), config).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "exec create {config}: {}",
        r.text()
    );
    r.json()["Id"].as_str().expect("no Id").to_string()
}

/// Start exec `exec` upgraded, as docker-py and the docker CLI do, with `start` as the body;
/// the head's content type and everything that came after the head.
async fn exec_start_upgraded(b: &Berth, exec: &str, start: &Value) -> (String, Vec<u8>) {
    let mut s = tokio::net::UnixStream::connect(b.sock()).await.unwrap();
    let body = start.to_string();
    let head = format!(
        "POST /exec/{exec}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut all))
        .await
        .expect("the stream ends with the exec")
        .unwrap();
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&all)))
        + 4;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "expected a 101, got {head:?}"
    );
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or_default()
        .to_string();
    (content_type, all[end..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_is_framed_by_its_starts_tty_not_its_own() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
        .await;
    let cmd = json!(["sh", "-c", "echo hello out; sleep 0.3; echo hello err >&2"]);

    // docker-py's exec_create(tty=True) then exec_start(tty=False): frames, as dockerd sends.
    let exec = exec_create(
        &b,
        &id,
        &json!({"Cmd": cmd, "Tty": true, "AttachStdout": true, "AttachStderr": true}),
    )
    .await;
    let (ctype, out) =
        exec_start_upgraded(&b, &exec, &json!({"Detach": false, "Tty": false})).await;
    assert_eq!(
        ctype, "application/vnd.docker.multiplexed-stream",
        "a start without Tty is multiplexed"
    );
    let f = frames(&out);
    assert_eq!(
        stream_text(&f, 1),
        "hello out\r\nhello err\r\n",
        "the terminal's output in stdout frames, got {:?}",
        String::from_utf8_lossy(&out)
    );

    // The same exec started with Tty: the raw terminal stream.
    let exec = exec_create(
        &b,
        &id,
        &json!({"Cmd": cmd, "Tty": true, "AttachStdout": true, "AttachStderr": true}),
    )
    .await;
    let (ctype, out) = exec_start_upgraded(&b, &exec, &json!({"Detach": false, "Tty": true})).await;
    assert_eq!(ctype, "application/vnd.docker.raw-stream");
    assert_eq!(out, b"hello out\r\nhello err\r\n", "raw terminal output");

    // An exec without a TTY started with Tty: both streams raw, unframed.
    let exec = exec_create(
        &b,
        &id,
        &json!({"Cmd": cmd, "AttachStdout": true, "AttachStderr": true}),
    )
    .await;
    let (ctype, out) = exec_start_upgraded(&b, &exec, &json!({"Detach": false, "Tty": true})).await;
    assert_eq!(ctype, "application/vnd.docker.raw-stream");
    assert_eq!(
        out,
        b"hello out\nhello err\n",
        "both streams raw, got {:?}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_user_names_resolve_in_the_containers_root() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
        .await;
    let add = "echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd && \
               echo app:x:1000: >> /etc/group && echo staff:x:50:app >> /etc/group";
    let exec = exec_create(&b, &id, &json!({"Cmd": ["sh", "-c", add]})).await;
    let (_, _) = exec_start_upgraded(&b, &exec, &json!({"Detach": false})).await;
    for (user, want) in [
        ("app", "1000 1000 1000 50"),
        ("app:staff", "1000 50 50"),
        ("1000:50", "1000 50 50"),
        ("nobody", "65534 65534 65534"),
        ("app:0", "1000 0 0"),
    ] {
        let exec = exec_create(
            &b,
            &id,
            &json!({"Cmd": ["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"], "User": user,
                    "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
        let (_, out) = exec_start_upgraded(&b, &exec, &json!({"Detach": false})).await;
        let f = frames(&out);
        assert_eq!(
            stream_text(&f, 1).trim(),
            want,
            "exec as {user:?}: uid gid groups, stderr {:?}",
            stream_text(&f, 2)
        );
    }
    // As dockerd checks it at create: a name the container lacks is a 400 in runc's words.
    for (user, want) in [
        (
            "bogus",
            "unable to find user bogus: no matching entries in passwd file",
        ),
        (
            "app:nogrp",
            "unable to find group nogrp: no matching entries in group file",
        ),
    ] {
        let r = b
            .post_json(
                &format!("/containers/{id}/exec"),
                &json!({"Cmd": ["id"], "User": user}),
            )
            .await;
        r.assert_error(400, want, &format!("exec create as {user}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_with_sigkill_answers_once_the_exit_is_recorded() {
    let b = Berth::with_busybox().await;
    for round in 0..5 {
        let id = b
            .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
            .await;
        let r = b.post(&format!("/containers/{id}/kill")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "kill: {}", r.text());
        let st = b.inspect(&id).await["State"].clone();
        assert!(
            st["Status"] == "exited" && st["ExitCode"] == 137 && st["Running"] == false,
            "round {round}: an inspect right after kill shows the exit (exited, 137), got {st}"
        );
        let r = b
            .post(&format!("/containers/{id}/kill?signal=SIGKILL"))
            .await;
        r.assert_error(
            409,
            &format!("cannot kill container: {id}: container {id} is not running"),
            "a second kill",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_console_size_from_create_and_from_start() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
        .await;
    for (start, want) in [
        (json!({"Detach": false, "Tty": true}), "20 70\r\n"),
        (
            json!({"Detach": false, "Tty": true, "ConsoleSize": [30, 100]}),
            "30 100\r\n",
        ),
    ] {
        let exec = exec_create(
            &b,
            &id,
            &json!({"Cmd": ["stty", "size"], "Tty": true, "AttachStdout": true,
                    "ConsoleSize": [20, 70]}),
        )
        .await;
        let (_, out) = exec_start_upgraded(&b, &exec, &start).await;
        assert_eq!(
            String::from_utf8_lossy(&out),
            want,
            "stty size in an exec started with {start}"
        );
    }
}
