//! `com.docker.network.bridge.host_binding_ipv4` (issue 22): a network's default host address
//! for published ports whose binding names none, as dockerd applies it; dockerd's refusal of
//! a value that is no address. Needs root and `cargo build --workspace` first.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// GET / on ip:port, retried while the server comes up.
fn get(ip: &str, port: u16) -> std::io::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = || -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(
                &format!("{ip}:{port}").parse().unwrap(),
                Duration::from_secs(2),
            )?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        };
        match attempt() {
            Ok(out) if out.contains("hb-web") => return Ok(out),
            other if Instant::now() > deadline => return other,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_binding_ipv4_is_where_unaddressed_ports_bind() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "hb",
                "Options": {"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"},
                "IPAM": {"Config": [{"Subnet": "10.214.179.0/24"}]}}),
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
            Some("hbweb"),
            &json!({"Image": "busybox",
                "Cmd": ["sh", "-c", "mkdir -p /www && echo hb-web > /www/index.html && exec httpd -f -p 80 -h /www"],
                "ExposedPorts": {"80/tcp": {}},
                "HostConfig": {"NetworkMode": "hb",
                    "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]}}}),
        )
        .await;
    let v = b.inspect(&id).await;
    let bound = &v["NetworkSettings"]["Ports"]["80/tcp"][0];
    assert_eq!(
        bound["HostIp"], "127.0.0.1",
        "expected the network's host_binding_ipv4 as the binding's address: {v}"
    );
    assert_eq!(
        v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"], "",
        "expected the binding kept as sent, as dockerd: {v}"
    );
    let port: u16 = bound["HostPort"].as_str().unwrap().parse().unwrap();
    let page = get("127.0.0.1", port);
    assert!(
        page.is_ok(),
        "expected the page on 127.0.0.1:{port}, got {page:?}"
    );
    // Only 127.0.0.1 is held: the same port on another host address (the network's gateway)
    // is free, and nothing is forwarded from it.
    let other = std::net::TcpListener::bind(("10.214.179.1", port));
    assert!(
        other.is_ok(),
        "expected 10.214.179.1:{port} free (the port held on 127.0.0.1 only), got {other:?}"
    );
    drop(other);
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "hbbad",
                "Options": {"com.docker.network.bridge.host_binding_ipv4": "bogus"}}),
        )
        .await;
    r.assert_error(
        400,
        "failed to parse com.docker.network.bridge.host_binding_ipv4 value: bogus (nil ip)",
        "a value that is no address (dockerd's words)",
    );
}
