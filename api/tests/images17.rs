//! Issue 17, images: the image list's `until`, `shared-size` and `digests`; `rmi`'s parent
//! pruning and `noprune`; inspect's `size`; `platform` on create, pull, save, load and history.

use crate::common::registry::Registry;
use crate::common::tar_of;
use crate::common::{encode, Berth};
use serde_json::{json, Value};
use sha2::Digest;

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// A `docker save` archive of one image of `arch` (and `variant`) tagged `tag`.
fn foreign_archive(tag: &str, arch: &str, variant: &str) -> Vec<u8> {
    let layer = tar_of(&[("arch", arch.as_bytes())]);
    let mut cfg = json!({
        "architecture": arch, "os": "linux", "config": {"Cmd": ["/arch"]},
        "created": "2024-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]},
    });
    if !variant.is_empty() {
        cfg["variant"] = json!(variant);
    }
    let cfg = cfg.to_string().into_bytes();
    let manifest = json!([{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]);
    tar_of(&[
        ("config.json", &cfg),
        ("layer.tar", &layer),
        ("manifest.json", manifest.to_string().as_bytes()),
    ])
}

async fn load(b: &Berth, path: &str, archive: Vec<u8>) -> String {
    let r = b.call("POST", path, archive).await;
    assert_eq!(r.status, 200, "load: {}", r.text());
    r.text()
}

/// Run a container from `image` that writes `bytes` bytes, commit it as `repo` (empty: no tag),
/// remove the container; the new image's id.
async fn commit_child(b: &Berth, image: &str, repo: &str, bytes: usize) -> String {
    let id = b
        .run(
            None,
            &json!({"Image": image, "Cmd": ["sh", "-c", format!("head -c {bytes} /dev/zero > /f")]}),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0, "the container's command");
    let q = if repo.is_empty() {
        String::new()
    } else {
        format!("&repo={repo}")
    };
    let r = b.post(&format!("/commit?container={id}{q}")).await;
    assert_eq!(r.status, 201, "commit: {}", r.text());
    let img = r.json()["Id"].as_str().unwrap().to_string();
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(r.status, 204, "rm: {}", r.text());
    img
}

fn ids(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, got {list}"))
        .iter()
        .map(|i| i["Id"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn image_list_until_shared_size_and_digests() {
    let b = Berth::with_busybox().await;
    let base = b.get("/images/busybox/json").await.json();
    let base_id = base["Id"].as_str().unwrap().to_string();
    let created = base["Created"].as_str().unwrap();
    let base_secs = humantime::parse_rfc3339_weak(created)
        .or_else(|_| humantime::parse_rfc3339(created))
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The child must be made in a later second than the base for a bound between them.
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= base_secs
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let child = commit_child(&b, "busybox", "child17", 3000).await;

    // until: a timestamp keeps the images created before it; a duration counts back from now.
    let f = |s: &str| encode(&json!({"until": [s]}).to_string());
    let r = b
        .get(&format!(
            "/images/json?filters={}",
            f(&(base_secs + 1).to_string())
        ))
        .await;
    assert_eq!(r.status, 200, "until: {}", r.text());
    assert_eq!(
        ids(&r.json()),
        vec![base_id.clone()],
        "until the second after busybox's creation: busybox only"
    );
    let r = b.get(&format!("/images/json?filters={}", f("24h"))).await;
    assert_eq!(ids(&r.json()), Vec::<String>::new(), "until 24h ago: none");
    b.get(&format!("/images/json?filters={}", f("yesterday")))
        .await
        .assert_error(
            400,
            "invalid value for 'until' filter: failed to parse value as time or duration: \
             \"yesterday\"",
            "a bad until",
        );

    // shared-size: the base's layer is shared by both images; -1 when not asked or before 1.42.
    let list = b.get("/images/json?shared-size=1").await.json();
    let size_of = |id: &str, field: &str, list: &Value| -> Value {
        list.as_array()
            .unwrap()
            .iter()
            .find(|i| i["Id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {list}"))[field]
            .clone()
    };
    for id in [&base_id, &child] {
        assert_eq!(
            size_of(id, "SharedSize", &list),
            base["Size"],
            "SharedSize of {id}: the busybox layer both have"
        );
    }
    let plain = b.get("/images/json").await.json();
    assert_eq!(size_of(&child, "SharedSize", &plain), json!(-1), "unasked");
    let old = b.get("/v1.41/images/json?shared-size=1").await.json();
    assert_eq!(size_of(&child, "SharedSize", &old), json!(-1), "API 1.41");

    // digests: dockerd shows RepoDigests whatever it says.
    for q in ["digests=1", "digests=0"] {
        let l = b.get(&format!("/images/json?{q}")).await.json();
        assert!(
            size_of(&base_id, "RepoDigests", &l).is_array(),
            "{q}: RepoDigests expected, got {l}"
        );
    }
}

#[tokio::test]
async fn inspect_size_counts_the_upper_dir_and_the_image() {
    let b = Berth::with_busybox().await;
    let image_size = b.get("/images/busybox/json").await.json()["Size"]
        .as_u64()
        .unwrap();
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "head -c 7000 /dev/zero > /f"]}),
        )
        .await;
    assert_eq!(b.wait(&id).await, 0);
    let plain = b.inspect(&id).await;
    assert!(
        plain.get("SizeRw").is_none() && plain.get("SizeRootFs").is_none(),
        "without size: no SizeRw or SizeRootFs, got {:?} {:?}",
        plain.get("SizeRw"),
        plain.get("SizeRootFs")
    );
    let v = b
        .get(&format!("/containers/{id}/json?size=true"))
        .await
        .json();
    let rw = v["SizeRw"].as_u64().unwrap_or(0);
    assert!(
        (7000..100_000).contains(&rw),
        "SizeRw: the 7000-byte file, got {}",
        v["SizeRw"]
    );
    assert_eq!(
        v["SizeRootFs"].as_u64(),
        Some(rw + image_size),
        "SizeRootFs: the image's {image_size} bytes and SizeRw {rw}"
    );
    let ps = b.get("/containers/json?all=1&size=1").await.json();
    assert_eq!(
        ps[0]["SizeRootFs"].as_u64(),
        Some(rw + image_size),
        "ps --size: SizeRootFs as inspect's, got {ps}"
    );
}

