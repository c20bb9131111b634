//! `POST /containers/{id}/policy` and the `berth.policy.*` labels of a real `berth serve`: a
//! policy added while a container runs kills `mkdir` in it and not in its neighbour; a denied
//! destination refuses `connect` (on the container's own loopback) while an allowed one works;
//! both leave `policy` events; deny-connect rules also refuse raw sockets. Needs root, a kernel that loads the programs and
//! `cargo build --workspace` first.

use crate::common;

use common::{encode, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs `cmd` in container `id` through the exec API; its exit code.
async fn exec(b: &Berth, id: &str, cmd: &[&str]) -> i64 {
    let r = b
        .post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": cmd, "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let r = b
        .post_json(&format!("/exec/{exec_id}/start"), &json!({"Detach": false}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = b.get(&format!("/exec/{exec_id}/json")).await.json();
    v["ExitCode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no exit code: {v}"))
}

async fn policy_events(b: &Berth, container: &str) -> Vec<Value> {
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let filters = encode(&format!(
        r#"{{"type":["policy"],"container":["{container}"]}}"#
    ));
    b.get(&format!("/events?since=0&until={until}&filters={filters}"))
        .await
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_set_at_run_time_kills_mkdir_here_and_not_next_door() {
    let b = Berth::with_busybox().await;
    let sleeper = json!({"Image": "busybox", "Cmd": ["sleep", "300"]});
    // Rules can be replaced at run time only in a container started with some (its seccomp
    // filter then refuses 32-bit calls, see a_policy_refuses_32_bit_system_calls): one that
    // denies a call the test never makes.
    let mut with_rules = sleeper.clone();
    with_rules["Labels"] = json!({"berth.policy.deny-syscalls": "acct"});
    let a = b.run(Some("pa"), &with_rules).await;
    let n = b.run(Some("pn"), &sleeper).await;
    assert_eq!(exec(&b, &a, &["mkdir", "/tmp/before"]).await, 0);

    let r = b
        .post_json(
            "/containers/pa/policy",
            &json!({"DenySyscalls": ["mkdir", "mkdirat"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // SIGKILL: 128 + 9.
    assert_eq!(exec(&b, &a, &["mkdir", "/tmp/after"]).await, 137);
    assert_eq!(
        exec(&b, &n, &["mkdir", "/tmp/after"]).await,
        0,
        "the neighbour"
    );
    assert_eq!(
        exec(&b, &a, &["touch", "/tmp/file"]).await,
        0,
        "other calls"
    );
    let evs = policy_events(&b, "pa").await;
    let kill = evs
        .iter()
        .find(|e| e["Action"] == "kill")
        .unwrap_or_else(|| panic!("no policy kill event: {evs:#?}"));
    assert_eq!(kill["Actor"]["ID"], a, "{kill}");
    assert_eq!(kill["Actor"]["Attributes"]["comm"], "mkdir", "{kill}");
    assert!(
        kill["Actor"]["Attributes"]["syscall"]
            .as_str()
            .is_some_and(|s| s.starts_with("mkdir")),
        "{kill}"
    );
    assert_eq!(policy_events(&b, "pn").await, Vec::<Value>::new());

    // Lifted again, still without a restart.
    let r = b.post_json("/containers/pa/policy", &json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(exec(&b, &a, &["mkdir", "/tmp/lifted"]).await, 0);

    // Bad rules: a 400 naming them; an unknown container: 404.
    let r = b
        .post_json("/containers/pa/policy", &json!({"DenySyscalls": ["mkdr"]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("mkdr"), "{}", r.text());
    let r = b
        .post_json(
            "/containers/pa/policy",
            &json!({"DenyConnect": ["10.0.0.0/99"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    b.post_json("/containers/nosuch/policy", &json!({}))
        .await
        .assert_error(404, "No such container: nosuch", "an unknown container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_destination_refuses_connect() {
    let b = Berth::with_busybox().await;
    // Two listeners on the container's own loopback; the label denies one port.
    let script = "nc -l -p 8081 >/dev/null & nc -l -p 8080 >/dev/null & sleep 0.3; \
        echo hi | nc 127.0.0.1 8081 && echo allowed-ok; \
        echo hi | nc 127.0.0.1 8080; echo denied-rc=$?";
    let id = b
        .run(
            Some("pc"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", script],
                    "Labels": {"berth.policy.deny-connect": "127.0.0.1:8080"}}),
        )
        .await;
    b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let out: String = common::frames(&r.body)
        .into_iter()
        .map(|(_, d)| String::from_utf8_lossy(&d).into_owned())
        .collect();
    assert!(out.contains("allowed-ok"), "logs: {out}");
    assert!(out.contains("denied-rc=1"), "logs: {out}");
    assert!(out.contains("Operation not permitted"), "logs: {out}");
    let evs = policy_events(&b, "pc").await;
    let refuse = evs
        .iter()
        .find(|e| e["Action"] == "refuse")
        .unwrap_or_else(|| panic!("no policy refuse event: {evs:#?}"));
    assert_eq!(refuse["Actor"]["Attributes"]["port"], "8080", "{refuse}");
    assert_eq!(
        refuse["Actor"]["Attributes"]["addr"], "127.0.0.1",
        "{refuse}"
    );

    // A label with a bad rule is refused at create.
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Labels": {"berth.policy.deny-syscalls": "nosuchcall"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

/// A UDP datagram sent with an address (sendto on an unconnected socket, which never calls
/// connect) to a denied destination is refused with EPERM and a refuse event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_destination_refuses_udp_sendto() {
    let b = Berth::with_busybox().await;
    let tools = tempfile::tempdir().unwrap();
    let bind = format!(
        "{}:/udpsend:ro",
        common::static_helper("udpsend", tools.path()).display()
    );
    let script = "/udpsend recv 8081 & /udpsend recv 8080 & sleep 0.3; \
        /udpsend 127.0.0.1 8081 allowed-datagram; /udpsend 127.0.0.1 8080 denied-datagram; \
        echo denied-rc=$?; wait";
    let id = b
        .run(
            Some("pu"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", script],
                    "HostConfig": {"Binds": [bind]},
                    "Labels": {"berth.policy.deny-connect": "127.0.0.1:8080"}}),
        )
        .await;
    b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let out: String = common::frames(&r.body)
        .into_iter()
        .map(|(_, d)| String::from_utf8_lossy(&d).into_owned())
        .collect();
    assert!(
        out.contains("allowed-datagram"),
        "expected the datagram to the allowed port received; logs: {out}"
    );
    assert!(
        out.contains("sendto: Operation not permitted") && out.contains("denied-rc=1"),
        "expected sendto to the denied 127.0.0.1:8080 refused with EPERM; logs: {out}"
    );
    assert!(
        !out.contains("denied-datagram"),
        "expected nothing received on the denied port; logs: {out}"
    );
    let evs = policy_events(&b, "pu").await;
    let refuse = evs
        .iter()
        .find(|e| e["Action"] == "refuse")
        .unwrap_or_else(|| panic!("expected a policy refuse event for the datagram, got {evs:#?}"));
    let attrs = &refuse["Actor"]["Attributes"];
    assert_eq!(
        (&attrs["syscall"], &attrs["addr"], &attrs["port"]),
        (&json!("sendmsg"), &json!("127.0.0.1"), &json!("8080")),
        "{refuse}"
    );
}

/// An image's `berth.*` labels steer nothing: an image that says `berth.monitor=none` does not
/// turn off its containers' security events, one that denies `mkdir` kills nothing, and its
/// containers' labels carry neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_images_berth_labels_steer_nothing() {
    let b = Berth::with_busybox().await;
    let changes = [
        "LABEL berth.monitor=none",
        "LABEL berth.policy.deny-syscalls=mkdir",
        "LABEL berth.net.egress=8kbit",
        "LABEL mine=kept",
    ];
    let query: String = changes
        .iter()
        .map(|c| format!("&changes={}", encode(c)))
        .collect();
    let r = b
        .call(
            "POST",
            &format!("/images/create?fromSrc=-&repo=labelled&tag=1{query}"),
            common::busybox_tar(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "importing: {}", r.text());
    let id = b
        .run(
            Some("steered"),
            &json!({
                "Image": "labelled:1",
                "Cmd": ["sh", "-c", "mkdir /tmp/made && { cat /etc/shadow 2>/dev/null; true; }"],
            }),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0, "the image's deny rule killed mkdir");
    let labels = &b.inspect(&id).await["Config"]["Labels"];
    assert_eq!(labels, &json!({"mine": "kept"}), "the container's labels");
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let filters = encode(&format!(r#"{{"type":["syscall"],"container":["{id}"]}}"#));
    let events: Vec<Value> = b
        .get(&format!("/events?since=0&until={until}&filters={filters}"))
        .await
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["Action"] == "openat" && e["Actor"]["Attributes"]["path"] == "/etc/shadow"),
        "the image turned the container's security events off: {events:#?}"
    );
}

/// Deny rules that cannot be put in force (here the monitor cannot load: its pins asked for
/// off bpffs) fail the start, with the cause: a policy never fails open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_cannot_be_enforced_fails_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Berth::with_busybox_and(common::ServeOptions {
        env: vec![(
            "BERTH_BPF_DIR".into(),
            tmp.path().join("not-bpffs").display().to_string(),
        )],
        ..Default::default()
    })
    .await;
    let id = b
        .create(
            None,
            &json!({
                "Image": "busybox",
                "Cmd": ["mkdir", "/tmp/x"],
                "Labels": {"berth.policy.deny-syscalls": "mkdir"},
            }),
        )
        .await;
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert!(
        r.status.is_server_error() && r.text().contains("deny policy cannot be enforced"),
        "a start with an unenforceable policy: {} {}",
        r.status,
        r.text()
    );
    let state = &b.inspect(&id).await["State"];
    assert_eq!(state["Running"], false, "{state}");
    // Without deny rules the same container runs, unwatched.
    let plain = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["mkdir", "/tmp/x"]}),
        )
        .await;
    assert_eq!(b.wait(&plain).await, 0);
}

/// A static i386 program, assembled here, that makes mkdir("/tmp/x32", 0755) through the
/// 32-bit compat entry (`int 0x80`, i386 number 39) and exits 0 the same way (number 1).
fn mkdir32(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("mkdir32.s");
    std::fs::write(
        &src,
        "    .section .rodata\n\
         path: .asciz \"/tmp/x32\"\n\
         \x20   .text\n\
         \x20   .globl _start\n\
         _start:\n\
         \x20   movl $39, %eax\n\
         \x20   movl $path, %ebx\n\
         \x20   movl $0755, %ecx\n\
         \x20   int $0x80\n\
         \x20   movl $1, %eax\n\
         \x20   xorl %ebx, %ebx\n\
         \x20   int $0x80\n",
    )
    .unwrap();
    let obj = dir.join("mkdir32.o");
    let out = dir.join("mkdir32");
    let st = std::process::Command::new("as")
        .arg("--32")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .status()
        .expect("as (binutils)");
    assert!(st.success(), "as --32 {}: {st}", src.display());
    let st = std::process::Command::new("ld")
        .args(["-m", "elf_i386", "-static", "-o"])
        .arg(&out)
        .arg(&obj)
        .status()
        .expect("ld (binutils)");
    assert!(st.success(), "ld -m elf_i386 {}: {st}", obj.display());
    out
}

/// The logs of a container that has ended, both streams.
async fn logs(b: &Berth, id: &str) -> String {
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    common::frames(&r.body)
        .into_iter()
        .map(|(_, d)| String::from_utf8_lossy(&d).into_owned())
        .collect()
}

/// A system call made through the 32-bit compat entry (`int 0x80`) carries the i386 table's
/// number, which the monitor's per-number deny rules do not name: a container with a deny
/// policy gets a seccomp filter that kills any call of a non-native architecture (SIGSYS, 128
/// + 31), so a 32-bit mkdir cannot get past `deny-syscalls=mkdir`. A container without a
/// policy keeps dockerd's filter, which runs 32-bit programs; a policy for such a container
/// while it runs is refused (409), since its filter lets the compat entry through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_refuses_32_bit_system_calls() {
    let b = Berth::with_busybox().await;
    let tools = tempfile::tempdir().unwrap();
    let bind = format!("{}:/mkdir32:ro", mkdir32(tools.path()).display());
    let script = "/mkdir32; echo rc=$?; test -d /tmp/x32 && echo x32-made; true";
    let run = |labels: Value| {
        json!({"Image": "busybox", "Cmd": ["sh", "-c", script],
               "HostConfig": {"Binds": [bind.clone()], "NetworkMode": "none"}, "Labels": labels})
    };

    let denied = b
        .run(
            Some("deny32"),
            &run(json!({"berth.policy.deny-syscalls": "mkdir"})),
        )
        .await;
    b.wait(&denied).await;
    let out = logs(&b, &denied).await;
    assert!(
        out.contains("rc=159") && !out.contains("x32-made"),
        "expected the 32-bit mkdir killed by seccomp (rc=159) and no /tmp/x32; logs: {out}"
    );

    // Privileged, which dockerd runs without a seccomp filter: it gets one that checks the
    // architecture only.
    let mut privileged = run(json!({"berth.policy.deny-syscalls": "mkdir"}));
    privileged["HostConfig"]["Privileged"] = json!(true);
    let id = b.run(Some("privileged32"), &privileged).await;
    b.wait(&id).await;
    let out = logs(&b, &id).await;
    assert!(
        out.contains("rc=159") && !out.contains("x32-made"),
        "expected the 32-bit mkdir of a privileged container with a policy killed (rc=159) \
         and no /tmp/x32; logs: {out}"
    );

    let plain = b.run(Some("plain32"), &run(json!({}))).await;
    b.wait(&plain).await;
    let out = logs(&b, &plain).await;
    assert!(
        out.contains("rc=0") && out.contains("x32-made"),
        "expected the 32-bit program to run without a policy (rc=0, /tmp/x32 made); logs: {out}"
    );

    let sleeper = json!({"Image": "busybox", "Cmd": ["sleep", "300"],
                         "HostConfig": {"Binds": [bind.clone()], "NetworkMode": "none"}});
    b.run(Some("sleeper32"), &sleeper).await;
    let path = "/containers/sleeper32/policy";
    let rules = json!({"DenySyscalls": ["mkdir"]});
    b.post_json(path, &rules)
        .await
        .assert_error(
            409,
            "container sleeper32 was started without a deny policy: its seccomp filter lets 32-bit system calls through, which the deny rules would not cover; set the policy at create with the labels berth.policy.deny-syscalls and berth.policy.deny-connect, or stop the container, set it and start it again",
            "a policy for a running container without one",
        );
    // Lifting nothing is harmless.
    let r = b.post_json(path, &json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        exec(&b, "sleeper32", &["/mkdir32"]).await,
        0,
        "expected a 32-bit mkdir in the policy-less container to succeed"
    );

    // Set while it is stopped, the rules apply at the next start, with the native-only filter
    // (an exec's filter is the container's).
    let r = b.post("/containers/sleeper32/stop?t=0").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = b.post_json(path, &rules).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = b.post("/containers/sleeper32/start").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        exec(&b, "sleeper32", &["rmdir", "/tmp/x32"]).await,
        0,
        "removing the directory made before the stop"
    );
    assert_eq!(
        exec(&b, "sleeper32", &["/mkdir32"]).await,
        159,
        "expected the 32-bit mkdir killed by seccomp (SIGSYS) after a restart with the policy"
    );
    assert_eq!(
        exec(&b, "sleeper32", &["test", "-d", "/tmp/x32"]).await,
        1,
        "expected no /tmp/x32 after the refused 32-bit mkdir"
    );
    // Its filter now covers 32-bit calls: rules can change while it runs.
    let r = b
        .post_json(path, &json!({"DenySyscalls": ["mkdir", "acct"]}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

/// A raw socket writes its own headers and passes no connect or sendmsg check, so a container
/// with deny-connect rules may not open one (AF_INET or AF_INET6 SOCK_RAW, though CAP_NET_RAW
/// is in the default set): EPERM and a refuse event. Without rules the same sockets work, and
/// rules set or cleared while the container runs apply at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_connect_rules_refuse_raw_sockets() {
    let b = Berth::with_busybox().await;
    let tools = tempfile::tempdir().unwrap();
    let bind = format!(
        "{}:/rawsock:ro",
        common::static_helper("rawsock", tools.path()).display()
    );
    let run = |labels: Value, cmd: &[&str]| {
        json!({"Image": "busybox", "Cmd": cmd,
               "HostConfig": {"Binds": [bind.clone()]}, "Labels": labels})
    };

    let id = b
        .run(
            Some("rawdeny"),
            &run(
                json!({"berth.policy.deny-connect": "127.0.0.1/32"}),
                &["/rawsock"],
            ),
        )
        .await;
    let rc = b.wait(&id).await;
    let out = logs(&b, &id).await;
    assert!(
        rc == 1
            && out.contains("raw4: Operation not permitted")
            && out.contains("raw6: Operation not permitted"),
        "expected AF_INET and AF_INET6 raw sockets refused with EPERM under deny-connect \
         127.0.0.1/32 (rc=1); got rc={rc}, logs: {out}"
    );
    // Frames on a packet socket pass no hook of the rules either: its seccomp filter refuses
    // AF_PACKET to a container started with deny-connect rules.
    assert!(
        out.contains("packet: Operation not permitted"),
        "expected AF_PACKET refused with EPERM under deny-connect 127.0.0.1/32; logs: {out}"
    );
    let evs = policy_events(&b, "rawdeny").await;
    let refuse = evs
        .iter()
        .find(|e| e["Action"] == "refuse" && e["Actor"]["Attributes"]["family"] == "AF_INET")
        .unwrap_or_else(|| {
            panic!("expected a refuse event for the AF_INET raw socket, got {evs:#?}")
        });
    let attrs = &refuse["Actor"]["Attributes"];
    assert_eq!(
        (
            &attrs["syscall"],
            &attrs["type"],
            &attrs["protocol"],
            &attrs["error"]
        ),
        (
            &json!("socket"),
            &json!("SOCK_RAW"),
            &json!("1"),
            &json!("EPERM")
        ),
        "{refuse}"
    );

    let id = b.run(Some("rawfree"), &run(json!({}), &["/rawsock"])).await;
    let rc = b.wait(&id).await;
    let out = logs(&b, &id).await;
    assert!(
        rc == 0
            && out.contains("raw4 sent")
            && out.contains("raw6 open")
            && out.contains("packet open"),
        "expected raw sockets to work without a deny-connect rule (rc=0); got rc={rc}, logs: {out}"
    );

    // Rules set while the container runs (it was started with a policy, so it may get more).
    let id = b
        .run(
            Some("rawlive"),
            &run(
                json!({"berth.policy.deny-syscalls": "acct"}),
                &["sleep", "300"],
            ),
        )
        .await;
    assert_eq!(
        exec(&b, &id, &["/rawsock"]).await,
        0,
        "expected raw sockets to work before any deny-connect rule"
    );
    let path = format!("/containers/{id}/policy");
    let r = b
        .post_json(
            &path,
            &json!({"DenySyscalls": ["acct"], "DenyConnect": ["10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        exec(&b, &id, &["/rawsock"]).await,
        1,
        "expected raw sockets refused at once after a deny-connect rule was added at run time"
    );
    let r = b.post_json(&path, &json!({"DenySyscalls": ["acct"]})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        exec(&b, &id, &["/rawsock"]).await,
        0,
        "expected raw sockets to work again once the deny-connect rules were removed"
    );
}
