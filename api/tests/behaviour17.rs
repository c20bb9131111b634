//! Behaviours issue 17 found wrong against dockerd: State.Health before the first probe,
//! `rm` of a container created from a sparse body, commit's Parent, a restart policy's
//! create-start-inspect sequence.

use crate::common::Berth;
use serde_json::json;

#[tokio::test]
async fn health_is_starting_before_the_first_probe() {
    let b = Berth::with_busybox().await;
    // The probe runs long (its timeout longer still): nothing is recorded while it runs.
    let id = b
        .run(
            None,
            &json!({"Image": "busybox", "Cmd": ["sleep", "60"],
                "Healthcheck": {"Test": ["CMD", "sleep", "30"],
                    "Interval": 60_000_000_000u64, "Timeout": 50_000_000_000u64}}),
        )
        .await;
    let state = &b.inspect(&id).await["State"];
    assert_eq!(
        state["Health"],
        json!({"Status": "starting", "FailingStreak": 0, "Log": []}),
        "State.Health right after start: expected dockerd's starting record, got {state}"
    );
}
