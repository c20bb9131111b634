//! The embedded DNS server at 127.0.0.11 in containers on user-defined networks, against the
//! real kernel with busybox's `nslookup`: names, aliases and short ids from the records at each
//! query, a name on two networks, forwarding to a resolver of the test's own (UDP, TCP after a
//! truncation, SERVFAIL with none), and `--dns`, `--dns-search`, `--dns-option`.

use super::network::{new_network, Teardown};
use berth_shim::net::{self, store::EndpointWish, store::Store};
use berth_shim::spec::ContainerSpec;
use berth_tests::TestEnv;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// Give `spec` an endpoint on `net_id` (as the API's create does), at `ip` when given.
fn join(env: &TestEnv, spec: &mut ContainerSpec, net_id: &str, aliases: &[&str], ip: &str) {
    let store = Store::new(&env.paths.root);
    let locked = store.lock().unwrap();
    let mut rec = locked.get(net_id).unwrap();
    let wish = EndpointWish {
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        ip: ip.to_string(),
        ..Default::default()
    };
    let containers = env.paths.containers();
    let ep = locked
        .allocate(&mut rec, &containers, &spec.id, &spec.name, &wish)
        .unwrap();
    spec.endpoints.push(net::endpoint_spec(&rec, &ep));
    env.create(spec);
}

/// The address busybox's nslookup printed for `name` in `out`, if any.
fn answer_for(out: &str, name: &str) -> Option<String> {
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        if l.trim() == format!("Name:\t{name}") || l.split_whitespace().eq(["Name:", name]) {
            let next = lines.next()?;
            return next.strip_prefix("Address:").map(|a| a.trim().to_string());
        }
    }
    None
}

#[test]
fn names_aliases_and_short_ids_resolve_through_127_0_0_11() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_network(&env, "dnsfront", false);
    let mut web = env.spec(&["sleep", "60"]);
    web.name = "web".into();
    join(&env, &mut web, &n.id, &["www"], "");
    env.run(&web);
    let short = &web.id[..12];
    let script = format!(
        "cat /etc/resolv.conf; nslookup web; nslookup WWW; nslookup {short}; \
         nslookup nosuchpeer; nslookup {ip}; echo done; sleep 60",
        ip = web.endpoints[0].address
    );
    let resolver = TestResolver::start();
    let mut client = env.spec(&["sh", "-c", &script]);
    client.network.dns = vec![resolver.addr.to_string()];
    join(&env, &mut client, &n.id, &[], "");
    let pid = env.run(&client);
    env.eventually("the lookups", LONG, || {
        env.log_text(&client.id).contains("done")
    });
    let out = env.log_text(&client.id);
    let ip = web.endpoints[0].address.clone();
    assert!(
        out.contains("nameserver 127.0.0.11\noptions ndots:0\n")
            && out.matches("nameserver").count() == 1,
        "expected resolv.conf to name the embedded server with ndots:0:\n{out}"
    );
    for name in ["web", "WWW", short] {
        assert_eq!(
            answer_for(&out, name).as_deref(),
            Some(ip.as_str()),
            "expected {name} at {ip}:\n{out}"
        );
    }
    assert!(
        out.contains("can't find nosuchpeer: NXDOMAIN"),
        "expected NXDOMAIN for nosuchpeer (from the test's resolver):\n{out}"
    );
    assert!(
        out.contains(&format!("name = web.{}", n.name)),
        "expected the PTR of web's address to name web on its network:\n{out}"
    );
    // Hostile input, sent from inside the container's namespace, then a real question.
    let want: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    let report = in_netns(pid, move || hostile_then_ask(&want));
    assert_eq!(report, Ok(()), "{out}");
}

