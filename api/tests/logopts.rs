//! Log options of the json-file driver (issue 17): `tag`, `labels`, `env`, `env-regex` as the
//! `attrs` of every line (and `docker logs --details`), `compress` (rotated files gzipped and
//! read back), `max-file` without `max-size`, and dockerd's refusals in its words. Needs root
//! and `cargo build --workspace` (see common/mod.rs).

use crate::common;

use common::{frames, stream_text, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};

fn with_log(cmd: &[&str], kind: &str, config: Value) -> Value {
    json!({"Image": "busybox", "Cmd": cmd, "HostConfig": {"LogConfig": {"Type": kind, "Config": config}}})
}

/// Run `config` to its end; its id and its inspect.
async fn run_to_end(b: &Berth, name: &str, config: &Value) -> (String, Value) {
    let id = b.run(Some(name), config).await;
    assert_eq!(b.wait(&id).await, 0, "{config}");
    let inspect = b.inspect(&id).await;
    (id, inspect)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_labels_and_env_are_the_attrs_of_every_line() {
    let b = Berth::with_busybox().await;
    let mut config = with_log(
        &["sh", "-c", "echo hi; echo err >&2"],
        "json-file",
        json!({"tag": "{{.Name}}/{{.ID}}/{{.ImageName}}", "labels": "a,missing",
               "env": "FOO", "env-regex": "^APP_"}),
    );
    config["Labels"] = json!({"a": "1", "b": "2"});
    config["Env"] = json!(["FOO=bar baz", "APP_X=y", "OTHER=z"]);
    let (id, inspect) = run_to_end(&b, "tagged", &config).await;
    let path = inspect["LogPath"].as_str().expect("LogPath");
    let text = std::fs::read_to_string(path).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let tag = format!("tagged/{}/busybox", &id[..12]);
    assert_eq!(
        first["attrs"],
        json!({"APP_X": "y", "FOO": "bar baz", "a": "1", "tag": tag}),
        "dockerd's attrs on the line: {text}"
    );
    let line = text.lines().next().unwrap();
    assert!(
        line.starts_with(r#"{"log":"hi\n","stream":"stdout","attrs":{"#),
        "attrs between stream and time, as dockerd writes them: {line}"
    );
    let r = b
        .get(&format!(
            "/containers/{id}/logs?stdout=1&stderr=1&details=1"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let f = frames(&r.body);
    let details = format!(
        "APP_X=y,FOO=bar+baz,a=1,tag=tagged%2F{}%2Fbusybox",
        &id[..12]
    );
    assert_eq!(
        stream_text(&f, 1),
        format!("{details} hi\n"),
        "logs --details"
    );
    assert_eq!(stream_text(&f, 2), format!("{details} err\n"));
    // Without attrs, details is a bare space before each line (dockerd's layout).
    let (id, _) = run_to_end(
        &b,
        "plain",
        &with_log(&["echo", "x"], "json-file", json!({})),
    )
    .await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&details=1"))
        .await;
    assert_eq!(stream_text(&frames(&r.body), 1), " x\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_gzips_rotated_files_and_logs_reads_them() {
    let b = Berth::with_busybox().await;
    let config = with_log(
        &["seq", "1", "2000"],
        "json-file",
        json!({"max-size": "4k", "max-file": "3", "compress": "true"}),
    );
    let (id, inspect) = run_to_end(&b, "gz", &config).await;
    let path = std::path::PathBuf::from(inspect["LogPath"].as_str().unwrap());
    let dir = path.parent().unwrap();
    let base = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&base))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![base.clone(), format!("{base}.1.gz"), format!("{base}.2.gz")],
        "rotated files gzipped, three files in all"
    );
    let gz = std::fs::read(dir.join(format!("{base}.2.gz"))).unwrap();
    assert_eq!(&gz[..2], b"\x1f\x8b", "a gzip file");
    let r = b.get(&format!("/containers/{id}/logs?stdout=1")).await;
    let out = stream_text(&frames(&r.body), 1);
    let nums: Vec<u32> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert!(
        nums.len() > 100 && nums.last() == Some(&2000),
        "the newest lines, through the gzipped files: {} lines, last {:?}",
        nums.len(),
        nums.last()
    );
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive lines across the files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_dockerd_accepts_are_accepted() {
    let b = Berth::with_busybox().await;
    for (kind, config) in [
        ("json-file", json!({"max-file": "3"})),
        ("json-file", json!({"mode": "blocking"})),
        ("none", json!({"anything": "x", "mode": "bogus"})),
    ] {
        let r = b
            .post_json(
                "/containers/create",
                &with_log(&["true"], kind, config.clone()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{kind} {config}: {}",
            r.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_berth_or_dockerd_refuse_are_a_400_naming_them() {
    let b = Berth::with_busybox().await;
    for (kind, config, want) in [
        (
            "syslog",
            json!({}),
            "logger: no log driver named 'syslog' is registered",
        ),
        (
            "local",
            json!({}),
            "logger: no log driver named 'local' is registered",
        ),
        (
            "json-file",
            json!({"foo": "1"}),
            "unknown log opt 'foo' for json-file log driver",
        ),
        (
            "json-file",
            json!({"mode": "fast"}),
            "logger: logging mode not supported: fast",
        ),
        (
            "json-file",
            json!({"max-buffer-size": "4m"}),
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        (
            "json-file",
            json!({"compress": "true", "max-size": "1m"}),
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
    ] {
        let r = b
            .post_json(
                "/containers/create",
                &with_log(&["true"], kind, config.clone()),
            )
            .await;
        r.assert_error(400, want, &format!("{kind} {config}"));
    }
    for (config, names) in [
        (
            json!({"mode": "non-blocking", "max-buffer-size": "lots"}),
            "error parsing option max-buffer-size: invalid size: 'lots'",
        ),
        (json!({"tag": "{{.Name | upper}}"}), "log opt tag"),
    ] {
        let r = b
            .post_json(
                "/containers/create",
                &with_log(&["true"], "json-file", config.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{config}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(
            msg.contains(names),
            "{config}: the refusal names {names:?}: {msg}"
        );
    }
}
