//! Published ports through the API of a real `berth serve`: a random port on 127.0.0.1 that
//! answers, NetworkSettings.Ports and the summaries' Ports, dockerd's 500 for a taken port,
//! the rules gone and the port free after a remove, and dockerd's 400s for bad requests.
//! Needs root and `cargo build --workspace` first.

use crate::common;

use common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn web(bindings: Value) -> Value {
    json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "mkdir -p /www && echo api-web > /www/index.html && exec httpd -f -p 80 -h /www"],
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"PortBindings": bindings},
    })
}

/// GET / on 127.0.0.1:port, retried while the server comes up.
fn get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = || -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        };
        match attempt() {
            Ok(out) if out.contains("api-web") => return out,
            other if Instant::now() > deadline => {
                panic!("127.0.0.1:{port} did not answer: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_port_answers_is_shown_and_is_freed() {
    let b = Berth::with_busybox().await;
    let id = b
        .run(
            Some("pweb"),
            &web(json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]})),
        )
        .await;
    let v = b.inspect("pweb").await;
    let ports = &v["NetworkSettings"]["Ports"]["80/tcp"];
    assert_eq!(ports[0]["HostIp"], "127.0.0.1", "{v}");
    let port: u16 = ports[0]["HostPort"].as_str().unwrap().parse().unwrap();
    get(port);

    let list = b.get("/containers/json").await.json();
    assert_eq!(
        list[0]["Ports"],
        json!([{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"}]),
        "{list}"
    );

    // The port is taken: the second container's start fails with dockerd's 500.
    let taken = json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]});
    let other = b.create(Some("pother"), &web(taken)).await;
    let r = b.post(&format!("/containers/{other}/start")).await;
    r.assert_error(
        500,
        &format!("driver failed programming external connectivity on endpoint pother ({other}): Bind for 127.0.0.1:{port} failed: port is already allocated"),
        "a taken port",
    );
    assert_eq!(b.inspect("pother").await["State"]["Status"], "created");

    let table = berth_shim::net::ports::Table::for_root(&b.root());
    assert!(
        table.comments().unwrap().iter().any(|c| c.starts_with(&id)),
        "pweb's rules are there"
    );
    let r = b.call("DELETE", "/containers/pweb?force=1", "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let left = table.comments().unwrap();
    assert!(
        !left.iter().any(|c| c.starts_with(&id)),
        "rules left: {left:?}"
    );
    // Given back: the other container takes it now.
    let r = b.post(&format!("/containers/{other}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    get(port);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_port_and_bandwidth_requests_are_refused() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/containers/create",
            &web(json!({"80/tcp": [{"HostIp": "", "HostPort": "http"}]})),
        )
        .await;
    r.assert_error(400, "invalid hostPort: http", "a bad host port");
    let r = b
        .post_json(
            "/containers/create",
            &web(json!({"80/icmp": [{"HostIp": "", "HostPort": "80"}]})),
        )
        .await;
    r.assert_error(400, "invalid proto: icmp", "a bad protocol");
    let r = b
        .post_json(
            "/containers/create",
            &json!({"Image": "busybox", "Cmd": ["true"], "Labels": {"berth.net.egress": "fast"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("berth.net.egress"), "{}", r.text());
    let list = b.get("/containers/json?all=1").await.json();
    assert_eq!(list, json!([]), "nothing was created");
}
