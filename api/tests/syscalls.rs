//! `GET /containers/{id}/syscalls` of a real `berth serve`: the eBPF monitor's counts for a
//! container running a loop of 1000 `cat /dev/null`, read after it exited, and gone with it;
//! its 1001 execs of cat as `process` `exec` events on `/events`.
//! Needs root, a kernel that loads the programs and `cargo build --workspace` first.

use crate::common;

use common::{bpf_pins, Berth, ServeOptions};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn calls(v: &Value, name: &str) -> (u64, u64) {
    v["Syscalls"]
        .as_array()
        .unwrap_or_else(|| panic!("no Syscalls array: {v}"))
        .iter()
        .find(|r| r["Name"] == name)
        .map_or((0, 0), |r| {
            (r["Calls"].as_u64().unwrap(), r["Errors"].as_u64().unwrap())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syscalls_of_a_loop_of_1000_cats() {
    // Pins of its own: whether the all-syscalls hooks are attached is a state of the pin
    // directory, and this binary's other tests count in the shared one at the same time.
    let pins = bpf_pins::Own::new("syscalls");
    let b = Berth::with_busybox_and(ServeOptions {
        env: vec![("BERTH_BPF_DIR".into(), pins.path().display().to_string())],
        ..Default::default()
    })
    .await;
    let looping = json!({
        "Image": "busybox",
        "Labels": {"berth.monitor": "exec,counts"},
        "Cmd": ["sh", "-c", "for i in $(seq 1 1000); do cat /dev/null; done; cat /nonexistent 2>/dev/null; exit 0"],
    });
    let id = b.run(Some("loop"), &looping).await;
    assert_eq!(b.wait(&id).await, 0, "the loop failed");

    let r = b.get("/containers/loop/syscalls").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    for name in ["execve", "openat", "read", "close"] {
        let (n, _) = calls(&v, name);
        assert!(
            n > 1000,
            "{name}: {n} calls counted, expected > 1000 (1000 cats): {v}"
        );
    }
    let (_, errors) = calls(&v, "openat");
    assert!(
        errors >= 1,
        "the failed open of /nonexistent was not counted as an error: {v}"
    );
    assert_eq!(v["DroppedEvents"], 0, "{v}");
    let names: Vec<&str> = v["Syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("syscall_")),
        "unnamed calls: {names:?}"
    );

    // Its execs are on /events, drained by its shim, with the program and the container's name.
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let filters = common::encode(r#"{"type":["process"],"event":["exec"],"container":["loop"]}"#);
    let r = b
        .get(&format!("/events?since=0&until={until}&filters={filters}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let execs: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // busybox sh runs its applets through /proc/self/exe: argv names them.
    let args = |e: &Value| {
        e["Actor"]["Attributes"]["args"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let cats = execs.iter().filter(|e| args(e) == "cat /dev/null").count();
    assert_eq!(
        cats,
        1000,
        "exec events of `cat /dev/null`, of {} execs",
        execs.len()
    );
    assert!(
        execs.iter().any(|e| args(e) == "cat /nonexistent"),
        "no exec event of `cat /nonexistent`"
    );
    let e = &execs[0];
    assert_eq!(
        (&e["Type"], &e["Actor"]["ID"]),
        (&json!("process"), &json!(id)),
        "{e}"
    );
    assert_eq!(e["Actor"]["Attributes"]["name"], "loop", "{e}");
    assert!(e["Actor"]["Attributes"]["pid"].as_str().is_some(), "{e}");

    // Counts alone: counts but no exec events.
    let quiet = b
        .run(
            Some("quiet"),
            &json!({"Image": "busybox", "Labels": {"berth.monitor": "counts"},
                    "Cmd": ["sh", "-c", "cat /dev/null"]}),
        )
        .await;
    assert_eq!(b.wait(&quiet).await, 0);
    // Both have exited: the all-syscalls hooks are detached (nothing taxes the machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while berth_monitor::counting(&b.bpf_dir()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the all-syscalls hooks stayed attached with no container counting"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A container that does not ask for counts (no label: the default) does not attach them.
    let uncounted = b
        .run(
            Some("uncounted"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1"]}),
        )
        .await;
    assert!(
        !berth_monitor::counting(&b.bpf_dir()),
        "attached for a container without counts"
    );
    assert_eq!(b.wait(&uncounted).await, 0);
    let v = b.get("/containers/uncounted/syscalls").await.json();
    assert_eq!(v["Syscalls"], json!([]), "{v}");
    let v = b.get("/containers/quiet/syscalls").await.json();
    assert!(calls(&v, "execve").0 >= 2, "execve of sh and cat: {v}");
    let filters = common::encode(r#"{"event":["exec"],"container":["quiet"]}"#);
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = b
        .get(&format!("/events?since=0&until={until}&filters={filters}"))
        .await;
    assert_eq!(
        r.text(),
        "",
        "exec events of a container that did not ask for them"
    );

    // A container that never ran has no counts; an unknown one is Docker's 404.
    b.create(Some("idle"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let v = b.get("/containers/idle/syscalls").await.json();
    assert_eq!(
        v,
        json!({"Syscalls": [], "DroppedEvents": 0,
               "Network": {"RxBytes": 0, "RxPackets": 0, "TxBytes": 0, "TxPackets": 0}})
    );
    b.get("/containers/nosuch/syscalls").await.assert_error(
        404,
        "No such container: nosuch",
        "syscalls of an unknown container",
    );

    // Removed with the container: the counts of its cgroup are dropped from the map.
    let cgroup_id = cgroup_id_of(&b, &id);
    let r = b.call("DELETE", "/containers/loop", "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let m = berth_monitor::Monitor::open(&b.bpf_dir()).expect("the monitor's pins");
    assert_eq!(m.counts(cgroup_id).unwrap(), vec![], "counts left after rm");
}

/// The cgroup id the shim recorded in the container's state.
fn cgroup_id_of(b: &Berth, id: &str) -> u64 {
    let state = b.root().join("containers").join(id).join("state.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["cgroup_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no cgroup_id in {}: {v}", state.display()))
}
