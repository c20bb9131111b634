//! Root tests against the real kernel. Each test owns a parent `berth-test-<pid>-<n>`, so tests
//! running in parallel never share a group, and a guard removes the group and the parent even
//! when an assertion fails.

use super::*;
use crate::spec::ThrottleDevice;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A container group under a parent of its own, and the processes a test started.
struct Fixture {
    cg: Cgroup,
    children: Vec<Child>,
}

/// A test that cannot run here says so; in CI (`CI=true`) it fails instead: no silent skips.
fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot run in CI: {why}"
    );
    eprintln!("skipped: {why}");
}

impl Fixture {
    /// None (the test is skipped) when not root or no hierarchy is mounted.
    fn new(layout: Option<Layout>) -> Option<Fixture> {
        if !nix::unistd::geteuid().is_root() {
            skip("cgroup tests need root");
            return None;
        }
        let layout = match layout {
            Some(l) => l,
            None => detect().expect("detect the cgroup layout"),
        };
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let parent = format!("berth-test-{}-{n}", std::process::id());
        let cg = Cgroup::new(&layout, &parent, "ctr").expect("valid name");
        Some(Fixture {
            cg,
            children: Vec::new(),
        })
    }

    fn spawn(&mut self, script: &str, stdin: bool) -> u32 {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .spawn()
            .expect("spawn sh");
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.cg.kill_all(Signal::SIGKILL);
        if self.cg.is_frozen() {
            let _ = self.cg.thaw();
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.cg.remove();
        for dir in self.cg.paths() {
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = read(Path::new(&format!("/proc/{pid}/stat")));
    let after_name = &stat[stat.rfind(')').expect("comm is closed") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn assert_in_procs(dir: &Path, pid: u32) {
    let procs = read(&dir.join("cgroup.procs"));
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "pid {pid} missing from {}/cgroup.procs: {procs:?}",
        dir.display()
    );
}

#[test]
fn create_apply_and_read_back() {
    let Some(f) = Fixture::new(None) else { return };
    f.cg.create().expect("create");
    for dir in f.cg.paths() {
        assert!(dir.is_dir(), "{} was not created", dir.display());
    }
    let r = Resources {
        memory: 64 << 20,
        memory_swap: 128 << 20,
        memory_reservation: 32 << 20,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        pids_limit: 20,
        cpu_shares: 512,
        ..Resources::default()
    };
    f.cg.apply(&r).expect("apply");
    match f.cg.layout() {
        Layout::Unified { .. } => {
            let dir = f.cg.v2_path().unwrap();
            assert_eq!(read(&dir.join("memory.max")), "67108864");
            assert_eq!(read(&dir.join("memory.low")), "33554432");
            assert_eq!(read(&dir.join("cpu.max")), "50000 100000");
            assert_eq!(read(&dir.join("pids.max")), "20");
            assert_eq!(read(&dir.join("cpu.weight")), "20");
        }
        Layout::Hybrid { .. } => {
            let d = |c| f.cg.v1_dir(c).unwrap();
            assert!(!read(&d("cpuset").join("cpuset.cpus")).is_empty());
            assert!(!read(&d("cpuset").join("cpuset.mems")).is_empty());
            let mem = d("memory");
            assert_eq!(read(&mem.join("memory.limit_in_bytes")), "67108864");
            assert_eq!(read(&mem.join("memory.soft_limit_in_bytes")), "33554432");
            let memsw = mem.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                assert_eq!(read(&memsw), "134217728");
            }
            assert_eq!(read(&d("cpu").join("cpu.cfs_quota_us")), "50000");
            assert_eq!(read(&d("cpu").join("cpu.cfs_period_us")), "100000");
            assert_eq!(read(&d("cpu").join("cpu.shares")), "512");
            assert_eq!(read(&d("pids").join("pids.max")), "20");

            // Lowering both, then raising both above the old swap limit: the two memory
            // writes must come in the order that keeps memsw >= memory.
            for (memory, swap) in [(32 << 20, 32 << 20), (256 << 20, 512 << 20)] {
                let r = Resources {
                    memory,
                    memory_swap: swap,
                    ..Resources::default()
                };
                f.cg.apply(&r)
                    .unwrap_or_else(|e| panic!("memory {memory} swap {swap}: {e}"));
                assert_eq!(read(&mem.join("memory.limit_in_bytes")), memory.to_string());
                if memsw.exists() {
                    assert_eq!(read(&memsw), swap.to_string());
                }
            }
            let r = Resources {
                pids_limit: -1,
                ..Resources::default()
            };
            f.cg.apply(&r).unwrap();
            assert_eq!(read(&d("pids").join("pids.max")), "max");
        }
    }
}

#[test]
fn blkio_weight_and_throttle() {
    let Some(f) = Fixture::new(None) else { return };
    let Layout::Hybrid { .. } = f.cg.layout() else {
        return;
    };
    let Some(disk) = ["/dev/vda", "/dev/sda", "/dev/nvme0n1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        skip("no disk device found");
        return;
    };
    f.cg.create().unwrap();
    let blkio = f.cg.v1_dir("blkio").unwrap();
    let (major, minor) = device_numbers(disk).unwrap();
    let dev = |rate| {
        vec![ThrottleDevice {
            path: disk.to_string(),
            rate,
        }]
    };
    let r = Resources {
        blkio_weight: 500,
        blkio_device_read_bps: dev(1 << 20),
        blkio_device_write_iops: dev(100),
        ..Resources::default()
    };
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .map(|f| blkio.join(f))
        .find(|p| p.exists());
    match (f.cg.apply(&r), weight_file) {
        (Ok(()), Some(file)) => assert!(read(&file).ends_with("500"), "{}", read(&file)),
        (Err(CgroupError::Unsupported { .. }), None) => return,
        (result, file) => panic!("weight file {file:?} but apply gave {result:?}"),
    }
    assert_eq!(
        read(&blkio.join("blkio.throttle.read_bps_device")),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        read(&blkio.join("blkio.throttle.write_iops_device")),
        format!("{major}:{minor} 100")
    );
}

#[test]
fn write_errors_name_the_file_and_value() {
    let Some(f) = Fixture::new(None) else { return };
    f.cg.create().unwrap();
    let r = Resources {
        cpuset_cpus: "999".to_string(),
        ..Resources::default()
    };
    let err = f.cg.apply(&r).expect_err("cpu 999 does not exist");
    let CgroupError::Write { path, value, .. } = &err else {
        panic!("expected a write error, got {err:?}");
    };
    assert!(path.ends_with("cpuset.cpus"), "{}", path.display());
    assert_eq!(value, "999");
    let text = err.to_string();
    assert!(
        text.contains("cpuset.cpus") && text.contains("\"999\""),
        "{text}"
    );
}

#[test]
fn processes_join_every_hierarchy_and_are_killed() {
    let Some(mut f) = Fixture::new(None) else {
        return;
    };
    f.cg.create().unwrap();
    let pid = f.spawn("exec sleep 30", false);
    f.cg.add_pid(pid as i32).expect("add_pid");
    assert_eq!(f.cg.pids(), vec![pid as i32]);
    for dir in f.cg.paths() {
        assert_in_procs(&dir, pid);
    }
    let v2 = f.cg.v2_path().expect("this machine has a v2 tree");
    assert_eq!(f.cg.cgroup_id(), Some(fs::metadata(&v2).unwrap().ino()));

    let stats = f.cg.stats().expect("stats");
    assert_eq!(stats.pids.current, 1, "{stats:?}");
    assert!(stats.memory.stat.contains_key("pgfault"), "{stats:?}");
    serde_json::to_string(&stats).expect("stats serialize");

    f.cg.kill_all(Signal::SIGKILL).expect("kill_all");
    let status = f.children[0].wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    f.cg.remove().expect("remove");
    for dir in f.cg.paths() {
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
    f.cg.remove().expect("removing twice is fine");
}

/// Freeze a busy loop and check that it gets no CPU time until thawed.
fn check_freezer(f: &mut Fixture) {
    f.cg.create().unwrap();
    let pid = f.spawn("while :; do :; done", false);
    f.cg.add_pid(pid as i32).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    f.cg.freeze().expect("freeze");
    assert!(f.cg.is_frozen());
    if let Some(dir) = f.cg.v1_dir("freezer") {
        assert_eq!(read(&dir.join("freezer.state")), "FROZEN");
    }
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), before, "a frozen process ran");
    f.cg.thaw().expect("thaw");
    assert!(!f.cg.is_frozen());
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert!(cpu_ticks(pid) > before, "a thawed process did not run");
    f.cg.kill_all(Signal::SIGKILL).unwrap();
    f.children[0].wait().unwrap();
    f.cg.remove().expect("remove");
}

#[test]
fn freezer_stops_a_busy_loop() {
    let Some(mut f) = Fixture::new(None) else {
        return;
    };
    check_freezer(&mut f);
}

/// The v2 code paths that work without controllers (freezer, cgroup.kill, procs, remove),
/// run on the hybrid machine's v2 tree as if it were a pure v2 machine.
#[test]
fn v2_freezer_and_kill_on_the_v2_tree() {
    let Ok(Layout::Hybrid { v2: Some(root), .. }) = detect() else {
        return;
    };
    let Some(mut f) = Fixture::new(Some(Layout::Unified { root })) else {
        return;
    };
    check_freezer(&mut f);

    f.cg.create().unwrap();
    let pid = f.spawn("exec sleep 30", false);
    f.cg.add_pid(pid as i32).unwrap();
    assert_eq!(f.cg.pids(), vec![pid as i32]);
    f.cg.kill_all(Signal::SIGTERM).unwrap();
    f.children[1].wait().unwrap();
    assert!(f.cg.pids().is_empty());
    f.cg.remove().unwrap();
    assert!(!f.cg.v2_path().unwrap().exists());
}

#[test]
fn oom_kills_are_counted() {
    let Some(mut f) = Fixture::new(None) else {
        return;
    };
    f.cg.create().unwrap();
    let r = Resources {
        memory: 16 << 20,
        memory_swap: 16 << 20,
        ..Resources::default()
    };
    f.cg.apply(&r).unwrap();
    assert_eq!(f.cg.oom_kills(), 0);
    // tail keeps the whole newline-free stream in memory: 64 MiB against a 16 MiB limit.
    let pid = f.spawn("read _; head -c 64M /dev/zero | tail -n 1 >/dev/null", true);
    f.cg.add_pid(pid as i32).unwrap();
    let child = &mut f.children[0];
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    child.wait().unwrap();
    assert!(f.cg.oom_kills() >= 1, "no OOM kill counted");
    assert!(f.cg.stats().unwrap().memory.oom_kills >= 1);
}

#[test]
fn a_shim_group_takes_a_process_in_every_hierarchy_and_goes() {
    if !nix::unistd::geteuid().is_root() {
        skip("cgroup tests need root");
        return;
    }
    let parent = format!(
        "berth-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let found = hierarchies().expect("the mounted hierarchies");
    let group = ShimGroup::under(found.clone(), &parent, "ctr").unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let dirs = group.dirs();
    let procs = || -> Vec<String> {
        dirs.iter()
            .map(|d| fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default())
            .collect()
    };
    let entered = group.enter(pid);
    let in_group = procs();
    let left = group.leave(pid);
    let after_leave = procs();
    let _ = child.kill();
    let _ = child.wait();
    let removed = group.remove();
    for h in &found {
        let _ = fs::remove_dir(h.mount_point.join(&parent));
    }
    entered.expect("enter");
    left.expect("leave");
    removed.expect("remove");
    assert_eq!(dirs.len(), found.len());
    assert!(
        in_group.iter().all(|p| p.trim() == pid.to_string()),
        "{pid} is not alone in every group: {in_group:?}"
    );
    assert!(
        after_leave.iter().all(String::is_empty),
        "left, the process is still in {after_leave:?}"
    );
    for dir in &dirs {
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}