/// Run `f` on a thread that entered the network namespace of `pid`.
fn in_netns<T: Send + 'static>(pid: i32, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// A query for `name` (A, IN) with `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Hostile datagrams and connections to 127.0.0.11:53, each answered sanely or not at all, and
/// after them a real question over UDP and over TCP that must still be answered with `want`.
fn hostile_then_ask(want: &[u8]) -> Result<(), String> {
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    udp.connect("127.0.0.11:53").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    // A pointer to itself: FORMERR, header only.
    let looped = [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
    udp.send(&looped).unwrap();
    let n = udp
        .recv(&mut buf)
        .map_err(|e| format!("no answer to a loop: {e}"))?;
    if buf[..n] != [0, 7, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0] {
        return Err(format!("a pointer loop answered {:?}", &buf[..n]));
    }
    // A flood of junk (cut headers, random bytes, answers): no crash, no stall.
    for i in 0..2000u32 {
        let junk: Vec<u8> = (0..(i % 40)).map(|k| (i * 31 + k * 17) as u8).collect();
        let _ = udp.send(&junk);
    }
    // TCP: a length over the limit, a connection that sends nothing, a query in pieces.
    let mut big = std::net::TcpStream::connect("127.0.0.11:53").map_err(|e| e.to_string())?;
    big.write_all(&[0xff, 0xff, 1, 2, 3]).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    if !matches!(big.read(&mut buf), Ok(0) | Err(_)) {
        return Err("an oversized TCP query was answered".into());
    }
    let _idle = std::net::TcpStream::connect("127.0.0.11:53").map_err(|e| e.to_string())?;
    let q = query(0x4242, "web");
    let mut tcp = std::net::TcpStream::connect("127.0.0.11:53").map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    for piece in framed.chunks(3) {
        tcp.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut got = vec![0u8; 2];
    tcp.read_exact(&mut got)
        .map_err(|e| format!("TCP answer: {e}"))?;
    got.resize(2 + u16::from_be_bytes([got[0], got[1]]) as usize, 0);
    tcp.read_exact(&mut got[2..])
        .map_err(|e| format!("TCP answer: {e}"))?;
    if !got.ends_with(want) || got[2..4] != [0x42, 0x42] {
        return Err(format!("TCP answer {got:?}, expected one ending {want:?}"));
    }
    // Drain what the flood brought back, then ask over UDP.
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while udp.recv(&mut buf).is_ok() {}
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    udp.send(&query(0x5151, "web")).unwrap();
    loop {
        let n = udp
            .recv(&mut buf)
            .map_err(|e| format!("UDP answer after the flood: {e}"))?;
        if buf[..2] == [0x51, 0x51] {
            return if buf[..n].ends_with(want) {
                Ok(())
            } else {
                Err(format!("UDP answer {:?}", &buf[..n]))
            };
        }
    }
}

#[test]
fn a_peer_started_later_or_at_another_address_is_found_at_once() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_network(&env, "dnslate", false);
    let script = "for i in $(seq 150); do nslookup late 2>&1 | grep -A1 'Name:'; sleep 0.2; done";
    let mut client = env.spec(&["sh", "-c", script]);
    join(&env, &mut client, &n.id, &[], "");
    env.run(&client);
    let subnet = net::ipam::Subnet::parse(&n.subnet).unwrap();
    let at = |k: u32| Ipv4Addr::from(subnet.first() + k).to_string();
    let mut first = env.spec(&["sleep", "60"]);
    first.name = "late".into();
    join(&env, &mut first, &n.id, &[], &at(20));
    env.run(&first);
    env.eventually("the client to find the peer", LONG, || {
        env.log_text(&client.id).contains(&at(20))
    });
    // Gone, and a new one of the same name at another address (compose's recreate).
    env.control(
        &first.id,
        berth_shim::control::Request::Stop {
            timeout: Some(0),
            signal: None,
            keep: false,
        },
    );
    env.wait_exited(&first.id, LONG);
    net::release_container(&env.paths.root, &first.id).unwrap();
    let mut second = env.spec(&["sleep", "60"]);
    second.name = "late".into();
    join(&env, &mut second, &n.id, &[], &at(30));
    env.run(&second);
    env.eventually("the client to find the peer's new address", LONG, || {
        env.log_text(&client.id).contains(&at(30))
    });
}

#[test]
fn a_name_on_two_networks_answers_with_the_address_on_the_askers() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let (a, b) = (
        new_network(&env, "dnsa", false),
        new_network(&env, "dnsb", false),
    );
    let mut web = env.spec(&["sleep", "60"]);
    web.name = "both".into();
    join(&env, &mut web, &a.id, &[], "");
    join(&env, &mut web, &b.id, &[], "");
    env.run(&web);
    for (i, net) in [&a, &b].into_iter().enumerate() {
        let mut client = env.spec(&["nslookup", "both"]);
        join(&env, &mut client, &net.id, &[], "");
        let (code, out) = env.run_to_end(&client);
        let want = &web.endpoints[i].address;
        assert_eq!(
            answer_for(&out, "both").as_deref(),
            Some(want.as_str()),
            "expected both at {want} on {} (exit {code}):\n{out}",
            net.name
        );
    }
}

