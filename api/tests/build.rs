//! docker build through `POST /build` (issue 18): the stream's texts, RUN in berth containers,
//! COPY/ADD, the metadata instructions, variables, the cache, multi-stage builds, and bad input
//! that leaves nothing behind. The failure cases are in `build_errors`.

use crate::build_support::{build, build_file, context, scratch_left, sh};
use crate::common::{encode, Berth};
use serde_json::json;

#[tokio::test]
async fn from_env_copy_run_cmd_end_to_end() {
    let b = Berth::with_busybox().await;
    let df = "FROM busybox\nENV GREETING=hello\nCOPY hello.txt /app/\nRUN echo \"$GREETING from run\" && cat /app/hello.txt > /app/copy\nCMD [\"cat\", \"/app/copy\"]\n";
    let r = build_file(&b, "built:1", df, &[("hello.txt", "from the context\n")])
        .await
        .ok();
    let text = r.text();
    for want in [
        "Step 1/5 : FROM busybox\n",
        "Step 2/5 : ENV GREETING=hello\n",
        "Step 4/5 : RUN echo",
        " ---> Running in ",
        "hello from run\n",
        "Removing intermediate container ",
        "Step 5/5 : CMD [\"cat\", \"/app/copy\"]\n",
        "Successfully tagged built:1\n",
    ] {
        assert!(text.contains(want), "the stream lacks {want:?}: {text}");
    }
    let id = r.id();
    assert!(
        text.contains(&format!("Successfully built {}\n", &id[7..19])),
        "want the short id {id} built: {text}"
    );
    // Step texts and results alternate: each step ends with its ` ---> <id>`.
    assert_eq!(
        text.matches(" ---> ").count() - text.matches(" ---> Running in").count(),
        5,
        "one result per step: {text}"
    );
    let img = b.get("/images/built:1/json").await.json();
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["Config"]["Cmd"], json!(["cat", "/app/copy"]));
    let env = img["Config"]["Env"].as_array().unwrap();
    assert!(
        env.contains(&json!("GREETING=hello")),
        "ENV in the config: {env:?}"
    );
    let out = sh(
        &b,
        "built:1",
        "cat /app/copy; stat -c '%U %a' /app/hello.txt",
    )
    .await;
    assert_eq!(out, "from the context\nroot 644\n");
    let hist = b.get("/images/built:1/history").await.json();
    let hist = hist.as_array().unwrap();
    assert!(
        hist[0]["CreatedBy"]
            .as_str()
            .unwrap()
            .contains("#(nop)  CMD [\"cat\" \"/app/copy\"]"),
        "the CMD's history entry: {}",
        hist[0]
    );
    assert_eq!(hist[0]["Size"], 0, "CMD adds no layer");
    assert!(
        scratch_left(&b).is_empty(),
        "scratch left: {:?}",
        scratch_left(&b)
    );
    let all = b.get("/containers/json?all=1").await.json();
    assert_eq!(all, json!([]), "intermediate containers removed");
}

#[tokio::test]
async fn run_output_streams_while_the_step_runs() {
    let b = Berth::with_busybox().await;
    // The texts printed are not in the Dockerfile (whose step line the stream shows).
    let df = "FROM busybox\nRUN echo AAA | tr A B; sleep 3; echo CCC | tr C D\n";
    let tar = context(&[("Dockerfile", df)]);
    let mut tx = crate::common::connect(&b.sock()).await;
    let resp = tx
        .send_request(crate::common::request("POST", "/build", tar.into()))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let started = std::time::Instant::now();
    let mut seen = String::new();
    while !seen.contains("BBB") {
        use http_body_util::BodyExt;
        let frame = tokio::time::timeout(std::time::Duration::from_secs(20), body.frame())
            .await
            .expect("the stream stalled")
            .expect("the stream ended")
            .unwrap();
        if let Ok(d) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&d));
        }
    }
    assert!(!seen.contains("DDD"), "output came only at the end: {seen}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "first line late"
    );
}

