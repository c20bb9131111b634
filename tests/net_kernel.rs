//! Published ports and bandwidth limits against the real kernel, on a bridge and two network
//! namespaces each test makes for itself (named after the test process, deleted on drop), with
//! the servers and clients as threads that entered those namespaces.

use berth_shim::net::ports::{self, Endpoint, Table};
use berth_shim::net::shape;
use berth_shim::spec::{Bandwidth, PortSpec};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The host's first global IPv4 address (eth0's here).
fn host_address() -> Ipv4Addr {
    let out = Command::new("ip")
        .args(["-j", "-4", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["addr_info"].as_array().cloned().unwrap_or_default())
        .find_map(|a| a["local"].as_str()?.parse().ok())
        .expect("the host needs a global IPv4 address to publish ports on")
}

static WORLDS: AtomicU32 = AtomicU32::new(0);

/// The bandwidth test times transfers on a 2-core machine: it runs alone (write), the other
/// tests of this file beside each other (read).
static TIMING: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn beside_others() -> std::sync::RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(|e| e.into_inner())
}

/// A bridge with two namespaces plugged in (`a` at .2, `b` at .3), and a berth root of its own
/// (for the nftables table's name).
struct World {
    tag: String,
    bridge: String,
    subnet: [u8; 3],
    root: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        assert!(nix::unistd::geteuid().is_root(), "kernel tests run as root");
        let n = WORLDS.fetch_add(1, Ordering::SeqCst);
        let tag = format!("bk{:x}{n}", std::process::id());
        // 10.247.<x>.0/24, an octet from the pid; refuse one the host routes already.
        let octet = ((std::process::id() * 7 + n * 31) % 250) as u8;
        let subnet = [10, 247, octet];
        let routes = Command::new("ip").args(["-4", "route"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&routes.stdout).contains(&format!("10.247.{octet}.")),
            "10.247.{octet}.0/24 is routed already"
        );
        let w = World {
            bridge: format!("{tag}br"),
            tag,
            subnet,
            root: tempfile::tempdir().unwrap(),
        };
        let br = w.bridge.clone();
        sh(&["ip", "link", "add", &br, "type", "bridge"]);
        sh(&["ip", "addr", "add", &format!("{}/24", w.ip(1)), "dev", &br]);
        sh(&["ip", "link", "set", &br, "up"]);
        for (ns, host) in [("a", 2), ("b", 3)] {
            let netns = w.netns(ns);
            let veth = w.veth(ns);
            sh(&["ip", "netns", "add", &netns]);
            sh(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns,
            ]);
            sh(&["ip", "link", "set", &veth, "master", &br, "up"]);
            let ip = format!("{}/24", w.ip(host));
            sh(&["ip", "-n", &netns, "addr", "add", &ip, "dev", "eth0"]);
            sh(&["ip", "-n", &netns, "link", "set", "eth0", "up"]);
            sh(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
            let gw = w.ip(1).to_string();
            sh(&["ip", "-n", &netns, "route", "add", "default", "via", &gw]);
        }
        w
    }

    fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], host)
    }
    fn netns(&self, ns: &str) -> String {
        format!("{}{ns}", self.tag)
    }
    fn netns_path(&self, ns: &str) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.netns(ns)))
    }
    fn veth(&self, ns: &str) -> String {
        format!("{}v{ns}", self.tag)
    }
    fn table(&self) -> Table {
        Table::for_root(self.root.path())
    }
    fn endpoint(&self, ns: &str) -> Endpoint {
        Endpoint {
            ip: self.ip(if ns == "a" { 2 } else { 3 }),
            prefix_len: 24,
            ip6: None,
            bridge: self.bridge.clone(),
            host_veth: self.veth(ns),
        }
    }

    /// Run `f` on a thread inside namespace `ns`.
    fn spawn_in<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = self.netns_path(ns);
        std::thread::spawn(move || {
            let f_ns = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f_ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
    }

    fn in_ns<T: Send + 'static>(&self, ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn_in(ns, f).join().unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.table().delete();
        for ns in ["a", "b"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.netns(ns)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// A TCP server that answers every connection with `reply`, and a UDP one that echoes with
/// `reply` in front, inside namespace `ns`; both stop after `for_secs`.
fn servers(w: &World, ns: &str, reply: &'static str, for_secs: u64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    w.spawn_in(ns, move || {
        let l = TcpListener::bind("0.0.0.0:80").unwrap();
        tx.send(()).unwrap();
        l.set_nonblocking(true).unwrap();
        let end = Instant::now() + Duration::from_secs(for_secs);
        while Instant::now() < end {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.write_all(reply.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    w.spawn_in(ns, move || {
        let u = UdpSocket::bind("0.0.0.0:81").unwrap();
        tx2.send(()).unwrap();
        u.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let end = Instant::now() + Duration::from_secs(for_secs);
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            if let Ok((n, from)) = u.recv_from(&mut buf) {
                let mut out = reply.as_bytes().to_vec();
                out.extend_from_slice(&buf[..n]);
                let _ = u.send_to(&out, from);
            }
        }
    });
    rx.recv().unwrap();
    rx.recv().unwrap();
}

fn fetch(ip: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let mut s =
        TcpStream::connect_timeout(&SocketAddrV4::new(ip, port).into(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn udp_ask(ip: Ipv4Addr, port: u16, what: &str) -> std::io::Result<String> {
    let u = UdpSocket::bind("0.0.0.0:0")?;
    u.set_read_timeout(Some(Duration::from_secs(3)))?;
    u.send_to(what.as_bytes(), SocketAddrV4::new(ip, port))?;
    let mut buf = [0u8; 1500];
    let (n, _) = u.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn spec(proto: &str, container_port: u16) -> PortSpec {
    PortSpec {
        proto: berth_shim::spec::Proto::parse(proto)
            .unwrap_or_else(|| panic!("expected tcp, udp or sctp, got {proto}")),
        container_port,
        ..Default::default()
    }
}

#[test]
fn published_ports_answer_on_loopback_the_host_address_and_to_neighbours() {
    let _timing = beside_others();
    let w = World::new();
    let host = host_address();
    servers(&w, "a", "hello from a\n", 20);
    let held = ports::reserve(&[spec("tcp", 80), spec("udp", 81)], false).unwrap();
    let (tcp, udp) = (held.published[0].host_port, held.published[1].host_port);
    let table = w.table();
    table
        .install("ctr-a", &w.endpoint("a"), &held.published)
        .unwrap();

    assert_eq!(fetch(Ipv4Addr::LOCALHOST, tcp).unwrap(), "hello from a\n");
    assert_eq!(fetch(host, tcp).unwrap(), "hello from a\n");
    let from_b = w.in_ns("b", move || fetch(host, tcp).map_err(|e| e.to_string()));
    assert_eq!(from_b.unwrap(), "hello from a\n", "from a neighbour");
    let from_self = w.in_ns("a", move || fetch(host, tcp).map_err(|e| e.to_string()));
    assert_eq!(
        from_self.unwrap(),
        "hello from a\n",
        "from the container itself"
    );
    assert_eq!(
        udp_ask(Ipv4Addr::LOCALHOST, udp, "ping").unwrap(),
        "hello from a\nping"
    );
    assert_eq!(udp_ask(host, udp, "pong").unwrap(), "hello from a\npong");

    // Installing again (a restart) replaces the rules rather than adding more.
    table
        .install("ctr-a", &w.endpoint("a"), &held.published)
        .unwrap();
    let comments = table.comments().unwrap();
    assert_eq!(
        comments.len(),
        3,
        "two ports and one masquerade: {comments:?}"
    );

    table.remove("ctr-a").unwrap();
    assert_eq!(table.comments().unwrap(), Vec::<String>::new());
    // The host port is still held (bound, not listening): nothing answers there now.
    let err = fetch(Ipv4Addr::LOCALHOST, tcp).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn a_port_left_by_a_dead_shim_goes_to_its_new_holder() {
    let _timing = beside_others();
    let w = World::new();
    servers(&w, "a", "a\n", 20);
    servers(&w, "b", "b\n", 20);
    let table = w.table();
    let first = ports::reserve(&[spec("tcp", 80)], false).unwrap();
    let port = first.published[0].host_port;
    table
        .install("ctr-a", &w.endpoint("a"), &first.published)
        .unwrap();
    assert_eq!(fetch(Ipv4Addr::LOCALHOST, port).unwrap(), "a\n");
    // The shim of a dies (its sockets close) without removing its rules; b takes the port.
    drop(first);
    let second = ports::reserve(
        &[PortSpec {
            host_ip: "127.0.0.1".into(),
            host_port: port,
            ..spec("tcp", 80)
        }],
        false,
    )
    .unwrap();
    table
        .install("ctr-b", &w.endpoint("b"), &second.published)
        .unwrap();
    assert_eq!(fetch(Ipv4Addr::LOCALHOST, port).unwrap(), "b\n");
    let comments = table.comments().unwrap();
    assert!(
        comments.iter().all(|c| !c.contains("0.0.0.0")),
        "a's port rule is gone: {comments:?}"
    );
    assert!(
        comments.iter().any(|c| c == "ctr-a"),
        "a's masquerade stays until a is removed: {comments:?}"
    );
    table.remove("ctr-a").unwrap();
    table.remove("ctr-b").unwrap();
    assert!(table.comments().unwrap().is_empty());
}

/// Bytes per second of a transfer of `bytes` from a to b (b connects to a's address).
fn transfer_rate(w: &World, bytes: usize) -> f64 {
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = w.spawn_in("a", move || {
        let l = TcpListener::bind("0.0.0.0:5001").unwrap();
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
    });
    rx.recv().unwrap();
    let a = w.ip(2);
    let rate = w.in_ns("b", move || {
        let mut s = TcpStream::connect(SocketAddrV4::new(a, 5001)).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        // The first 256 KiB fill the bucket and the queues; time the rest.
        let mut got = 0usize;
        let mut started = None;
        let mut from = 0usize;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got += n;
            if started.is_none() && got >= 256 * 1024 {
                started = Some(Instant::now());
                from = got;
            }
        }
        assert_eq!(got, bytes, "the whole transfer arrives");
        (got - from) as f64 / started.unwrap().elapsed().as_secs_f64()
    });
    sender.join().unwrap();
    rate
}

fn assert_within_ten_percent(rate_bytes: f64, limit_bits: u64, what: &str) {
    let rate_bits = rate_bytes * 8.0;
    let ratio = rate_bits / limit_bits as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{what}: {rate_bits:.0} bit/s of payload against a limit of {limit_bits} ({:.1}%)",
        ratio * 100.0
    );
}

#[test]
fn bandwidth_limits_hold_within_ten_percent() {
    let _alone = TIMING.write().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    // What a sends: shaped on its own end of the pair, inside its namespace.
    let egress = Bandwidth {
        egress_bps: 20_000_000,
        ingress_bps: 0,
    };
    shape::apply(&egress, &w.veth("a"), &w.netns_path("a"), "eth0").unwrap();
    let in_a = w.in_ns("a", || shape::current_rate("eth0"));
    assert_eq!(in_a, Some(20_000_000));
    assert_within_ten_percent(transfer_rate(&w, 5_000_000), 20_000_000, "egress of a");

    // What b receives: shaped on the host's end of its pair, tighter than a's egress.
    let ingress = Bandwidth {
        egress_bps: 0,
        ingress_bps: 8_000_000,
    };
    shape::apply(&ingress, &w.veth("b"), &w.netns_path("b"), "eth0").unwrap();
    assert_eq!(shape::current_rate(&w.veth("b")), Some(8_000_000));
    assert_within_ten_percent(transfer_rate(&w, 2_500_000), 8_000_000, "ingress of b");
}

#[test]
fn containers_cannot_reach_the_hosts_loopback_through_the_bridge() {
    let _timing = beside_others();
    let w = World::new();
    // A host service on loopback only (127.0.0.2: b keeps 127.0.0.1 as its own address).
    let l = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    // Publishing turns route_localnet on for the bridge (loopback DNAT needs it).
    let held = ports::reserve(&[spec("tcp", 80)], false).unwrap();
    let table = w.table();
    table
        .install("ctr-a", &w.endpoint("a"), &held.published)
        .unwrap();
    // b sends to 127.0.0.1 through its gateway, as a hostile container with NET_ADMIN could.
    let ns = w.netns("b");
    let gw = w.ip(1).to_string();
    sh(&[
        "ip",
        "-n",
        &ns,
        "route",
        "del",
        "local",
        "127.0.0.0/8",
        "dev",
        "lo",
        "table",
        "local",
    ]);
    sh(&[
        "ip",
        "-n",
        &ns,
        "route",
        "add",
        "127.0.0.0/8",
        "via",
        &gw,
        "dev",
        "eth0",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "sysctl",
        "-qw",
        "net.ipv4.conf.eth0.route_localnet=1",
    ]);
    let try_connect = |w: &World| {
        w.in_ns("b", move || {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), port).into(),
                Duration::from_secs(1),
            )
            .is_ok()
        })
    };
    assert!(
        !try_connect(&w),
        "a container reached the host's 127.0.0.2:{port}"
    );
    // Without the guard it would have: the test sees what it claims to.
    sh(&["nft", "flush", "chain", "ip", &table.name, "guard"]);
    assert!(
        try_connect(&w),
        "the route to the host's loopback is not what the test thinks"
    );
    table
        .install("ctr-a", &w.endpoint("a"), &held.published)
        .unwrap();
    assert!(!try_connect(&w), "installing again restores the guard");
}
