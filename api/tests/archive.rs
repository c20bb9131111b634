//! docker cp through a real `berth serve`: HEAD (the stat header, no body even for a 404), PUT
//! into a stopped container then GET back, noOverwriteDirNonDir, and symlinks that point out of
//! the container resolved inside it. Needs root and `cargo build --workspace` first.

use crate::common;

use base64::Engine as _;
use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::io::Read;

fn tar_of(entries: &[(&str, Option<&str>, Option<&str>)]) -> Vec<u8> {
    // (name, file content, symlink target); neither: a directory.
    let mut b = tar::Builder::new(Vec::new());
    for (name, content, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        match (content, link) {
            (Some(c), _) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, name, c.as_bytes()).unwrap();
            }
            (None, Some(t)) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, name, t).unwrap();
            }
            (None, None) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn files(body: &[u8]) -> Vec<(String, String)> {
    let mut a = tar::Archive::new(body);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut s = String::new();
        let _ = e.read_to_string(&mut s);
        out.push((e.path().unwrap().display().to_string(), s));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_put_get_on_a_stopped_container() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(Some("cpme"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("secret");
    std::fs::write(&secret, "host").unwrap();

    let tar = tar_of(&[
        ("d", None, None),
        ("d/f", Some("inside"), None),
        ("d/out", None, Some(host.path().to_str().unwrap())),
        ("d/up", None, Some("../../../../../../..")),
    ]);
    let r = b.call("PUT", "/containers/cpme/archive?path=/", tar).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        b.paths_upper(&id).join("d/f").is_file(),
        "the write went to the upper dir"
    );

    let r = b.call("HEAD", "/containers/cpme/archive?path=/d", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let raw = r
        .header("X-Docker-Container-Path-Stat")
        .expect("no stat header");
    let stat: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stat["name"], "d");
    assert_eq!(
        stat["mode"].as_u64().unwrap() & (1 << 31),
        1 << 31,
        "{stat}"
    );
    let r = b
        .call("HEAD", "/containers/cpme/archive?path=/d/out", "")
        .await;
    let raw = r.header("X-Docker-Container-Path-Stat").unwrap();
    let stat: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        stat["mode"].as_u64().unwrap() & (1 << 27),
        1 << 27,
        "{stat}"
    );

    let r = b
        .call("HEAD", "/containers/cpme/archive?path=/nope", "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.body.is_empty(),
        "a HEAD answer had a body: {:?}",
        r.text()
    );

    let r = b.get("/containers/cpme/archive?path=/d").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = files(&r.body);
    assert!(
        got.contains(&("d/f".to_string(), "inside".to_string())),
        "{got:?}"
    );

    // Through symlinks that point out: reads and writes stay in the container.
    let r = b.get("/containers/cpme/archive?path=/d/up/d/f").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        files(&r.body),
        vec![("f".to_string(), "inside".to_string())]
    );
    let r = b.get("/containers/cpme/archive?path=/d/out/secret").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = b
        .call(
            "PUT",
            "/containers/cpme/archive?path=/d/out",
            tar_of(&[("secret", Some("pwned"), None)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = b
        .call(
            "PUT",
            "/containers/cpme/archive?path=/d",
            tar_of(&[("up/tmp/x", Some("pwned"), None)]),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a tar entry crossed a symlink: {}",
        r.text()
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host");

    let r = b
        .call(
            "PUT",
            "/containers/cpme/archive?path=/&noOverwriteDirNonDir=1",
            tar_of(&[("d", Some("file"), None)]),
        )
        .await;
    r.assert_error(
        400,
        "cannot overwrite directory \"/d\" with non-directory \"/d\"",
        "noOverwriteDirNonDir",
    );
    let r = b
        .call(
            "PUT",
            "/containers/cpme/archive?path=/d/f",
            tar_of(&[("x", Some("1"), None)]),
        )
        .await;
    r.assert_error(
        400,
        "extraction point is not a directory",
        "PUT onto a file",
    );
    // A refused upload far larger than the socket's buffers, written whole before the answer
    // is read (as the docker CLI does): the client gets the answer, not a broken pipe (the
    // rest of the body is read and thrown away).
    let body = tar_of(&[("big", Some("x".repeat(32 << 20).as_str()), None)]);
    let sock = b.sock();
    let status = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        write!(
            s,
            "PUT /containers/cpme/archive?path=/d/f HTTP/1.1\r\nHost: docker\r\n\
             Content-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(&body)
            .unwrap_or_else(|e| panic!("writing the refused archive: {e}"));
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    })
    .await
    .unwrap();
    assert_eq!(status, "HTTP/1.1 400", "a large PUT onto a file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_containers_volumes_and_binds_are_copied_through() {
    let b = Berth::with_busybox().await;
    let host = tempfile::tempdir().unwrap();
    let (rw, ro) = (host.path().join("rw"), host.path().join("ro"));
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(rw.join("b.txt"), "bound").unwrap();
    std::fs::write(ro.join("r.txt"), "read-only").unwrap();
    let outside = host.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let id = b
        .run(
            Some("cpvol"),
            &json!({"Image": "busybox",
                    "Cmd": ["sh", "-c", format!("printf vol > /v/f && ln -s {} /v/out", outside.display())],
                    "HostConfig": {"Binds": ["cpdata:/v", format!("{}:/b", rw.display()), format!("{}:/ro:ro", ro.display())],
                                   "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}}),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0);

    // Reads see the volume and the binds, not the directories under them.
    for (path, name, content) in [
        ("/v/f", "f", "vol"),
        ("/b/b.txt", "b.txt", "bound"),
        ("/ro/r.txt", "r.txt", "read-only"),
    ] {
        let r = b
            .get(&format!("/containers/cpvol/archive?path={path}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text());
        assert_eq!(
            files(&r.body),
            vec![(name.to_string(), content.to_string())],
            "GET {path}"
        );
    }
    let r = b
        .call("HEAD", "/containers/cpvol/archive?path=/t", "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "HEAD /t");

    // Writes land in the volume and the bind; a read-only bind refuses them as dockerd does.
    for path in ["/v", "/b"] {
        let r = b
            .call(
                "PUT",
                &format!("/containers/cpvol/archive?path={path}"),
                tar_of(&[("new", Some("copied"), None)]),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "PUT {path}: {}", r.text());
    }
    let data = b.root().join("volumes/cpdata/_data");
    assert_eq!(
        std::fs::read_to_string(data.join("new")).ok().as_deref(),
        Some("copied"),
        "the write did not reach the volume"
    );
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).ok().as_deref(),
        Some("copied"),
        "the write did not reach the bind's source"
    );
    assert!(
        !b.paths_upper(&id).join("v/new").exists() && !b.paths_upper(&id).join("b/new").exists(),
        "a write went to the upper dir under the mounts"
    );
    let r = b
        .call(
            "PUT",
            "/containers/cpvol/archive?path=/ro",
            tar_of(&[("new", Some("copied"), None)]),
        )
        .await;
    r.assert_error(
        400,
        "mounted volume is marked read-only",
        "PUT into a :ro bind",
    );
    assert!(!ro.join("new").exists(), "a :ro bind was written");

    // A symlink in the volume still resolves inside the container.
    let r = b
        .call(
            "PUT",
            "/containers/cpvol/archive?path=/v/out",
            tar_of(&[("escaped", Some("pwned"), None)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "a write through the volume's symlink reached the host"
    );

    // A read-only root refuses writes outside its mounts (dockerd's words and 500).
    b.create(
        Some("cpro"),
        &json!({"Image": "busybox", "Cmd": ["true"],
                "HostConfig": {"ReadonlyRootfs": true, "Binds": ["cpscratch:/scratch"]}}),
    )
    .await;
    let put = |path: &'static str| {
        b.call(
            "PUT",
            if path == "/" {
                "/containers/cpro/archive?path=/"
            } else {
                "/containers/cpro/archive?path=/scratch"
            },
            tar_of(&[("x", Some("1"), None)]),
        )
    };
    put("/").await.assert_error(
        500,
        "container rootfs is marked read-only",
        "PUT into a read-only root",
    );
    let r = put("/scratch").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "PUT into a volume of a read-only root: {}",
        r.text()
    );

    let left: Vec<_> = std::fs::read_dir(b.root().join("containers").join(&id))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n == "cp-root")
        .collect();
    assert!(left.is_empty(), "the copy's mount point stayed");
}