#[tokio::test]
async fn rmi_prunes_untagged_parents_unless_noprune() {
    let b = Berth::with_busybox().await;
    let exists = |id: String| {
        let b = &b;
        async move { b.get(&format!("/images/{id}/json")).await.status == 200 }
    };
    // busybox <- p (untagged once it has a child) <- c1.
    let p = commit_child(&b, "busybox", "p17", 1000).await;
    let c1 = commit_child(&b, "p17", "c17", 2000).await;
    let r = b.call("DELETE", "/images/p17", "").await;
    assert_eq!(r.status, 200, "untag p17: {}", r.text());
    assert_eq!(
        r.json(),
        json!([{"Untagged": "p17:latest"}]),
        "an image with a child is untagged, not deleted"
    );
    assert!(exists(p.clone()).await, "p kept for its child");
    let r = b.call("DELETE", &format!("/images/{p}"), "").await;
    r.assert_error(
        409,
        &format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            &p[7..19]
        ),
        "rmi of an image with a child",
    );

    let r = b.call("DELETE", "/images/c17?noprune=1", "").await;
    assert_eq!(r.status, 200, "rmi --no-prune: {}", r.text());
    let deleted: Vec<Value> = r.json().as_array().unwrap().clone();
    assert!(
        deleted.contains(&json!({"Deleted": c1})) && !deleted.contains(&json!({"Deleted": p})),
        "noprune: c17 deleted, its parent kept: {deleted:?}"
    );
    assert!(exists(p.clone()).await, "noprune keeps the untagged parent");

    // Another child of p, removed with the default prune: p goes too, busybox (tagged) stays.
    let c2 = commit_child(&b, &p, "c17b", 2000).await;
    let r = b.call("DELETE", "/images/c17b", "").await;
    assert_eq!(r.status, 200, "rmi: {}", r.text());
    let deleted: Vec<Value> = r.json().as_array().unwrap().clone();
    assert!(
        deleted.contains(&json!({"Deleted": c2})) && deleted.contains(&json!({"Deleted": p})),
        "prune: the child and its untagged parent deleted: {deleted:?}"
    );
    assert!(!exists(p).await, "the untagged parent is gone");
    assert!(exists("busybox".into()).await, "the tagged base stays");
}

