//! `/containers/{id}/stats` and `/containers/{id}/top` of a real `berth serve`: CPU that moves
//! under load, memory with a limit, NDJSON once a second, and `ps` rows of the container's
//! processes only. Needs root and `cargo build --workspace` first.

use crate::common;

use bytes::Bytes;
use common::{connect, request, Berth, LIMIT};
use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn busy() -> Value {
    json!({"Image": "busybox", "Cmd": ["sh", "-c", "while :; do :; done"]})
}

/// The CPU % the docker CLI computes from one stats object.
fn cpu_percent(v: &Value) -> f64 {
    let num = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0) as f64;
    let cpu = num("/cpu_stats/cpu_usage/total_usage") - num("/precpu_stats/cpu_usage/total_usage");
    let sys = num("/cpu_stats/system_cpu_usage") - num("/precpu_stats/system_cpu_usage");
    if sys <= 0.0 {
        return 0.0;
    }
    cpu / sys * num("/cpu_stats/online_cpus") * 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_one_object_with_precpu_and_one_shot() {
    let b = Berth::with_busybox().await;
    let id = b.run(Some("busy"), &busy()).await;
    let r = b.get("/containers/busy/stats?stream=0").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["id"], id.as_str(), "{v}");
    assert_eq!(v["name"], "/busy", "{v}");
    let pct = cpu_percent(&v);
    assert!(pct > 10.0, "a busy loop shows {pct:.1}% CPU: {v}");
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert!(v["memory_stats"]["limit"].as_u64().unwrap() > 0, "{v}");
    assert!(v["pids_stats"]["current"].as_u64().unwrap() >= 1, "{v}");
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z", "{v}");

    let r = b.get("/containers/busy/stats?stream=0&one-shot=1").await;
    let v = r.json();
    assert_eq!(v["preread"], "0001-01-01T00:00:00Z", "{v}");
    assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0, "{v}");

    let limited =
        json!({"Image": "busybox", "Cmd": ["sleep", "100"], "HostConfig": {"Memory": 64 << 20}});
    b.run(Some("small"), &limited).await;
    let v = b
        .get("/containers/small/stats?stream=0&one-shot=1")
        .await
        .json();
    assert_eq!(v["memory_stats"]["limit"], 64u64 << 20, "{v}");

    let r = b.get("/containers/nosuch/stats?stream=0").await;
    r.assert_error(
        404,
        "No such container: nosuch",
        "stats of an unknown container",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_stream_one_object_a_second() {
    let b = Berth::with_busybox().await;
    b.run(Some("busy"), &busy()).await;
    let mut tx = connect(&b.sock()).await;
    let resp = tx
        .send_request(request("GET", "/containers/busy/stats", Bytes::new()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let (mut buf, start) = (Vec::new(), Instant::now());
    let mut objects: Vec<Value> = Vec::new();
    while objects.len() < 3 {
        let frame = tokio::time::timeout(LIMIT, body.frame())
            .await
            .expect("no stats object in 30 s")
            .expect("the stream ended")
            .expect("body");
        if let Ok(d) = frame.into_data() {
            buf.extend_from_slice(&d);
        }
        while let Some(i) = buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            objects.push(serde_json::from_slice(&line).expect("one JSON object a line"));
        }
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(10),
        "three objects took {took:?}, not about two seconds"
    );
    assert!(cpu_percent(&objects[2]) > 10.0, "{}", objects[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_lists_the_containers_processes_only() {
    let b = Berth::with_busybox().await;
    let cmd = json!({"Image": "busybox", "Cmd": ["sh", "-c", "sleep 1000 & sleep 999"]});
    b.run(Some("topc"), &cmd).await;
    let mut v = Value::Null;
    // The shell forks one child and execs the other just after it starts.
    for _ in 0..50 {
        v = b.get("/containers/topc/top").await.json();
        if v["Processes"].as_array().is_some_and(|p| p.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let cmds: Vec<&str> = v["Processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[7].as_str().unwrap())
        .collect();
    assert_eq!(cmds.len(), 2, "sh execs its last command: {v}");
    assert!(
        cmds.contains(&"sleep 1000") && cmds.contains(&"sleep 999"),
        "{cmds:?}"
    );
    let v = b
        .get("/containers/topc/top?ps_args=-o%20pid,comm")
        .await
        .json();
    assert_eq!(v["Titles"], json!(["PID", "COMMAND"]), "{v}");
    assert_eq!(v["Processes"].as_array().unwrap().len(), 2, "{v}");

    let id = b
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let r = b.get(&format!("/containers/{id}/top")).await;
    r.assert_error(
        409,
        &format!("Container {id} is not running"),
        "top of a created container",
    );
}
