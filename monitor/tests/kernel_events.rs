//! Root tests against the real kernel: security and process events, packet counts and the
//! deny policy of watched cgroups, made by children (this test binary run again, see
//! common::child_main).

use crate::common;

use berth_monitor::{abi, Monitor};
use common::{child_status, run_child, Cgroup, Pins, ROLE};
use std::path::PathBuf;

#[test]
fn security_and_process_events() {
    let dir = PathBuf::from(format!("/sys/fs/bpf/berth-test-sec-{}", std::process::id()));
    let _pins = Pins::new(dir.clone());
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
    let _pins = Pins::new(dir.clone());
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
    let _pins = Pins::new(dir.clone());
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
    assert!(
        berth_monitor::denying(&dir) && !berth_monitor::counting(&dir),
        "deny rules attach the policy's hook, not the counting one"
    );
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
    assert!(
        !berth_monitor::denying(&dir),
        "no syscall rule left, and the policy's hook still taxes every call"
    );
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
