//! Root tests of the events rings' pool (src/rings.rs) against the real kernel: each holder
//! gets its own slot, a released slot is reused without what its last holder left unread, a
//! slot held by another process is never taken and is free again once that process is
//! killed, and slots beyond the pool's idle size give their ring back.

use crate::common;

use berth_monitor::{abi, ensure_loaded, rings::KEEP, Monitor};
use common::{run_child, Cgroup, Pins, ROLE};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The pool's slot directories under the pins.
fn slots(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for v in std::fs::read_dir(dir).unwrap().flatten() {
        if let Ok(entries) = std::fs::read_dir(v.path().join("slots")) {
            out.extend(
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()),
            );
        }
    }
    out.sort_unstable();
    out
}

/// Run in a child of its own: the test counts the ring mappings of its whole process
/// (/proc/self/maps), which the other tests of this binary make as they drain.
#[test]
fn rings_come_from_a_pool_of_locked_slots() {
    run_child(&[(ROLE, "rings-pool".into())]);
}

/// The test's body, run by `child` in a process with no other test.
pub fn pool_of_locked_slots() {
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/berth-test-rings-{}",
        std::process::id()
    ));
    let _pins = Pins::new(dir.clone());
    ensure_loaded(&dir).expect("loading");
    let mut m = Monitor::open(&dir).expect("opening the pins");
    let a = Cgroup::new("berth-ring-a");
    let b = Cgroup::new("berth-ring-b");
    let c = Cgroup::new("berth-ring-c");

    let ra = m.open_ring(a.id()).unwrap();
    let rb = m.open_ring(b.id()).unwrap();
    assert_eq!(
        (ra.slot(), rb.slot()),
        (0, 1),
        "one slot each, lowest first"
    );
    // Held, not mapped: a mapped ring is half a MiB of the reader's resident memory.
    let mapped = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| l.contains("bpf-map"))
            .count()
    };
    assert_eq!(mapped(), 0, "a ring stays mapped between drains");

    // a's exec events wait unread in slot 0 when it is released.
    m.watch(a.id(), "a", abi::WANT_EXEC).unwrap();
    let exec_in = |cg: &Cgroup| {
        run_child(&[
            (ROLE, "exec".into()),
            ("BERTH_CGROUP", cg.0.display().to_string()),
            ("BERTH_N", "2".into()),
        ])
    };
    exec_in(&a);
    m.unwatch(a.id()).unwrap();
    drop(ra);
    let mut rc = m.open_ring(c.id()).unwrap();
    assert_eq!(rc.slot(), 0, "the released slot is taken again");
    m.watch(c.id(), "c", abi::WANT_EXEC).unwrap();
    exec_in(&c);
    let events = rc.drain(usize::MAX);
    assert_eq!(mapped(), 0, "a ring stays mapped after its drain");
    assert!(
        events.iter().any(|e| e.action == "exec"),
        "c's execs did not reach its ring: {events:?}"
    );
    assert!(
        events.iter().all(|e| e.cgroup_id == c.id()),
        "the slot's previous holder's events were handed to the next: {events:?}"
    );
    m.unwatch(c.id()).unwrap();
    drop(rc);

    // Another process holds slot 0: never taken while it lives, free once it is killed.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("slot");
    let mut holder = common::child_command()
        .env(ROLE, "hold-ring")
        .env("BERTH_DIR", &dir)
        .env("BERTH_CGROUP_ID", a.id().to_string())
        .env("BERTH_OUT", &out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let since = Instant::now();
    while !out.exists() {
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "the holder never said"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let held: u32 = std::fs::read_to_string(&out).unwrap().parse().unwrap();
    assert_eq!(held, 0);
    let rc = m.open_ring(c.id()).unwrap();
    assert_eq!(rc.slot(), 2, "a held slot was given twice (slot 1 is b's)");
    drop(rc);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let rc = m.open_ring(c.id()).unwrap();
    assert_eq!(rc.slot(), 0, "a killed holder's slot stays taken");
    drop(rc);

    // Slots from KEEP on give their ring back when released; those below stay for reuse.
    let extra: Vec<_> = (0..KEEP + 1)
        .map(|_| m.open_ring(c.id()).unwrap())
        .collect();
    let last = extra.iter().map(|r| r.slot()).max().unwrap();
    assert!(last >= KEEP, "{KEEP} + 1 more rings reached slot {last}");
    assert!(slots(&dir).contains(&last));
    drop(extra);
    let left = slots(&dir);
    assert!(
        left.iter().all(|&n| n < KEEP),
        "released slots beyond {KEEP} stayed: {left:?}"
    );
    assert!(
        left.contains(&0) && left.contains(&1),
        "idle slots went: {left:?}"
    );
    drop(rb);
}
