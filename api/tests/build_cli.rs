//! `berth build` (issue 18): the docker CLI's flags through the engine, with no server.

use crate::cli_support::Root;

#[test]
fn build_a_directory_stdin_and_flags() {
    let r = Root::new();
    let ctx = r.tmp.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("f.txt"), "context file\n").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox AS one\nARG MSG\nCOPY f.txt /f.txt\nRUN echo \"msg=$MSG\" >> /f.txt\nFROM one AS two\nRUN echo two > /two\n").unwrap();
    let out = r
        .berth(&[
            "build",
            "-t",
            "cli:1",
            "--build-arg",
            "MSG=hi",
            "--target",
            "one",
            ctx.to_str().unwrap(),
        ])
        .expect(0, "berth build");
    for want in [
        "Step 1/4 : FROM busybox AS one\n",
        " ---> Running in ",
        "Successfully tagged cli:1\n",
    ] {
        assert!(out.stdout.contains(want), "want {want:?} in {}", out.stdout);
    }
    let run = r
        .berth(&["run", "--rm", "cli:1", "cat", "/f.txt"])
        .expect(0, "run cli:1");
    assert_eq!(run.stdout, "context file\nmsg=hi\n");

    // -f from outside the context, -q prints only the id, --no-cache runs every step.
    let df = r.tmp.path().join("Other.dockerfile");
    std::fs::write(&df, "FROM busybox\nCOPY f.txt /g.txt\n").unwrap();
    let q = r
        .berth(&[
            "build",
            "-q",
            "--no-cache",
            "-f",
            df.to_str().unwrap(),
            ctx.to_str().unwrap(),
        ])
        .expect(0, "build -q -f");
    assert!(
        q.stdout.starts_with("sha256:") && q.stdout.lines().count() == 1,
        "-q printed {:?}",
        q.stdout
    );

    // A Dockerfile on stdin as the context.
    let out = r
        .berth_in(
            &["build", "-t", "stdin", "-"],
            b"FROM busybox\nRUN echo from-stdin > /s\n",
        )
        .expect(0, "build -");
    assert!(
        out.stdout.contains("Successfully tagged stdin:latest"),
        "{}",
        out.stdout
    );

    // A failed step: dockerd's message, the step's exit code.
    let out = r.berth_in(&["build", "-"], b"FROM busybox\nRUN exit 7\n");
    assert_eq!(out.code, 7, "exit code of a failed RUN: {out:?}");
    assert!(
        out.stderr
            .contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{}",
        out.stderr
    );
}
