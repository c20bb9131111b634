//! What a removed container held is free the moment its removal is visible, and a container
//! whose shim was SIGKILLed is still killed whole by rm -f, kill and stop: its processes, its
//! cgroup, its address. Through a real `berth serve`; needs root and `cargo build --workspace`.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn cpaths(b: &Berth, id: &str) -> berth_shim::ContainerPaths {
    berth_shim::Paths::new(b.root(), b.root().with_file_name("run")).container(id)
}

/// Running, not a zombie waiting for its reaper.
fn running(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// SIGKILL a running container's shim and wait until the API sees it gone; the container's pid.
async fn kill_shim(b: &Berth, id: &str) -> i64 {
    let st = berth_shim::state::read_raw(&cpaths(b, id)).unwrap();
    let (pid, shim) = (i64::from(st.pid), i64::from(st.shim_pid));
    assert!(pid > 0 && shim > 0, "{st:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.inspect(id).await["State"]["Running"] == json!(true) {
        assert!(Instant::now() < deadline, "the shim's death was never seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(running(pid), "the container died with its shim");
    pid
}

/// The container's cgroup directories, as its shim made them.
fn cgroup_dirs(b: &Berth, id: &str) -> Vec<PathBuf> {
    let cg = berth_shim::orphans::cgroup_of(&cpaths(b, id)).expect("the container's cgroup");
    let dirs = cg.paths();
    assert!(dirs.iter().any(|d| d.is_dir()), "no cgroup dir in {dirs:?}");
    dirs
}

fn gone(pid: i64, dirs: &[PathBuf]) {
    assert!(!running(pid), "process {pid} still runs");
    let left: Vec<&Path> = dirs
        .iter()
        .map(PathBuf::as_path)
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroup dirs left: {left:?}");
}

async fn net(b: &Berth, name: &str, subnet: &str) {
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": name, "IPAM": {"Config": [{"Subnet": subnet}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

fn at(net: &str, ip: &str, cmd: &[&str], auto_remove: bool) -> Value {
    json!({"Image": "busybox", "Cmd": cmd, "HostConfig": {"NetworkMode": net, "AutoRemove": auto_remove},
        "NetworkingConfig": {"EndpointsConfig": {net: {"IPAMConfig": {"IPv4Address": ip}}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_removed_containers_address_is_free_once_it_is_gone() {
    let b = Berth::with_busybox().await;
    net(&b, "again", "10.214.93.0/24").await;
    for round in 0..15 {
        // docker run --rm: start, wait for the removal, and at once the same address again.
        let id = b
            .create(None, &at("again", "10.214.93.7", &["true"], true))
            .await;
        let r = b.start_and_wait_removed(&id).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let r = b
            .post_json(
                "/containers/create",
                &at("again", "10.214.93.7", &["true"], false),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "round {round}: the address of a removed container is still taken: {}",
            r.text()
        );
        let next = r.json()["Id"].as_str().unwrap().to_string();
        let r = b.call("DELETE", &format!("/containers/{next}"), "").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_whose_shim_was_killed_is_killed_by_rm_kill_and_stop() {
    let b = Berth::with_busybox().await;
    net(&b, "orphans", "10.214.94.0/24").await;
    let sleep = ["sh", "-c", "sleep 1000 & sleep 1000"];

    // rm -f: refused without force, then everything goes and the address is free.
    let id = b
        .run(None, &at("orphans", "10.214.94.5", &sleep, false))
        .await;
    let dirs = cgroup_dirs(&b, &id);
    let pid = kill_shim(&b, &id).await;
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(running(pid));
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    gone(pid, &dirs);
    let again = b
        .run(None, &at("orphans", "10.214.94.5", &sleep, false))
        .await;

    // kill: the signal reaches the processes from the API.
    let dirs = cgroup_dirs(&b, &again);
    let pid = kill_shim(&b, &again).await;
    let r = b.post(&format!("/containers/{again}/kill")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    gone(pid, &dirs);

    // stop: the stop signal, SIGKILL after the timeout.
    let third = b
        .run(None, &at("orphans", "10.214.94.6", &sleep, false))
        .await;
    let dirs = cgroup_dirs(&b, &third);
    let pid = kill_shim(&b, &third).await;
    let r = b.post(&format!("/containers/{third}/stop?t=1")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    gone(pid, &dirs);
    let r = b.post(&format!("/containers/{third}/stop?t=1")).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{}", r.text());
    for id in [again, third] {
        let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_cut_short_after_the_release_is_finished_by_the_next_api_process() {
    let mut b = Berth::with_busybox().await;
    net(&b, "cut", "10.214.95.0/24").await;
    let id = b
        .create(Some("cut"), &at("cut", "10.214.95.9", &["true"], false))
        .await;
    // What a process killed between the release and the files leaves.
    assert!(berth_shim::remove::begin_removal(&b.root(), &cpaths(&b, &id)).unwrap());
    b.kill_server();
    b.serve();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.get(&format!("/containers/{id}/json")).await.status != StatusCode::NOT_FOUND {
        assert!(
            Instant::now() < deadline,
            "the sweep did not finish the removal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its name and its address are anyone's.
    let again = b
        .create(Some("cut"), &at("cut", "10.214.95.9", &["true"], false))
        .await;
    let r = b.call("DELETE", &format!("/containers/{again}"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}
