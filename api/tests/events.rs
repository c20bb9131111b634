//! `GET /events` of a real `berth serve`: a container's life replayed in order, events written
//! by the shim while no API process is alive, live followers, filters, and the operations and
//! image changes that are logged. Needs root and `cargo build --workspace` first.

use crate::common;

use common::{encode, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_arg() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The events between `since` and `until`, as (Type, Action, Actor.ID) with the full objects.
async fn events(b: &Berth, query: &str) -> Vec<Value> {
    let r = b.get(&format!("/events?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "/events?{query}: {}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}

fn actions_of(evs: &[Value], id: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e["Actor"]["ID"] == id)
        .map(|e| e["Action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_containers_life_in_order_with_dockers_fields() {
    let b = Berth::with_busybox().await;
    let since = now_arg();
    let id = b
        .create(
            Some("ev1"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "exit 3"], "Labels": {"team": "a"}}),
        )
        .await;
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(b.wait(&id).await, 3);
    let r = b.post(&format!("/containers/{id}/rename?name=ev2")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = b.call("DELETE", &format!("/containers/{id}"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let until = now_arg();

    let evs = events(&b, &format!("since={since}&until={until}")).await;
    assert_eq!(
        actions_of(&evs, &id),
        ["create", "start", "die", "rename", "destroy"],
        "{evs:#?}"
    );
    let die = evs.iter().find(|e| e["Action"] == "die").unwrap();
    assert_eq!(die["status"], "die", "{die}");
    assert_eq!(die["id"], id.as_str(), "{die}");
    assert_eq!(die["from"], "busybox", "{die}");
    assert_eq!(die["Type"], "container", "{die}");
    assert_eq!(die["scope"], "local", "{die}");
    let attrs = &die["Actor"]["Attributes"];
    assert_eq!(attrs["exitCode"], "3", "{die}");
    assert_eq!(attrs["name"], "ev1", "{die}");
    assert_eq!(attrs["image"], "busybox", "{die}");
    assert_eq!(attrs["team"], "a", "labels are attributes: {die}");
    let rename = evs.iter().find(|e| e["Action"] == "rename").unwrap();
    assert_eq!(rename["Actor"]["Attributes"]["oldName"], "/ev1", "{rename}");
    assert_eq!(rename["Actor"]["Attributes"]["name"], "ev2", "{rename}");
    let times: Vec<i64> = evs
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Filters, in both encodings.
    let f = encode(r#"{"event":["die"]}"#);
    let evs = events(&b, &format!("since={since}&until={until}&filters={f}")).await;
    assert_eq!(actions_of(&evs, &id), ["die"]);
    let f = encode(r#"{"container":{"ev1":true},"type":{"container":true}}"#);
    let evs = events(&b, &format!("since={since}&until={until}&filters={f}")).await;
    assert_eq!(
        actions_of(&evs, &id),
        ["create", "start", "die"],
        "the name ev1 matches until the rename (which carries the new name): {evs:#?}"
    );
    let f = encode(r#"{"label":["team=b"]}"#);
    let evs = events(&b, &format!("since={since}&until={until}&filters={f}")).await;
    assert!(evs.is_empty(), "{evs:#?}");
    let f = encode(r#"{"type":["image"]}"#);
    let evs = events(&b, &format!("since={since}&until={until}&filters={f}")).await;
    assert!(evs.is_empty(), "no image events in that window: {evs:#?}");
    let r = b
        .get(&format!("/events?filters={}", encode(r#"{"x":["y"]}"#)))
        .await;
    r.assert_error(400, "invalid filter 'x'", "an unknown filter key");
    let r = b.get("/events?since=soon").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn die_is_logged_by_the_shim_with_no_api_alive_and_survives_a_restart() {
    let mut b = Berth::with_busybox().await;
    let since = now_arg();
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "1"]}))
        .await;
    b.kill_server();
    // The container exits while no API process exists; its shim goes once it has logged that.
    common::eventually("the container's shim to exit", || !b.shim_alive(&id));
    b.serve();
    let until = now_arg();
    let evs = events(&b, &format!("since={since}&until={until}")).await;
    assert_eq!(
        actions_of(&evs, &id),
        ["create", "start", "die"],
        "{evs:#?}"
    );
    let die = evs.iter().find(|e| e["Action"] == "die").unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "0", "{die}");
}

/// Read a live `/events` body until container `id` (sent once known) has died; its actions.
/// Says once on `seen` that it has read an event: it follows the log's end from then on.
async fn follow(
    b: &Berth,
    id_rx: tokio::sync::watch::Receiver<String>,
    seen: tokio::sync::mpsc::UnboundedSender<()>,
) -> Vec<String> {
    let mut said = false;
    let evs = b
        .follow_events("/events", |evs| {
            if !said && !evs.is_empty() {
                said = true;
                let _ = seen.send(());
            }
            actions_of(evs, &id_rx.borrow()).iter().any(|a| a == "die")
        })
        .await;
    let id = id_rx.borrow().clone();
    actions_of(&evs, &id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_live_readers_each_see_every_event() {
    let b = std::sync::Arc::new(Berth::with_busybox().await);
    let (id_tx, id_rx) = tokio::sync::watch::channel(String::new());
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (b, rx, seen) = (b.clone(), id_rx.clone(), seen_tx.clone());
            tokio::spawn(async move { follow(&b, rx, seen).await })
        })
        .collect();
    // Both readers follow the end of the log before the container is made: image tags are
    // logged until each has read one.
    let mut following = 0;
    for n in 0.. {
        assert!(
            n < 100,
            "after {n} tags, {following} of 2 readers had read one"
        );
        let r = b
            .post(&format!("/images/busybox/tag?repo=mark&tag={n}"))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let wait = Duration::from_millis(200);
        while let Ok(Some(())) = tokio::time::timeout(wait, seen_rx.recv()).await {
            following += 1;
        }
        if following == 2 {
            break;
        }
    }
    let id = b
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .await;
    id_tx.send(id.clone()).unwrap();
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    for r in readers {
        let got = r.await.unwrap();
        assert_eq!(got, ["create", "start", "die"], "a live reader saw {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_and_images_are_logged() {
    let b = Berth::with_busybox().await;
    let since = now_arg();
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "100"]}))
        .await;
    for op in ["pause", "unpause", "kill?signal=SIGKILL"] {
        let r = b.post(&format!("/containers/{id}/{op}")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{op}: {}", r.text());
    }
    b.wait(&id).await;
    let r = b.post("/images/busybox/tag?repo=ev&tag=1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = b.call("DELETE", "/images/ev:1", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let until = now_arg();
    let evs = events(&b, &format!("since={since}&until={until}")).await;
    let got = actions_of(&evs, &id);
    assert_eq!(
        got,
        ["create", "start", "pause", "unpause", "kill", "die"],
        "{evs:#?}"
    );
    let kill = evs
        .iter()
        .find(|e| e["Action"] == "kill")
        .expect("a kill event");
    assert_eq!(kill["Actor"]["Attributes"]["signal"], "9", "{kill}");
    let images: Vec<(String, String)> = evs
        .iter()
        .filter(|e| e["Type"] == "image")
        .map(|e| {
            (
                e["Action"].as_str().unwrap().to_string(),
                e["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        images,
        [
            ("tag".into(), "ev:1".into()),
            ("untag".into(), "ev:1".into())
        ]
    );
}
