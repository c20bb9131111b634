//! docker build's failures (issue 18): dockerd's words, the exit code of a failed RUN, and
//! nothing left behind: no scratch dir, no container, no image.

use crate::build_support::{build, build_file, context, scratch_left};
use crate::common::Berth;
use serde_json::json;
use std::io::Write;

/// Nothing a client sees is left of a failed build: no container, no image but busybox.
async fn assert_nothing_left(b: &Berth, what: &str) {
    assert!(
        scratch_left(b).is_empty(),
        "{what}: scratch left: {:?}",
        scratch_left(b)
    );
    let cs = b.get("/containers/json?all=1").await.json();
    assert_eq!(cs, json!([]), "{what}: containers left");
}

#[tokio::test]
async fn failing_run_gives_dockerds_error_and_code() {
    let b = Berth::with_busybox().await;
    let r = build(
        &b,
        "t=bad&forcerm=1",
        context(&[("Dockerfile", "FROM busybox\nRUN exit 7\n")]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = r.error();
    let msg = "The command '/bin/sh -c exit 7' returned a non-zero code: 7";
    assert_eq!(
        e,
        json!({"errorDetail": {"message": msg, "code": 7}, "error": msg})
    );
    assert!(
        r.text().contains("Removing intermediate container"),
        "forcerm: {}",
        r.text()
    );
    assert_eq!(
        b.get("/images/bad/json").await.status,
        404,
        "no image tagged"
    );
    assert_nothing_left(&b, "failed RUN with forcerm").await;
    // Without forcerm the failed step's container stays, as dockerd leaves it.
    let r = build(
        &b,
        "",
        context(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]),
    )
    .await;
    assert_eq!(r.error()["errorDetail"]["code"], 3);
    let cs = b.get("/containers/json?all=1").await.json();
    assert_eq!(
        cs.as_array().unwrap().len(),
        1,
        "the failed step's container: {cs}"
    );
}

#[tokio::test]
async fn bad_contexts_and_paths_are_refused_with_nothing_left() {
    let b = Berth::with_busybox().await;
    let r = build(
        &b,
        "",
        b"this is not a tar archive at all, only some text".repeat(20),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not a valid tar archive"), "{}", r.body);

    let r = build_file(&b, "x", "FROM busybox\nCOPY ../secret /\n", &[]).await;
    assert!(
        r.body
            .contains("Forbidden path outside the build context: ../secret ()"),
        "{}",
        r.body
    );
    let r = build_file(&b, "x", "FROM busybox\nCOPY missing /\n", &[]).await;
    assert_eq!(
        r.error()["error"],
        "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist"
    );
    let r = build_file(
        &b,
        "x",
        "FROM busybox\nCOPY secret.key /\n",
        &[(".dockerignore", "*.key\n"), ("secret.key", "k")],
    )
    .await;
    assert!(
        r.body.contains(
            "file not found in build context or excluded by .dockerignore: stat secret.key"
        ),
        "{}",
        r.body
    );
    let r = build_file(&b, "x", "FROM busybox\nCOPY --from=nostage /x /\n", &[]).await;
    assert_eq!(
        r.error()["error"].as_str().map(|s| s.contains("nostage")),
        Some(true),
        "{}",
        r.body
    );
    let r = build(
        &b,
        "dockerfile=..%2FDockerfile",
        context(&[("Dockerfile", "FROM busybox\n")]),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = build(&b, "remote=https%3A%2F%2Fexample.com%2Fx.git", Vec::new()).await;
    r.lines[0]["message"]
        .as_str()
        .filter(|m| m.contains("remote="))
        .unwrap_or_else(|| panic!("remote refused: {}", r.body));
    let r = build_file(&b, "x", "FROM busybox\nADD http://example.com/f /\n", &[]).await;
    assert!(
        r.body.contains("berth does not download URLs"),
        "{}",
        r.body
    );
    assert_nothing_left(&b, "bad inputs").await;
    let images = b.get("/images/json?all=1").await.json();
    assert_eq!(
        images.as_array().unwrap().len(),
        1,
        "only busybox: {images}"
    );
}

#[tokio::test]
async fn unknown_instruction_names_its_line() {
    let b = Berth::with_busybox().await;
    let r = build_file(&b, "x", "FROM busybox\nRUN true\nFROBNICATE x\n", &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let m = r.lines[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        m.contains("line 3") && m.contains("unknown instruction"),
        "{m}"
    );
    assert_nothing_left(&b, "unknown instruction").await;
}

#[tokio::test]
async fn compressed_contexts_are_read() {
    let b = Berth::with_busybox().await;
    let tar = context(&[("Dockerfile", "FROM busybox\nCOPY f /f\n"), ("f", "x")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&tar).unwrap();
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&tar).unwrap();
    for (name, body) in [
        ("gzip", gz.finish().unwrap()),
        ("bzip2", bz.finish().unwrap()),
        ("xz", xz.finish().unwrap()),
    ] {
        let r = build(&b, "", body).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert!(
            r.lines.iter().any(|l| l["aux"]["ID"].is_string()),
            "{name} context: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_api_leaves_no_scratch_once_swept() {
    let mut b = Berth::with_busybox().await;
    let df = "FROM busybox\nRUN sleep 30\n";
    let tar = context(&[("Dockerfile", df)]);
    let sock = b.sock();
    let req = tokio::spawn(async move {
        let mut tx = crate::common::connect(&sock).await;
        let _ = tx
            .send_request(crate::common::request("POST", "/build", tar.into()))
            .await;
    });
    // Killed while the RUN step's container runs.
    let mut running = false;
    for _ in 0..200 {
        if b.get("/containers/json")
            .await
            .json()
            .as_array()
            .is_some_and(|a| a.len() == 1)
        {
            running = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(running, "the build's RUN container never ran");
    b.kill_server();
    req.abort();
    b.serve();
    // The engine's sweep at start: the build's container and scratch dir go.
    crate::common::eventually("the scratch dir swept", || scratch_left(&b).is_empty());
    let cs = b.get("/containers/json?all=1").await.json();
    assert_eq!(cs, json!([]), "the killed build's RUN container is left");
}
