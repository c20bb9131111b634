//! The prunes' filters as dockerd reads them (issue 17): `until` and `label!` obeyed, unknown
//! keys refused with "invalid filter 'k'", and volume prune's list never null.

use crate::common::{encode, Berth};
use serde_json::{json, Value};

async fn prune(b: &Berth, what: &str, filters: &str) -> crate::common::Reply {
    b.post(&format!("/{what}/prune?filters={}", encode(filters)))
        .await
}

fn deleted(r: &crate::common::Reply, key: &str) -> Vec<String> {
    assert_eq!(r.status, 200, "prune: {}", r.text());
    match &r.json()[key] {
        Value::Null => vec![],
        v => serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{key}: expected a list of strings, got {v} ({e})")),
    }
}

#[tokio::test]
async fn container_prune_until_keeps_a_new_container() {
    let b = Berth::with_busybox().await;
    let id = b
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    let r = prune(&b, "containers", r#"{"until":["24h"]}"#).await;
    let gone = deleted(&r, "ContainersDeleted");
    assert!(
        gone.is_empty(),
        "until=24h: expected a container made seconds ago kept, got {gone:?} removed"
    );
    let r = prune(&b, "containers", r#"{"until":["1h","2h"]}"#).await;
    r.assert_error(
        400,
        "more than one until filter specified",
        "two until values",
    );
    // A bound in the future takes it.
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    let r = prune(&b, "containers", &format!(r#"{{"until":["{later}"]}}"#)).await;
    let gone = deleted(&r, "ContainersDeleted");
    assert_eq!(gone, vec![id], "until a minute ahead: the container pruned");
}

#[tokio::test]
async fn container_prune_label_not() {
    let b = Berth::with_busybox().await;
    let keep = b
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["true"], "Labels": {"keep": "1"}}),
        )
        .await;
    let go = b
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["true"], "Labels": {"other": "1"}}),
        )
        .await;
    let r = prune(&b, "containers", r#"{"label!":["keep"]}"#).await;
    let gone = deleted(&r, "ContainersDeleted");
    assert_eq!(
        gone,
        vec![go],
        "label!=keep: expected only the other pruned"
    );
    assert_eq!(b.inspect(&keep).await["Id"], keep.as_str(), "kept");
}

#[tokio::test]
async fn every_prune_refuses_unknown_keys() {
    let b = Berth::start();
    for what in ["containers", "images", "volumes", "networks"] {
        let r = prune(&b, what, r#"{"foo":["x"]}"#).await;
        r.assert_error(400, "invalid filter 'foo'", &format!("{what} prune foo=x"));
    }
    // Volumes have no `until` in dockerd.
    let r = prune(&b, "volumes", r#"{"until":["1h"]}"#).await;
    r.assert_error(400, "invalid filter 'until'", "volume prune until");
}

#[tokio::test]
async fn volume_prune_label_not_and_an_empty_list() {
    let b = Berth::start();
    let r = prune(&b, "volumes", "{}").await;
    assert_eq!(r.status, 200, "volume prune: {}", r.text());
    assert_eq!(
        r.json()["VolumesDeleted"],
        json!([]),
        "nothing pruned: expected dockerd's [] (a list), got {}",
        r.text()
    );
    for (name, labels) in [("keep", json!({"keep": "1"})), ("go", json!({"x": "1"}))] {
        let r = b
            .post_json("/volumes/create", &json!({"Name": name, "Labels": labels}))
            .await;
        assert_eq!(r.status, 201, "create {name}: {}", r.text());
    }
    let r = prune(&b, "volumes", r#"{"all":["true"],"label!":["keep"]}"#).await;
    assert_eq!(deleted(&r, "VolumesDeleted"), ["go"], "label!=keep");
    let r = b.get("/volumes/keep").await;
    assert_eq!(r.status, 200, "the labelled volume kept: {}", r.text());
}

#[tokio::test]
async fn network_prune_label_not_keeps_only_what_holds_every_value() {
    let b = Berth::start();
    for (name, labels) in [
        ("n17a", json!({"a": "1", "b": "1"})),
        ("n17b", json!({"a": "1"})),
    ] {
        let r = b
            .post_json("/networks/create", &json!({"Name": name, "Labels": labels}))
            .await;
        assert_eq!(r.status, 201, "create {name}: {}", r.text());
    }
    let r = prune(&b, "networks", r#"{"label!":["a","b"]}"#).await;
    let gone = deleted(&r, "NetworksDeleted");
    assert_eq!(
        gone,
        ["n17b"],
        "label!=a,label!=b: dockerd keeps what has both, prunes the rest"
    );
    let r = prune(&b, "networks", "{}").await;
    assert_eq!(deleted(&r, "NetworksDeleted"), ["n17a"], "the rest");
}
