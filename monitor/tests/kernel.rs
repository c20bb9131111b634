//! Root tests against the real kernel: load and pin, reopen from another handle and another
//! process, count a watched cgroup's calls and not an unwatched one's, drain exec events.
//!
//! The children are this test binary run again: `child` does the work its environment asks
//! for (join a cgroup, call getppid N times, fail N opens, exec a program) and returns.

use crate::common;

use berth_monitor::{abi, ensure_loaded, Monitor};
use common::{count_of, run_child, Cgroup, Pins, ROLE};
use std::path::PathBuf;

#[test]
fn load_pin_watch_count_and_drain() {
    let dir = PathBuf::from(format!("/sys/fs/bpf/berth-test-{}", std::process::id()));
    let _pins = Pins::new(dir.clone());
    assert!(
        ensure_loaded(&dir).expect("loading"),
        "the first call did not load"
    );
    assert!(
        !ensure_loaded(&dir).unwrap(),
        "the second call loaded again"
    );
    let mut m = Monitor::open(&dir).expect("opening the pins");

    let a = Cgroup::new("berth-monitor-a");
    let b = Cgroup::new("berth-monitor-b");
    m.watch(a.id(), "container-a", abi::WANT_EXEC).unwrap();
    assert!(
        !berth_monitor::counting(&dir),
        "the all-syscalls hooks attached before any cgroup counts"
    );
    m.count(a.id()).unwrap();
    assert!(berth_monitor::counting(&dir), "counting, not attached");

    const N: u64 = 20_000;
    let a_path = a.0.display().to_string();
    run_child(&[
        (ROLE, "getppid".into()),
        ("BERTH_CGROUP", a_path.clone()),
        ("BERTH_N", N.to_string()),
    ]);
    let (calls, errors) = count_of(&m, a.id(), "getppid");
    assert!(
        calls >= N,
        "getppid calls in the watched cgroup: {calls}, expected >= {N}"
    );
    assert_eq!(errors, 0, "getppid never fails");

    run_child(&[
        (ROLE, "fail-open".into()),
        ("BERTH_CGROUP", a_path.clone()),
        ("BERTH_N", "500".into()),
    ]);
    let (_, errors) = count_of(&m, a.id(), "openat");
    assert!(
        errors >= 500,
        "failed openat counted {errors}, expected >= 500"
    );

    // Outside the watched cgroup: nothing counted for it, and the watched one does not move.
    let before = count_of(&m, a.id(), "getppid");
    run_child(&[
        (ROLE, "getppid".into()),
        ("BERTH_CGROUP", b.0.display().to_string()),
        ("BERTH_N", N.to_string()),
    ]);
    assert_eq!(
        m.counts(b.id()).unwrap(),
        vec![],
        "an unwatched cgroup was counted"
    );
    assert_eq!(
        count_of(&m, a.id(), "getppid"),
        before,
        "another cgroup's calls were counted"
    );

    // Exec events: asked for with no ring to take them, the two execs (the child's own, then
    // /bin/true) are counted as dropped (as were the earlier children's own).
    let before = m.dropped(a.id()).unwrap();
    run_child(&[(ROLE, "exec".into()), ("BERTH_CGROUP", a_path.clone())]);
    let dropped = m.dropped(a.id()).unwrap();
    assert_eq!(
        dropped - before,
        2,
        "an exec with no ring to go to, counted as dropped"
    );
    // With a ring, the exec comes out of it with its filename.
    let mut ring = m.open_ring(a.id()).expect("creating the ring");
    run_child(&[(ROLE, "exec".into()), ("BERTH_CGROUP", a_path.clone())]);
    let execs = ring.drain(usize::MAX);
    let e = execs
        .iter()
        .find(|e| e.attributes["filename"] == "/bin/true")
        .unwrap_or_else(|| panic!("no exec of /bin/true among {execs:?}"));
    assert_eq!((e.cgroup_id, e.comm.as_str()), (a.id(), "true"), "{e:?}");
    assert_eq!((e.kind, e.action.as_str()), ("process", "exec"), "{e:?}");
    assert_eq!(e.attributes["args"], "/bin/true --berth-arg", "{e:?}");
    assert!(e.pid > 0 && e.tid > 0, "{e:?}");
    assert_eq!(
        m.dropped(a.id()).unwrap(),
        dropped,
        "dropped with a ring in place"
    );
    // The other cgroup's ring sees nothing of it.
    let mut ring_b = m.open_ring(b.id()).expect("creating the second ring");
    run_child(&[(ROLE, "exec".into()), ("BERTH_CGROUP", a_path.clone())]);
    assert_eq!(
        ring_b.drain(usize::MAX),
        vec![],
        "another container's execs in this ring"
    );
    assert!(
        !ring.drain(usize::MAX).is_empty(),
        "the exec did not reach its own ring"
    );

    // A full ring: what does not fit is counted, what fits is read; none is lost uncounted.
    const EXECS: u64 = 2000;
    run_child(&[
        (ROLE, "exec".into()),
        ("BERTH_CGROUP", a_path.clone()),
        ("BERTH_N", EXECS.to_string()),
    ]);
    // The child's own exec, then its execs of /bin/true.
    let read = ring.drain(usize::MAX).len() as u64;
    let dropped = m.dropped(a.id()).unwrap() - dropped;
    assert!(
        dropped > 0,
        "{EXECS} execs into a {} byte ring dropped none ({read} read)",
        berth_monitor::abi::RINGBUF_BYTES
    );
    assert_eq!(
        read + dropped,
        EXECS + 1,
        "read {read} + dropped {dropped} of {} execs",
        EXECS + 1
    );

    // Another process opens the same pins and what it writes is seen here.
    run_child(&[
        (ROLE, "reopen".into()),
        ("BERTH_DIR", dir.display().to_string()),
        ("BERTH_CGROUP_ID", b.id().to_string()),
    ]);
    run_child(&[
        (ROLE, "getppid".into()),
        ("BERTH_CGROUP", b.0.display().to_string()),
        ("BERTH_N", N.to_string()),
    ]);
    let (calls, _) = count_of(&m, b.id(), "getppid");
    assert!(
        calls >= N,
        "cgroup watched by another process: {calls} getppid, expected >= {N}"
    );

    // Unwatched: no more counting; the dropped events stay readable; forget removes the rows.
    let dropped = m.dropped(a.id()).unwrap();
    m.unwatch(a.id()).unwrap();
    assert_eq!(
        m.dropped(a.id()).unwrap(),
        dropped,
        "dropped events gone with the watch"
    );
    let before = count_of(&m, a.id(), "getppid");
    run_child(&[
        (ROLE, "getppid".into()),
        ("BERTH_CGROUP", a_path),
        ("BERTH_N", N.to_string()),
    ]);
    assert_eq!(
        count_of(&m, a.id(), "getppid"),
        before,
        "counted after unwatch"
    );
    m.forget(a.id()).unwrap();
    assert_eq!(m.counts(a.id()).unwrap(), vec![]);
    assert_eq!(m.dropped(a.id()).unwrap(), 0);
    assert!(berth_monitor::counting(&dir), "b still counts");
    m.unwatch(b.id()).unwrap();
    assert!(
        !berth_monitor::counting(&dir),
        "the all-syscalls hooks stay attached with no cgroup counting"
    );
    m.forget(b.id()).unwrap();
}

#[test]
fn concurrent_first_loaders_agree() {
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/berth-test-race-{}",
        std::process::id()
    ));
    let _pins = Pins::new(dir.clone());
    let tmp = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| {
            common::child_command()
                .env(ROLE, "load")
                .env("BERTH_DIR", &dir)
                .env("BERTH_OUT", tmp.path().join(i.to_string()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawning a loader")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a loader failed");
    }
    let results: Vec<String> = (0..4)
        .map(|i| std::fs::read_to_string(tmp.path().join(i.to_string())).unwrap())
        .collect();
    let loaded = results.iter().filter(|r| *r == "loaded").count();
    assert_eq!(
        loaded, 1,
        "exactly one of four concurrent callers loads: {results:?}"
    );
    Monitor::open(&dir).expect("the pins the winner left");
}
