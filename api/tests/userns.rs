//! User namespaces through a real `berth serve --userns-remap auto` (issue 23): every container
//! that does not opt out is root only inside, on a range of host ids of its own from the pool,
//! which comes back at its removal; the refusals in dockerd's words. Needs root and
//! `cargo build --workspace` first.

use crate::common;

use common::{frames, stream_text, Berth, ServeOptions};
use hyper::StatusCode;
use serde_json::json;
use std::os::unix::fs::MetadataExt;

/// A server whose containers are private by default, with a pool of two ranges
/// (300000-431071) from a subuid-style file.
async fn auto_with_two_ranges(pool_dir: &std::path::Path) -> Berth {
    let pool = pool_dir.join("subuid");
    std::fs::write(&pool, "berth:300000:131072\n").unwrap();
    Berth::with_busybox_and(ServeOptions {
        env: vec![
            ("BERTH_USERNS_REMAP".into(), "auto".into()),
            ("BERTH_USERNS_POOL".into(), pool.display().to_string()),
        ],
        ..Default::default()
    })
    .await
}

/// The first line a container logs, waited for.
async fn first_line(b: &Berth, id: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = b
            .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
            .await;
        let text = stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2);
        if let Some((line, _)) = text.split_once('\n') {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} logged no line in 20 s: {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_get_disjoint_ranges_from_the_pool_and_give_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let b = auto_with_two_ranges(tmp.path()).await;
    let shared = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(
        shared.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let bind = format!("{}:/shared", shared.path().display());
    let sleeper = |name: &str| {
        json!({"Image": "busybox", "HostConfig": {"Binds": [bind.clone()]},
               "Cmd": ["sh", "-c", format!("cat /proc/self/uid_map; touch /shared/{name}; sleep 1000")]})
    };
    let a = b.run(Some("ua"), &sleeper("a")).await;
    let c = b.run(Some("uc"), &sleeper("c")).await;
    let (map_a, map_c) = (first_line(&b, &a).await, first_line(&b, &c).await);
    assert_eq!(
        (words(&map_a), words(&map_c)),
        (words("0 300000 65536"), words("0 365536 65536")),
        "expected the pool's two ranges, one each"
    );
    common::eventually("both files written", || {
        shared.path().join("a").exists() && shared.path().join("c").exists()
    });
    let owner = |f: &str| {
        let m = std::fs::metadata(shared.path().join(f)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(
        (owner("a"), owner("c")),
        ((300_000, 300_000), (365_536, 365_536)),
        "a file written by a container's root belongs to its range's first id on the host"
    );

    // The pool is spent: a third private container is refused, one that opts out is not.
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.starts_with("no free range of 65536 ids is left in the user namespace pool"),
        "expected the exhausted pool's error, got {msg:?}"
    );
    let (code, out) = b
        .output(
            &json!({"Image": "busybox", "Cmd": ["cat", "/proc/self/uid_map"],
                        "HostConfig": {"UsernsMode": "host"}}),
        )
        .await;
    assert_eq!(
        (code, words(&out)),
        (0, words("0 0 4294967295")),
        "UsernsMode host: the host's user namespace"
    );

    // docker info says the default is private, as dockerd with --userns-remap; berth status
    // shows a container's range.
    let info = b.get("/info").await.json();
    assert_eq!(
        info["SecurityOptions"],
        json!(["name=seccomp,profile=builtin", "name=userns"]),
        "docker info's security options"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["--root"])
        .arg(b.root())
        .arg("--run-root")
        .arg(b.run_root())
        .args(["status", "--format", "json", "uc"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "berth status: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        status["UsernsRange"],
        json!({"Start": 365_536, "Size": 65_536}),
        "berth status of uc"
    );

    // inspect shows the mode the container was created with.
    let p = b
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"UsernsMode": "host"}}),
        )
        .await;
    assert_eq!(b.inspect(&p).await["HostConfig"]["UsernsMode"], "host");

    // A removed container's range goes to the next one.
    let r = b
        .call("DELETE", &format!("/containers/{a}?force=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let (code, out) = b
        .output(
            &json!({"Image": "busybox", "Cmd": ["cat", "/proc/self/uid_map"],
                        "HostConfig": {"UsernsMode": "private"}}),
        )
        .await;
    assert_eq!(
        (code, words(&out)),
        (0, words("0 300000 65536")),
        "expected the removed container's range to be given again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_namespace_refuses_what_cannot_go_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let b = auto_with_two_ranges(tmp.path()).await;
    let cases = [
        (json!({"Privileged": true}), "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"),
        (json!({"NetworkMode": "host"}), "cannot share the host's network namespace when user namespaces are enabled"),
        (json!({"PidMode": "host"}), "cannot share the host PID namespace when user namespaces are enabled"),
        (json!({"UsernsMode": "keep-id"}), "invalid USER mode: keep-id: berth's modes are \"host\" and \"private\""),
    ];
    for (host, words) in cases {
        let r = b
            .post_json(
                "/containers/create",
                &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": host}),
            )
            .await;
        r.assert_error(400, words, &host.to_string());
    }
    let donor = b
        .create(
            Some("donor"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}),
        )
        .await;
    // A joiner would have to enter the donor's user namespace before making its own
    // namespaces; the shim does not build a container that way (yet): refused, for each kind.
    for (key, what) in [
        ("NetworkMode", "network"),
        ("PidMode", "PID"),
        ("IpcMode", "IPC"),
    ] {
        let r = b
            .post_json(
                "/containers/create",
                &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {key: format!("container:{donor}")}}),
            )
            .await;
        r.assert_error(
            400,
            &format!("cannot join the {what} namespace of container {donor}: it belongs to another user namespace, and this container has one of its own; run both with --userns=host"),
            &format!("joining a {what} namespace across user namespaces"),
        );
    }
    // Nothing refused took a range: the pool still has its second one.
    let (code, out) = b
        .output(&json!({"Image": "busybox", "Cmd": ["cat", "/proc/self/uid_map"]}))
        .await;
    assert_eq!((code, words(&out)), (0, words("0 365536 65536")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_container_keeps_its_network_cgroup_volumes_exec_and_health() {
    let tmp = tempfile::tempdir().unwrap();
    let b = auto_with_two_ranges(tmp.path()).await;
    // The network (a veth from the host side, ping needing CAP_NET_RAW of its namespace), its
    // memory limit read from its cgroup, a named volume written by its root.
    let script =
        "ping -c1 -W2 $(ip route | awk '/default/{print $3}') | grep -c '1 packets received'; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  echo x > /data/f && stat -c '%u:%g' /data/f; \
                  touch /etc/passwd && echo copied-up; \
                  echo ready; sleep 1000";
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", script],
                    "Healthcheck": {"Test": ["CMD-SHELL", "test -f /data/f"], "Interval": 200_000_000},
                    "HostConfig": {"Binds": ["uvol:/data"], "Memory": 64 << 20}}),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let out = loop {
        let r = b
            .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
            .await;
        let text = stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2);
        if text.contains("ready") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready in 20 s: {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["1", "67108864", "0:0", "copied-up", "ready"],
        "expected the ping answered, the limit read, the volume written by root and the image's \
         file copied up"
    );
    // The volume is bound idmapped: its files keep the host ids they have without a user
    // namespace (a container's root writes them as the host's root, as any container's).
    let data = b.inspect(&id).await["Mounts"][0]["Source"]
        .as_str()
        .expect("the volume's source")
        .to_string();
    let m = std::fs::metadata(std::path::Path::new(&data).join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0), "the volume's file on the host");

    // An exec joins the user namespace.
    let r = b
        .post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": ["sh", "-c", "id -u; cat /proc/self/uid_map"], "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = b
        .post_json(&format!("/exec/{exec}/start"), &json!({"Detach": false}))
        .await;
    let out: Vec<u8> = frames(&r.body).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(
        words(&String::from_utf8_lossy(&out)),
        words("0 0 300000 65536"),
        "the exec's id and map"
    );

    // The health check runs in it too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let health = b.inspect(&id).await["State"]["Health"]["Status"].clone();
        if health == "healthy" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not healthy in 20 s: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The (path, uid, gid) of a tar's entries whose path ends with one of `names`.
