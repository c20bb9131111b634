//! `berth network ...` and `berth run --network --network-alias --ip`, run as the real binary
//! with no API process; then networks and endpoints made on either side seen by the other
//! through `berth serve` and the docker CLI, with `docker ps --filter network=` and
//! `{{.Networks}}` and the list's NetworkSettings. Needs root and `cargo build --workspace`
//! first, so that `berth-shim` sits next to `berth`.

use crate::cli_support;

use cli_support::{set, Root, Server};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn network_commands_with_no_server() {
    let r = Root::new();
    let id = r
        .berth(&[
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            "10.219.77.0/24",
            "--gateway",
            "10.219.77.1",
            "--ip-range",
            "10.219.77.128/25",
            "--label",
            "team=a",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "front",
        ])
        .expect(0, "network create")
        .stdout
        .trim()
        .to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "network create printed {id:?}, not an id"
    );
    let table = r.berth(&["network", "ls"]).expect(0, "network ls").stdout;
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("NETWORK ID     NAME") && header.ends_with("DRIVER    SCOPE"),
        "{table}"
    );
    let rows: BTreeSet<String> = lines
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows,
        set(&[
            "bridge bridge local",
            "front bridge local",
            "host host local",
            "none null local"
        ]),
        "{table}"
    );
    let q = r
        .berth(&["network", "ls", "-q", "--filter", "name=front"])
        .expect(0, "network ls -q");
    assert_eq!(q.stdout, format!("{}\n", &id[..12]));
    let js = r
        .berth(&["network", "ls", "--format", "json", "-f", "label=team=a"])
        .expect(0, "network ls --format json");
    let row: Value = serde_json::from_str(js.stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON line: {e}: {}", js.stdout));
    assert_eq!(
        (&row["Name"], &row["ID"], &row["Labels"], &row["Internal"]),
        (
            &Value::from("front"),
            &Value::from(&id[..12]),
            &Value::from("team=a"),
            &Value::from("false")
        ),
        "{row}"
    );
    let fields = r
        .berth(&[
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "id,name",
            "-f",
            "type=custom",
        ])
        .expect(0, "network ls --format fields");
    assert_eq!(fields.stdout, format!("{id}\tfront\n"));
    r.berth(&["network", "ls", "--format", "nope"])
        .fails_with("unknown field", "ls with a bad field");
    r.berth(&["network", "ls", "-f", "colour=red"])
        .fails_with("invalid filter 'colour'", "ls with a bad filter");

    let n = r.inspect_network("front");
    assert_eq!(n["Id"], id.as_str());
    assert_eq!(
        n["IPAM"]["Config"][0],
        serde_json::json!({"Subnet": "10.219.77.0/24", "IPRange": "10.219.77.128/25", "Gateway": "10.219.77.1"})
    );
    assert_eq!(n["Labels"]["team"], "a");
    assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1400");
    for args in [
        &["inspect", "front"][..],
        &["inspect", "--type", "network", "front"],
    ] {
        let out = r.berth(args).expect(0, "berth inspect of a network").stdout;
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(v[0]["Id"], id.as_str(), "{args:?}: {v}");
    }
    r.berth(&["inspect", "--type", "network", "nosuch"])
        .expect(125, "inspect of a missing network");

    // A container on it with an alias and a fixed address, then a second network connected.
    let web = r
        .berth(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "front",
            "--network-alias",
            "www",
            "--ip",
            "10.219.77.140",
            "busybox",
            "sleep",
            "300",
        ])
        .expect(0, "run --network --network-alias --ip")
        .stdout
        .trim()
        .to_string();
    let n = r.inspect_network("front");
    assert_eq!(
        n["Containers"][&web]["IPv4Address"], "10.219.77.140/24",
        "{n}"
    );
    r.berth(&["network", "create", "back"])
        .expect(0, "network create back");
    r.berth(&["network", "connect", "--alias", "api", "back", "web"])
        .expect(0, "network connect");
    let back = r.inspect_network("back");
    let on_back = &back["Containers"][&web];
    assert_eq!(on_back["Name"], "web", "{back}");
    let back_ip = on_back["IPv4Address"].as_str().unwrap_or_default();
    let back_ip = back_ip.split('/').next().unwrap_or_default().to_string();
    let addrs = r
        .berth(&["exec", "web", "ip", "-4", "-o", "addr"])
        .expect(0, "exec ip addr")
        .stdout;
    assert!(
        addrs.contains("10.219.77.140/24") && addrs.contains(&back_ip),
        "the container lacks an address: {addrs}"
    );
    // berth list's JSON shows both, as docker ps would.
    let ls = r
        .berth(&["network", "inspect", "-f", "name,containers", "back"])
        .expect(0, "inspect -f");
    assert!(ls.stdout.starts_with("back\t{"), "{}", ls.stdout);
    r.berth(&["network", "connect", "back", "web"])
        .fails_with("already exists in network back", "connect twice");
    r.berth(&[
        "network",
        "connect",
        "--ip",
        "10.219.77.141",
        "bridge",
        "web",
    ])
    .fails_with("user defined networks only", "--ip on the default bridge");
    r.berth(&["network", "rm", "front"])
        .fails_with("has active endpoints", "rm of a network in use");
    r.berth(&["network", "disconnect", "back", "web"])
        .expect(0, "network disconnect");
    assert_eq!(
        r.inspect_network("back")["Containers"],
        serde_json::json!({})
    );
    let addrs = r
        .berth(&["exec", "web", "ip", "-4", "-o", "addr"])
        .expect(0, "exec ip addr")
        .stdout;
    assert!(!addrs.contains(&back_ip), "still on back: {addrs}");
    r.berth(&["network", "disconnect", "back", "web"])
        .fails_with("is not connected to network back", "disconnect twice");

    // Wrong input: one line, 125, nothing made.
    r.berth(&["network", "create", "front"])
        .fails_with("network with name front already exists", "a name in use");
    r.berth(&["network", "create", "-d", "overlay", "ov"])
        .fails_with("plugin not found", "an unknown driver");
    r.berth(&["network", "create", "--gateway", "10.9.9.1", "gw"])
        .fails_with("needs a subnet", "a gateway without a subnet");
    r.berth(&["network", "create", "--subnet", "nonsense", "bad"])
        .expect(125, "a bad subnet");
    r.berth(&["network", "rm", "bridge"])
        .fails_with("pre-defined network and cannot be removed", "rm bridge");
    r.berth(&["network", "rm", "nosuch"])
        .fails_with("network nosuch not found", "rm of a missing network");
    r.berth(&["network", "rm", "-f", "nosuch"])
        .expect(0, "rm -f of a missing network");
    assert_eq!(
        r.network_names(),
        set(&["back", "bridge", "front", "host", "none"])
    );

    // Prune asks first; -f does not; a network in use stays.
    r.berth_in(&["network", "prune"], b"n\n")
        .expect(0, "prune answered no");
    assert!(r.network_names().contains("back"));
    let pruned = r
        .berth_in(&["network", "prune"], b"y\n")
        .expect(0, "prune answered yes");
    assert_eq!(pruned.stdout, "Deleted Networks:\nback\n\n");
    r.berth(&["rm", "-f", "web"]).expect(0, "rm -f web");
    let pruned = r.berth(&["network", "prune", "-f"]).expect(0, "prune -f");
    assert_eq!(pruned.stdout, "Deleted Networks:\nfront\n\n");
    assert_eq!(r.network_names(), set(&["bridge", "host", "none"]));
    let help = r
        .berth(&["network", "create", "--help"])
        .expect(0, "network create --help")
        .stdout;
    for flag in [
        "--driver",
        "--subnet",
        "--gateway",
        "--ip-range",
        "--internal",
        "--label",
        "--opt",
    ] {
        assert!(
            help.contains(flag),
            "network create --help lacks {flag}: {help}"
        );
    }
}

