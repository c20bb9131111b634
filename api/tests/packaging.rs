//! What berth says about its own build and the manual it carries (issue 21, documentation and
//! packaging): `berth --version` and `GET /version` name the git commit of the checkout and the
//! build's time, and `berth man DIR` writes a page for berth and for each of its commands.

use crate::cli_support;
use crate::common::Berth;
use std::collections::BTreeSet;
use std::process::Command;

/// The commit the tests (and so the binaries) were built from.
fn checkout_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git, to read the checkout's commit");
    assert!(out.status.success(), "git rev-parse: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_commit_and_the_build_time() {
    let commit = checkout_commit();
    let out = Command::new(cli_support::BERTH)
        .arg("--version")
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        line.trim(),
        format!("berth {}, build {commit}", env!("CARGO_PKG_VERSION")),
        "berth --version"
    );
    let b = Berth::start();
    let v: serde_json::Value = serde_json::from_slice(&b.get("/version").await.body).unwrap();
    assert_eq!(v["GitCommit"], commit, "GET /version's GitCommit: {v}");
    let time = v["BuildTime"].as_str().unwrap_or_default();
    let shape = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000000\+00:00$").unwrap();
    assert!(
        shape.is_match(time),
        "expected BuildTime as dockerd writes it (2023-10-26T09:08:02.000000000+00:00), got {v}"
    );
    let engine = &v["Components"][0]["Details"];
    assert_eq!(
        (&engine["GitCommit"], &engine["BuildTime"]),
        (&v["GitCommit"], &v["BuildTime"]),
        "the Engine component's details: {v}"
    );
}

/// The commands `berth help` lists for `path` (`[]` for berth itself).
fn commands(path: &[&str]) -> Vec<String> {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let out = Command::new(cli_support::BERTH)
        .args(&args)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(cli_support::BERTH)
        .arg("man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "berth man: {out:?}");
    let pages: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut want = BTreeSet::from(["berth.1".to_string()]);
    for command in commands(&[]) {
        want.insert(format!("berth-{command}.1"));
        for sub in commands(&[&command]) {
            want.insert(format!("berth-{command}-{sub}.1"));
        }
    }
    let missing: Vec<_> = want.difference(&pages).collect();
    assert!(
        missing.is_empty() && want.len() > 30,
        "expected a page for each of berth's {} commands, missing {missing:?} in {pages:?}",
        want.len()
    );
    // Each page is roff with its name and its flags.
    let run = std::fs::read_to_string(dir.path().join("berth-run.1")).unwrap();
    let subnet = std::fs::read_to_string(dir.path().join("berth-network-create.1")).unwrap();
    for (page, text, want) in [
        ("berth-run.1", &run, r".TH berth-run 1"),
        ("berth-run.1", &run, r"\fB\-\-detach\fR"),
        ("berth-network-create.1", &subnet, r"\fB\-\-subnet\fR"),
    ] {
        assert!(text.contains(want), "expected {want:?} in {page}:\n{text}");
    }
}
