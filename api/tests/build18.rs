//! What a build leaves in the image listings (issue 18): its intermediate step images are
//! hidden from `GET /images/json` unless `all=1`, are not `dangling`, and an image prune
//! keeps them while a named image is built on them, as dockerd does.

use crate::build_support::build_file;
use crate::common::{encode, Berth};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const DOCKERFILE: &str = "FROM busybox\nENV A=1\nCOPY f /f\nRUN echo made > /made\nLABEL l=1\n";

async fn ids(b: &Berth, query: &str) -> BTreeSet<String> {
    let r = b.get(&format!("/images/json{query}")).await;
    assert_eq!(r.status, 200, "GET /images/json{query}: {}", r.text());
    let v: Value = r.json();
    v.as_array()
        .unwrap_or_else(|| panic!("GET /images/json{query}: not a list: {v}"))
        .iter()
        .map(|i| i["Id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn dangling(v: bool) -> String {
    format!(
        "?filters={}",
        encode(&json!({"dangling": [v.to_string()]}).to_string())
    )
}

/// The image ids of a tag and of every image below it (its `Parent` chain).
async fn chain(b: &Berth, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut next = name.to_string();
    while !next.is_empty() {
        let img = b.get(&format!("/images/{next}/json")).await.json();
        let id = img["Id"].as_str().unwrap_or_default().to_string();
        assert!(!id.is_empty(), "inspect {next}: {img}");
        out.insert(id);
        next = img["Parent"].as_str().unwrap_or_default().to_string();
    }
    out
}

#[tokio::test]
async fn intermediate_images_are_listed_with_all_only() {
    let b = Berth::with_busybox().await;
    let busybox = ids(&b, "").await;
    let built = build_file(&b, "layered:1", DOCKERFILE, &[("f", "f\n")])
        .await
        .ok()
        .id();
    let steps = chain(&b, "layered:1").await;
    // Four steps after FROM: four images, each on the one before, the first on busybox's.
    assert_eq!(steps.len(), 5, "the built image's parent chain: {steps:?}");

    let mut want: BTreeSet<String> = busybox.clone();
    want.insert(built.clone());
    let shown = ids(&b, "").await;
    assert_eq!(
        shown, want,
        "docker images: want busybox and the built image only, got {shown:?}"
    );
    let mut everything = busybox.clone();
    everything.extend(steps.iter().cloned());
    let all = ids(&b, "?all=1").await;
    assert_eq!(
        all, everything,
        "docker images -a: want the intermediate images too"
    );
    let d = ids(&b, &dangling(true)).await;
    assert!(
        d.is_empty(),
        "dangling=true: intermediate images are not dangling: {d:?}"
    );
    let named = ids(&b, &dangling(false)).await;
    assert_eq!(named, want, "dangling=false: the named images");

    // Pruning dangling images leaves the intermediates of a named image.
    let r = b.post("/images/prune").await;
    assert_eq!(r.status, 200, "prune: {}", r.text());
    let after = ids(&b, "?all=1").await;
    assert_eq!(
        after,
        everything,
        "prune removed a named image's parents: {}",
        r.text()
    );
}

#[tokio::test]
async fn prune_takes_a_dangling_build_with_its_own_steps() {
    let b = Berth::with_busybox().await;
    let old = build_file(&b, "rebuilt:1", DOCKERFILE, &[("f", "old\n")])
        .await
        .ok()
        .id();
    let old_chain = chain(&b, "rebuilt:1").await;
    // The same tag built again with another file: the old image loses its name.
    let new = build_file(&b, "rebuilt:1", DOCKERFILE, &[("f", "new\n")])
        .await
        .ok()
        .id();
    assert_ne!(old, new, "the second build made the same image");
    let new_chain = chain(&b, "rebuilt:1").await;
    let d = ids(&b, &dangling(true)).await;
    assert_eq!(
        d,
        BTreeSet::from([old.clone()]),
        "dangling=true after a rebuild: the old image only"
    );
    let r = b.post("/images/prune").await;
    assert_eq!(r.status, 200, "prune: {}", r.text());
    let left = ids(&b, "?all=1").await;
    let busybox = ids(&b, "?filters=%7B%22reference%22%3A%5B%22busybox%22%5D%7D").await;
    let mut want = new_chain.clone();
    want.extend(busybox);
    assert_eq!(
        left, want,
        "after prune: want the new build's chain and busybox; the old chain was {old_chain:?}"
    );
}

#[tokio::test]
async fn dangling_filter_values_as_dockerd() {
    let b = Berth::with_busybox().await;
    let r = b
        .get(&format!(
            "/images/json?filters={}",
            encode(r#"{"dangling":["maybe"]}"#)
        ))
        .await;
    r.assert_error(
        400,
        "Invalid filter 'dangling=[maybe]'",
        "GET /images/json with dangling=maybe",
    );
}

/// The part of a build's stream after `Step n/m : <step>` up to the next step.
fn step_part<'t>(text: &'t str, step: &str) -> &'t str {
    let after = text
        .split_once(&format!(" : {step}\n"))
        .unwrap_or_else(|| panic!("no step {step:?} in the stream: {text}"))
        .1;
    after.split("Step ").next().unwrap_or("")
}

/// " ---> Running in <id>\nRemoving intermediate container <id>\n" with one id: that id.
fn container_of(part: &str) -> Option<String> {
    let id = part
        .split_once(" ---> Running in ")?
        .1
        .get(..12)?
        .to_string();
    part.contains(&format!("Removing intermediate container {id}\n"))
        .then_some(id)
}

#[tokio::test]
async fn metadata_steps_show_their_container_as_dockerd() {
    let b = Berth::with_busybox().await;
    let df = "FROM busybox\nENV A=1\nLABEL l=1\nWORKDIR /w\nCMD [\"sh\"]\n";
    let text = build_file(&b, "meta:1", df, &[]).await.ok().text();
    for step in ["ENV A=1", "LABEL l=1", "WORKDIR /w", "CMD [\"sh\"]"] {
        let part = step_part(&text, step);
        assert!(
            container_of(part).is_some(),
            "step {step}: want ' ---> Running in <id>' and 'Removing intermediate container \
             <id>' as dockerd prints them, got {part:?}"
        );
    }
    let cs = b.get("/containers/json?all=1").await.json();
    assert_eq!(cs, json!([]), "the build left containers");

    // rm=false leaves each step's container, as dockerd does; a cached step makes none.
    let r = crate::build_support::build(
        &b,
        "rm=false&nocache=1",
        crate::build_support::context(&[("Dockerfile", "FROM busybox\nENV B=2\n")]),
    )
    .await
    .ok();
    let text = r.text();
    let part = step_part(&text, "ENV B=2");
    let id = part
        .split_once(" ---> Running in ")
        .map(|(_, rest)| rest[..12].to_string())
        .unwrap_or_else(|| panic!("rm=false: no container for ENV B=2: {part:?}"));
    assert!(
        !part.contains("Removing intermediate container"),
        "rm=false removed the step's container: {part:?}"
    );
    let cs = b.get("/containers/json?all=1").await.json();
    let ids: Vec<&str> = cs
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["Id"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        ids.len() == 1 && ids[0].starts_with(&id),
        "rm=false: want the step's container {id} left, got {cs}"
    );
}
