//! Root tests against the real kernel: load and pin, reopen from another handle and another
//! process, count a watched cgroup's calls and not an unwatched one's, drain exec events.
//!
//! The children are this test binary run again: `child` does the work its environment asks
//! for (join a cgroup, call getppid N times, fail N opens, exec a program) and returns.

use berth_monitor::{abi, ensure_loaded, unload, Monitor};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROLE: &str = "BERTH_MONITOR_TEST_ROLE";

/// Runs this binary's `child` test with `env`; its exit status.
fn child_status(env: &[(&str, String)]) -> std::process::ExitStatus {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--test-threads=1", "--quiet"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null());
    cmd.status().expect("running the child")
}

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
    // Join the cgroup, then exec this binary again: the monitor counts and reports from a
    // cgroup's first execve on, as for a container's program.
    if let Ok(cg) = std::env::var("BERTH_CGROUP") {
        if std::env::var_os("BERTH_JOINED").is_none() {
            std::fs::write(
                Path::new(&cg).join("cgroup.procs"),
                std::process::id().to_string(),
            )
            .expect("joining the cgroup");
            // Before the first exec: not the program's doing, not reported.
            let _ = std::fs::File::open("/etc/shadow");
            use std::os::unix::process::CommandExt;
            let err = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--test-threads=1", "--quiet"])
                .env("BERTH_JOINED", "1")
                .exec();
            panic!("exec: {err}");
        }
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
            for _ in 0..n.max(1) {
                let st = Command::new("/bin/true")
                    .arg("--berth-arg")
                    .status()
                    .expect("running /bin/true");
                assert!(st.success());
            }
        }
        "reopen" => {
            let dir = PathBuf::from(std::env::var("BERTH_DIR").unwrap());
            assert!(
                !ensure_loaded(&dir).unwrap(),
                "a second process loaded again"
            );
            let mut m = Monitor::open(&dir).expect("opening the pins from another process");
            let cg: u64 = std::env::var("BERTH_CGROUP_ID").unwrap().parse().unwrap();
            m.watch(cg, "from-another-process", 0).unwrap();
            m.count(cg).unwrap();
        }
        "load" => {
            let dir = PathBuf::from(std::env::var("BERTH_DIR").unwrap());
            let loaded = ensure_loaded(&dir).expect("loading");
            let out = std::env::var("BERTH_OUT").unwrap();
            std::fs::write(out, if loaded { "loaded" } else { "opened" }).unwrap();
        }
        "security" => security_calls(),
        "mkdir" => {
            let d = Path::new(&std::env::var("BERTH_TMP").unwrap())
                .join(format!("d{}", std::process::id()));
            std::fs::create_dir(&d).unwrap();
        }
        "connect" => {
            let port = std::env::var("BERTH_PORT").unwrap();
            match std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => std::process::exit(3),
                Err(e) => panic!("connect: {e}"),
            }
        }
        "send" => {
            use std::io::Write;
            let port = std::env::var("BERTH_PORT").unwrap();
            let mut c = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
            c.write_all(&vec![7u8; n as usize]).unwrap();
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
    let _pins = Pins(dir.clone());
    let tmp = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--test-threads=1", "--quiet"])
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

/// The calls the security test expects to see, made from a watched cgroup.
fn security_calls() {
    let tmp = std::env::var("BERTH_TMP").unwrap();
    let tmp = Path::new(&tmp);
    // A sensitive path (the open fails or not: the call is the event) and a harmless one.
    let _ = std::fs::File::open("/etc/shadow");
    let _ = std::fs::File::open("/etc/hostname");
    // A setuid mode, and a plain one.
    let f = tmp.join("suid");
    std::fs::write(&f, b"").unwrap();
    let st = Command::new("/usr/bin/chmod")
        .arg("4755")
        .arg(&f)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("/usr/bin/chmod")
        .arg("0644")
        .arg(&f)
        .status()
        .unwrap();
    assert!(st.success());
    // unshare, then a mount and an umount in the new mount namespace.
    let mnt = tmp.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs berth-test-src {0} && umount {0}",
        mnt.display()
    );
    let st = Command::new("/usr/bin/unshare")
        .args(["-m", "--propagation", "private", "/bin/sh", "-c", &script])
        .status()
        .unwrap();
    assert!(st.success(), "unshare and mount: {st}");
    // A kill of another process.
    let mut sleeper = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = sleeper.wait();
    // A refused connect.
    let port = std::env::var("BERTH_PORT").unwrap();
    assert!(std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err());
    // A process that exits with a code.
    let st = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
}

