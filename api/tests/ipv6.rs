//! IPv6 networks through the API (issue 22): EnableIPv6 with an IPv4 and an IPv6 IPAM config,
//! the shapes of network and container inspect as dockerd shows them, IPAMConfig.IPv6Address
//! on create and connect, and dockerd's refusals. Needs root and `cargo build --workspace`.

use crate::cli_support;
use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};

fn endpoint<'a>(inspect: &'a Value, net: &str) -> &'a Value {
    &inspect["NetworkSettings"]["Networks"][net]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_network_and_its_containers_as_inspect_shows_them() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "six", "EnableIPv6": true, "IPAM": {"Config": [
                {"Subnet": "10.214.176.0/24"},
                {"Subnet": "fd00:b6:a1::/64", "Gateway": "fd00:b6:a1::fe"}]}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "network create: {}",
        r.text()
    );
    let n = b.get("/networks/six").await.json();
    assert_eq!(n["EnableIPv6"], true, "network inspect: {n}");
    assert_eq!(
        n["IPAM"]["Config"],
        json!([{"Subnet": "10.214.176.0/24", "Gateway": "10.214.176.1"},
               {"Subnet": "fd00:b6:a1::/64", "Gateway": "fd00:b6:a1::fe"}]),
        "expected the IPv4 config then the IPv6 one: {n}"
    );
    let one = b
        .run(
            Some("one"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "six"}}),
        )
        .await;
    let got = b.inspect(&one).await;
    let ep = endpoint(&got, "six");
    assert_eq!(
        (
            &ep["GlobalIPv6Address"],
            &ep["GlobalIPv6PrefixLen"],
            &ep["IPv6Gateway"],
            &ep["IPAMConfig"]
        ),
        (
            &json!("fd00:b6:a1::1"),
            &json!(64),
            &json!("fd00:b6:a1::fe"),
            &Value::Null
        ),
        "expected the first free IPv6 address (the gateway is ::fe): {ep}"
    );
    // IPAMConfig.IPv6Address on create, seen in the container too.
    let cfg = json!({"Image": "busybox",
        "Cmd": ["ip", "-6", "-o", "addr", "show", "eth0", "scope", "global"],
        "HostConfig": {"NetworkMode": "six"},
        "NetworkingConfig": {"EndpointsConfig": {"six": {"IPAMConfig": {"IPv6Address": "fd00:b6:a1::99"}}}}});
    let (code, out) = b.output(&cfg).await;
    assert!(
        code == 0 && out.contains("inet6 fd00:b6:a1::99/64"),
        "expected fd00:b6:a1::99/64 on eth0, got {code}: {out}"
    );
    // On connect: a second container, on the default bridge first.
    let two = b
        .create(
            Some("two"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "60"]}),
        )
        .await;
    let r = b
        .post_json(
            "/networks/six/connect",
            &json!({"Container": two, "EndpointConfig": {"IPAMConfig": {"IPv6Address": "fd00:b6:a1::42"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "connect: {}", r.text());
    let got = b.inspect(&two).await;
    let ep = endpoint(&got, "six");
    assert_eq!(
        (&ep["GlobalIPv6Address"], &ep["IPAMConfig"]),
        (
            &json!("fd00:b6:a1::42"),
            &json!({"IPv6Address": "fd00:b6:a1::42"})
        ),
        "connect with an IPv6Address: {ep}"
    );
    assert_eq!(
        endpoint(&got, "bridge")["GlobalIPv6Address"],
        "",
        "the default bridge stays IPv4: {got}"
    );
    let n = b.get("/networks/six").await.json();
    assert_eq!(
        n["Containers"][&one]["IPv6Address"], "fd00:b6:a1::1/64",
        "network inspect's containers: {n}"
    );
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "six"},
                "NetworkingConfig": {"EndpointsConfig": {"six": {"IPAMConfig": {"IPv6Address": "fd00:b6:a1::42"}}}}}),
        )
        .await;
    r.assert_error(
        403,
        "Address already in use: fd00:b6:a1::42 on network six",
        "an IPv6 address taken",
    );
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "six"},
                "NetworkingConfig": {"EndpointsConfig": {"six": {"IPAMConfig": {"IPv6Address": "fd00:99::5"}}}}}),
        )
        .await;
    r.assert_error(
        400,
        "Invalid address fd00:99::5: It does not belong to any of this network's subnets",
        "an IPv6 address outside the subnet (dockerd's words)",
    );
    let bridge = b.get("/networks/bridge").await.json();
    assert_eq!(bridge["EnableIPv6"], false, "the default bridge: {bridge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_requests_berth_and_dockerd_refuse() {
    let b = Berth::with_busybox().await;
    let create = |body: Value| {
        let b = &b;
        async move { b.post_json("/networks/create", &body).await }
    };
    create(json!({"Name": "nopool", "EnableIPv6": true})).await.assert_error(
        404,
        "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
        "--ipv6 without an IPv6 subnet (dockerd 20.10 has no default IPv6 pool)",
    );
    create(
        json!({"Name": "two6", "EnableIPv6": true, "IPAM": {"Config": [
        {"Subnet": "fd00:b6:a2::/64"}, {"Subnet": "fd00:b6:a3::/64"}]}}),
    )
    .await
    .assert_error(
        403,
        "bridge driver doesn't support multiple subnets",
        "two IPv6 configs",
    );
    create(json!({"Name": "no6", "IPAM": {"Config": [{"Subnet": "fd00:b6:a4::/64"}]}}))
        .await
        .assert_error(
            400,
            "IPAM config fd00:b6:a4::/64: an IPv6 subnet needs EnableIPv6 (--ipv6)",
            "an IPv6 subnet without EnableIPv6",
        );
    let r = create(json!({"Name": "v4only", "IPAM": {"Config": [{"Subnet": "10.214.177.0/24"}]}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "v4only"},
                "NetworkingConfig": {"EndpointsConfig": {"v4only": {"IPAMConfig": {"IPv6Address": "fd00:b6::5"}}}}}),
        )
        .await;
    r.assert_error(
        400,
        "Invalid address fd00:b6::5: It does not belong to any of this network's subnets",
        "an IPv6Address on an IPv4 network",
    );
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"],
                "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv6Address": "fd00:b6::5"}}}}}),
        )
        .await;
    r.assert_error(
        400,
        "user specified IP address is supported on user defined networks only",
        "an IPv6Address on the default bridge",
    );
    let r = b.get("/containers/json?all=1").await;
    assert_eq!(r.json(), json!([]), "a refused create left a container");
}

