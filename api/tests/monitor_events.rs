//! The eBPF monitor's process and security events on `GET /events` of a real `berth serve`: a
//! container running `ls`, `mount`, `nc`, a read of /etc/shadow, a setuid chmod and a kill
//! yields them with the container's id, pid, comm, args and return value; two live readers
//! both get every one; events of a container that ran while no API process was alive are in
//! the log after a restart. Needs root, a kernel that loads the programs and
//! `cargo build --workspace` first.

use crate::common;

use common::{encode, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the container does, every line a security-relevant call (the connect is refused:
/// nothing listens on port 9 of its own loopback). The mount needs CAP_SYS_ADMIN: without
/// it the seccomp filter refuses the call before any tracepoint sees it.
const WORKLOAD: &str = "ls / >/dev/null; \
    mount -t tmpfs berth-src /tmp; \
    cat /etc/shadow >/dev/null 2>&1; \
    nc 127.0.0.1 9 </dev/null 2>/dev/null; \
    touch /tmp/f; chmod u+s /tmp/f; \
    sleep 30 & kill -9 $!; wait; exit 3";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn attr<'a>(e: &'a Value, k: &str) -> &'a str {
    e["Actor"]["Attributes"][k].as_str().unwrap_or("")
}

/// Checks that `evs` (the events of container `id`) hold what WORKLOAD does.
fn assert_workload(evs: &[Value], id: &str, what: &str) {
    let find = |kind: &str, action: &str, pred: &dyn Fn(&Value) -> bool| {
        evs.iter()
            .find(|e| e["Type"] == kind && e["Action"] == action && pred(e))
            .unwrap_or_else(|| panic!("{what}: no {kind} {action} as expected among {evs:#?}"))
    };
    // busybox sh runs `ls` in a fork, without an exec.
    let ls = find("process", "exit", &|e| attr(e, "comm") == "ls");
    assert_eq!(ls["Actor"]["ID"], id, "{ls}");
    find("process", "exec", &|e| attr(e, "args") == "nc 127.0.0.1 9");
    assert_eq!(attr(ls, "name"), "sec", "{ls}");
    assert!(attr(ls, "pid").parse::<u32>().is_ok(), "{ls}");
    let m = find("syscall", "mount", &|e| attr(e, "source") == "berth-src");
    assert_eq!(
        (attr(m, "target"), attr(m, "fstype"), attr(m, "ret")),
        ("/tmp", "tmpfs", "0"),
        "{m}"
    );
    assert_eq!(attr(m, "comm"), "mount", "{m}");
    assert!(attr(m, "tid").parse::<u32>().is_ok(), "{m}");
    let o = find("syscall", "openat", &|e| attr(e, "path") == "/etc/shadow");
    assert_eq!(attr(o, "comm"), "cat", "{o}");
    let c = find("syscall", "connect", &|e| attr(e, "port") == "9");
    assert_eq!(
        (attr(c, "addr"), attr(c, "error"), attr(c, "comm")),
        ("127.0.0.1", "ECONNREFUSED", "nc"),
        "{c}"
    );
    // busybox calls chmod(2), coreutils fchmodat(2).
    let ch = evs
        .iter()
        .find(|e| e["Type"] == "syscall" && attr(e, "path") == "/tmp/f")
        .unwrap_or_else(|| panic!("{what}: no chmod of /tmp/f among {evs:#?}"));
    assert!(
        ch["Action"] == "chmod" || ch["Action"] == "fchmodat",
        "{ch}"
    );
    assert_eq!((attr(ch, "mode"), attr(ch, "ret")), ("4644", "0"), "{ch}");
    // The runtime's own set-up (the shim mounting the container's root) is not the
    // container's doing.
    assert!(
        !evs.iter().any(|e| attr(e, "comm") == "berth-shim"),
        "{what}: the runtime's set-up reported: {evs:#?}"
    );
    let k = find("syscall", "kill", &|e| attr(e, "sig") == "9");
    assert_eq!(attr(k, "ret"), "0", "{k}");
    find("process", "fork", &|_| true);
    let exit = find("process", "exit", &|e| attr(e, "exitCode") == "3");
    assert_eq!(attr(exit, "comm"), "sh", "{exit}");
    for e in evs {
        assert_eq!(e["Actor"]["ID"], id, "{e}");
        assert!(
            e["time"].as_i64().is_some() && e["timeNano"].as_i64().is_some(),
            "{e}"
        );
    }
}

