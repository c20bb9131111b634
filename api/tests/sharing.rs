//! Sharing between containers through a real `berth serve`: SysV shared memory, semaphores and
//! /dev/shm seen by the containers that share an IPC namespace (shareable and its joiners, the
//! host's) and by no other, `ShmSize`; and nothing of a container left mounted on the host
//! after its removal, whoever removes it. SysV IPC is driven by `tests/sysvipc.c` (busybox has
//! no ipcmk/ipcs), built with `gcc -static` and bound into the containers. Needs root and
//! `cargo build --workspace` first.

use crate::common;

use common::{frames, stream_text, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Run a container to its end: its exit code and output.
async fn output(b: &Berth, config: Value) -> (i64, String) {
    let id = b.run(None, &config).await;
    let code = b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let out = stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2);
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "rm: {}", r.text());
    (code, out)
}

/// The mount points of this (the host's) mount namespace under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let prefix = dir.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect()
}

/// A SysV key no other test or process on this machine uses at the same time.
fn unique_key() -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    0x4000_0000 | ((std::process::id() as i32 & 0xffff) << 12) | (nanos as i32 & 0xfff)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysv_ipc_and_dev_shm_are_shared_only_with_the_ipc_namespace() {
    let b = Berth::with_busybox().await;
    let tools = tempfile::tempdir().unwrap();
    let ipc = common::static_helper("sysvipc", tools.path());
    let bind = format!("{}:/sysvipc:ro", ipc.display());
    let key = unique_key().to_string();

    // The donor: a segment, a semaphore and a /dev/shm file, and a 4 MiB /dev/shm.
    let donor = b
        .run(
            Some("donor"),
            &json!({"Image": "busybox",
                    "Cmd": ["sh", "-c", format!("/sysvipc make {key} from-donor && echo shared > /dev/shm/f && sleep 1000")],
                    "HostConfig": {"IpcMode": "shareable", "ShmSize": 4 << 20, "Binds": [bind]}}),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let logs = loop {
        let r = b.get(&format!("/containers/{donor}/logs?stdout=1")).await;
        let text = stream_text(&frames(&r.body), 1);
        if text.contains("made") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the donor made no segment: {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(logs.starts_with("made shm="), "{logs}");

    let look = format!("/sysvipc look {key}; cat /dev/shm/f; df -k /dev/shm | tail -1");
    let (code, out) = output(
        &b,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", &look],
               "HostConfig": {"IpcMode": "container:donor", "Binds": [bind]}}),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"shm=from-donor sem=7"),
        "a joiner must see the donor's segment and semaphore: {out}"
    );
    assert_eq!(lines.get(1), Some(&"shared"), "the donor's /dev/shm: {out}");
    assert_eq!(
        lines.get(2).and_then(|l| l.split_whitespace().nth(1)),
        Some("4096"),
        "the donor's 4 MiB /dev/shm: {out}"
    );

    // A private IPC namespace sees neither, and has a /dev/shm of its own of ShmSize.
    let (code, out) = output(
        &b,
        json!({"Image": "busybox",
               "Cmd": ["sh", "-c", format!("/sysvipc look {key}; test -e /dev/shm/f && echo LEAK; df -k /dev/shm | tail -1")],
               "HostConfig": {"ShmSize": 8 << 20, "Binds": [bind]}}),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("shmget: No such file or directory")
            && !out.contains("shm=")
            && !out.contains("LEAK"),
        "a private IPC namespace saw the donor's objects: {out}"
    );
    let df = out.lines().find(|l| l.ends_with(" /dev/shm"));
    assert_eq!(
        df.and_then(|l| l.split_whitespace().nth(1)),
        Some("8192"),
        "ShmSize 8 MiB: {out}"
    );
    let r = b
        .call("DELETE", &format!("/containers/{donor}?force=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    // The host's IPC namespace and /dev/shm.
    let host_key = unique_key().to_string();
    let shm_file = format!("berth-test-{host_key}");
    let (code, out) = output(
        &b,
        json!({"Image": "busybox",
               "Cmd": ["sh", "-c", format!("/sysvipc make {host_key} from-host-ipc && echo host > /dev/shm/{shm_file}")],
               "HostConfig": {"IpcMode": "host", "Binds": [bind]}}),
    )
    .await;
    let on_host = std::fs::read_to_string(Path::new("/dev/shm").join(&shm_file));
    let host_look = Command::new(&ipc)
        .args(["look", &host_key])
        .output()
        .unwrap();
    let removed = Command::new(&ipc).args(["rm", &host_key]).status().unwrap();
    let _ = std::fs::remove_file(Path::new("/dev/shm").join(&shm_file));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        String::from_utf8_lossy(&host_look.stdout),
        "shm=from-host-ipc sem=7\n",
        "the host must see what an --ipc host container made: {host_look:?}"
    );
    assert!(removed.success(), "removing the host's segment");
    assert_eq!(
        on_host.ok().as_deref(),
        Some("host\n"),
        "the host's /dev/shm"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stays_mounted_on_the_host_after_a_removal() {
    let b = Berth::with_busybox().await;
    let base = b.root().parent().unwrap().to_path_buf();
    let mounted = |what: &str| {
        let left = mounts_under(&base);
        assert!(
            left.is_empty(),
            "{what}: still mounted on the host: {left:?}"
        );
    };
    let r = b
        .post_json(
            "/volumes/create",
            &json!({"Name": "tvol", "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let kinds = json!({"IpcMode": "shareable",
                       "Binds": ["named:/named", "tvol:/tvol"],
                       "Mounts": [{"Type": "tmpfs", "Target": "/t"}]});

    // Removed by its shim (auto-remove), with a shareable /dev/shm, volumes and a tmpfs.
    let mut host_config = kinds.clone();
    host_config["AutoRemove"] = json!(true);
    let id = b
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["true"], "Volumes": {"/anon": {}},
                    "HostConfig": host_config}),
        )
        .await;
    let r = b.start_and_wait_removed(&id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    mounted("an auto-removed container");

    // Removed by the API while it runs: its /dev/shm is on the host until then.
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"], "Volumes": {"/anon": {}},
                    "HostConfig": kinds}),
        )
        .await;
    assert!(
        mounts_under(&base).iter().any(|m| m.ends_with("/shm")),
        "a running shareable container's /dev/shm is not on the host: {:?}",
        mounts_under(&base)
    );
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1&v=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    mounted("a container removed with rm -f -v");

    // Stopped, then removed.
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": kinds}),
        )
        .await;
    b.wait(&id).await;
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    mounted("a stopped container removed");
}
