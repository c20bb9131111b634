//! Read-only binds through a real `berth serve`: `ro` reaches every mount under the bind (dockerd
//! 25's default), `ReadOnlyNonRecursive` the top one only, `ReadOnlyForceRecursive` all; and a
//! bind keeps the nosuid, nodev and noexec of its source mount. The sources are tmpfs mounts the
//! test makes in a temporary directory of the host and takes down again. Needs root and
//! `cargo build --workspace` first.

use crate::common;

use common::Berth;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A tmpfs mounted by the test, detached on drop.
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn new(at: &Path, flags: MsFlags) -> TmpfsMount {
        std::fs::create_dir_all(at).unwrap();
        mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some("size=1m"))
            .unwrap_or_else(|e| panic!("mounting a tmpfs on {}: {e}", at.display()));
        TmpfsMount(at.to_path_buf())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        if let Err(e) = umount2(&self.0, MntFlags::MNT_DETACH) {
            eprintln!("unmounting {}: {e}", self.0.display());
        }
    }
}

/// Try to write at the top of /host and in its submount; one `top=<rc> sub=<rc>` line.
const PROBE: &str = "touch /host/top 2>/dev/null; t=$?; touch /host/sub/x 2>/dev/null; \
                     echo top=$t sub=$?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_binds_cover_their_submounts_unless_asked_otherwise() {
    let b = Berth::with_busybox().await;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tree");
    std::fs::create_dir_all(&src).unwrap();
    let _sub = TmpfsMount::new(&src.join("sub"), MsFlags::empty());
    let src = src.display().to_string();

    // -v src:/host:ro
    let (code, out) = b
        .output(&json!({
            "Image": "busybox", "Cmd": ["sh", "-c", PROBE],
            "HostConfig": {"Binds": [format!("{src}:/host:ro")]}
        }))
        .await;
    assert_eq!(
        (code, out.trim()),
        (0, "top=1 sub=1"),
        "-v {src}:/host:ro: expected neither the top nor the submount writable, got: {out}"
    );

    // --mount with each of BindOptions' read-only knobs.
    for (knob, want) in [
        ("ReadOnlyNonRecursive", "top=1 sub=0"),
        ("ReadOnlyForceRecursive", "top=1 sub=1"),
    ] {
        let (code, out) = b
            .output(&json!({
                "Image": "busybox", "Cmd": ["sh", "-c", PROBE],
                "HostConfig": {"Mounts": [{
                    "Type": "bind", "Source": src, "Target": "/host", "ReadOnly": true,
                    "BindOptions": {knob: true}
                }]}
            }))
            .await;
        assert_eq!(
            (code, out.trim()),
            (0, want),
            "--mount ro with {knob}: expected {want}, got: {out}"
        );
    }
    assert!(
        !Path::new(&src).join("top").exists(),
        "a write through a read-only bind reached the host"
    );

    // A client before API 1.44: `ro` is the top mount only, and the forcing knob is refused.
    let r = b
        .post_json(
            "/v1.43/containers/create",
            &json!({
                "Image": "busybox", "Cmd": ["sh", "-c", PROBE],
                "HostConfig": {"Binds": [format!("{src}:/host:ro")]}
            }),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "create at v1.43: {}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status.as_u16(), 204, "start: {}", r.text());
    assert_eq!(b.wait(&id).await, 0);
    let r = b.get(&format!("/containers/{id}/logs?stdout=1")).await;
    let out = common::stream_text(&common::frames(&r.body), 1);
    assert_eq!(
        out.trim(),
        "top=1 sub=0",
        "-v ...:ro from a v1.43 client: expected the top mount only read-only"
    );
    let r = b
        .post_json(
            "/v1.43/containers/create",
            &json!({
                "Image": "busybox",
                "HostConfig": {"Mounts": [{
                    "Type": "bind", "Source": src, "Target": "/host", "ReadOnly": true,
                    "BindOptions": {"ReadOnlyForceRecursive": true}
                }]}
            }),
        )
        .await;
    r.assert_error(
        400,
        "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer",
        "ReadOnlyForceRecursive at v1.43",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_keeps_the_flags_of_its_source_mount() {
    let b = Berth::with_busybox().await;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("flagged");
    let _m = TmpfsMount::new(
        &src,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    );
    for (opts, ro) in [(":ro", "ro"), ("", "rw")] {
        let (code, out) = b
            .output(&json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c", "grep ' /flagged ' /proc/self/mountinfo"],
                "HostConfig": {"Binds": [format!("{}:/flagged{opts}", src.display())]}
            }))
            .await;
        let flags: Vec<&str> = out
            .split_whitespace()
            .nth(5)
            .unwrap_or_default()
            .split(',')
            .collect();
        for want in [ro, "nosuid", "nodev", "noexec"] {
            assert!(
                code == 0 && flags.contains(&want),
                "-v <nosuid,nodev,noexec tmpfs>:/flagged{opts}: expected {want} in the mount's \
                 flags inside the container, got exit {code}: {out}"
            );
        }
    }
}
