//! A directory fd leaked by whoever starts `berth run` (the CVE-2024-21626 class, issue 16 item
//! 3): fd 9 open on the host's `/` in the caller must reach neither the shim nor the container.
//! Runs the real CLI with no API process. Needs root and `cargo build --workspace` first.

use crate::cli_support;
use crate::common;

use cli_support::Root;
use std::process::{Command, Output};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// `berth ARGS` on `r`'s root, started by a shell that opened fd 9 on `/` (not close-on-exec),
/// bounded by timeout(1), which passes the fd on too.
fn with_fd_9_on_root(r: &Root, args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg("exec 9</ && exec timeout 60 \"$@\"")
        .arg("sh")
        .arg(BERTH)
        .args(args)
        .env("BERTH_ROOT", r.tmp.path().join("root"))
        .env("BERTH_RUN_ROOT", r.tmp.path().join("run"))
        .env("BERTH_BPF_DIR", common::bpf_pins::dir())
        .env_remove("BERTH_SOCKET")
        .output()
        .expect("running berth through sh")
}

#[test]
fn a_leaked_directory_fd_is_no_working_directory_out_of_the_root() {
    let r = Root::new();
    let host_name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let out = with_fd_9_on_root(
        &r,
        &[
            "run",
            "--rm",
            "-w",
            "/proc/self/fd/9",
            "busybox",
            "sh",
            "-c",
            "ls; cat etc/hostname",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The host's root has /work; busybox's has no such entry.
    let saw_host = stdout.lines().any(|l| l == "work")
        || (!host_name.trim().is_empty() && stdout.contains(host_name.trim()));
    assert!(
        !saw_host,
        "expected the container not to see the host's root, it printed {stdout:?}"
    );
    assert_eq!(
        out.status.code(),
        Some(127),
        "expected the start refused with 127 (a failure before the program ran), got {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("/proc/self/fd/9"),
        "expected the error to name the working directory, got {stderr:?}"
    );
}

#[test]
fn a_container_sees_only_its_standard_streams() {
    let r = Root::new();
    let out = with_fd_9_on_root(&r, &["run", "--rm", "busybox", "ls", "/proc/self/fd"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "berth run: {out:?}");
    // 3 is the directory ls opened to list.
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "expected only the standard streams (and ls's own fd) open in the container"
    );
}