#[test]
fn networks_and_endpoints_are_shared_with_the_docker_cli() {
    let r = Root::new();
    let server = Server::start(&r);
    // Each side sees the other's networks.
    let cli_net = r
        .berth(&["network", "create", "--subnet", "10.219.78.0/24", "clinet"])
        .expect(0, "berth network create")
        .stdout
        .trim()
        .to_string();
    let names = server
        .docker(&["network", "ls", "--format", "{{.Name}}"])
        .expect(0, "docker network ls")
        .stdout;
    assert!(
        names.lines().any(|l| l == "clinet"),
        "docker network ls lacks the CLI's network: {names}"
    );
    let docker_net = server
        .docker(&[
            "network",
            "create",
            "--subnet",
            "10.219.79.0/24",
            "dockernet",
        ])
        .expect(0, "docker network create")
        .stdout
        .trim()
        .to_string();
    assert_eq!(
        r.network_names(),
        set(&["bridge", "clinet", "dockernet", "host", "none"])
    );

    r.berth(&[
        "run",
        "-d",
        "--name",
        "ca",
        "--network",
        "clinet",
        "busybox",
        "sleep",
        "300",
    ])
    .expect(0, "berth run --network clinet");
    server
        .docker(&[
            "run",
            "-d",
            "--name",
            "cb",
            "--network",
            "dockernet",
            "busybox",
            "sleep",
            "300",
        ])
        .expect(0, "docker run --network dockernet");
    r.berth(&["network", "connect", "clinet", "cb"])
        .expect(0, "berth network connect");

    assert_eq!(
        server.ps(Some("network=clinet"), "{{.Names}}"),
        set(&["ca", "cb"])
    );
    assert_eq!(
        server.ps(
            Some(&format!("network={}", &docker_net[..10])),
            "{{.Names}}"
        ),
        set(&["cb"]),
        "the filter by id prefix"
    );
    assert_eq!(server.ps(Some("network=nosuch"), "{{.Names}}"), set(&[]));
    let nets: BTreeSet<String> = server
        .ps(None, "{{.Names}} {{.Networks}}")
        .into_iter()
        .map(|l| {
            let (name, nets) = l.split_once(' ').unwrap_or((&l, ""));
            let mut nets: Vec<&str> = nets.split(',').collect();
            nets.sort();
            format!("{name} {}", nets.join(","))
        })
        .collect();
    assert_eq!(nets, set(&["ca clinet", "cb clinet,dockernet"]));

    // The list's endpoints are inspect's.
    let list = server.list();
    let b_row = list
        .iter()
        .find(|c| c["Names"][0] == "/cb")
        .unwrap_or_else(|| panic!("b not listed: {list:?}"));
    let listed = &b_row["NetworkSettings"]["Networks"]["clinet"];
    let inspect = server
        .docker(&["inspect", "cb"])
        .expect(0, "docker inspect b")
        .stdout;
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    let inspected = &inspect[0]["NetworkSettings"]["Networks"]["clinet"];
    assert_eq!(listed["NetworkID"], cli_net.as_str(), "{listed}");
    assert!(
        listed["IPAddress"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.219.78.")),
        "{listed}"
    );
    assert_eq!(listed["Gateway"], "10.219.78.1");
    assert_eq!(listed["IPPrefixLen"], 24);
    assert!(
        listed["EndpointID"].as_str().is_some_and(|e| e.len() == 64),
        "{listed}"
    );
    for k in [
        "NetworkID",
        "EndpointID",
        "Gateway",
        "IPAddress",
        "IPPrefixLen",
        "MacAddress",
        "Aliases",
        "DNSNames",
    ] {
        assert_eq!(
            listed[k], inspected[k],
            "{k}: list {listed} inspect {inspected}"
        );
    }

    // A disconnect on either side is seen by the other side's next listing.
    server
        .docker(&["network", "disconnect", "clinet", "cb"])
        .expect(0, "docker network disconnect");
    assert_eq!(
        server.ps(Some("network=clinet"), "{{.Names}}"),
        set(&["ca"])
    );
    let out = r
        .berth(&["list", "--format", "json"])
        .expect(0, "berth list --format json");
    assert!(out.stdout.contains("dockernet"), "{}", out.stdout);
    r.berth(&["network", "disconnect", "clinet", "ca"])
        .expect(0, "berth network disconnect");
    assert_eq!(server.ps(Some("network=clinet"), "{{.Names}}"), set(&[]));
    assert_eq!(
        server.ps(None, "{{.Names}} {{.Networks}}"),
        set(&["ca ", "cb dockernet"])
    );
    // And a container on the host network lists it as dockerd does.
    r.berth(&[
        "run",
        "-d",
        "--name",
        "ch",
        "--network",
        "host",
        "busybox",
        "sleep",
        "300",
    ])
    .expect(0, "berth run --network host");
    assert_eq!(server.ps(Some("network=host"), "{{.Names}}"), set(&["ch"]));
    server
        .docker(&["rm", "-f", "ca", "cb", "ch"])
        .expect(0, "docker rm -f");
    server
        .docker(&["network", "rm", "clinet", "dockernet"])
        .expect(0, "docker network rm");
    assert_eq!(r.network_names(), set(&["bridge", "host", "none"]));
    drop(server);
}
