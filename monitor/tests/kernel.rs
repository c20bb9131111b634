//! Root tests against the real kernel: load and pin, reopen from another handle and another
//! process, count a watched cgroup's calls and not an unwatched one's, drain exec events.
//!
//! The children are this test binary run again: `child` does the work its environment asks
//! for (join a cgroup, call getppid N times, fail N opens, exec a program) and returns.

use berth_monitor::{ensure_loaded, unload, Monitor};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROLE: &str = "BERTH_MONITOR_TEST_ROLE";

/// Runs this binary's `child` test with `env`; panics unless it succeeds.
fn run_child(env: &[(&str, String)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--test-threads=1", "--quiet"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running the child");
    assert!(
        out.status.success(),
        "child {env:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return; // run as a plain test: nothing to do
    };
    if let Ok(cg) = std::env::var("BERTH_CGROUP") {
        std::fs::write(
            Path::new(&cg).join("cgroup.procs"),
            std::process::id().to_string(),
        )
        .expect("joining the cgroup");
    }
    let n: u64 = std::env::var("BERTH_N").map_or(0, |v| v.parse().unwrap());
    match role.as_str() {
        "getppid" => {
            for _ in 0..n {
                std::hint::black_box(nix::unistd::getppid());
            }
        }
        "fail-open" => {
            for _ in 0..n {
                assert!(std::fs::File::open("/nonexistent/berth-monitor").is_err());
            }
        }
        "exec" => {
            let st = Command::new("/bin/true")
                .status()
                .expect("running /bin/true");
            assert!(st.success());
        }
        "reopen" => {
            let dir = PathBuf::from(std::env::var("BERTH_DIR").unwrap());
            assert!(
                !ensure_loaded(&dir).unwrap(),
                "a second process loaded again"
            );
            let mut m = Monitor::open(&dir).expect("opening the pins from another process");
            let cg: u64 = std::env::var("BERTH_CGROUP_ID").unwrap().parse().unwrap();
            m.watch(cg, "from-another-process").unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

struct Cgroup(PathBuf);

impl Cgroup {
    fn new(name: &str) -> Cgroup {
        let p = Path::new("/sys/fs/cgroup/unified").join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
        Cgroup(p)
    }
    fn id(&self) -> u64 {
        berth_monitor::cgroup_id(&self.0).unwrap()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

struct Pins(PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = unload(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn count_of(m: &Monitor, cg: u64, name: &str) -> (u64, u64) {
    m.counts(cg)
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .map_or((0, 0), |c| (c.calls, c.errors))
}

#[test]
fn load_pin_watch_count_and_drain() {
    let dir = PathBuf::from(format!("/sys/fs/bpf/berth-test-{}", std::process::id()));
    let _pins = Pins(dir.clone());
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
    m.watch(a.id(), "container-a").unwrap();

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

    // Exec events carry the container's id.
    let _ = m.drain().unwrap();
    run_child(&[(ROLE, "exec".into()), ("BERTH_CGROUP", a_path.clone())]);
    let execs = m.drain().unwrap();
    let e = execs
        .iter()
        .find(|e| e.filename == "/bin/true")
        .unwrap_or_else(|| panic!("no exec of /bin/true among {execs:?}"));
    assert_eq!(
        (e.container_id.as_str(), e.cgroup_id),
        ("container-a", a.id())
    );
    assert_eq!(m.dropped(a.id()).unwrap(), 0);

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

    // Unwatched: no more counting; forget removes the rows.
    m.unwatch(a.id()).unwrap();
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
    m.unwatch(b.id()).unwrap();
    m.forget(b.id()).unwrap();
}
