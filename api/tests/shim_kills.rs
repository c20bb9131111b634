//! A container's shim SIGKILLed at observable points of its life: while it waits for a start
//! (create + attach, as `docker run` does), just after it appears (start), during an exec, during
//! log rotation, with a client attached, during a health check, and during a restart back-off.
//! Each time the container must read truthfully (not running, no pid, the same FinishedAt at
//! every read), `start` must run it again, and `rm -f` must leave nothing: no processes, mounts,
//! cgroups, veths, run dir or files (issue 20, part 4).

use crate::common::{self, Berth, LIMIT};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cpaths(b: &Berth, id: &str) -> berth_shim::ContainerPaths {
    berth_shim::Paths::new(b.root(), b.run_root()).container(id)
}

fn raw(b: &Berth, id: &str) -> berth_shim::State {
    berth_shim::state::read_raw(&cpaths(b, id)).unwrap()
}

/// SIGKILL the container's shim and wait until it is gone.
fn kill_shim(b: &Berth, id: &str) {
    let shim = raw(b, id).shim_pid;
    assert!(shim > 0, "no shim pid recorded for {id}: {:?}", raw(b, id));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    common::eventually("the killed shim to be gone", || !b.shim_alive(id));
}

/// Wait until the container's shim runs and has recorded its pid.
fn wait_shim(b: &Berth, id: &str) {
    common::eventually("the shim to appear", || {
        b.shim_alive(id) && raw(b, id).shim_pid > 0
    });
}

/// Inspect and `docker ps` say the same true thing: `want` ("exited" or "created"), no pid, not
/// in the running list; a second inspect gives the same FinishedAt.
async fn assert_truthful(b: &Berth, id: &str, want: &str, what: &str) {
    let st = b.inspect(id).await["State"].clone();
    assert_eq!(
        (
            st["Status"].as_str(),
            st["Running"].as_bool(),
            st["Pid"].as_i64()
        ),
        (Some(want), Some(false), Some(0)),
        "{what}: expected inspect to show {want}, not running, pid 0; got {st}"
    );
    let again = b.inspect(id).await["State"].clone();
    assert_eq!(
        st["FinishedAt"], again["FinishedAt"],
        "{what}: FinishedAt changed between two reads: {st} then {again}"
    );
    let listed = b.get("/containers/json").await.json();
    assert!(
        !listed.as_array().unwrap().iter().any(|c| c["Id"] == id),
        "{what}: docker ps lists the container as running: {listed}"
    );
    let all = b.get("/containers/json?all=1").await.json();
    let row = all.as_array().unwrap().iter().find(|c| c["Id"] == id);
    assert_eq!(
        row.and_then(|r| r["State"].as_str()),
        Some(want),
        "{what}: docker ps -a row: {row:?}"
    );
}

/// Running, not a zombie waiting for its reaper.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim().starts_with('Z'))
    })
}

/// `docker start` runs it again, alone: what the killed shim left of the last run is gone, as
/// dockerd's containerd kills a task whose shim died.
async fn assert_restarts(b: &Berth, id: &str, what: &str) {
    let left = berth_shim::orphans::orphans(&cpaths(b, id));
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "{what}: expected start to run it again, got {}",
        r.text()
    );
    let st = b.inspect(id).await["State"].clone();
    assert!(
        st["Running"] == true || st["Restarting"] == true,
        "{what}: expected it running after start, got {st}"
    );
    let survivors: Vec<i32> = left.into_iter().filter(|p| running(*p)).collect();
    assert!(
        survivors.is_empty(),
        "{what}: the last run's processes {survivors:?} still run beside the new one"
    );
}

/// Every cgroup directory whose name holds the container id, in every hierarchy.
fn cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(id) {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 4, &mut out);
    out
}

/// `rm -f` leaves nothing of the container: its processes, mounts, cgroups, veths, run dir and
/// directory.
async fn assert_removed_whole(b: &Berth, id: &str, what: &str) {
    let pids = berth_shim::orphans::orphans(&cpaths(b, id));
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1"), "")
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "{what}: rm -f: {}",
        r.text()
    );
    let alive: Vec<i32> = pids.into_iter().filter(|p| running(*p)).collect();
    assert!(alive.is_empty(), "{what}: processes left: {alive:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(id)).collect();
    assert!(left.is_empty(), "{what}: mounts left: {left:?}");
    let cgroups = cgroup_dirs_of(id);
    assert!(cgroups.is_empty(), "{what}: cgroups left: {cgroups:?}");
    let links = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let veth = format!("vb{}", &id[..7]);
    let links = String::from_utf8_lossy(&links.stdout);
    let left: Vec<&str> = links.lines().filter(|l| l.contains(&veth)).collect();
    assert!(left.is_empty(), "{what}: veths left: {left:?}");
    let c = cpaths(b, id);
    assert!(!c.run.exists(), "{what}: run dir {} left", c.run.display());
    assert!(
        !c.dir.exists(),
        "{what}: container dir {} left",
        c.dir.display()
    );
}

/// After the kill: truthful, restartable, and removed whole.
async fn after_the_kill(b: &Berth, id: &str, want: &str, what: &str) {
    assert_truthful(b, id, want, what).await;
    assert_restarts(b, id, what).await;
    assert_removed_whole(b, id, what).await;
}

fn sleeper() -> Value {
    json!({"Image": "busybox", "Cmd": ["sleep", "1000"]})
}

