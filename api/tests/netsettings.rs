//! Network settings of a container and of a network that berth honours or refuses (issue 17):
//! MacAddress (the container's and the endpoint's), IPAMConfig.LinkLocalIPs, endpoint
//! DriverOpts (interface sysctls), `--add-host name:host-gateway`, network create Options (the
//! bridge's name, MTU, icc, masquerading) and IPAM AuxiliaryAddresses. Each honoured setting is
//! checked from inside the container or in the kernel; each refused one answers 400 naming it.
//! Needs root and `cargo build --workspace` first.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};

async fn network(b: &Berth, body: Value) {
    let r = b.post_json("/networks/create", &body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "network create: {}",
        r.text()
    );
}

fn endpoint<'a>(inspect: &'a Value, net: &str) -> &'a Value {
    &inspect["NetworkSettings"]["Networks"][net]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_addresses_are_set_checked_and_shown() {
    let b = Berth::with_busybox().await;
    network(
        &b,
        json!({"Name": "macs", "IPAM": {"Config": [{"Subnet": "10.214.93.0/24"}]}}),
    )
    .await;
    // The endpoint's MacAddress (API 1.44 and later), written in upper case with dashes.
    let cfg = json!({"Image": "busybox", "Cmd": ["sleep", "60"],
        "HostConfig": {"NetworkMode": "macs"},
        "NetworkingConfig": {"EndpointsConfig": {"macs": {"MacAddress": "02-AB-CD-00-00-01"}}}});
    let id = b.run(Some("ep"), &cfg).await;
    let got = b.inspect(&id).await;
    assert_eq!(
        endpoint(&got, "macs")["MacAddress"],
        "02:ab:cd:00:00:01",
        "the endpoint's MAC in inspect"
    );
    let (code, out) = b
        .output(
            &json!({"Image": "busybox", "Cmd": ["cat", "/sys/class/net/eth0/address"],
            "MacAddress": "02:ab:cd:00:00:02", "HostConfig": {"NetworkMode": "macs"}}),
        )
        .await;
    assert_eq!(
        (code, out.trim()),
        (0, "02:ab:cd:00:00:02"),
        "expected the container-wide MacAddress on eth0"
    );
    let r = b.post(&format!("/containers/{id}/kill")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // dockerd's words for a bad one, a mismatch and a network mode without an interface.
    let bad = |mac: &str, mode: &str| {
        json!({"Image": "busybox", "Cmd": ["true"], "MacAddress": mac,
            "HostConfig": {"NetworkMode": mode}})
    };
    b.post_json("/containers/create", &bad("zz:11", "macs"))
        .await
        .assert_error(400, "address zz:11: invalid MAC address", "a bad MAC");
    b.post_json("/containers/create", &bad("02:00:00:00:00:01", "host"))
        .await
        .assert_error(
            400,
            "conflicting options: mac-address and the network mode",
            "a MAC with --network host",
        );
    let mismatch = json!({"Image": "busybox", "Cmd": ["true"], "MacAddress": "02:00:00:00:00:01",
        "HostConfig": {"NetworkMode": "macs"},
        "NetworkingConfig": {"EndpointsConfig": {"macs": {"MacAddress": "02:00:00:00:00:02"}}}});
    b.post_json("/containers/create", &mismatch).await.assert_error(
        400,
        "the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty",
        "two different MACs",
    );
    let r = b
        .post_json("/containers/create", &bad("01:00:00:00:00:01", "macs"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a multicast MAC: {}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_local_ips_and_interface_sysctls() {
    let b = Berth::with_busybox().await;
    network(
        &b,
        json!({"Name": "ll", "IPAM": {"Config": [{"Subnet": "10.214.94.0/24"}]}}),
    )
    .await;
    let opts =
        json!({"com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.log_martians=1"});
    let cfg = json!({"Image": "busybox",
        "Cmd": ["sh", "-c", "ip -4 addr show eth0; cat /proc/sys/net/ipv4/conf/eth0/log_martians"],
        "HostConfig": {"NetworkMode": "ll"},
        "NetworkingConfig": {"EndpointsConfig": {"ll": {
            "IPAMConfig": {"LinkLocalIPs": ["169.254.7.7"]}, "DriverOpts": opts}}}});
    let id = b.create(Some("ll1"), &cfg).await;
    let got = b.inspect(&id).await;
    assert_eq!(
        endpoint(&got, "ll")["IPAMConfig"],
        json!({"LinkLocalIPs": ["169.254.7.7"]}),
        "IPAMConfig as sent"
    );
    assert_eq!(
        endpoint(&got, "ll")["DriverOpts"],
        opts,
        "DriverOpts as sent"
    );
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(b.wait(&id).await, 0);
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let out = common::stream_text(&common::frames(&r.body), 1);
    assert!(
        out.contains("inet 169.254.7.7/16"),
        "expected the link-local address on eth0, got:\n{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("1"),
        "expected log_martians=1 on eth0, got:\n{out}"
    );
    // An IPAMConfig sent empty shows as {}, none as null (dockerd).
    let empty = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "ll"},
        "NetworkingConfig": {"EndpointsConfig": {"ll": {"IPAMConfig": {}}}}});
    let id = b.create(None, &empty).await;
    assert_eq!(
        endpoint(&b.inspect(&id).await, "ll")["IPAMConfig"],
        json!({})
    );
    let none = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "ll"}});
    let id = b.create(None, &none).await;
    assert_eq!(
        endpoint(&b.inspect(&id).await, "ll")["IPAMConfig"],
        Value::Null
    );
    // Refused, by name.
    let with = |settings: Value| {
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "ll"},
            "NetworkingConfig": {"EndpointsConfig": {"ll": settings}}})
    };
    b.post_json(
        "/containers/create",
        &with(json!({"DriverOpts": {"com.example.x": "1"}})),
    )
    .await
    .assert_error(
        400,
        "endpoint DriverOpts \"com.example.x\": berth's bridge endpoints support only com.docker.network.endpoint.sysctls",
        "an endpoint option berth does not have",
    );
    b.post_json(
        "/containers/create",
        &with(json!({"DriverOpts": {"com.docker.network.endpoint.sysctls": "net.ipv4.ip_forward=1"}})),
    )
    .await
    .assert_error(
        400,
        "invalid endpoint settings:\nunrecognised network interface sysctl 'net.ipv4.ip_forward=1'; represent 'net.X.Y.ethN.Z=V' as 'net.X.Y.IFNAME.Z=V', 'X' must be 'ipv4', 'ipv6' or 'mpls'",
        "a sysctl that is not an interface's",
    );
    b.post_json(
        "/containers/create",
        &with(json!({"IPAMConfig": {"LinkLocalIPs": ["fe80::7"]}})),
    )
    .await
    .assert_error(
        400,
        "IPAMConfig.LinkLocalIPs fe80::7: berth networks are IPv4 only",
        "an IPv6 link-local address",
    );
    b.post_json(
        "/containers/create",
        &with(json!({"IPAMConfig": {"LinkLocalIPs": ["nope"]}})),
    )
    .await
    .assert_error(
        400,
        "invalid endpoint settings:\ninvalid link-local IP address: nope",
        "a bad link-local address",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_gateway_is_the_gateway_address() {
    let b = Berth::with_busybox().await;
    network(
        &b,
        json!({"Name": "gw", "IPAM": {"Config": [{"Subnet": "10.214.95.0/24", "Gateway": "10.214.95.254"}]}}),
    )
    .await;
    let bridge_gw = b.get("/networks/bridge").await.json()["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .expect("the default bridge's gateway")
        .to_string();
    for (mode, want) in [
        ("gw", "10.214.95.254".to_string()),
        ("bridge", bridge_gw.clone()),
        ("host", bridge_gw.clone()),
    ] {
        let cfg = json!({"Image": "busybox", "Cmd": ["cat", "/etc/hosts"],
            "HostConfig": {"NetworkMode": mode, "ExtraHosts": ["host.docker.internal:host-gateway"]}});
        let id = b.create(None, &cfg).await;
        let hc = &b.inspect(&id).await["HostConfig"]["ExtraHosts"];
        assert_eq!(
            hc,
            &json!(["host.docker.internal:host-gateway"]),
            "inspect keeps what was sent"
        );
        let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        let (code, out) = b.output(&cfg).await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(&format!("{want}\thost.docker.internal\n")),
            "--network {mode}: expected host-gateway as {want}, got:\n{out}"
        );
        assert!(!out.contains("host-gateway"), "the literal word:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_options_and_auxiliary_addresses() {
    let b = Berth::with_busybox().await;
    // A bridge name of this test's own: no other test or root uses it.
    let bridge = format!("bn17{}", std::process::id() % 100_000);
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "opts",
                "Options": {"com.docker.network.bridge.name": bridge,
                    "com.docker.network.driver.mtu": "1400",
                    "com.docker.network.bridge.enable_icc": "false",
                    "com.docker.network.bridge.enable_ip_masquerade": "false"},
                "IPAM": {"Config": [{"Subnet": "10.214.96.0/24",
                    "AuxiliaryAddresses": {"router": "10.214.96.2"}}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let n = b.get("/networks/opts").await.json();
    assert_eq!(
        n["IPAM"]["Config"][0]["AuxiliaryAddresses"],
        json!({"router": "10.214.96.2"}),
        "network inspect: {n}"
    );
    assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1400");
    let link = std::process::Command::new("ip")
        .args(["-o", "link", "show", &bridge])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(
        link.contains("mtu 1400"),
        "expected the bridge {bridge} with MTU 1400, got {link:?}"
    );
    let (code, out) = b
        .output(&json!({"Image": "busybox",
            "Cmd": ["sh", "-c", "cat /sys/class/net/eth0/mtu; ip -4 -o addr show eth0"],
            "HostConfig": {"NetworkMode": "opts"}}))
        .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("1400\n") && out.contains("inet 10.214.96.3/24"),
        "expected MTU 1400 and the address after the auxiliary one, got:\n{out}"
    );
    // icc and masquerading off, in this root's own table.
    let table = berth_shim::net::firewall::table_name(&b.root());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "inet", &table])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains(&format!("iifname \"{bridge}\" oifname \"{bridge}\" drop")),
        "expected enable_icc=false to drop inside the bridge:\n{rules}"
    );
    assert!(
        !rules.contains("10.214.96.0/24"),
        "expected no masquerade for the network:\n{rules}"
    );
    // The auxiliary address is not handed out on request either.
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "opts"},
                "NetworkingConfig": {"EndpointsConfig": {"opts": {"IPAMConfig": {"IPv4Address": "10.214.96.2"}}}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("Address already in use"), "{}", r.text());
    // Refused: what dockerd refuses, and what berth does not act on, by name.
    let create =
        |options: Value, ipam: Value| json!({"Name": "bad", "Options": options, "IPAM": ipam});
    b.post_json(
        "/networks/create",
        &create(json!({"com.docker.network.driver.mtu": "abc"}), json!({})),
    )
    .await
    .assert_error(
        400,
        "failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing \"abc\": invalid syntax)",
        "a bad MTU",
    );
    b.post_json(
        "/networks/create",
        &create(json!({"com.docker.network.bridge.inhibit_ipv4": "true"}), json!({})),
    )
    .await
    .assert_error(
        400,
        "network option com.docker.network.bridge.inhibit_ipv4: berth does not support it (it honours com.docker.network.bridge.name, com.docker.network.driver.mtu, com.docker.network.bridge.enable_icc, com.docker.network.bridge.enable_ip_masquerade and com.docker.network.bridge.host_binding_ipv4)",
        "an option berth does not act on",
    );
    b.post_json(
        "/networks/create",
        &create(
            json!({}),
            json!({"Config": [{"Subnet": "10.214.97.0/24", "AuxiliaryAddresses": {"a": "10.214.98.5"}}]}),
        ),
    )
    .await
    .assert_error(
        400,
        "auxiliary address: (a:10.214.98.5) must belong to the master pool: 10.214.97.0/24",
        "an auxiliary address outside the subnet",
    );
    // An interface berth did not create is never taken over.
    let r = b
        .post_json(
            "/networks/create",
            &create(json!({"com.docker.network.bridge.name": "lo"}), json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("berth only uses a bridge it creates"),
        "{}",
        r.text()
    );
    assert!(
        b.get("/networks/bad").await.status == StatusCode::NOT_FOUND,
        "a refused network was made"
    );
}
