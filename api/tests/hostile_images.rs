//! Images whose config carries hostile text, through a real `berth serve` (issue 20): a
//! `created` that is no time, in characters whose bytes do not split where a zone would be, is
//! listed as created at 0, as are its history entries, and the listing keeps working for
//! everyone.

use crate::common;
use common::tar_of;

use common::Berth;
use serde_json::json;
use sha2::Digest;

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// A `docker save` archive of one image `tag` whose config says it was created at `created`.
fn archive_created_at(tag: &str, created: &str) -> Vec<u8> {
    let layer = tar_of(&[("hello", b"hello\n")]);
    let config = json!({"architecture": "amd64", "os": "linux", "config": {},
        "created": created,
        "history": [{"created": created, "created_by": "hostile"}],
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}})
    .to_string();
    let manifest = json!([{"Config": "c.json", "RepoTags": [tag], "Layers": ["l/layer.tar"]}]);
    tar_of(&[
        ("manifest.json", manifest.to_string().as_bytes()),
        ("c.json", config.as_bytes()),
        ("l/layer.tar", &layer),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_time_of_any_characters_lists_as_zero() {
    let b = Berth::start();
    for (tag, created) in [("euro:1", "€é€"), ("zone:1", "2024-01-02T03:04:05é€")] {
        let r = b
            .call(
                "POST",
                "/images/load?quiet=1",
                archive_created_at(tag, created),
            )
            .await;
        assert!(
            r.text().contains(&format!("Loaded image: {tag}")),
            "loading {tag}: expected it loaded, got {}",
            r.text()
        );
    }
    let r = b.get("/images/json").await;
    assert_eq!(r.status, 200, "listing images: {}", r.text());
    let list = r.json();
    let rows = list.as_array().expect("an array of images");
    assert_eq!(rows.len(), 2, "expected both images listed, got {list}");
    for row in rows {
        assert_eq!(row["Created"], 0, "expected Created 0, got {row}");
    }
    let r = b.get("/images/euro:1/history").await;
    assert_eq!(r.status, 200, "history: {}", r.text());
    assert_eq!(
        r.json()[0]["Created"],
        0,
        "expected the history entry created at 0, got {}",
        r.text()
    );
    let r = b
        .get("/images/json?filters=%7B%22since%22%3A%5B%22euro%3A1%22%5D%7D")
        .await;
    assert_eq!(r.status, 200, "images since euro:1: {}", r.text());
}

/// A config that names `rootfs` twice: JSON that a permissive reader takes (the last wins) but
/// the listing's does not. It is refused at load, and `docker images` keeps working (the load
/// fuzz target found the listing failing after such a load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_a_field_twice_is_refused_at_load() {
    let b = Berth::start();
    let layer = tar_of(&[("hello", b"hello\n")]);
    let rootfs = json!({"type": "layers", "diff_ids": [sha(&layer)]}).to_string();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{rootfs},"rootfs":{rootfs}}}"#
    );
    let manifest =
        json!([{"Config": "c.json", "RepoTags": ["twice:1"], "Layers": ["l/layer.tar"]}]);
    let archive = tar_of(&[
        ("manifest.json", manifest.to_string().as_bytes()),
        ("c.json", config.as_bytes()),
        ("l/layer.tar", &layer),
    ]);
    let r = b.call("POST", "/images/load?quiet=1", archive).await;
    assert!(
        r.text().contains("duplicate field `rootfs`"),
        "expected the load refused, naming the field given twice; got {} {}",
        r.status,
        r.text()
    );
    let r = b.get("/images/json").await;
    assert_eq!(r.status, 200, "listing images: {}", r.text());
    assert_eq!(r.json(), json!([]), "expected no image loaded");
}
