//! IPv6 networks against the real kernel: a network with `EnableIPv6` carries its IPv6 gateway
//! on the bridge, each container gets an IPv6 address (the first free one, or the one asked
//! for) with IPv6 on for its interface and an IPv6 default route, peers reach each other by
//! their IPv6 addresses, and the embedded DNS server answers AAAA with them.

use super::network::Teardown;
use berth_shim::net::{self, store::EndpointWish, store::Store, NewNetwork};
use berth_shim::spec::{ContainerSpec, PortSpec, Proto};
use berth_tests::TestEnv;
use std::io::{Read, Write};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// An IPv6 subnet of this test's own (a ULA /64 from the root's path), so that tests running
/// at once never share one.
fn own_subnet6(env: &TestEnv) -> String {
    let h = net::ports::short_hash(&env.paths.root.display().to_string());
    format!("fd00:b6:{}:{}::/64", &h[..4], &h[4..])
}

fn new_v6_network(env: &TestEnv, name: &str) -> net::store::NetworkRecord {
    let store = Store::new(&env.paths.root);
    let locked = store.lock().unwrap();
    net::create_bridge_network(
        &env.paths.root,
        &locked,
        NewNetwork {
            name: name.into(),
            enable_ipv6: true,
            subnet6: own_subnet6(env),
            ..NewNetwork::default()
        },
    )
    .unwrap()
}

fn join(env: &TestEnv, spec: &mut ContainerSpec, net_id: &str, ip6: &str) {
    let store = Store::new(&env.paths.root);
    let locked = store.lock().unwrap();
    let mut rec = locked.get(net_id).unwrap();
    let wish = EndpointWish {
        ip6: ip6.to_string(),
        ..Default::default()
    };
    let ep = locked
        .allocate(
            &mut rec,
            &env.paths.containers(),
            &spec.id,
            &spec.name,
            &wish,
        )
        .unwrap();
    spec.endpoints.push(net::endpoint_spec(&rec, &ep));
    env.create(spec);
}

fn command_out(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn peers_reach_each_other_by_ipv6_and_by_aaaa() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_v6_network(&env, "six");
    let subnet6 = n.subnet6().expect("the network's IPv6 subnet");
    let gw6 = subnet6.default_gateway().to_string();
    assert_eq!(
        n.gateway6, gw6,
        "expected the subnet's first address as gateway"
    );
    let on_bridge = command_out("ip", &["-6", "-o", "addr", "show", "dev", &n.bridge]);
    assert!(
        on_bridge.contains(&format!("{gw6}/64")),
        "expected {gw6}/64 on the bridge {}, got: {on_bridge}",
        n.bridge
    );
    let asked = format!("{}99", subnet6.to_string().trim_end_matches("/64"));
    let mut web = env.spec(&[
        "sh",
        "-c",
        "mkdir -p /www && echo hello-over-v6 > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    web.name = "web".into();
    join(&env, &mut web, &n.id, &asked);
    assert_eq!(
        web.endpoints[0].address6, asked,
        "expected the IPv6 address asked for"
    );
    env.run(&web);
    let script = format!(
        "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 -o addr show eth0 scope global; \
         ip -6 route; \
         for i in 1 2 3 4 5 6 7 8 9 10; do ping6 -c1 -W2 {asked} >/dev/null && echo ping-ok && break; sleep 0.2; done; \
         for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O - http://[{asked}]/ && break; sleep 0.2; done; \
         nslookup -type=AAAA web 127.0.0.11; echo done"
    );
    let mut client = env.spec(&["sh", "-c", &script]);
    client.name = "client".into();
    join(&env, &mut client, &n.id, "");
    let own6 = client.endpoints[0].address6.clone();
    assert_eq!(
        own6,
        format!("{}2", subnet6.to_string().trim_end_matches("/64")),
        "expected the first free IPv6 address after the gateway"
    );
    env.run(&client);
    env.eventually("the client's checks", LONG, || {
        env.log_text(&client.id).contains("done")
    });
    let out = env.log_text(&client.id);
    assert!(
        out.starts_with("0\n"),
        "expected disable_ipv6=0 on eth0:\n{out}"
    );
    assert!(
        out.contains(&format!("inet6 {own6}/64")),
        "expected {own6}/64 on eth0:\n{out}"
    );
    assert!(
        out.contains(&format!("default via {gw6} dev eth0")),
        "expected the IPv6 default route via {gw6}:\n{out}"
    );
    assert!(
        out.contains("ping-ok"),
        "expected ping6 to {asked} to answer:\n{out}"
    );
    assert!(
        out.contains("hello-over-v6"),
        "expected web's page over IPv6:\n{out}"
    );
    assert!(
        out.contains(&format!("Address: {asked}")),
        "expected the embedded DNS to answer AAAA web with {asked}:\n{out}"
    );
}

/// GET / on [ip]:port from the host, retried while the server comes up.
fn fetch6(ip: &str, port: u16) -> std::io::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = || -> std::io::Result<String> {
            let addr: std::net::SocketAddr = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
            .parse()
            .unwrap();
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        };
        match attempt() {
            Ok(out) if out.contains("hello-v6-port") => return Ok(out),
            other if std::time::Instant::now() > deadline => return other,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn ports_published_on_ipv6_host_addresses_answer_from_the_host() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_v6_network(&env, "sixports");
    // The network's IPv6 gateway is an address of the host (on the bridge).
    let host6 = n.gateway6.clone();
    let mut web = env.spec(&[
        "sh",
        "-c",
        "mkdir -p /www && echo hello-v6-port > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    web.name = "web6".into();
    let port = |host_ip: &str| PortSpec {
        proto: Proto::Tcp,
        container_port: 80,
        host_ip: host_ip.into(),
        host_port: 0,
        host_port_end: 0,
    };
    web.ports = vec![port(&host6), port("")];
    join(&env, &mut web, &n.id, "");
    env.run(&web);
    let published = net::ports::read_published(&env.container(&web.id).run);
    let got: Vec<&str> = published.iter().map(|p| p.host_ip.as_str()).collect();
    assert_eq!(
        got,
        [host6.as_str(), "0.0.0.0", "::"],
        "expected the IPv6 host address, and 0.0.0.0 with :: for the binding with no address: {published:?}"
    );
    let on = |ip: &str| {
        published
            .iter()
            .find(|p| p.host_ip == ip)
            .unwrap()
            .host_port
    };
    for (what, ip, port) in [
        ("published on it", host6.as_str(), on(&host6)),
        ("published on [::]", host6.as_str(), on("::")),
        ("published on 0.0.0.0", "127.0.0.1", on("0.0.0.0")),
    ] {
        let page = fetch6(ip, port);
        assert!(
            page.is_ok(),
            "expected the page on {ip} port {port} ({what}), got {page:?}"
        );
    }
}