fn owners(tar_bytes: &[u8], names: &[&str]) -> Vec<(String, u64, u64)> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        if names
            .iter()
            .any(|n| path.trim_end_matches('/').ends_with(n))
        {
            out.push((path, e.header().uid().unwrap(), e.header().gid().unwrap()));
        }
    }
    out.sort();
    out
}

fn tar_of(name: &str, uid: u64, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_commit_and_export_see_the_containers_own_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let b = auto_with_two_ranges(tmp.path()).await;
    let id = b
        .run(
            Some("ids"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c",
                    "echo r > /made-by-root; echo u > /made-by-1000; chown 1000:1000 /made-by-1000; echo ready; sleep 1000"]}),
        )
        .await;
    assert_eq!(first_line(&b, &id).await, "ready");
    let want = vec![
        ("made-by-1000".to_string(), 1000, 1000),
        ("made-by-root".to_string(), 0, 0),
    ];

    // docker cp out: the container's ids, not the host's.
    let r = b
        .get(&format!("/containers/{id}/archive?path=/made-by-root"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r2 = b
        .get(&format!("/containers/{id}/archive?path=/made-by-1000"))
        .await;
    let mut got = owners(&r.body, &["made-by-root"]);
    got.extend(owners(&r2.body, &["made-by-1000"]));
    got.sort();
    assert_eq!(got, want, "docker cp out of a running container");

    // docker cp in with copyUIDGID: the archive's 1000 is the container's 1000.
    let r = b
        .call(
            "PUT",
            &format!("/containers/{id}/archive?path=/&copyUIDGID=1"),
            tar_of("put-as-1000", 1000, b"p"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let upper = b.paths_upper(&id);
    let m = std::fs::metadata(upper.join("put-as-1000")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (301_000, 301_000),
        "a file put as 1000 belongs to the range's 1000 on the host"
    );

    // docker export: the container's ids.
    let r = b.get(&format!("/containers/{id}/export")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        owners(&r.body, &["made-by-root", "made-by-1000"]),
        want,
        "docker export"
    );

    // docker commit: the new layer has the container's ids, so that a container of the new
    // image run without a user namespace sees them as the one that wrote them did.
    let r = b
        .post(&format!("/commit?container={id}&repo=committed"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let (code, out) = b
        .output(&json!({"Image": "committed", "Cmd": ["stat", "-c", "%u:%g", "/made-by-root", "/made-by-1000", "/put-as-1000"],
                        "HostConfig": {"UsernsMode": "host"}}))
        .await;
    assert_eq!(
        (code, out.lines().collect::<Vec<_>>()),
        (0, vec!["0:0", "1000:1000", "1000:1000"]),
        "the committed image's files, run without a user namespace"
    );

    // docker cp into the stopped container: its root is mounted on the layers idmapped as at a
    // start, so the archive's ids are the container's, and /bin (an image directory, copied up
    // for the files) belongs to its range as in the running container.
    let r = b.post(&format!("/containers/{id}/kill")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    b.wait(&id).await;
    for (query, name, uid) in [("", "late-root", 0), ("&copyUIDGID=1", "late-1000", 1000)] {
        let r = b
            .call(
                "PUT",
                &format!("/containers/{id}/archive?path=/bin{query}"),
                tar_of(name, uid, b"l"),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "cp of {name} into the stopped container: {}",
            r.text()
        );
    }
    let on_host = |f: &str| {
        let m = std::fs::metadata(upper.join(f)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(
        [
            on_host("bin"),
            on_host("bin/late-root"),
            on_host("bin/late-1000")
        ],
        [(300_000, 300_000), (300_000, 300_000), (301_000, 301_000)],
        "on the host, the copied-up /bin and the files put into the stopped container"
    );
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = b
        .post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": ["stat", "-c", "%u:%g", "/bin", "/bin/late-root", "/bin/late-1000"],
                    "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = b
        .post_json(&format!("/exec/{exec}/start"), &json!({"Detach": false}))
        .await;
    let out: Vec<u8> = frames(&r.body).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(
        words(&String::from_utf8_lossy(&out)),
        words("0:0 0:0 1000:1000"),
        "inside, once started again: /bin and the files put in while it was stopped"
    );
}
