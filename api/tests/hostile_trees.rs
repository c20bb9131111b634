//! A container's tree is hostile (issue 20, part 5): a directory tree 100k levels deep gives
//! export, commit, cp and diff a clear error instead of a stack overflow that aborts the API;
//! a FIFO in a stopped container's upper dir never hangs export, commit or cp.

use crate::common::{connect, request, Berth, LIMIT};
use bytes::Bytes;
use http_body_util::BodyExt;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use serde_json::json;
use std::os::fd::OwnedFd;
use std::path::Path;

/// `depth` directories `d/d/d/...` under `top`, each made relative to the one above (a path
/// that long cannot be named).
fn deep_tree(top: &Path, depth: usize) {
    std::fs::create_dir_all(top).unwrap();
    let mut cur: OwnedFd =
        nix::fcntl::open(top, OFlag::O_DIRECTORY | OFlag::O_RDONLY, Mode::empty()).unwrap();
    for _ in 0..depth {
        mkdirat(&cur, "d", Mode::from_bits_truncate(0o755)).unwrap();
        cur = openat(
            &cur,
            "d",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .unwrap();
    }
}

struct RemovedTree(std::path::PathBuf);

impl Drop for RemovedTree {
    fn drop(&mut self) {
        match berth_shim::fsutil::remove_tree(&self.0) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                eprintln!("removing {}: {e}", self.0.display())
            }
            _ => {}
        }
    }
}

/// Status, and the whole body or how the stream broke.
async fn outcome(b: &Berth, method: &str, path: &str) -> (u16, Result<Bytes, String>) {
    outcome_within(b, method, path, LIMIT).await
}

async fn outcome_within(
    b: &Berth,
    method: &str,
    path: &str,
    limit: std::time::Duration,
) -> (u16, Result<Bytes, String>) {
    let fut = async {
        let mut tx = connect(&b.sock()).await;
        let resp = tx.send_request(request(method, path, Bytes::new())).await;
        let resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await;
        (
            status,
            body.map(|c| c.to_bytes()).map_err(|e| format!("{e:?}")),
        )
    };
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no complete answer in {limit:?}"))
}

fn assert_alive(b: &Berth, after: &str) {
    let pid = b.server_pid();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    assert!(
        matches!(state, Some(s) if s != "Z" && s != "X"),
        "expected the API process alive after {after}; its stat: {stat:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_100k_levels_deep_is_refused_by_export_commit_cp_and_diff() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(Some("deep"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    // Removed (without recursion) before the harness's temporary directory, whose removal
    // recurses, whatever happens below.
    let _tree = RemovedTree(b.root().join("containers").join(&id));
    deep_tree(&b.paths_upper(&id), 100_000);

    let (status, body) = outcome(&b, "GET", &format!("/containers/{id}/export")).await;
    assert_alive(&b, "export");
    assert!(
        status != 200 || body.is_err(),
        "expected export to fail (an error, or the stream cut); got {status} and a whole body"
    );

    let (status, body) = outcome(&b, "GET", &format!("/containers/{id}/archive?path=/d")).await;
    assert_alive(&b, "cp out");
    assert!(
        status != 200 || body.is_err(),
        "expected cp out of the deep tree to fail; got {status} and a whole body"
    );

    for (what, method, path) in [
        ("diff", "GET", format!("/containers/{id}/changes")),
        (
            "commit",
            "POST",
            format!("/commit?container={id}&repo=deep"),
        ),
    ] {
        let (status, body) = outcome(&b, method, &path).await;
        assert_alive(&b, what);
        let text = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
        assert!(
            status == 500 && text.contains("deeper than 1024 levels"),
            "expected {what} to answer 500 naming the depth bound; got {status}: {text}"
        );
    }
    // The engine still answers, and the container goes with its tree (100k directories
    // removed one by one: allow minutes on a loaded machine).
    let path = format!("/containers/{id}?force=1");
    let minutes = std::time::Duration::from_secs(600);
    let (status, body) = outcome_within(&b, "DELETE", &path, minutes).await;
    assert_alive(&b, "rm");
    assert_eq!(status, 204, "rm of the deep container: {body:?}");
    let left: Vec<_> = std::fs::read_dir(b.root().join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "expected the container's directory gone; left: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_at_the_depth_bound_is_exported_whole() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    // The walk's top is the root; its deepest directory is at the bound.
    deep_tree(&b.paths_upper(&id), 1024);
    for (what, method, path) in [
        ("export", "GET", format!("/containers/{id}/export")),
        ("diff", "GET", format!("/containers/{id}/changes")),
    ] {
        let (status, body) = outcome(&b, method, &path).await;
        assert_alive(&b, what);
        let body =
            body.unwrap_or_else(|e| panic!("{what}: expected a whole body, the stream broke: {e}"));
        assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&body));
        let deepest = format!("{}/", vec!["d"; 1024].join("/"));
        if what == "export" {
            let mut a = tar::Archive::new(&body[..]);
            let found = a.entries().unwrap().any(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_start_matches("./")
                    == deepest
            });
            assert!(found, "expected the deepest directory in the export");
        } else {
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.contains(deepest.trim_end_matches('/')),
                "expected the deepest directory in the diff"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_the_upper_dir_never_hangs_export_commit_or_cp() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let upper = b.paths_upper(&id);
    std::fs::create_dir_all(upper.join("tmp")).unwrap();
    nix::unistd::mkfifo(&upper.join("tmp/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
    // Over a file of the image's: the walk lists it from the upper dir.
    std::fs::create_dir_all(upper.join("bin")).unwrap();
    nix::unistd::mkfifo(&upper.join("bin/sh"), Mode::from_bits_truncate(0o755)).unwrap();
    for (what, method, path) in [
        ("export", "GET", format!("/containers/{id}/export")),
        (
            "cp of the fifo",
            "GET",
            format!("/containers/{id}/archive?path=/tmp/fifo"),
        ),
        (
            "cp of its dir",
            "GET",
            format!("/containers/{id}/archive?path=/tmp"),
        ),
        (
            "commit",
            "POST",
            format!("/commit?container={id}&repo=fifo"),
        ),
    ] {
        let (status, body) = outcome(&b, method, &path).await;
        let body =
            body.unwrap_or_else(|e| panic!("{what}: expected a whole body, the stream broke: {e}"));
        assert!(
            status == 200 || status == 201,
            "{what}: expected success, got {status}: {}",
            String::from_utf8_lossy(&body)
        );
        if what != "commit" {
            let mut a = tar::Archive::new(&body[..]);
            let fifo = a
                .entries()
                .unwrap()
                .any(|e| e.unwrap().header().entry_type() == tar::EntryType::Fifo);
            assert!(fifo, "{what}: expected the FIFO archived as a FIFO");
        }
    }
}
