//! Idmapped host binds (issue 23): berth's opt-in `BindOptions.IDMap` (`--mount ...,idmap` in
//! berth's CLI) and the `Binds` option `idmap` map a host directory's ids into a private
//! container's user namespace; a plain bind keeps the host's ids, unmapped ones seen as nobody.
//! Needs root and `cargo build --workspace` first.

use crate::common;

use common::{Berth, ServeOptions};
use serde_json::json;
use std::os::unix::fs::MetadataExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idmapped_bind_shows_the_host_ids_as_the_containers_and_a_plain_one_does_not() {
    let b = Berth::with_busybox_and(ServeOptions {
        env: vec![("BERTH_USERNS_REMAP".into(), "auto".into())],
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let (by_root, by_1000) = (dir.path().join("by-root"), dir.path().join("by-1000"));
    std::fs::write(&by_root, "r").unwrap();
    std::fs::write(&by_1000, "u").unwrap();
    std::os::unix::fs::chown(&by_1000, Some(1000), Some(1000)).unwrap();
    let src = dir.path().display().to_string();
    let script = "stat -c '%u:%g' /plain/by-root /plain/by-1000 /mapped/by-root \
                  /mapped/by-1000 /bound/by-1000; touch /mapped/made-inside && echo made";
    let (code, out) = b
        .output(&json!({"Image": "busybox", "Cmd": ["sh", "-c", script],
            "HostConfig": {
                "Binds": [format!("{src}:/plain"), format!("{src}:/bound:idmap")],
                "Mounts": [{"Type": "bind", "Source": src, "Target": "/mapped",
                            "BindOptions": {"IDMap": true}}]}}))
        .await;
    assert_eq!(
        (code, out.lines().collect::<Vec<_>>()),
        (
            0,
            vec![
                "65534:65534",
                "65534:65534",
                "0:0",
                "1000:1000",
                "1000:1000",
                "made"
            ]
        ),
        "expected the plain bind's files as nobody, the idmapped binds' with their host ids, and \
         the container's root able to write in the idmapped one"
    );
    let m = std::fs::metadata(dir.path().join("made-inside")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "a file the container's root made through the idmapped bind is the host's root's"
    );

    // Without a user namespace of its own there is nothing to map into: refused.
    for host in [
        json!({"UsernsMode": "host", "Mounts": [{"Type": "bind", "Source": src, "Target": "/m",
                                                  "BindOptions": {"IDMap": true}}]}),
        json!({"UsernsMode": "host", "Binds": [format!("{src}:/m:idmap")]}),
    ] {
        let r = b
            .post_json(
                "/containers/create",
                &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": host}),
            )
            .await;
        r.assert_error(
            400,
            &format!("invalid mount of {src}: the idmap option needs a user namespace of the container's own (--userns private, or the engine's --userns-remap)"),
            &host.to_string(),
        );
    }
}
