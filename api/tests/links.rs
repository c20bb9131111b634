//! Legacy links (issue 17): `--link` / HostConfig.Links on the default bridge give the
//! container /etc/hosts lines and moby's variables for each running linked container, inspect
//! shows them as dockerd (`/db:/web/database`), `docker rm --link /web/database` removes one,
//! and the refusals use dockerd's words. On a user-defined network a link is an alias of the
//! linked container in /etc/hosts (EndpointSettings.Links). Checked from inside the container.
//! Needs root and `cargo build --workspace` first.

use crate::common;

use common::{frames, stream_text, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};

/// Start the created container `id`, wait for its end, and return its output.
async fn logs_after_run(b: &Berth, id: &str) -> String {
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "start: {}", r.text());
    assert_eq!(b.wait(id).await, 0, "the container failed");
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2)
}

/// The Names of the listed container whose first name is `name`.
async fn listed_names(b: &Berth, name: &str) -> Value {
    let list: Value = serde_json::from_slice(&b.get("/containers/json?all=1").await.body).unwrap();
    list.as_array()
        .and_then(|l| l.iter().find(|c| c["Names"][0] == name))
        .map(|c| c["Names"].clone())
        .unwrap_or_else(|| panic!("no container named {name} listed: {list}"))
}

fn bridge_ip(inspect: &Value, net: &str) -> String {
    inspect["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| panic!("no address on {net}: {inspect}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_on_the_default_bridge_give_hosts_and_variables() {
    let b = Berth::with_busybox().await;
    b.run(
        Some("db"),
        &json!({"Image": "busybox", "Cmd": ["sleep", "60"], "Hostname": "dbhost",
            "Env": ["PASSWORD=secret", "HOME=/x"], "ExposedPorts": {"6379/tcp": {}}}),
    )
    .await;
    let db_ip = bridge_ip(&b.inspect("db").await, "bridge");
    let web = b
        .create(
            Some("web"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "env; cat /etc/hosts"],
                "HostConfig": {"Links": ["db:database"]}}),
        )
        .await;
    let links = &b.inspect(&web).await["HostConfig"]["Links"];
    assert_eq!(
        links,
        &json!(["/db:/web/database"]),
        "expected inspect to show the link as dockerd does"
    );
    assert_eq!(
        listed_names(&b, "/db").await,
        json!(["/db", "/web/database"]),
        "expected the link's name among db's names in the listing, as dockerd's"
    );
    let out = logs_after_run(&b, &web).await;
    for want in [
        format!("DATABASE_PORT=tcp://{db_ip}:6379\n"),
        format!("DATABASE_PORT_6379_TCP=tcp://{db_ip}:6379\n"),
        format!("DATABASE_PORT_6379_TCP_ADDR={db_ip}\n"),
        "DATABASE_PORT_6379_TCP_PORT=6379\n".to_string(),
        "DATABASE_PORT_6379_TCP_PROTO=tcp\n".to_string(),
        "DATABASE_NAME=/web/database\n".to_string(),
        "DATABASE_ENV_PASSWORD=secret\n".to_string(),
        format!("{db_ip}\tdatabase dbhost db\n"),
    ] {
        assert!(
            out.contains(&want),
            "expected {want:?} in the linking container's env and /etc/hosts:\n{out}"
        );
    }
    for unwanted in ["DATABASE_ENV_HOME=", "DATABASE_ENV_PATH="] {
        assert!(
            !out.contains(unwanted),
            "{unwanted} is not passed on:\n{out}"
        );
    }

    // `docker rm --link /web/database`: the link goes, both containers stay.
    b.call("DELETE", "/containers/web/nope?link=1", "")
        .await
        .assert_error(404, "No such container: web/nope", "rm --link of no link");
    b.call("DELETE", "/containers/db?link=1", "")
        .await
        .assert_error(
            500,
            "Conflict, cannot remove the default link name of the container",
            "rm --link of a container's own name",
        );
    // docker-py names the link `/web/database`, so its path has two slashes.
    let r = b
        .call("DELETE", "/v1.50/containers//web/database?link=1", "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "rm --link: {}", r.text());
    assert_eq!(
        b.inspect("web").await["HostConfig"]["Links"],
        Value::Null,
        "expected the link gone from inspect"
    );
    assert_eq!(b.get("/containers/db/json").await.status, StatusCode::OK);
    assert_eq!(
        listed_names(&b, "/db").await,
        json!(["/db"]),
        "expected the removed link's name gone from the listing"
    );
    // The log keeps the first run's output: what the second run wrote follows it.
    let second = logs_after_run(&b, &web).await;
    let out = second.strip_prefix(out.as_str()).unwrap_or(&second);
    assert!(
        !out.is_empty() && !out.contains("DATABASE_") && !out.contains("database"),
        "expected no trace of the removed link at the next start:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_checked_with_dockerds_words() {
    let b = Berth::with_busybox().await;
    let create = |links: Value, extra: Value| {
        let mut body = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Links": links}});
        if let (Some(h), Some(x)) = (body["HostConfig"].as_object_mut(), extra.as_object()) {
            h.extend(x.clone());
        }
        body
    };
    b.post_json("/containers/create", &create(json!(["nope:x"]), json!({})))
        .await
        .assert_error(
            400,
            "could not get container for nope: No such container: nope",
            "a link to no container",
        );
    b.create(Some("idle"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    b.post_json(
        "/containers/create",
        &create(json!(["idle"]), json!({"NetworkMode": "host"})),
    )
    .await
    .assert_error(
        400,
        "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        "links with the host's network",
    );
    b.post_json(
        "/containers/create",
        &json!({"Image": "busybox", "Cmd": ["true"],
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Links": ["idle:x"]}}}}),
    )
    .await
    .assert_error(
        400,
        "EndpointSettings.Links: endpoint links are only supported for user-defined networks (on the default bridge, links are HostConfig.Links, --link)",
        "endpoint links on the default bridge",
    );
    // A link to a container that does not run: made at create, refused at start.
    let web = b
        .create(Some("web"), &create(json!(["idle:base"]), json!({})))
        .await;
    b.post(&format!("/containers/{web}/start"))
        .await
        .assert_error(
            500,
            "Cannot link to a non running container: /idle AS /web/base",
            "start with a link to a stopped container",
        );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_on_a_user_defined_network_are_aliases() {
    let b = Berth::with_busybox().await;
    let r = b
        .post_json(
            "/networks/create",
            &json!({"Name": "lnk", "IPAM": {"Config": [{"Subnet": "10.214.94.0/24"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    b.run(
        Some("db"),
        &json!({"Image": "busybox", "Cmd": ["sleep", "60"], "Env": ["PASSWORD=secret"],
            "HostConfig": {"NetworkMode": "lnk"}}),
    )
    .await;
    let db_ip = bridge_ip(&b.inspect("db").await, "lnk");
    // The docker CLI sends `--link` on a user-defined network both ways.
    let web = b
        .create(
            Some("web"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "env; cat /etc/hosts"],
                "HostConfig": {"NetworkMode": "lnk", "Links": ["db:database"]},
                "NetworkingConfig": {"EndpointsConfig": {"lnk": {"Links": ["db:database"]}}}}),
        )
        .await;
    let i = b.inspect(&web).await;
    assert_eq!(
        i["NetworkSettings"]["Networks"]["lnk"]["Links"],
        json!(["db:database"]),
        "expected the endpoint's links in inspect"
    );
    assert_eq!(
        i["HostConfig"]["Links"],
        Value::Null,
        "dockerd makes no legacy link off the default bridge"
    );
    let out = logs_after_run(&b, &web).await;
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{db_ip}\t")))
        .unwrap_or_else(|| panic!("expected a hosts line for db ({db_ip}):\n{out}"));
    assert!(
        line.split_whitespace().any(|n| n == "database"),
        "expected the link's alias on db's line, got {line:?}"
    );
    assert!(
        !out.contains("DATABASE_"),
        "no link variables off the default bridge:\n{out}"
    );
}
