//! List filters that were accepted and dropped (issue 17): `docker ps --filter
//! volume|publish|expose`, as dockerd's list reads them.

use crate::common::{encode, Berth};
use serde_json::json;

async fn ps(b: &Berth, filters: &str) -> Vec<String> {
    let r = b
        .get(&format!(
            "/containers/json?all=1&filters={}",
            encode(filters)
        ))
        .await;
    assert_eq!(r.status, 200, "ps {filters}: {}", r.text());
    let mut names: Vec<String> = r
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            c["Names"][0]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn ps_filters_volume_publish_expose() {
    let b = Berth::with_busybox().await;
    b.create(
        Some("vol17"),
        &json!({"Image": "busybox", "Cmd": ["true"],
            "HostConfig": {"Mounts": [{"Type": "volume", "Source": "v17", "Target": "/data"}]}}),
    )
    .await;
    b.run(
        Some("web17"),
        &json!({"Image": "busybox", "Cmd": ["sleep", "60"],
            "ExposedPorts": {"80/tcp": {}, "9090/udp": {}},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18017"}]}}}),
    )
    .await;
    let cases: &[(&str, &[&str])] = &[
        (r#"{"volume":["v17"]}"#, &["vol17"]),
        (r#"{"volume":["/data"]}"#, &["vol17"]),
        (r#"{"volume":["other"]}"#, &[]),
        (r#"{"publish":["18017"]}"#, &["web17"]),
        (r#"{"publish":["18017/tcp"]}"#, &["web17"]),
        (r#"{"publish":["18000-18100"]}"#, &["web17"]),
        (r#"{"publish":["80"]}"#, &[]),
        (r#"{"expose":["80"]}"#, &["web17"]),
        (r#"{"expose":["9090/udp"]}"#, &["web17"]),
        (r#"{"expose":["9090"]}"#, &[]),
        (r#"{"expose":["81"]}"#, &[]),
    ];
    for (filters, want) in cases {
        let got = ps(&b, filters).await;
        assert_eq!(
            got, *want,
            "ps --filter {filters}: expected {want:?}, got {got:?}"
        );
    }
    let r = b
        .get(&format!(
            "/containers/json?filters={}",
            encode(r#"{"publish":["127.0.0.1:80"]}"#)
        ))
        .await;
    r.assert_error(
        400,
        "filter for 'publish' should not contain ':': 127.0.0.1:80",
        "a publish filter with an address",
    );
}

/// `/events?until=` without `since`: dockerd answers the events it keeps up to `until`, then
/// ends; berth followed only events to come.
#[tokio::test]
async fn events_until_without_since_replays_from_the_start() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(Some("ev17"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let r = b.get(&format!("/events?until={until}")).await;
    assert_eq!(r.status, 200, "/events?until: {}", r.text());
    let created = r
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|e| e["Actor"]["ID"] == id.as_str() && e["Action"] == "create");
    assert!(
        created,
        "/events?until=now: expected the create of {id} before it, got {:?}",
        r.text()
    );
    let r = b.get("/events?since=200&until=100").await;
    r.assert_error(
        400,
        "`since` time (200) cannot be after `until` time (100)",
        "since after until",
    );
}