#[tokio::test]
async fn metadata_instructions_set_the_config() {
    let b = Berth::with_busybox().await;
    let df = "FROM busybox\nENV A=1 C=${A}x\nLABEL a=b \"c d\"=e\nEXPOSE 80 53/udp\nVOLUME /data\nUSER 1000:1000\nWORKDIR /srv/app\nWORKDIR sub\nSTOPSIGNAL SIGQUIT\nENTRYPOINT [\"/bin/echo\"]\nHEALTHCHECK --interval=5s --retries=2 CMD true\nSHELL [\"/bin/sh\", \"-ec\"]\nMAINTAINER someone\nONBUILD RUN touch /tmp/triggered\n";
    let r = build_file(&b, "meta", df, &[]).await.ok();
    let c = b.get("/images/meta/json").await.json();
    let cfg = &c["Config"];
    assert_eq!(cfg["Labels"], json!({"a": "b", "c d": "e"}));
    assert_eq!(cfg["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(cfg["Volumes"], json!({"/data": {}}));
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(cfg["WorkingDir"], "/srv/app/sub");
    assert_eq!(cfg["StopSignal"], "SIGQUIT");
    assert_eq!(cfg["Entrypoint"], json!(["/bin/echo"]));
    assert_eq!(cfg["Cmd"], json!(null), "ENTRYPOINT drops the image's CMD");
    assert_eq!(cfg["Healthcheck"]["Test"], json!(["CMD-SHELL", "true"]));
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(cfg["OnBuild"], json!(["RUN touch /tmp/triggered"]));
    assert_eq!(c["Author"], "someone");
    assert!(r.text().contains("Step 14/14"), "{}", r.text());
    let env = cfg["Env"].as_array().unwrap();
    assert!(
        env.contains(&json!("C=x")),
        "ENV's words expand with the variables before the line, as dockerd: {env:?}"
    );
    // WORKDIR made the directory; a child build runs the trigger first.
    let r = build_file(&b, "child", "FROM meta\nRUN test -f /tmp/triggered\n", &[])
        .await
        .ok();
    assert!(
        r.text().contains("# Executing 1 build trigger...\n"),
        "{}",
        r.text()
    );
    let c = b.get("/images/child/json").await.json();
    assert_eq!(
        c["Config"]["OnBuild"],
        json!(null),
        "triggers are not inherited: {c}"
    );
}

#[tokio::test]
async fn args_and_build_args() {
    let b = Berth::with_busybox().await;
    let df = "ARG BASE=busybox\nFROM $BASE\nARG V=default\nARG W\nENV FROM_ARG=$V\nRUN echo \"v=$V w=$W\" > /args\n";
    let q = format!(
        "t=args&buildargs={}",
        encode(&json!({"V": "given", "UNUSED": "x"}).to_string())
    );
    let r = build(&b, &q, context(&[("Dockerfile", df)])).await.ok();
    assert!(
        r.text()
            .contains("[Warning] One or more build-args [UNUSED] were not consumed\n"),
        "{}",
        r.text()
    );
    assert_eq!(
        sh(&b, "args", "cat /args; echo $FROM_ARG").await,
        "v=given w=\ngiven\n"
    );
    let hist = b.get("/images/args/history").await.json();
    let run = hist[0]["CreatedBy"].as_str().unwrap().to_string();
    assert!(
        run.starts_with("|2 V=given W= /bin/sh -c echo")
            || run.starts_with("|1 V=given /bin/sh -c echo"),
        "RUN's history names the args: {run}"
    );
}

#[tokio::test]
async fn cache_hits_misses_and_the_same_id() {
    let b = Berth::with_busybox().await;
    let df = "FROM busybox\nRUN echo one > /one\nCOPY f /f\nRUN cat /f\n";
    let first = build_file(&b, "c", df, &[("f", "1")]).await.ok();
    assert!(!first.text().contains("Using cache"), "{}", first.text());
    let again = build_file(&b, "c", df, &[("f", "1")]).await.ok();
    assert_eq!(
        again.text().matches(" ---> Using cache\n").count(),
        3,
        "{}",
        again.text()
    );
    assert_eq!(
        again.id(),
        first.id(),
        "an unchanged rebuild gives the same image"
    );
    let changed = build_file(&b, "c", df, &[("f", "2")]).await.ok();
    assert_eq!(
        changed.text().matches("Using cache").count(),
        1,
        "only the RUN before the COPY: {}",
        changed.text()
    );
    assert_ne!(changed.id(), first.id());
    let tar = context(&[("Dockerfile", df), ("f", "1")]);
    let fresh = build(&b, "t=c&nocache=1", tar).await.ok();
    assert!(
        !fresh.text().contains("Using cache"),
        "nocache: {}",
        fresh.text()
    );
    // cachefrom: only the named image's chain is used.
    let tar = context(&[("Dockerfile", df), ("f", "1")]);
    let q = format!("cachefrom={}", encode(&json!(["busybox"]).to_string()));
    let from = build(&b, &q, tar).await.ok();
    assert!(
        !from.text().contains("Using cache"),
        "cachefrom=busybox: {}",
        from.text()
    );
    // The cache is pruned: nothing hit afterwards.
    let p = b.post("/build/prune").await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert!(
        p.json()["SpaceReclaimed"].as_u64().is_some(),
        "{}",
        p.text()
    );
    let after = build_file(&b, "c", df, &[("f", "1")]).await.ok();
    assert!(
        !after.text().contains("Using cache"),
        "after prune: {}",
        after.text()
    );
}

#[tokio::test]
async fn multi_stage_with_target_and_copy_from() {
    let b = Berth::with_busybox().await;
    let df = "FROM busybox AS builder\nRUN echo made > /made && dd if=/dev/zero of=/big bs=1k count=64\nFROM busybox AS final\nCOPY --from=builder /made /result\nFROM final AS other\nRUN echo other > /other\n";
    let r = build(&b, "t=ms&target=final", context(&[("Dockerfile", df)]))
        .await
        .ok();
    assert!(
        r.text()
            .contains("Step 4/4 : COPY --from=builder /made /result"),
        "{}",
        r.text()
    );
    assert_eq!(
        sh(&b, "ms", "cat /result; test -e /big || echo no-big").await,
        "made\nno-big\n"
    );
    let img = b.get("/images/ms/json").await.json();
    let bb = b.get("/images/busybox/json").await.json();
    assert_eq!(
        img["RootFS"]["Layers"].as_array().unwrap().len(),
        bb["RootFS"]["Layers"].as_array().unwrap().len() + 1,
        "only the final stage's layers: {img}"
    );
    let tagged: Vec<_> = b
        .get("/images/json")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(tagged.len(), 2, "busybox and ms only: {tagged:?}");
    let r = build(&b, "target=nope", context(&[("Dockerfile", df)])).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn copy_chown_globs_dirs_add_tar_and_symlinks_in_scope() {
    let b = Berth::with_busybox().await;
    let inner = context(&[("in/tar.txt", "from the tar\n")]);
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in [
        ("Dockerfile", "FROM busybox\nRUN ln -s ../../../../../tmp /escape && echo 'app:x:1234:1234::/:/bin/sh' >> /etc/passwd && echo 'grp:x:4321:' >> /etc/group\nCOPY --chown=app:grp a.txt b.txt /dst/\nCOPY dir /copied\nCOPY *.md /docs/\nCOPY --chmod=0700 a.txt /escape/build-test-berth-escape\nADD inner.tar /added/\n".as_bytes().to_vec()),
        ("a.txt", b"a".to_vec()),
        ("b.txt", b"b".to_vec()),
        ("x.md", b"x".to_vec()),
        ("y.md", b"y".to_vec()),
        ("dir/sub/f", b"f".to_vec()),
        ("inner.tar", inner),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, content.as_slice()).unwrap();
    }
    let host_file = std::path::Path::new("/tmp/build-test-berth-escape");
    assert!(!host_file.exists(), "{host_file:?} exists before the test");
    let r = build(&b, "t=cp", tar.into_inner().unwrap()).await.ok();
    let _ = r;
    assert!(
        !host_file.exists(),
        "a symlink in the image led COPY out to the host"
    );
    let out = sh(&b, "cp", "stat -c '%n %u:%g' /dst/a.txt /dst/b.txt; cat /copied/sub/f /docs/x.md /docs/y.md; echo; stat -c '%a' /tmp/build-test-berth-escape; cat /added/in/tar.txt").await;
    assert_eq!(
        out,
        "/dst/a.txt 1234:4321\n/dst/b.txt 1234:4321\nfxy\n700\nfrom the tar\n"
    );
}

#[tokio::test]
async fn quiet_prints_only_the_id() {
    let b = Berth::with_busybox().await;
    let r = build(
        &b,
        "q=1",
        context(&[("Dockerfile", "FROM busybox\nRUN echo noisy\n")]),
    )
    .await
    .ok();
    let id = r.id();
    assert_eq!(r.text(), format!("{id}\n"), "q=1 stream: {}", r.body);
}
