//! The container runtime (issue: the detached shim), checked from inside real containers.

use berth_shim::spawn::{SpawnError, Started};
use berth_shim::state::Status;
use berth_tests::TestEnv;
use std::time::Duration;

#[test]
fn container_is_pid_1_with_its_hostname_and_dockers_defaults() {
    let env = TestEnv::new();
    let spec = env.spec(&[
        "sh",
        "-c",
        "echo pid=$$; hostname; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status",
    ]);
    let (code, out) = env.run_to_end(&spec);
    assert_eq!(code, 0, "output: {out}");
    assert!(out.contains("pid=1\n"), "not pid 1: {out}");
    assert!(out.contains("testbox\n"), "hostname: {out}");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "caps: {out}");
    assert!(out.contains("Seccomp:\t2"), "seccomp: {out}");
}