/// A resolver of the test's own on 127.53.x.y:53 (UDP and TCP), in the host's namespace where
/// the shim forwards from: `outside.example` is 192.0.2.55; `big.example` is truncated over
/// UDP and 192.0.2.77 over TCP; anything else NXDOMAIN.
struct TestResolver {
    addr: Ipv4Addr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn reply(query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut name = Vec::new();
    while *query.get(at)? != 0 {
        let len = *query.get(at)? as usize;
        name.push(String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).to_lowercase());
        at += 1 + len;
    }
    let end = at + 5;
    let mut out = query.get(..end)?.to_vec();
    out[2] = 0x81;
    out[3] = 0x80;
    out[6..12].copy_from_slice(&[0; 6]);
    let ip = match (name.join(".").as_str(), tcp) {
        ("outside.example", _) => [192, 0, 2, 55],
        ("big.example", false) => {
            out[2] |= 0x02;
            return Some(out);
        }
        ("big.example", true) => [192, 0, 2, 77],
        _ => {
            out[3] |= 3;
            return Some(out);
        }
    };
    if query.get(end - 4..end - 2) != Some(&[0, 1]) {
        return Some(out);
    }
    out[7] = 1;
    out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    out.extend_from_slice(&ip);
    Some(out)
}

impl TestResolver {
    fn start() -> TestResolver {
        let pid = std::process::id();
        let (udp, tcp, addr) = (0..50u32)
            .find_map(|k| {
                let addr = Ipv4Addr::new(127, 53, (pid % 250) as u8, (k + pid / 250 % 200) as u8);
                let udp = UdpSocket::bind((addr, 53)).ok()?;
                let tcp = TcpListener::bind((addr, 53)).ok()?;
                Some((udp, tcp, addr))
            })
            .expect("no free 127.53.x.y:53 for the test resolver");
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let (s1, q1) = (stop.clone(), queries.clone());
        let t1 = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s1.load(Ordering::SeqCst) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    q1.fetch_add(1, Ordering::SeqCst);
                    if let Some(r) = reply(&buf[..n], false) {
                        let _ = udp.send_to(&r, from);
                    }
                }
            }
        });
        let (s2, q2) = (stop.clone(), queries.clone());
        let t2 = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                let Ok((mut c, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                q2.fetch_add(1, Ordering::SeqCst);
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut len = [0u8; 2];
                if c.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if c.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(r) = reply(&q, true) {
                    let mut framed = (r.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&r);
                    let _ = c.write_all(&framed);
                }
            }
        });
        TestResolver {
            addr,
            stop,
            queries,
            threads: vec![t1, t2],
        }
    }
}

impl Drop for TestResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn other_names_go_to_the_dns_servers_with_tcp_after_truncation_and_servfail_without() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let resolver = TestResolver::start();
    let n = new_network(&env, "dnsfwd", false);
    let mut client = env.spec(&[
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup outside.example; nslookup big.example",
    ]);
    client.network.dns = vec![resolver.addr.to_string()];
    client.network.dns_search = vec!["corp.example".into()];
    client.network.dns_options = vec!["ndots:1".into(), "timeout:3".into()];
    join(&env, &mut client, &n.id, &[], "");
    let (_, out) = env.run_to_end(&client);
    assert!(
        out.starts_with("search corp.example\nnameserver 127.0.0.11\noptions ndots:1 timeout:3\n"),
        "expected --dns as forwarder only, with the search domain and options given:\n{out}"
    );
    assert_eq!(
        answer_for(&out, "outside.example").as_deref(),
        Some("192.0.2.55"),
        "expected the test resolver's answer:\n{out}"
    );
    assert_eq!(
        answer_for(&out, "big.example").as_deref(),
        Some("192.0.2.77"),
        "expected the answer only TCP gives (UDP was truncated):\n{out}"
    );
    assert!(resolver.queries.load(Ordering::SeqCst) >= 3);
    // No resolver there: SERVFAIL, at once (the port is closed; 127.54/16 is nobody's, where
    // 127.53/16 holds the resolvers of tests running beside this one).
    let [_, _, c, d] = resolver.addr.octets();
    let dead = Ipv4Addr::new(127, 54, c, d);
    let mut lost = env.spec(&["nslookup", "outside.example"]);
    lost.network.dns = vec![dead.to_string()];
    join(&env, &mut lost, &n.id, &[], "");
    let started = std::time::Instant::now();
    let (code, out) = env.run_to_end(&lost);
    assert!(
        code != 0 && out.contains("SERVFAIL"),
        "expected SERVFAIL with no resolver (exit {code}):\n{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{out}");
}