/// Reads a live `/events` body (container `sec`) from `since` until its `die` event.
async fn follow(b: &Berth, since: u64) -> Vec<Value> {
    let filters = encode(r#"{"container":["sec"]}"#);
    b.follow_events(&format!("/events?since={since}&filters={filters}"), |evs| {
        evs.iter()
            .any(|e| e["Type"] == "container" && e["Action"] == "die")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_reach_two_readers_and_survive_the_api() {
    let mut b = Berth::with_busybox().await;
    let config = json!({
        "Image": "busybox",
        "Labels": {"berth.monitor": "all"},
        "Cmd": ["sh", "-c", WORKLOAD],
        "HostConfig": {"CapAdd": ["SYS_ADMIN"]},
    });
    let id = b.create(Some("sec"), &config).await;
    {
        let b = std::sync::Arc::new(&b);
        // From before the start: a reader that opens the log late misses nothing.
        let since = now();
        let readers = [follow(&b, since), follow(&b, since)];
        let start = async {
            let r = b.post("/containers/sec/start").await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        };
        let (got, ()) = tokio::join!(futures_join(readers), start);
        let [one, two] = got;
        let monitor = |evs: &[Value]| -> Vec<Value> {
            evs.iter()
                .filter(|e| e["Type"] != "container")
                .cloned()
                .collect()
        };
        assert_workload(&monitor(&one), &id, "the first reader");
        assert_eq!(
            monitor(&one),
            monitor(&two),
            "the two readers saw different events"
        );
    }
    assert_eq!(b.wait(&id).await, 3);
    // The refused connect went over the container's loopback: a SYN out, a RST in.
    let v = b.get("/containers/sec/syscalls").await.json();
    let net = &v["Network"];
    assert!(
        net["TxPackets"].as_u64() >= Some(1) && net["RxPackets"].as_u64() >= Some(1),
        "packets of the connect: {v}"
    );
    assert!(net["TxBytes"].as_u64() >= Some(40), "{v}");
    let connects = v["Syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "connect")
        .unwrap_or_else(|| panic!("no connect counted: {v}"));
    assert!(connects["Errors"].as_u64() >= Some(1), "{v}");

    // With the default label (security), no process events; all events written while no API
    // process lived are read after a restart.
    let since = now();
    let late = b
        .run(
            Some("late"),
            &json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c", "sleep 1; mount -t tmpfs late-src /tmp; exit 0"],
                "HostConfig": {"CapAdd": ["SYS_ADMIN"]},
            }),
        )
        .await;
    b.kill_server();
    // The container ends while no API process exists; its shim goes once it has logged that.
    common::eventually("the container's shim to exit", || !b.shim_alive(&late));
    b.serve();
    let filters = encode(r#"{"container":["late"]}"#);
    let r = b
        .get(&format!(
            "/events?since={since}&until={}&filters={filters}",
            now() + 1
        ))
        .await;
    let evs: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                e["Type"].as_str().unwrap().into(),
                e["Action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        evs.iter().any(|e| e["Action"] == "mount"
            && attr(e, "source") == "late-src"
            && e["Actor"]["ID"] == late),
        "the mount made while no API lived: {actions:?}"
    );
    assert!(
        !evs.iter().any(|e| e["Type"] == "process"),
        "process events without asking: {actions:?}"
    );
    assert!(
        actions.contains(&("container".into(), "die".into())),
        "{actions:?}"
    );

    // A label that names no events is refused at create.
    let r = b
        .call(
            "POST",
            "/containers/create",
            serde_json::to_vec(
                &json!({"Image": "busybox", "Labels": {"berth.monitor": "exec,bogus"}}),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("bogus"), "{}", r.text());
}

async fn futures_join<F: std::future::Future>(fs: [F; 2]) -> [F::Output; 2] {
    let [a, b] = fs;
    let (a, b) = tokio::join!(a, b);
    [a, b]
}
