//! Swarm mode, which berth does not have: the swarm, node, service, task, secret and config
//! endpoints answer as dockerd does on a node outside any swarm, 503 with its words (client
//! libraries tolerate exactly that, e.g. a teardown's `POST /swarm/leave?force=1`). Joining or
//! making a swarm is refused with 501: berth cannot become a swarm node.

use super::Route;
use crate::engine::EngineError;
use axum::response::{IntoResponse, Response};

/// dockerd's `errNoManager` for a node with no swarm (moby daemon/cluster/cluster.go).
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \
                                 \"docker swarm join\" to connect this node to swarm and try again.";
/// dockerd's `errNoSwarm`, the answer to a leave (moby daemon/cluster/errors.go).
pub const NOT_IN_A_SWARM: &str = "This node is not part of a swarm";

pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/swarm/init", cannot_join),
        Route::post("/swarm/join", cannot_join),
        Route::post("/swarm/leave", leave),
        Route::get("/swarm", not_a_manager),
        Route::get("/swarm/unlockkey", not_a_manager),
        Route::post("/swarm/update", not_a_manager),
        Route::post("/swarm/unlock", not_a_manager),
        Route::get("/services", not_a_manager),
        Route::post("/services/create", not_a_manager),
        Route::get("/services/{id}", not_a_manager),
        Route::delete("/services/{id}", not_a_manager),
        Route::post("/services/{id}/update", not_a_manager),
        Route::get("/services/{id}/logs", not_a_manager),
        Route::get("/nodes", not_a_manager),
        Route::get("/nodes/{id}", not_a_manager),
        Route::delete("/nodes/{id}", not_a_manager),
        Route::post("/nodes/{id}/update", not_a_manager),
        Route::get("/tasks", not_a_manager),
        Route::get("/tasks/{id}", not_a_manager),
        Route::get("/tasks/{id}/logs", not_a_manager),
        Route::get("/secrets", not_a_manager),
        Route::post("/secrets/create", not_a_manager),
        Route::get("/secrets/{id}", not_a_manager),
        Route::delete("/secrets/{id}", not_a_manager),
        Route::post("/secrets/{id}/update", not_a_manager),
        Route::get("/configs", not_a_manager),
        Route::post("/configs/create", not_a_manager),
        Route::get("/configs/{id}", not_a_manager),
        Route::delete("/configs/{id}", not_a_manager),
        Route::post("/configs/{id}/update", not_a_manager),
    ]
}

async fn not_a_manager() -> Response {
    EngineError::unavailable(NOT_A_MANAGER.into()).into_response()
}

async fn leave() -> Response {
    EngineError::unavailable(NOT_IN_A_SWARM.into()).into_response()
}

async fn cannot_join() -> Response {
    EngineError::not_implemented(
        "berth does not support swarm mode: this node cannot init or join a swarm".into(),
    )
    .into_response()
}
