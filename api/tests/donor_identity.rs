//! A container's process is known by its pid and that pid's start time, never by a bare pid:
//! `--network container:<donor>` at a start and at a restart by policy, and `docker cp` from a
//! running container, refuse a pid that is another process's now. Pid reuse is made two ways:
//! the donor's recorded pid pointed at a stranger (a process the test starts, in the host's
//! namespaces), and a real reuse of a stopped donor's pid through `ns_last_pid`. Needs root and
//! `cargo build --workspace` first.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::json;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A process of the test's own (`sleep`), killed on drop.
struct Stranger(Child);

impl Stranger {
    fn start() -> Stranger {
        Stranger(Command::new("sleep").arg("1000").spawn().expect("sleep"))
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        if let Err(e) = self.0.kill() {
            eprintln!("killing the stranger {}: {e}", self.0.id());
        }
        let _ = self.0.wait();
    }
}

fn paths(b: &Berth, id: &str) -> berth_shim::ContainerPaths {
    berth_shim::Paths::new(b.root(), b.run_root()).container(id)
}

/// Point the recorded pid of running `id` at `pid` (the start time left as it was); the pid it
/// had.
fn set_recorded_pid(b: &Berth, id: &str, pid: i32) -> i32 {
    let mut old = 0;
    berth_shim::state::update(&paths(b, id), |s| {
        old = s.pid;
        s.pid = pid;
    })
    .expect("updating the donor's state");
    old
}

fn net_ns(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_refuses_a_donor_pid_that_is_another_process_now() {
    let b = Berth::with_busybox().await;
    let donor = b
        .run(
            Some("donor"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}),
        )
        .await;
    let stranger = Stranger::start();
    let real = set_recorded_pid(&b, &donor, stranger.pid());

    // A start that joins the donor's network.
    let joiner = b
        .create(
            None,
            &json!({
                "Image": "busybox", "Cmd": ["readlink", "/proc/self/ns/net"],
                "HostConfig": {"NetworkMode": "container:donor"}
            }),
        )
        .await;
    let r = b.post(&format!("/containers/{joiner}/start")).await;
    let host_ns = net_ns("self");
    r.assert_error(
        409,
        &format!("cannot join network of a non running container: {donor}"),
        &format!(
            "start of a container joining a donor whose pid is a stranger's (the host's \
             network is {host_ns})"
        ),
    );

    // Its own pid again: the join works.
    set_recorded_pid(&b, &donor, real);
    let r = b.post(&format!("/containers/{joiner}/start")).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "start with the donor's real pid: {}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_refuses_a_pid_that_is_another_process_now() {
    let b = Berth::with_busybox().await;
    let donor = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}))
        .await;
    let stranger = Stranger::start();
    let real = set_recorded_pid(&b, &donor, stranger.pid());
    // A copy out of the container: the stranger's root is the host's.
    let r = b
        .get(&format!("/containers/{donor}/archive?path=/etc/hostname"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "GET archive of a container whose pid is a stranger's: expected 409, got {} ({} bytes)",
        r.status,
        r.body.len()
    );
    assert!(
        r.text().contains("is gone"),
        "GET archive: expected the process named gone, got {}",
        r.text()
    );

    set_recorded_pid(&b, &donor, real);
    let r = b
        .get(&format!("/containers/{donor}/archive?path=/etc/hostname"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "GET archive with the real pid: {}",
        r.text()
    );
}

/// Start `sleep` with pid `pid` (free now), through `ns_last_pid`; other processes of the host
/// may take it first, so a few tries.
fn take_pid(pid: i32) -> Stranger {
    for _ in 0..2000 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("writing ns_last_pid (root needed)");
        let s = Stranger::start();
        if s.pid() == pid {
            return s;
        }
    }
    panic!("could not get pid {pid} again in 2000 tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_by_policy_does_not_join_the_process_that_took_the_donors_pid() {
    let b = Berth::with_busybox().await;
    let shared = tempfile::tempdir().unwrap();
    let donor = b
        .run(
            Some("donor"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}),
        )
        .await;
    let donor_pid = b.inspect(&donor).await["State"]["Pid"].as_i64().unwrap() as i32;
    let donor_ns = net_ns(&donor_pid.to_string());
    // Each run writes its network namespace, then waits for /s/go.
    let joiner = b
        .run(
            None,
            &json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c",
                        "readlink /proc/self/ns/net >> /s/runs; \
                         while [ ! -e /s/go ]; do sleep 0.1; done"],
                "HostConfig": {
                    "NetworkMode": "container:donor",
                    "RestartPolicy": {"Name": "always"},
                    "Binds": [format!("{}:/s", shared.path().display())]
                }
            }),
        )
        .await;
    let runs = shared.path().join("runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !runs.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The donor goes; a process of the host takes its pid.
    let r = b.post(&format!("/containers/{donor}/stop?t=1")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "stop donor: {}", r.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{donor_pid}")).exists() && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stranger = take_pid(donor_pid);
    let stranger_ns = net_ns(&stranger.pid().to_string());

    // The joiner's process ends: its shim restarts it, and must refuse the stranger's network.
    std::fs::write(shared.path().join("go"), "").unwrap();
    let want = format!("cannot join network of a non running container: {donor}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut state = json!(null);
    while Instant::now() < deadline {
        state = b.inspect(&joiner).await["State"].clone();
        if state["Error"] == want.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = std::fs::read_to_string(&runs).unwrap_or_default();
    assert!(
        seen.lines().all(|l| l == donor_ns),
        "the joiner ran in a network other than the donor's ({donor_ns}; the stranger's is \
         {stranger_ns}): {seen}"
    );
    assert_eq!(
        state["Error"], want,
        "after its restart: expected the join refused, got state {state}"
    );
    drop(stranger);
}
