//! Bounds on what an image load or pull writes, through a real `berth serve` started with
//! BERTH_LOAD_MAX_BYTES=1 MiB: a gzip bomb as the archive, a gzip bomb as a layer, a gzip bomb
//! imported, and a registry blob whose manifest gives no size. Each is refused with the limit
//! named and leaves nothing: no image, no layer, no temporary directory.

use crate::common;
use common::tar_of;

use common::{Berth, ServeOptions};
use serde_json::{json, Value};
use sha2::Digest;
use std::io::Write;

const LIMIT: u64 = 1 << 20;

fn limited() -> Berth {
    Berth::start_with(ServeOptions {
        env: vec![("BERTH_LOAD_MAX_BYTES".into(), LIMIT.to_string())],
        ..ServeOptions::default()
    })
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

/// A layer tar holding one file of `size` zero bytes.
fn zeros_layer(size: usize) -> Vec<u8> {
    tar_of(&[("zeros", &vec![0u8; size])])
}

fn config_for(layer_tar: &[u8]) -> Vec<u8> {
    json!({"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": [sha(layer_tar)]}})
    .to_string()
    .into_bytes()
}

/// A `docker save` archive of one image `bomb:1` whose layer file holds `layer_file`.
fn save_archive(layer_tar: &[u8], layer_file: &[u8]) -> Vec<u8> {
    let manifest = json!([{"Config": "c.json", "RepoTags": ["bomb:1"], "Layers": ["l/layer.tar"]}]);
    tar_of(&[
        ("manifest.json", manifest.to_string().as_bytes()),
        ("c.json", &config_for(layer_tar)),
        ("l/layer.tar", layer_file),
    ])
}

/// The error line of an ndjson answer (load and pull answer 200 and stream their error).
fn stream_error(body: &str) -> String {
    body.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("expected an error line in the answer, got {body:?}"))
}

/// Nothing of a refused load or pull remains.
async fn assert_nothing_left(b: &Berth, what: &str) {
    let images = b.get("/images/json").await.json();
    assert_eq!(images, json!([]), "{what}: expected no image, got {images}");
    for dir in ["tmp", "layers"] {
        let p = b.root().join(dir);
        let left: Vec<_> = std::fs::read_dir(&p)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "{what}: expected {} empty, found {left:?}",
            p.display()
        );
    }
}

fn assert_names_the_limit(err: &str, what: &str) {
    assert!(
        err.contains(&format!("limit of {LIMIT} bytes")) && err.contains("BERTH_LOAD_MAX_BYTES"),
        "{what}: expected a refusal naming the limit of {LIMIT} bytes (BERTH_LOAD_MAX_BYTES), got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_archive_is_refused_and_leaves_nothing() {
    let b = limited();
    // 8 MiB of layer in a gzip of a few KiB.
    let layer = zeros_layer(8 << 20);
    let bomb = gzip(&save_archive(&layer, &layer));
    assert!(bomb.len() < 64 << 10, "the bomb is {} bytes", bomb.len());
    let r = b.call("POST", "/images/load?quiet=1", bomb).await;
    let err = stream_error(&r.text());
    assert_names_the_limit(&err, "a gzip bomb archive");
    assert!(
        err.contains("the image archive"),
        "expected the archive named, got {err:?}"
    );
    assert_nothing_left(&b, "a gzip bomb archive").await;

    // Under the limit, the same shape loads.
    let small = zeros_layer(64 << 10);
    let r = b
        .call(
            "POST",
            "/images/load?quiet=1",
            gzip(&save_archive(&small, &small)),
        )
        .await;
    assert!(
        r.text().contains("Loaded image: bomb:1"),
        "a small archive: {}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_layer_is_refused_and_leaves_nothing() {
    let b = limited();
    let layer = zeros_layer(8 << 20);
    let archive = save_archive(&layer, &gzip(&layer));
    assert!(
        archive.len() < 64 << 10,
        "the archive is {} bytes",
        archive.len()
    );
    let r = b.call("POST", "/images/load?quiet=1", archive).await;
    let err = stream_error(&r.text());
    assert_names_the_limit(&err, "a gzip bomb layer");
    assert!(
        err.contains("layer l/layer.tar"),
        "expected the layer named, got {err:?}"
    );
    assert_nothing_left(&b, "a gzip bomb layer").await;
}

/// A registry whose manifest gives its layer no size, then serves 4 MiB for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_without_a_size_is_read_up_to_the_budget() {
    use axum::routing::get;
    let layer = zeros_layer(4 << 20);
    let config = config_for(&layer);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                    "digest": sha(&layer), "size": 0}],
    })
    .to_string();
    let (config_path, layer_path) = (
        format!("/v2/app/blobs/{}", sha(&config)),
        format!("/v2/app/blobs/{}", sha(&layer)),
    );
    let app = axum::Router::new()
        .route(
            "/v2/",
            get(|| async { ([("docker-distribution-api-version", "registry/2.0")], "{}") }),
        )
        .route(
            "/v2/app/manifests/1",
            get(move || async move {
                (
                    [(
                        "content-type",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    )],
                    manifest,
                )
            }),
        )
        .route(&config_path, get(move || async move { config }))
        .route(&layer_path, get(move || async move { layer }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let registry = tokio::spawn(async move { axum::serve(listener, app).await });

    let b = limited();
    let r = b
        .call(
            "POST",
            &format!("/images/create?fromImage=127.0.0.1:{port}/app&tag=1"),
            "",
        )
        .await;
    let err = stream_error(&r.text());
    assert_names_the_limit(&err, "a blob without a size");
    assert!(
        err.contains("its manifest gives no size"),
        "expected the reason, got {err:?}"
    );
    assert_nothing_left(&b, "a blob without a size").await;
    registry.abort();
}

/// `docker import` counts against the same budget: a gzip bomb imported is refused with the
/// limit named and leaves nothing; a small tarball still imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_import_is_refused_and_leaves_nothing() {
    let b = limited();
    let bomb = gzip(&zeros_layer(8 << 20));
    assert!(bomb.len() < 64 << 10, "the bomb is {} bytes", bomb.len());
    let r = b
        .call("POST", "/images/create?fromSrc=-&repo=bomb&tag=1", bomb)
        .await;
    let err = stream_error(&r.text());
    assert_names_the_limit(&err, "a gzip bomb import");
    assert!(
        err.contains("the imported tarball"),
        "expected the tarball named, got {err:?}"
    );
    assert_nothing_left(&b, "a gzip bomb import").await;

    let r = b
        .call(
            "POST",
            "/images/create?fromSrc=-&repo=small&tag=1",
            gzip(&zeros_layer(64 << 10)),
        )
        .await;
    assert!(
        r.text().contains("\"status\":\"sha256:"),
        "a small tarball: expected the new image's id, got {}",
        r.text()
    );
}
