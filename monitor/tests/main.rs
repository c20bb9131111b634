//! The eBPF monitor against the real kernel, as one test binary: a module per area. Needs root.
//!
//! The children the tests start are this binary run again (`common::child_command`): its
//! `child` entry does the work the child's environment asks for (join a cgroup, call getppid
//! N times, fail N opens, exec a program, ...) and returns.

mod common;
mod kernel;
mod kernel_events;
mod rings;

/// Not a test: the entry of the children (ignored, so that it never counts as a passing test;
/// run with `--ignored` and no role it does nothing).
#[test]
#[ignore = "the entry of the tests' children, run by the tests themselves"]
fn child() {
    if std::env::var(common::ROLE).as_deref() == Ok("rings-pool") {
        rings::pool_of_locked_slots();
        return;
    }
    common::child_main();
}
