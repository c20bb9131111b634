//! berth's networks on a host where dockerd runs: `br_netfilter` sends bridged traffic through
//! iptables, whose FORWARD chain dockerd fills (DOCKER-USER, DOCKER-ISOLATION-STAGE-*) and
//! closes with a DROP policy. The "host" is a network namespace each test makes (with dockerd's
//! rules as dockerd 20.10 writes them), linked to an "outside" namespace with a server in it;
//! the shims run inside the host namespace. The machine's own namespace, rules and sysctls are
//! never touched; deleting the two namespaces deletes everything made in them.

use berth_shim::net::{self, store::Store, NewNetwork};
use berth_shim::spec::{PortSpec, Proto};
use berth_tests::TestEnv;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "expected {args:?} to succeed, it failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// dockerd 20.10's filter rules for its default bridge (`iptables-save` on a fresh install),
/// FORWARD policy DROP included (dockerd sets it when it turns IPv4 forwarding on).
const DOCKERD_RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
";

/// A host namespace with dockerd's rules and `bridge-nf-call-iptables=1`, and an outside
/// namespace at `OUTSIDE` behind a veth (the host's end at `HOST`).
struct DockerdHost {
    host: String,
    outside: String,
}

static HOSTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

impl DockerdHost {
    /// With `rules` (an iptables-restore script) in the host namespace: dockerd's, or none.
    fn new(rules: &'static str) -> DockerdHost {
        let n = HOSTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = format!("bd{:x}{n}", std::process::id());
        let d = DockerdHost {
            host: format!("{tag}h"),
            outside: format!("{tag}o"),
        };
        sh(&["ip", "netns", "add", &d.host]);
        sh(&["ip", "netns", "add", &d.outside]);
        sh(&["ip", "-n", &d.host, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", &d.outside, "link", "set", "lo", "up"]);
        sh(&[
            "ip", "-n", &d.host, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0",
            "netns", &d.outside,
        ]);
        sh(&[
            "ip",
            "-n",
            &d.host,
            "addr",
            "add",
            "192.0.2.1/24",
            "dev",
            "uplink",
        ]);
        sh(&["ip", "-n", &d.host, "link", "set", "uplink", "up"]);
        sh(&[
            "ip",
            "-n",
            &d.outside,
            "addr",
            "add",
            "192.0.2.2/24",
            "dev",
            "eth0",
        ]);
        sh(&["ip", "-n", &d.outside, "link", "set", "eth0", "up"]);
        // These sysctls are per network namespace: the machine's own stay as they are.
        d.in_host(|| {
            std::fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1")
                .expect("br_netfilter: writing bridge-nf-call-iptables in the host namespace");
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
            if rules.is_empty() {
                return;
            }
            let mut restore = Command::new("iptables-restore")
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("iptables-restore (the iptables package)");
            restore
                .stdin
                .take()
                .unwrap()
                .write_all(rules.as_bytes())
                .unwrap();
            assert!(restore.wait().unwrap().success(), "iptables-restore failed");
        });
        d
    }

    fn path(ns: &str) -> PathBuf {
        PathBuf::from(format!("/run/netns/{ns}"))
    }

    fn run_in<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = Self::path(ns);
        std::thread::scope(|s| {
            s.spawn(move || {
                let f_ns = std::fs::File::open(&path).unwrap();
                nix::sched::setns(&f_ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Run `f` on a thread of its own inside the host namespace: what it spawns (shims, nft,
    /// iptables) is there too.
    fn in_host<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        Self::run_in(&self.host, f)
    }

    /// A TCP server in the outside namespace answering `reply` to each connection, for as long
    /// as the test runs (the thread ends with the namespace's last connection).
    fn serve_outside(&self, port: u16, reply: &'static str) {
        let path = Self::path(&self.outside);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let f_ns = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f_ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = TcpListener::bind(SocketAddrV4::new(OUTSIDE, port)).unwrap();
            tx.send(()).unwrap();
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(reply.as_bytes());
            }
        });
        rx.recv().unwrap();
    }

    /// What a client in the outside namespace reads from `ip:port` (an error as text).
    fn fetch_from_outside(&self, ip: Ipv4Addr, port: u16) -> String {
        Self::run_in(&self.outside, move || {
            let get = || -> std::io::Result<String> {
                let mut s = TcpStream::connect_timeout(
                    &SocketAddrV4::new(ip, port).into(),
                    Duration::from_secs(3),
                )?;
                s.set_read_timeout(Some(Duration::from_secs(3)))?;
                s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            };
            get().unwrap_or_else(|e| format!("error: {e}"))
        })
    }
}

impl Drop for DockerdHost {
    fn drop(&mut self) {
        for ns in [&self.host, &self.outside] {
            if let Err(e) = Command::new("ip").args(["netns", "del", ns]).status() {
                eprintln!("cleanup: ip netns del {ns}: {e}");
            }
        }
    }
}

/// Deletes the test root's bridges and tables (inside the host namespace: the caller's thread is
/// there) when the test ends.
struct Teardown(PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = net::teardown(&self.0) {
            eprintln!("network teardown: {e}");
        }
    }
}

fn new_network(root: &Path, name: &str) -> net::store::NetworkRecord {
    let store = Store::new(root);
    let locked = store.lock().unwrap();
    net::create_bridge_network(
        root,
        &locked,
        NewNetwork {
            name: name.into(),
            ..NewNetwork::default()
        },
    )
    .unwrap()
}

fn join(env: &TestEnv, spec: &mut berth_shim::spec::ContainerSpec, net_id: &str) {
    let store = Store::new(&env.paths.root);
    let locked = store.lock().unwrap();
    let mut rec = locked.get(net_id).unwrap();
    let ep = locked
        .allocate(
            &mut rec,
            &env.paths.containers(),
            &spec.id,
            &spec.name,
            &Default::default(),
        )
        .unwrap();
    spec.endpoints.push(net::endpoint_spec(&rec, &ep));
}

/// Containers on a berth network reach each other (bridged: through iptables FORWARD with
/// `br_netfilter`), reach the outside (routed and masqueraded), and a published port answers
/// the outside, with dockerd's DROP policy in place and its chains unchanged.
#[test]
fn containers_reach_each_other_the_outside_and_are_reached_beside_dockerd() {
    let host = DockerdHost::new(DOCKERD_RULES);
    host.serve_outside(8080, "hello-from-outside");
    let (published_port, dockerd_rules_after) = host.in_host(|| {
        let env = TestEnv::new();
        let _teardown = Teardown(env.paths.root.clone());
        let n = new_network(&env.paths.root, "front");
        let mut web = env.spec(&[
            "sh",
            "-c",
            "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www",
        ]);
        join(&env, &mut web, &n.id);
        web.ports = vec![PortSpec {
            proto: Proto::Tcp,
            container_port: 80,
            ..Default::default()
        }];
        env.run(&web);
        let web_ip = web.endpoints[0].address.clone();
        let mut client = env.spec(&[
            "sh",
            "-c",
            &format!(
                "for i in 1 2 3 4 5; do timeout 2 wget -q -O - http://{web_ip}/ && break; sleep 0.2; done; \
                 timeout 4 nc {OUTSIDE} 8080 </dev/null; echo"
            ),
        ]);
        join(&env, &mut client, &n.id);
        let (_, out) = env.run_to_end(&client);
        assert!(
            out.contains("hello-from-web"),
            "expected a container to reach another on its network beside dockerd's rules, got: {out}"
        );
        assert!(
            out.contains("hello-from-outside"),
            "expected a container to reach the outside through the host beside dockerd's rules, got: {out}"
        );
        let published = net::ports::read_published(&env.container(&web.id).run);
        let port = published
            .first()
            .unwrap_or_else(|| panic!("expected port 80 published, got {published:?}"))
            .host_port;
        let from_outside = host.fetch_from_outside(HOST, port);
        assert!(
            from_outside.contains("hello-from-web"),
            "expected the published port {port} to answer the outside beside dockerd's rules, got: {from_outside}"
        );
        (port, docker_chains())
    });
    assert!(published_port > 0);
    // dockerd's own chains are as dockerd wrote them, and its FORWARD rules come first, as
    // they were.
    let want: Vec<&str> = DOCKERD_RULES
        .lines()
        .filter(|l| l.starts_with("-A DOCKER"))
        .collect();
    assert_eq!(
        dockerd_rules_after.0, want,
        "expected dockerd's chains unchanged"
    );
    let want: Vec<&str> = DOCKERD_RULES
        .lines()
        .filter(|l| l.starts_with("-A FORWARD"))
        .collect();
    assert_eq!(
        dockerd_rules_after.1[..want.len().min(dockerd_rules_after.1.len())],
        want,
        "expected dockerd's FORWARD rules first and unchanged"
    );
    let left = host.in_host(iptables_rules);
    assert!(
        !left.contains("BERTH-"),
        "expected berth's chain and jump gone with its networks, got:\n{left}"
    );
}

/// Where FORWARD neither drops nor has rules (no other firewall), berth writes no iptables rule.
#[test]
fn a_host_with_no_other_firewall_gets_no_iptables_rules() {
    let host = DockerdHost::new("");
    let before = host.in_host(iptables_rules);
    let during = host.in_host(|| {
        let env = TestEnv::new();
        let _teardown = Teardown(env.paths.root.clone());
        new_network(&env.paths.root, "plain");
        iptables_rules()
    });
    assert_eq!(
        during, before,
        "expected no iptables rule from berth where nothing filters FORWARD"
    );
}

fn iptables_rules() -> String {
    let out = Command::new("iptables").args(["-S"]).output().unwrap();
    assert!(out.status.success(), "iptables -S failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rules of dockerd's own chains (DOCKER*) and of FORWARD, as `iptables -S` prints them.
fn docker_chains() -> (Vec<String>, Vec<String>) {
    let text = iptables_rules();
    let pick = |prefix: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    };
    (pick("-A DOCKER"), pick("-A FORWARD"))
}
