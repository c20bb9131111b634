//! A build killed mid-RUN by another process on the same root (issue 18): the server that
//! keeps running does not show the killed build's container, and its scratch dir goes, at the
//! next listing.

use crate::cli_support::{Root, Server};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The build scratch dirs under the store's temp area.
fn scratch_dirs(r: &Root) -> Vec<String> {
    std::fs::read_dir(r.root().join("tmp"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("build").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_cli_build_killed_mid_run_leaves_nothing_the_server_shows() {
    let r = Root::new();
    let server = Server::start(&r);
    let ctx = r.tmp.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN sleep 60\n").unwrap();
    let mut build = r
        .command(&["build", "-t", "killed:1", ctx.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting berth build");
    // Killed while the RUN step's container runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.list().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the build's RUN container never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    build.kill().expect("SIGKILL of berth build");
    build.wait().expect("reaping berth build");

    let left = server.docker(&["ps", "-aq"]).expect(0, "docker ps -aq");
    assert_eq!(
        left.stdout.trim(),
        "",
        "want no container once the build is gone, got docker ps -a: {:?}",
        left.stdout
    );
    let dirs = scratch_dirs(&r);
    assert!(
        dirs.is_empty(),
        "want no build scratch dir left, got {dirs:?}"
    );
}
