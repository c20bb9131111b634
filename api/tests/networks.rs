//! Networks through a real `berth serve` and berth's CLI on the same root: addresses handed out
//! by concurrent API requests and CLI processes never collide, a full subnet is refused, what
//! a container held is freed at remove, a killed API process leaves nothing the next one
//! cannot use, dockerd's status codes and messages, and network events. Needs root and
//! `cargo build --workspace` first.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn ip_of(inspect: &Value, net: &str) -> String {
    inspect["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no address on {net}: {}", inspect["NetworkSettings"]))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_api_requests_and_cli_runs_get_distinct_addresses() {
    let b = Berth::with_busybox().await;
    // A /28: 14 host addresses, the gateway takes one, 13 for containers.
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "small", "IPAM": {"Config": [{"Subnet": "10.214.90.0/28"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let cfg = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "small"}});
    let root = b.root();
    let run_root = root.with_file_name("run");
    // Six CLI processes and seven API requests at once.
    let cli: Vec<std::process::Child> = (0..6)
        .map(|_| {
            Command::new(BERTH)
                .arg("--root")
                .arg(&root)
                .arg("--run-root")
                .arg(&run_root)
                .args(["create", "--network", "small", "busybox", "true"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("berth create")
        })
        .collect();
    let api = futures_util::future::join_all((0..7).map(|_| b.create(None, &cfg))).await;
    let mut ids: Vec<String> = api;
    for c in cli {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "berth create failed");
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let mut ips = BTreeSet::new();
    for id in &ids {
        let ip = ip_of(&b.inspect(id).await, "small");
        assert!(ip.starts_with("10.214.90."), "{ip} outside the subnet");
        assert!(ips.insert(ip.clone()), "{ip} handed out twice");
    }
    assert_eq!(ips.len(), 13);
    assert!(!ips.contains("10.214.90.1"), "the gateway was handed out");
    // The fourteenth finds the subnet full, and nothing is left behind by the failure.
    let r = b.post_json("/containers/create?name=late", &cfg).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("no available IPv4 addresses"),
        "{}",
        r.text()
    );
    let r = b.get("/containers/late/json").await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a failed create left a container"
    );
    // Removing one frees its address for the next.
    let freed = ip_of(&b.inspect(&ids[0]).await, "small");
    let r = b
        .call("DELETE", &format!("/containers/{}", ids[0]), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let id = b.create(Some("late"), &cfg).await;
    assert_eq!(ip_of(&b.inspect(&id).await, "small"), freed);
    // In use: 403 with dockerd's words.
    let r = b.call("DELETE", "/networks/small", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("has active endpoints"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerd_codes_messages_and_events() {
    let mut b = Berth::with_busybox().await;
    let r = b.get("/networks").await;
    assert_eq!(r.status, StatusCode::OK);
    let names: BTreeSet<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["bridge", "host", "none"].map(String::from).into(),
        "predefined networks"
    );
    for n in ["bridge", "host", "none"] {
        b.call("DELETE", &format!("/networks/{n}"), "")
            .await
            .assert_error(
                403,
                &format!("{n} is a pre-defined network and cannot be removed"),
                "removing a predefined network",
            );
    }
    let r = b
        .post_json("/networks/create", &json!({"Name": "ev"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let net_id = r.json()["Id"].as_str().unwrap().to_string();
    b.post_json(
        "/networks/create",
        &json!({"Name": "ev", "CheckDuplicate": true}),
    )
    .await
    .assert_error(409, "network with name ev already exists", "a duplicate");
    b.get("/networks/nosuch").await.assert_error(
        404,
        "network nosuch not found",
        "inspect of nothing",
    );
    b.post_json("/networks/create", &json!({"Name": "x", "Driver": "host"}))
        .await
        .assert_error(
            403,
            "only one instance of \"host\" network is allowed",
            "a second host network",
        );
    let overlap = b
        .post_json(
            "/networks/create",
            &json!({"Name": "ov1", "IPAM": {"Config": [{"Subnet": "10.214.91.0/24"}]}}),
        )
        .await;
    assert_eq!(overlap.status, StatusCode::CREATED, "{}", overlap.text());
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "ov2", "IPAM": {"Config": [{"Subnet": "10.214.91.128/25"}]}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an overlapping subnet: {}",
        r.text()
    );
    // Aliases and addresses are for user-defined networks only.
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "bridge"},
                    "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["a"]}}}}),
        )
        .await;
    r.assert_error(
        400,
        "network-scoped alias is supported only for containers in user defined networks",
        "an alias on the default bridge",
    );
    // Connect and disconnect a stopped container; a killed API process loses nothing.
    let id = b
        .create(Some("evc"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let r = b
        .post_json(
            &format!("/networks/{net_id}/connect"),
            &json!({"Container": "evc", "EndpointConfig": {"Aliases": ["al"]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    b.kill_server();
    b.serve();
    let net = b.get("/networks/ev").await.json();
    let ep = &net["Containers"][&id];
    assert_eq!(ep["Name"], "evc", "{net}");
    assert!(
        ep["IPv4Address"].as_str().unwrap().ends_with("/24"),
        "{net}"
    );
    let c = b.inspect(&id).await;
    assert_eq!(
        c["NetworkSettings"]["Networks"]["ev"]["Aliases"],
        json!(["al"])
    );
    let r = b
        .post_json(
            &format!("/networks/{net_id}/disconnect"),
            &json!({"Container": "evc"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = b.call("DELETE", "/networks/ev", "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = b
        .get(&format!(
            "/events?since=0&until={until}&filters=%7B%22type%22%3A%5B%22network%22%5D%7D"
        ))
        .await;
    let actions: Vec<(String, String)> = r
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["Actor"]["ID"] == net_id.as_str())
        .map(|e| {
            (
                e["Action"].as_str().unwrap_or("").to_string(),
                e["Actor"]["Attributes"]["container"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("create".to_string(), String::new()),
            ("connect".to_string(), id.clone()),
            ("disconnect".to_string(), id.clone()),
            ("destroy".to_string(), String::new()),
        ],
        "network events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_api_process_reclaims_what_a_killed_one_allocated() {
    let mut b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "crash", "IPAM": {"Config": [{"Subnet": "10.214.92.0/30"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let net_id = r.json()["Id"].as_str().unwrap().to_string();
    // A create killed after its allocation and before its container appeared: the /30's only
    // address held by a container that does not exist, allocated long ago.
    b.kill_server();
    {
        let store = berth_shim::net::store::Store::new(&b.root());
        let locked = store.lock().unwrap();
        let mut rec = locked.get(&net_id).unwrap();
        rec.endpoints.insert(
            "f".repeat(64),
            berth_shim::net::store::EndpointRecord {
                container_name: "ghost".into(),
                ip: "10.214.92.2".into(),
                created: 0,
                ..Default::default()
            },
        );
        locked.save(&rec).unwrap();
    }
    b.serve();
    // The new process's start-up sweep frees it, with no request needed.
    let store = berth_shim::net::store::Store::new(&b.root());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store
        .get(&net_id)
        .unwrap()
        .endpoints
        .contains_key(&"f".repeat(64))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not reclaim the ghost's address"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cfg = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "crash"}});
    let id = b.create(None, &cfg).await;
    let ip = ip_of(&b.inspect(&id).await, "crash");
    assert_eq!(
        ip, "10.214.92.2",
        "the ghost's address was not handed out again"
    );
    let net = b.get("/networks/crash").await.json();
    assert!(
        !net["Containers"]
            .as_object()
            .unwrap()
            .contains_key(&"f".repeat(64)),
        "{net}"
    );
}

/// The default bridge holds an address for every container from create to remove, stopped ones
/// included: as on dockerd's 172.17.0.0/16, far more than a /24's 253 must fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_bridge_fits_more_than_a_slash_24() {
    let b = Berth::with_busybox().await;
    let cfg = json!({"Image": "busybox", "Cmd": ["true"]});
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(b.create(None, &cfg).await);
    }
    let r = b.call("GET", "/networks/bridge", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let net: Value = serde_json::from_str(&r.text()).unwrap();
    let subnet = net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(subnet.ends_with("/16"), "default bridge subnet {subnet}");
    let containers = net["Containers"].as_object().expect("Containers");
    assert_eq!(containers.len(), 300, "endpoints on the default bridge");
    let ips: BTreeSet<&str> = containers
        .values()
        .map(|c| c["IPv4Address"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 300, "distinct addresses");
    for id in &ids {
        let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
}