#[test]
fn security_and_process_events() {
    let dir = PathBuf::from(format!("/sys/fs/bpf/berth-test-sec-{}", std::process::id()));
    let _pins = Pins(dir.clone());
    let mut m = Monitor::ensure(&dir).expect("loading");
    let cg = Cgroup::new("berth-monitor-sec");
    let quiet = Cgroup::new("berth-monitor-quiet");
    let mut ring = m.open_ring(cg.id()).expect("creating the ring");
    let mut quiet_ring = m.open_ring(quiet.id()).expect("creating the second ring");
    m.watch(
        cg.id(),
        "sec",
        abi::WANT_SECURITY | abi::WANT_NET | abi::WANT_FORK,
    )
    .unwrap();
    m.watch(quiet.id(), "quiet", abi::WANT_EXEC).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for cgroup in [&cg, &quiet] {
        run_child(&[
            (ROLE, "security".into()),
            ("BERTH_CGROUP", cgroup.0.display().to_string()),
            ("BERTH_TMP", tmp.path().display().to_string()),
            ("BERTH_PORT", port.to_string()),
        ]);
    }
    let events = ring.drain(usize::MAX);
    let find = |action: &str, pred: &dyn Fn(&berth_monitor::Event) -> bool| {
        events
            .iter()
            .find(|e| e.action == action && pred(e))
            .unwrap_or_else(|| panic!("no {action} event as expected among {events:#?}"))
    };
    let e = find("openat", &|e| e.attributes["path"] == "/etc/shadow");
    assert_eq!(e.kind, "syscall");
    let shadow = events
        .iter()
        .filter(|e| e.attributes.get("path").is_some_and(|p| p == "/etc/shadow"));
    assert_eq!(
        shadow.count(),
        1,
        "the open before the first exec was reported"
    );
    let shadow = events
        .iter()
        .filter(|e| e.attributes.get("path").is_some_and(|p| p == "/etc/shadow"));
    assert_eq!(shadow.count(), 1, "the open before the first exec reported");
    assert!(
        !events.iter().any(|e| e
            .attributes
            .get("path")
            .is_some_and(|p| p == "/etc/hostname")),
        "an open of a harmless path reported"
    );
    let e = find("fchmodat", &|e| e.attributes["mode"] == "4755");
    assert_eq!(e.comm, "chmod");
    assert_eq!(e.attributes["ret"], "0", "{e:?}");
    assert!(
        !events
            .iter()
            .any(|e| e.attributes.get("mode").is_some_and(|m| m == "644")),
        "a chmod without setuid bits reported"
    );
    find("unshare", &|e| e.attributes["ret"] == "0");
    let e = find("mount", &|e| e.attributes["source"] == "berth-test-src");
    assert_eq!(
        (
            e.attributes["fstype"].as_str(),
            e.attributes["ret"].as_str()
        ),
        ("tmpfs", "0"),
        "{e:?}"
    );
    assert_eq!(e.comm, "mount");
    find("umount2", &|e| e.attributes["ret"] == "0");
    let e = find("kill", &|e| e.attributes["sig"] == "9");
    assert_eq!(e.attributes["ret"], "0", "{e:?}");
    let e = find("connect", &|e| e.attributes["port"] == port.to_string());
    assert_eq!(
        (
            e.attributes["addr"].as_str(),
            e.attributes["error"].as_str()
        ),
        ("127.0.0.1", "ECONNREFUSED"),
        "{e:?}"
    );
    let e = find("exit", &|e| {
        e.attributes.get("exitCode").is_some_and(|c| c == "7")
    });
    assert_eq!(e.kind, "process");
    let sh = e.pid.to_string();
    find("fork", &|e| e.attributes["child"] == sh);
    assert!(
        !events.iter().any(|e| e.action == "exec"),
        "exec events that were not asked for"
    );
    for e in &events {
        assert_eq!(e.cgroup_id, cg.id(), "{e:?}");
        assert!(e.pid > 0 && e.tid > 0 && !e.comm.is_empty(), "{e:?}");
    }
    // The other container asked for execs only.
    let quiet_events = quiet_ring.drain(usize::MAX);
    assert!(
        quiet_events.iter().all(|e| e.action == "exec"),
        "{quiet_events:#?}"
    );
    assert!(
        !quiet_events.is_empty(),
        "no exec in the exec-only container"
    );
    assert_eq!(m.dropped(cg.id()).unwrap(), 0);
    m.unwatch(cg.id()).unwrap();
    m.unwatch(quiet.id()).unwrap();
    m.forget(cg.id()).unwrap();
    m.forget(quiet.id()).unwrap();
}