/// An attach stream on a hijacked connection: what comes after the 101 head.
async fn attach(b: &Berth, id: &str) -> tokio::net::UnixStream {
    let mut s = tokio::net::UnixStream::connect(b.sock()).await.unwrap();
    let head = format!(
        "POST /containers/{id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n\
         Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).await.unwrap();
        got.push(byte[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "attach: {}",
        String::from_utf8_lossy(&got)
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_while_it_waits_for_the_start_of_a_run() {
    let b = Berth::with_busybox().await;
    let id = b.create(None, &sleeper()).await;
    // docker run: the attach spawns the shim, which waits for the start.
    let _stream = attach(&b, &id).await;
    wait_shim(&b, &id);
    kill_shim(&b, &id);
    after_the_kill(&b, &id, "created", "killed before its start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_as_it_starts() {
    let b = Berth::with_busybox().await;
    let id = b.create(None, &sleeper()).await;
    let start = {
        let (sock, id) = (b.sock(), id.clone());
        tokio::spawn(async move {
            let mut tx = common::connect(&sock).await;
            let req = common::request("POST", &format!("/containers/{id}/start"), "".into());
            tx.send_request(req).await.map(|r| r.status())
        })
    };
    let deadline = Instant::now() + LIMIT;
    while raw(&b, &id).shim_pid <= 0 {
        assert!(Instant::now() < deadline, "no shim pid appeared");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    kill_shim(&b, &id);
    let answered = start.await.unwrap();
    let want = if raw(&b, &id).started_at == berth_shim::state::ZERO_TIME {
        "created"
    } else {
        "exited"
    };
    let what = format!("killed as it started (the start answered {answered:?})");
    after_the_kill(&b, &id, want, &what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_during_an_exec() {
    let b = Berth::with_busybox().await;
    let id = b.run(None, &sleeper()).await;
    let r = b
        .post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": ["sleep", "1000"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "exec create: {}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = b
        .post_json(&format!("/exec/{exec}/start"), &json!({"Detach": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "exec start: {}", r.text());
    common::eventually("the exec to run", || {
        berth_shim::orphans::orphans(&cpaths(&b, &id)).len() >= 2
    });
    kill_shim(&b, &id);
    // Its helper is not the container's shim: the exec runs on, and says so only while its
    // process lives.
    let r = b.get(&format!("/exec/{exec}/json")).await;
    assert_eq!(r.status, StatusCode::OK, "exec inspect: {}", r.text());
    let ex = r.json();
    let pid = ex["Pid"].as_i64().unwrap_or(0);
    let alive = pid > 0 && Path::new(&format!("/proc/{pid}")).exists();
    assert_eq!(
        ex["Running"].as_bool(),
        Some(alive),
        "expected the exec's Running to tell whether its process {pid} lives ({alive}): {ex}"
    );
    after_the_kill(&b, &id, "exited", "killed during an exec").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_during_log_rotation() {
    let b = Berth::with_busybox().await;
    let config = json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done"],
        "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "2k", "max-file": "3"}}},
    });
    let id = b.run(None, &config).await;
    let c = cpaths(&b, &id);
    let rotated = PathBuf::from(format!("{}.1", c.log().display()));
    common::eventually("the log to rotate", || rotated.exists());
    kill_shim(&b, &id);
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "logs after the kill: {}",
        r.text()
    );
    let text = common::stream_text(&common::frames(&r.body), 1);
    assert!(
        text.lines().count() > 1 && text.lines().all(|l| l.starts_with("aaaa")),
        "expected whole lines in the logs after the kill, got {:?}",
        &text[..text.len().min(300)]
    );
    after_the_kill(&b, &id, "exited", "killed during log rotation").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_with_a_client_attached() {
    let b = Berth::with_busybox().await;
    let id = b.run(None, &sleeper()).await;
    let mut stream = attach(&b, &id).await;
    kill_shim(&b, &id);
    let mut buf = [0u8; 64];
    let ended = tokio::time::timeout(LIMIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the attached client's stream did not end after the shim was killed"
    );
    after_the_kill(&b, &id, "exited", "killed with a client attached").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_during_a_health_check() {
    let b = Berth::with_busybox().await;
    let config = json!({
        "Image": "busybox",
        "Cmd": ["sleep", "1000"],
        "Healthcheck": {"Test": ["CMD", "sleep", "30"], "Interval": 200_000_000i64, "Timeout": 60_000_000_000i64},
    });
    let id = b.run(None, &config).await;
    common::eventually("the health check to run", || {
        berth_shim::orphans::orphans(&cpaths(&b, &id)).len() >= 2
    });
    kill_shim(&b, &id);
    let st = b.inspect(&id).await["State"].clone();
    assert_ne!(
        st["Health"]["Status"], "healthy",
        "a check cut short made it healthy: {st}"
    );
    after_the_kill(&b, &id, "exited", "killed during a health check").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_during_a_restart_back_off() {
    let b = Berth::with_busybox().await;
    let config = json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "exit 3"],
        "HostConfig": {"RestartPolicy": {"Name": "always"}},
    });
    let id = b.run(None, &config).await;
    common::eventually("a restart back-off", || {
        raw(&b, &id).status == berth_shim::Status::Restarting
    });
    kill_shim(&b, &id);
    let st = b.inspect(&id).await["State"].clone();
    assert_eq!(
        (st["Restarting"].as_bool(), st["ExitCode"].as_i64()),
        (Some(false), Some(3)),
        "expected the last exit (3) and no restart pending once the shim is gone: {st}"
    );
    after_the_kill(&b, &id, "exited", "killed during a restart back-off").await;
}
