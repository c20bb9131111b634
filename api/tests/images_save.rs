//! `docker save` end to end, as root: archives come back with the layer tars exactly as loaded
//! (gzip, zstd or plain), load again into a fresh store, and stream over HTTP.

use berth::engine::Engine;
use berth_shim::Paths;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::new(Paths::new(dir.path().join("root"), dir.path().join("run")));
    (dir, e)
}

fn sha(b: &[u8]) -> String {
    berth::engine::images::store::sha256_hex(b)
}

/// A layer tar whose bytes berth could not rebuild from the files: PAX headers, an owner name,
/// a whiteout and entries out of order.
fn odd_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(5);
    h.set_mode(0o640);
    h.set_username("alice").unwrap();
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, "zeta/file", &b"zzzzz"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/.wh.gone", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "alpha", &b"abc"[..]).unwrap();
    b.into_inner().unwrap()
}

fn files_of(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(archive);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

/// A `docker save` archive of one image with `layers` (stored as given, maybe compressed).
fn archive(layers: &[(Vec<u8>, Vec<u8>)], tags: &[&str]) -> (Vec<u8>, String) {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(plain, _)| format!("sha256:{}", sha(plain)))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let id = sha(&config);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    let names: Vec<String> = (0..layers.len()).map(|i| format!("l{i}.tar")).collect();
    for (n, (_, stored)) in names.iter().zip(layers) {
        add(n, stored);
    }
    add("c.json", &config);
    add(
        "manifest.json",
        json!([{"Config": "c.json", "RepoTags": tags, "Layers": names}])
            .to_string()
            .as_bytes(),
    );
    (b.into_inner().unwrap(), format!("sha256:{id}"))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

#[test]
fn save_serves_layers_byte_for_byte_and_loads_back() {
    let (_d, e) = engine();
    let l0 = odd_layer();
    let mut l1b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    l1b.append_data(&mut h, "top", &b"hi"[..]).unwrap();
    let l1 = l1b.into_inner().unwrap();
    let z1 = zstd::encode_all(&l1[..], 3).unwrap();
    let (a, id) = archive(
        &[(l0.clone(), gzip(&l0)), (l1.clone(), z1)],
        &["app:1", "app:2"],
    );
    e.load(&a[..]).unwrap();

    let mut out = Vec::new();
    e.plan_save(&["app".to_string()])
        .unwrap()
        .write(&mut out)
        .unwrap();
    let files = files_of(&out);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 1, "{manifest}");
    let m = &manifest[0];
    let mut tags: Vec<String> = serde_json::from_value(m["RepoTags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["app:1", "app:2"]);
    assert_eq!(m["Config"], format!("blobs/sha256/{}", &id[7..]));
    let layers: Vec<String> = serde_json::from_value(m["Layers"].clone()).unwrap();
    assert_eq!(files[&layers[0]], l0, "layer 0 must come back as loaded");
    assert_eq!(files[&layers[1]], l1, "layer 1 must come back decompressed");
    let repos: Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert!(repos["app"]["1"].is_string(), "{repos}");
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    assert!(files.contains_key("oci-layout"));

    // The archive loads into a fresh store as the same image, through either format.
    let (_d2, e2) = engine();
    let lines = e2.load(&out[..]).unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(e2.image("app:2").unwrap().id, id);
    let mut no_manifest = tar::Builder::new(Vec::new());
    for (name, data) in &files {
        if name != "manifest.json" && !name.ends_with('/') {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            no_manifest.append_data(&mut h, name, &data[..]).unwrap();
        }
    }
    let (_d3, e3) = engine();
    e3.load(&no_manifest.into_inner().unwrap()[..]).unwrap();
    assert_eq!(e3.image("app:1").unwrap().id, id);

    // By id: no tags; a missing name fails before anything is written.
    let mut out = Vec::new();
    e.plan_save(&[id[7..19].to_string()])
        .unwrap()
        .write(&mut out)
        .unwrap();
    let manifest: Value = serde_json::from_slice(&files_of(&out)["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!([]));
    let err = e
        .plan_save(&["app:1".into(), "nothere".into()])
        .unwrap_err();
    assert_eq!(err.to_string(), "No such image: nothere:latest");
}

#[test]
fn save_of_two_images_sharing_a_layer_writes_it_once() {
    let (_d, e) = engine();
    let l0 = odd_layer();
    let (a, _) = archive(&[(l0.clone(), l0.clone())], &["one:1"]);
    e.load(&a[..]).unwrap();
    let mut top = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    top.append_data(&mut h, "x", &b"x"[..]).unwrap();
    let top = top.into_inner().unwrap();
    let (a, _) = archive(&[(l0.clone(), l0.clone()), (top.clone(), top)], &["two:1"]);
    e.load(&a[..]).unwrap();
    let mut out = Vec::new();
    e.plan_save(&["one:1".into(), "two:1".into()])
        .unwrap()
        .write(&mut out)
        .unwrap();
    let mut a = tar::Archive::new(&out[..]);
    let shared = format!("blobs/sha256/{}", sha(&l0));
    let n = a
        .entries()
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().unwrap().to_string_lossy() == shared)
        .count();
    assert_eq!(n, 1, "the shared layer is written once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_over_http() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let (_d, e) = engine();
    let l0 = odd_layer();
    let (a, id) = archive(&[(l0.clone(), gzip(&l0))], &["web:1"]);
    e.load(&a[..]).unwrap();
    let app = berth::http::router(berth::http::AppState { engine: e });
    for uri in ["/images/get?names=web%3A1", "/images/web:1/get"] {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        assert_eq!(resp.headers()["content-type"], "application/x-tar");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let files = files_of(&body);
        assert!(files.contains_key(&format!("blobs/sha256/{}", &id[7..])));
        assert_eq!(files[&format!("blobs/sha256/{}", sha(&l0))], l0, "{uri}");
    }
    let req = Request::builder()
        .uri("/images/nope:1/get")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A layer dir packs back into a layer tar with its whiteouts as `.wh.` entries, and that tar
/// unpacks to the same tree.
#[test]
fn pack_layer_turns_overlay_whiteouts_back() {
    use berth::engine::images::pack::pack_layer;
    use berth::engine::images::unpack::{unpack_layer, Limits};
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir.clone(), "opq/", &[][..]).unwrap();
    for name in ["opq/.wh..wh..opq", ".wh.gone"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &[][..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o600);
    b.append_data(&mut h, "opq/kept", &b"ok"[..]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d1 = tmp.path().join("one");
    std::fs::create_dir(&d1).unwrap();
    unpack_layer(&b.into_inner().unwrap()[..], &d1, &Limits::default()).unwrap();

    let packed = pack_layer(&d1, &Default::default(), None, Vec::new()).unwrap();
    let names: Vec<String> = files_of(&packed).into_keys().collect();
    assert_eq!(
        names,
        [".wh.gone", "opq/", "opq/.wh..wh..opq", "opq/kept"],
        "entries of the packed layer"
    );
    let d2 = tmp.path().join("two");
    std::fs::create_dir(&d2).unwrap();
    unpack_layer(&packed[..], &d2, &Limits::default()).unwrap();
    let again = pack_layer(&d2, &Default::default(), None, Vec::new()).unwrap();
    assert_eq!(
        files_of(&again),
        files_of(&packed),
        "a second round trip changes nothing"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(d2.join("gone"))
        .unwrap()
        .file_type()
        .is_char_device());
}
