//! Container networking in the shim, against the real kernel: bridge networks of a test root,
//! endpoints plugged in before the process runs and again at every restart, names through
//! /etc/hosts, isolation between networks, and nothing left behind.

use berth_shim::net::{self, store::Store, NewNetwork};
use berth_shim::spec::{ContainerSpec, RestartName, RestartPolicy};
use berth_tests::TestEnv;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// Deletes the test root's bridges and firewall table when the test ends, however it ends.
pub(crate) struct Teardown(pub(crate) PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = net::teardown(&self.0) {
            eprintln!("network teardown: {e}");
        }
    }
}

pub(crate) fn new_network(env: &TestEnv, name: &str, internal: bool) -> net::store::NetworkRecord {
    let store = Store::new(&env.paths.root);
    let locked = store.lock().unwrap();
    net::create_bridge_network(
        &env.paths.root,
        &locked,
        NewNetwork {
            name: name.into(),
            internal,
            ..NewNetwork::default()
        },
    )
    .unwrap()
}

/// Give `spec` an endpoint on network `net_id` (as the API's create does) and refresh the
/// /etc/hosts of the others there.
fn join(env: &TestEnv, spec: &mut ContainerSpec, net_id: &str, aliases: &[&str]) {
    let store = Store::new(&env.paths.root);
    let locked = store.lock().unwrap();
    let mut rec = locked.get(net_id).unwrap();
    let wish = berth_shim::net::store::EndpointWish {
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
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
    let all = locked.list();
    net::hosts::refresh(&env.paths, &rec, &all);
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

#[test]
fn containers_on_a_network_reach_each_other_by_name_and_alias() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_network(&env, "front", false);
    assert!(link_exists(&n.bridge), "bridge {} missing", n.bridge);
    let mut web = env.spec(&[
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    web.name = "web".into();
    join(&env, &mut web, &n.id, &["www"]);
    env.run(&web);
    let mut client = env.spec(&[
        "sh",
        "-c",
        "ip -4 addr show eth0; ip route; cat /etc/hosts; \
         for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O - http://web/ && break; sleep 0.2; done; \
         timeout 3 wget -q -O - http://www/",
    ]);
    join(&env, &mut client, &n.id, &[]);
    let (code, out) = env.run_to_end(&client);
    assert_eq!(code, 0, "output: {out}");
    let subnet = net::ipam::Subnet::parse(&n.subnet).unwrap();
    let own = &client.endpoints[0].address;
    assert!(
        out.contains(&format!("inet {own}/{}", subnet.prefix)),
        "eth0 has no {own}: {out}"
    );
    assert!(
        out.contains(&format!("default via {}", n.gateway)),
        "no default route via the gateway: {out}"
    );
    assert_eq!(
        out.matches("hello-from-web").count(),
        2,
        "by name and by alias: {out}"
    );
    // The veth of an exited container went with its namespace.
    let veth = net::host_veth_name(&client.id, &n.id);
    env.eventually("the client's veth to go", LONG, || !link_exists(&veth));
    assert!(
        link_exists(&net::host_veth_name(&web.id, &n.id)),
        "the running server's veth is missing"
    );
}

#[test]
fn a_leftover_link_of_the_same_name_is_replaced() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_network(&env, "leftover", false);
    let mut spec = env.spec(&["sh", "-c", "ip -4 -o addr show eth0"]);
    join(&env, &mut spec, &n.id, &[]);
    // What a process killed after creating the host end would have left.
    let name = net::host_veth_name(&spec.id, &n.id);
    let peer = format!("vp{}", &spec.id[..10]);
    let made = std::process::Command::new("ip")
        .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
        .status()
        .unwrap();
    assert!(made.success(), "ip link add {name}");
    let (code, out) = env.run_to_end(&spec);
    assert_eq!(code, 0, "output: {out}");
    assert!(
        out.contains(&spec.endpoints[0].address),
        "eth0 has no address: {out}"
    );
    assert!(!link_exists(&peer), "the leftover pair was not deleted");
    env.eventually("the veth to go with the container", LONG, || {
        !link_exists(&name)
    });
}

#[test]
fn endpoints_are_plugged_in_again_at_every_restart() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let n = new_network(&env, "restarts", false);
    let mut spec = env.spec(&["sh", "-c", "ip -4 -o addr show eth0; exit 3"]);
    spec.restart = RestartPolicy {
        name: RestartName::OnFailure,
        maximum_retry_count: 2,
    };
    join(&env, &mut spec, &n.id, &[]);
    env.run(&spec);
    env.eventually("two restarts", LONG, || {
        let s = env.state(&spec.id);
        s.restart_count == 2 && !s.status.is_live()
    });
    let out = env.log_text(&spec.id);
    let want = format!("inet {}/", spec.endpoints[0].address);
    assert_eq!(
        out.matches(&want).count(),
        3,
        "eth0 at each of 3 runs: {out}"
    );
}

#[test]
fn two_networks_cannot_reach_each_other_and_internal_ones_reach_no_host_address() {
    let env = TestEnv::new();
    let _teardown = Teardown(env.paths.root.clone());
    let a = new_network(&env, "a", false);
    let b = new_network(&env, "b", false);
    let internal = new_network(&env, "closed", true);
    let mut server = env.spec(&[
        "sh",
        "-c",
        "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    join(&env, &mut server, &b.id, &[]);
    env.run(&server);
    let target = server.endpoints[0].address.clone();
    // The same server answers from its own network (so the failures below are isolation).
    let mut near = env.spec(&["sh", "-c", &format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O - http://{target}/ && exit 0; sleep 0.2; done; exit 1"
    )]);
    join(&env, &mut near, &b.id, &[]);
    let (code, out) = env.run_to_end(&near);
    assert_eq!(code, 0, "same network: {out}");
    let mut far = env.spec(&[
        "sh",
        "-c",
        &format!("timeout 3 wget -q -O - http://{target}/ && echo REACHED; exit 0"),
    ]);
    join(&env, &mut far, &a.id, &[]);
    let (_, out) = env.run_to_end(&far);
    assert!(
        !out.contains("REACHED"),
        "network a reached network b: {out}"
    );
    // An internal network: no default route, and the bridge's own address (a host address)
    // does not answer either.
    let mut closed = env.spec(&["sh", "-c", &format!(
        "ip route; timeout 3 wget -q -O - http://{gw}:1/ 2>&1; ping -c 1 -W 1 {gw} && echo REACHED; exit 0",
        gw = internal.gateway
    )]);
    join(&env, &mut closed, &internal.id, &[]);
    let (_, out) = env.run_to_end(&closed);
    assert!(
        !out.contains("default"),
        "an internal network has a way out: {out}"
    );
    assert!(
        !out.contains("REACHED"),
        "an internal network reached the host: {out}"
    );
}

#[test]
fn teardown_removes_bridges_and_the_table_and_addresses_are_freed() {
    let env = TestEnv::new();
    let teardown = Teardown(env.paths.root.clone());
    let n = new_network(&env, "gone", false);
    let table = net::firewall::table_name(&env.paths.root);
    let listed = std::process::Command::new("nft")
        .args(["list", "table", "inet", &table])
        .output()
        .unwrap();
    assert!(listed.status.success(), "table {table} missing");
    let mut spec = env.spec(&["true"]);
    join(&env, &mut spec, &n.id, &[]);
    net::release_container(&env.paths.root, &spec.id).unwrap();
    let rec = Store::new(&env.paths.root).get(&n.id).unwrap();
    assert!(rec.endpoints.is_empty(), "{:?}", rec.endpoints);
    drop(teardown);
    assert!(!link_exists(&n.bridge), "bridge {} left behind", n.bridge);
    let listed = std::process::Command::new("nft")
        .args(["list", "table", "inet", &table])
        .output()
        .unwrap();
    assert!(!listed.status.success(), "table {table} left behind");
}
