//! Archive paths no file can have are the client's error: a NUL byte (which the kernel refuses
//! with EINVAL) and a name longer than the kernel takes were 500s (schemathesis, issue 20).
//! Needs root and `cargo build --workspace` first.

use crate::common;

use common::Berth;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_byte_or_an_overlong_name_in_an_archive_path_is_a_400() {
    let b = Berth::with_busybox().await;
    b.create(Some("paths"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let nul = "/containers/paths/archive?path=/etc%00x";
    let r = b.get(nul).await;
    r.assert_error(
        400,
        "invalid path \"/etc\\0x\": it contains a NUL byte",
        "GET archive, a NUL in the path",
    );
    let r = b.call("PUT", nul, common::busybox_tar()).await;
    r.assert_error(
        400,
        "invalid path \"/etc\\0x\": it contains a NUL byte",
        "PUT archive, a NUL in the path",
    );
    let r = b.call("HEAD", nul, "").await;
    assert_eq!(r.status.as_u16(), 400, "HEAD archive, a NUL in the path");
    let long = format!("/containers/paths/archive?path=/{}", "a".repeat(300));
    let r = b.get(&long).await;
    assert_eq!(
        r.status.as_u16(),
        400,
        "expected 400 for a 300-byte name (ENAMETOOLONG), got: {}",
        r.text()
    );
}