#[test]
fn packets_of_a_watched_cgroup_are_counted() {
    let dir = PathBuf::from(format!("/sys/fs/bpf/berth-test-net-{}", std::process::id()));
    let _pins = Pins(dir.clone());
    let mut m = Monitor::ensure(&dir).expect("loading");
    let cg = Cgroup::new("berth-monitor-net");
    let other = Cgroup::new("berth-monitor-net-other");
    m.watch(cg.id(), "net", 0).unwrap();
    m.watch_net(&cg.0, cg.id())
        .expect("attaching the packet counters");
    // Twice is harmless: the attached programs stay as they are.
    m.watch_net(&cg.0, cg.id()).expect("attaching again");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let mut total = 0;
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            total += std::io::copy(&mut s, &mut std::io::sink()).unwrap();
        }
        total
    });
    const BYTES: u64 = 100_000;
    for cgroup in [&cg, &other] {
        run_child(&[
            (ROLE, "send".into()),
            ("BERTH_CGROUP", cgroup.0.display().to_string()),
            ("BERTH_PORT", port.to_string()),
            ("BERTH_N", BYTES.to_string()),
        ]);
    }
    assert_eq!(reader.join().unwrap(), 2 * BYTES);
    let n = m.net(cg.id()).unwrap();
    assert!(
        n.tx_bytes >= BYTES && n.tx_bytes < 2 * BYTES,
        "sent {BYTES} bytes (and headers), counted {n:?}"
    );
    assert!(n.tx_packets >= 2 && n.rx_packets >= 2, "{n:?}");
    assert_eq!(
        m.net(other.id()).unwrap(),
        berth_monitor::Net::default(),
        "a cgroup without the counters attached"
    );
    // Unwatched: detached, the figures stay until forgotten.
    m.unwatch(cg.id()).unwrap();
    assert_eq!(m.net(cg.id()).unwrap(), n);
    m.forget(cg.id()).unwrap();
    assert_eq!(m.net(cg.id()).unwrap(), berth_monitor::Net::default());
}

#[test]
fn policy_kills_and_refuses_in_its_cgroup_only() {
    use std::os::unix::process::ExitStatusExt;
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/berth-test-policy-{}",
        std::process::id()
    ));
    let _pins = Pins(dir.clone());
    let mut m = Monitor::ensure(&dir).expect("loading");
    let cg = Cgroup::new("berth-monitor-policy");
    let neighbour = Cgroup::new("berth-monitor-neighbour");
    let mut ring = m.open_ring(cg.id()).unwrap();
    for c in [&cg, &neighbour] {
        m.watch(c.id(), "policy", 0).unwrap();
        m.watch_net(&c.0, c.id()).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let env = |c: &Cgroup, role: &str, port: u16| {
        vec![
            (ROLE, role.to_string()),
            ("BERTH_CGROUP", c.0.display().to_string()),
            ("BERTH_TMP", tmp.path().display().to_string()),
            ("BERTH_PORT", port.to_string()),
        ]
    };
    // No policy: both work.
    assert!(child_status(&env(&cg, "mkdir", port)).success());
    assert!(child_status(&env(&cg, "connect", port)).success());

    // Set while the cgroup is in use: mkdir kills, the port is refused; the neighbour and
    // another port are untouched.
    let policy = berth_monitor::Policy {
        deny_syscalls: vec!["mkdir".into(), "mkdirat".into()],
        deny_connect: vec![format!("127.0.0.0/8:{port}")],
    };
    m.set_policy(cg.id(), &policy).unwrap();
    let st = child_status(&env(&cg, "mkdir", port));
    assert_eq!(st.signal(), Some(9), "a denied mkdir: {st:?}");
    assert!(
        child_status(&env(&neighbour, "mkdir", port)).success(),
        "the neighbour"
    );
    assert_eq!(
        child_status(&env(&cg, "connect", port)).code(),
        Some(3),
        "a denied connect"
    );
    assert!(
        child_status(&env(&cg, "connect", other_port)).success(),
        "another port"
    );
    assert!(
        child_status(&env(&neighbour, "connect", port)).success(),
        "the neighbour"
    );
    let events = ring.drain(usize::MAX);
    let kill = events
        .iter()
        .find(|e| e.action == "kill")
        .unwrap_or_else(|| panic!("no kill event: {events:#?}"));
    assert_eq!(kill.kind, "policy");
    assert!(kill.attributes["syscall"].starts_with("mkdir"), "{kill:?}");
    let refuse = events
        .iter()
        .find(|e| e.action == "refuse")
        .unwrap_or_else(|| panic!("no refuse event: {events:#?}"));
    assert_eq!(refuse.attributes["port"], port.to_string(), "{refuse:?}");
    assert_eq!(refuse.attributes["addr"], "127.0.0.1", "{refuse:?}");

    // Changed again: only connects to any port of 127.0.0.1 are denied; mkdir works.
    let policy = berth_monitor::Policy {
        deny_syscalls: vec![],
        deny_connect: vec!["127.0.0.1".into()],
    };
    m.set_policy(cg.id(), &policy).unwrap();
    assert_eq!(m.policy_rules(cg.id()), (vec![], 1));
    assert!(child_status(&env(&cg, "mkdir", port)).success());
    assert_eq!(
        child_status(&env(&cg, "connect", other_port)).code(),
        Some(3)
    );
    // Bad rules are refused whole.
    let bad = berth_monitor::Policy {
        deny_syscalls: vec!["nosuchcall".into()],
        deny_connect: vec![],
    };
    assert!(m.set_policy(cg.id(), &bad).is_err());
    assert_eq!(
        m.policy_rules(cg.id()),
        (vec![], 1),
        "a bad policy changed the rules"
    );
    // Unwatched: the rules go.
    m.unwatch(cg.id()).unwrap();
    m.unwatch(neighbour.id()).unwrap();
    assert_eq!(m.policy_rules(cg.id()), (vec![], 0));
    drop((listener, other));
}