#[test]
fn berth_network_create_ipv6_with_two_subnets_and_run_ip6() {
    let r = cli_support::Root::new();
    r.berth(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.214.178.0/24",
        "--subnet",
        "fd00:b6:a5::/64",
        "--gateway",
        "fd00:b6:a5::fe",
        "--gateway",
        "10.214.178.254",
        "six",
    ])
    .expect(0, "network create --ipv6 with two subnets");
    let n = r.inspect_network("six");
    assert_eq!(
        n["IPAM"]["Config"],
        json!([{"Subnet": "10.214.178.0/24", "Gateway": "10.214.178.254"},
               {"Subnet": "fd00:b6:a5::/64", "Gateway": "fd00:b6:a5::fe"}]),
        "expected each gateway with the subnet of its family: {n}"
    );
    let ls = r
        .berth(&["network", "ls", "--format", "name,ipv6"])
        .expect(0, "network ls")
        .stdout;
    assert!(
        ls.lines().any(|l| l.split_whitespace().eq(["six", "true"])),
        "expected six with IPv6 true in: {ls}"
    );
    let out = r
        .berth(&[
            "run",
            "--rm",
            "--network",
            "six",
            "--ip6",
            "fd00:b6:a5::77",
            "busybox",
            "ip",
            "-6",
            "-o",
            "addr",
            "show",
            "eth0",
            "scope",
            "global",
        ])
        .expect(0, "run --ip6")
        .stdout;
    assert!(
        out.contains("inet6 fd00:b6:a5::77/64"),
        "expected the --ip6 address on eth0: {out}"
    );
    r.berth(&["network", "create", "--ipv6", "nopool"])
        .fails_with(
            "non-overlapping IPv6 address pool",
            "--ipv6 without a subnet",
        );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_on_ipv6_host_addresses_shown_and_refused() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "sixp", "EnableIPv6": true, "IPAM": {"Config": [
                {"Subnet": "10.214.180.0/24"}, {"Subnet": "fd00:b6:a6::/64"}]}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "network create: {}",
        r.text()
    );
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sleep", "60"], "ExposedPorts": {"80/tcp": {}},
                "HostConfig": {"NetworkMode": "sixp",
                    "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]}}}),
        )
        .await;
    let v = b.inspect(&id).await;
    let list = v["NetworkSettings"]["Ports"]["80/tcp"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ips: Vec<&str> = list.iter().filter_map(|p| p["HostIp"].as_str()).collect();
    assert_eq!(
        ips,
        ["0.0.0.0", "::"],
        "expected both families for a binding with no address, as dockerd: {v}"
    );
    assert_eq!(list[0]["HostPort"], list[1]["HostPort"], "one port: {v}");
    let v4only = json!({"Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "fd00:b6:a6::1", "HostPort": "8080"}]}}});
    b.post_json("/containers/create", &v4only).await.assert_error(
        400,
        "publishing on [fd00:b6:a6::1]:8080: berth publishes ports on IPv6 host addresses only for a container with an IPv6 address (a network with EnableIPv6; berth has no userland proxy)",
        "an IPv6 host address for a container on the default bridge",
    );
    let lo = json!({"Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"NetworkMode": "sixp",
            "PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}}});
    b.post_json("/containers/create", &lo).await.assert_error(
        400,
        "publishing on [::1]: berth cannot forward the IPv6 loopback address (the kernel does not route ::1 off lo, and berth has no userland proxy); publish on [::] or on an IPv6 address of the host",
        "[::1]",
    );
}