#[tokio::test]
async fn create_and_history_check_the_platform() {
    let b = Berth::with_busybox().await;
    load(&b, "/images/load", foreign_archive("arm17:1", "arm64", "")).await;
    load(&b, "/images/load", foreign_archive("armv7:1", "arm", "v7")).await;
    let create = |image: &str, platform: &str| {
        let (b, image, platform) = (&b, image.to_string(), encode(platform));
        async move {
            b.post_json(
                &format!("/containers/create?platform={platform}"),
                &json!({"Image": image, "Cmd": ["true"]}),
            )
            .await
        }
    };
    for p in ["amd64", "linux/amd64", "linux/x86_64", "linux"] {
        let r = create("busybox", p).await;
        assert_eq!(r.status, 201, "platform {p} for busybox: {}", r.text());
    }
    create("busybox", "linux/arm64").await.assert_error(
        404,
        "image with reference busybox was found but its platform (linux/amd64) does not match \
         the specified platform (linux/arm64)",
        "create of busybox for arm64",
    );
    let r = create("arm17:1", "linux/aarch64").await;
    assert_eq!(r.status, 201, "the arm64 image for arm64: {}", r.text());
    let r = create("armv7:1", "linux/arm/v7").await;
    assert_eq!(r.status, 201, "the arm/v7 image for arm/v7: {}", r.text());
    create("armv7:1", "linux/arm/v6").await.assert_error(
        404,
        "image with reference armv7:1 was found but its platform (linux/arm/v7) does not match \
         the specified platform (linux/arm/v6)",
        "an arm/v7 image for arm/v6",
    );
    create("busybox", "foo").await.assert_error(
        400,
        "\"foo\": unknown operating system or architecture: invalid argument",
        "an unknown platform",
    );

    // history (API 1.48): an OCI platform object.
    let arm = encode(r#"{"os":"linux","architecture":"arm64"}"#);
    let amd = encode(r#"{"os":"linux","architecture":"amd64"}"#);
    b.get(&format!("/v1.48/images/busybox/history?platform={arm}"))
        .await
        .assert_error(
            404,
            "image with reference busybox was found but its platform (linux/amd64) does not \
             match the specified platform (linux/arm64)",
            "history for arm64",
        );
    let r = b
        .get(&format!("/v1.48/images/busybox/history?platform={amd}"))
        .await;
    assert_eq!(r.status, 200, "history for amd64: {}", r.text());
    let r = b
        .get(&format!("/v1.47/images/busybox/history?platform={arm}"))
        .await;
    assert_eq!(r.status, 200, "API 1.47 reads no platform: {}", r.text());
    b.get(&format!(
        "/v1.48/images/busybox/history?platform={}",
        encode(r#"{"os":"linux"}"#)
    ))
    .await
    .assert_error(
        400,
        "both OS and Architecture must be provided",
        "half a platform",
    );
}

#[tokio::test]
async fn save_and_load_take_a_platform() {
    let b = Berth::with_busybox().await;
    let arm = encode(r#"{"os":"linux","architecture":"arm64"}"#);
    let amd = encode(r#"{"os":"linux","architecture":"amd64"}"#);
    b.get(&format!("/v1.48/images/get?names=busybox&platform={arm}"))
        .await
        .assert_error(
            500,
            "no suitable export target found for platform linux/arm64",
            "save of busybox for arm64",
        );
    let r = b
        .get(&format!("/v1.48/images/busybox/get?platform={amd}"))
        .await;
    assert_eq!(r.status, 200, "save for amd64: {}", r.text());

    // load: an archive's image of another platform is skipped.
    load(
        &b,
        &format!("/v1.48/images/load?platform={amd}"),
        foreign_archive("arm17:1", "arm64", ""),
    )
    .await;
    assert_eq!(
        b.get("/images/arm17:1/json").await.status,
        404,
        "an arm64 image loaded for amd64"
    );
    load(
        &b,
        &format!("/v1.48/images/load?platform={arm}"),
        foreign_archive("arm17:1", "arm64", ""),
    )
    .await;
    assert_eq!(
        b.get("/images/arm17:1/json").await.status,
        200,
        "the arm64 image loaded for arm64"
    );
}

/// A pull of a manifest list picks the requested platform's entry; a single manifest of another
/// platform comes with dockerd's warning.
#[tokio::test]
async fn pull_picks_the_platform_of_a_manifest_list() {
    let dir = tempfile::tempdir().unwrap();
    let Some(reg) = Registry::start(dir.path(), None) else {
        return;
    };
    let host = format!("127.0.0.1:{}", reg.port);
    let b = Berth::start();
    let push = |tag: &'static str, arch: &'static str| {
        let (b, host) = (&b, host.clone());
        async move {
            load(
                b,
                "/images/load",
                foreign_archive(&format!("{host}/p17:{tag}"), arch, ""),
            )
            .await;
            let r = b.post(&format!("/images/{host}/p17/push?tag={tag}")).await;
            assert!(!r.text().contains("error"), "push {tag}: {}", r.text());
            let id = b
                .get(&format!("/images/{host}/p17:{tag}/json"))
                .await
                .json()["Id"]
                .clone();
            let resp = ureq::get(&format!("http://{host}/v2/p17/manifests/{tag}"))
                .header(
                    "accept",
                    "application/vnd.docker.distribution.manifest.v2+json",
                )
                .call()
                .unwrap();
            let body = resp.into_body().read_to_vec().unwrap();
            (
                id,
                json!({
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "digest": sha(&body), "size": body.len(),
                    "platform": {"os": "linux", "architecture": arch},
                }),
            )
        }
    };
    let (amd_id, amd) = push("amd", "amd64").await;
    let (arm_id, arm) = push("arm", "arm64").await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [arm, amd],
    });
    let resp = ureq::put(&format!("http://{host}/v2/p17/manifests/multi"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .send(index.to_string())
        .unwrap();
    assert_eq!(resp.status(), 201);
    // Pull into a fresh store, each platform in turn.
    let c = Berth::start();
    for (platform, want) in [("linux/arm64", &arm_id), ("linux/amd64", &amd_id)] {
        let r = c
            .post(&format!(
                "/images/create?fromImage={host}/p17&tag=multi&platform={}",
                encode(platform)
            ))
            .await;
        assert!(!r.text().contains("error"), "pull {platform}: {}", r.text());
        let got = c
            .get(&format!("/images/{host}/p17:multi/json"))
            .await
            .json();
        assert_eq!(
            &got["Id"], want,
            "pull for {platform}: {}",
            got["Architecture"]
        );
    }
    let r = c
        .post(&format!(
            "/images/create?fromImage={host}/p17&tag=multi&platform={}",
            encode("linux/arm/v7")
        ))
        .await;
    assert!(
        r.text()
            .contains("no matching manifest for linux/arm/v7 in the manifest list entries"),
        "a platform the list lacks: {}",
        r.text()
    );
    let r = c
        .post(&format!(
            "/images/create?fromImage={host}/p17&tag=arm&platform={}",
            encode("linux/amd64")
        ))
        .await;
    assert!(
        r.text().contains(&format!(
            "WARNING: image with reference {host}/p17:arm was found but its platform \
             (linux/arm64) does not match the specified platform (linux/amd64)"
        )),
        "a single arm64 manifest pulled for amd64: {}",
        r.text()
    );
}
