//! Bounded resources (issue 20, part 5): `logs --tail` of a huge log in little memory, and
//! lifecycle events that survive a flood of monitor events.

use crate::common::Berth;
use serde_json::json;
use std::io::Write;

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One stored entry as the shim writes it (json-file), line `i`.
fn log_line(i: u64) -> String {
    format!(
        "{{\"log\":\"line {i:010} {}\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:{:02}:{:02}.{:09}Z\"}}\n",
        "x".repeat(100),
        (i / 60_000_000_000) % 60,
        (i / 1_000_000_000) % 60,
        i % 1_000_000_000
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_of_a_1_gib_log_reads_from_the_end_in_little_memory() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let log = b
        .root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    // 1 GiB of entries, written as the shim writes them.
    let mut f = std::io::BufWriter::with_capacity(
        4 << 20,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&log)
            .unwrap(),
    );
    let mut written = 0u64;
    let mut n = 0u64;
    while written < 1 << 30 {
        let l = log_line(n);
        f.write_all(l.as_bytes()).unwrap();
        written += l.len() as u64;
        n += 1;
    }
    f.flush().unwrap();
    drop(f);
    let before = peak_rss_kib(b.server_pid());
    let r = b
        .get(&format!("/containers/{id}/logs?tail=10&stdout=1"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let peak = peak_rss_kib(b.server_pid());
    let got = crate::common::stream_text(&crate::common::frames(&r.body), 1);
    let want: String = (n - 10..n)
        .map(|i| format!("line {i:010} {}\n", "x".repeat(100)))
        .collect();
    assert!(
        got == want,
        "expected the last 10 of {n} lines; got:\n{got}"
    );
    assert!(
        peak < 50 * 1024,
        "the server's peak RSS after logs --tail 10 of a 1 GiB log was {peak} KiB (before: {before} KiB); expected under 50 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_survive_a_flood_of_monitor_events() {
    use berth_shim::events::{append_all, Event, EventsPaths, ROTATE_AT};
    let b = Berth::with_busybox().await;
    let id = b
        .create(
            Some("chatty"),
            &json!({"Image": "busybox", "Cmd": ["true"]}),
        )
        .await;
    // The monitor's events of one chatty container, enough to rotate its files four times over.
    let paths = EventsPaths::new(&b.root());
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert("name".to_string(), "chatty".to_string());
    attrs.insert("comm".to_string(), "p".repeat(400));
    let mut total = 0u64;
    while total < 4 * ROTATE_AT {
        let batch: Vec<Event> = (0..2000)
            .map(|_| Event::of_container_process(&id, "syscall", "mount", attrs.clone()))
            .collect();
        total += 2000 * 500;
        append_all(&paths, batch).unwrap();
    }
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = b.get(&format!("/events?since=0&until={until}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&r.body)
        .into_iter()
        .map(|v| v.unwrap())
        .collect();
    let create = events
        .iter()
        .any(|e| e["Type"] == "container" && e["Action"] == "create" && e["Actor"]["ID"] == id);
    let monitor = events.iter().filter(|e| e["Type"] == "syscall").count();
    assert!(
        create,
        "expected the container's create event after the flood; got {} events ({monitor} syscall), the first: {}",
        events.len(),
        events.first().map(|e| e.to_string()).unwrap_or_default()
    );
    assert!(monitor > 0, "the latest monitor events are kept too");
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "the two classes merged in time order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_accepts_and_stays_silent_fails_the_pull_within_the_read_timeout() {
    use crate::common::ServeOptions;
    // Accepts every connection and never answers (the connections are held open).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let b = Berth::start_with(ServeOptions {
        env: vec![("BERTH_REGISTRY_READ_TIMEOUT".into(), "2".into())],
        ..Default::default()
    });
    let started = std::time::Instant::now();
    // The harness's limit (30 s) fails a pull that hangs.
    let r = b
        .post(&format!(
            "/images/create?fromImage=127.0.0.1:{port}/silent&tag=latest"
        ))
        .await;
    let took = started.elapsed();
    let text = r.text();
    assert!(
        took < std::time::Duration::from_secs(20),
        "expected the pull to fail within the 2 s read timeout (and its retries); it took {took:?}"
    );
    assert!(
        text.contains("the registry sent nothing for 2s"),
        "expected an error naming the silent registry and the timeout; got {}: {text}",
        r.status
    );
}
