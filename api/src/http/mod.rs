//! The Docker Engine API face: routes translate requests and delegate to the engine.

use crate::engine::Engine;

pub mod images;

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Engine,
}

/// Every route berth serves (paths without the `/v1.xx` prefix, which the server strips).
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .merge(images::routes())
        .with_state(state)
}
