//! The Docker Engine API face: routes translate requests and delegate to the engine.
//!
//! Every route is a [`Route`] in the table [`routes`]; the router is built from that table and
//! nothing else, so [`route_table`] (which the openapi test checks against `openapi.yaml`) cannot
//! miss a route the router serves. Each endpoint group's file exposes `routes() -> Vec<Route>`.

pub mod archive;
pub mod attach_ws;
pub mod auth;
pub mod build;
pub mod commit;
pub mod conn;
pub mod container_fs;
pub mod containers;
pub mod disk_usage;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
mod listener;
pub mod networks;
pub mod ops;
pub mod plugins;
pub mod query;
pub mod server;
pub mod stream;
pub mod swarm;
pub mod system;
pub mod version;
pub mod volumes;

use crate::engine::Engine;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};

/// Run engine work (files, locks, shims: blocking calls) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::engine::EngineError> + Send + 'static,
) -> Result<T, crate::engine::EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::engine::EngineError::system("engine task", e))?
}

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Engine,
}

/// One (method, path) the API serves.
pub struct Route {
    pub method: &'static str,
    /// The path as `openapi.yaml` spells it (`/containers/{id}/json`), which is also axum 0.8's
    /// syntax. For a path axum cannot match segment by segment (an image name may contain '/'),
    /// see [`Route::dispatched`].
    pub path: &'static str,
    /// None for a dispatched route.
    handler: Option<MethodRouter<AppState>>,
}

impl Route {
    fn on<H, T>(method: &'static str, filter: MethodFilter, path: &'static str, h: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        Route {
            method,
            path,
            handler: Some(axum::routing::on(filter, h)),
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
        Route::on("GET", MethodFilter::GET, path, h)
    }
    pub fn head<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
        Route::on("HEAD", MethodFilter::HEAD, path, h)
    }
    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
        Route::on("POST", MethodFilter::POST, path, h)
    }
    pub fn put<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
        Route::on("PUT", MethodFilter::PUT, path, h)
    }
    pub fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
        Route::on("DELETE", MethodFilter::DELETE, path, h)
    }

    /// A route served by a wildcard route of the same group (say `GET /images/{*rest}`, which
    /// dispatches on the path's suffix): it appears in the table and in `openapi.yaml` but mounts
    /// nothing itself. The openapi test probes it against the real router, so a dispatched route
    /// that nothing serves fails there. The wildcard route itself is listed with its `{*name}`
    /// path, which the openapi test leaves out.
    pub fn dispatched(method: &'static str, path: &'static str) -> Route {
        Route {
            method,
            path,
            handler: None,
        }
    }
}

/// Every route berth serves (paths without the `/v1.xx` prefix, which the server strips before
/// routing). The single composition point: each group's table is appended here.
pub fn routes() -> Vec<Route> {
    let mut all = Vec::new();
    all.extend(system::routes());
    all.extend(containers::routes());
    all.extend(attach_ws::routes());
    all.extend(ops::routes());
    all.extend(images::routes());
    all.extend(exec::routes());
    all.extend(events::routes());
    all.extend(container_fs::routes());
    all.extend(commit::routes());
    all.extend(volumes::routes());
    all.extend(networks::routes());
    all.extend(archive::routes());
    all.extend(swarm::routes());
    all.extend(plugins::routes());
    all.extend(disk_usage::routes());
    all.extend(auth::routes());
    all.extend(distribution::routes());
    all.extend(build::routes());
    // Endpoint groups join here, each with its own file: `containers::routes()`,
    // `images::routes()`, ...
    all
}

/// (method, path) of every route, in the `{param}` form of `openapi.yaml`.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes().iter().map(|r| (r.method, r.path)).collect()
}

/// The router built from [`routes`]. Unknown paths, and unknown methods on known paths, get
/// dockerd's 404 `{"message":"page not found"}` (axum would answer 405 for the latter).
pub fn router(state: AppState) -> axum::Router {
    let mut router = axum::Router::new();
    for route in routes() {
        if let Some(handler) = route.handler {
            router = router.route(route.path, handler);
        }
    }
    let engine = state.engine.clone();
    router
        .fallback(error::page_not_found)
        .method_not_allowed_fallback(error::page_not_found)
        .layer(axum::middleware::from_fn_with_state(engine, restore_first))
        .with_state(state)
}

/// Before any request is served, a boot not yet restored (the run root emptied, or another
/// boot id: see `engine::restore`) is restored: two small reads when there is nothing to do.
async fn restore_first(
    axum::extract::State(engine): axum::extract::State<Engine>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if engine.restore_pending().unwrap_or(false) {
        // A failure is logged and the request goes on, as a CLI run does.
        if let Err(e) = blocking(move || engine.restore_if_pending()).await {
            tracing::warn!("restoring the containers after a reboot: {e}");
        }
    }
    next.run(req).await
}
