//! `/networks`: create (201), list, inspect, remove, connect, disconnect and prune, in
//! dockerd's shapes.

use super::blocking;
use super::query::parse_filters;
use super::{AppState, Route};
use crate::engine::networks::CreateNetwork;
use crate::engine::EngineError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;
type HResult = Result<Response, EngineError>;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/networks", list),
        Route::post("/networks/create", create),
        Route::post("/networks/prune", prune),
        Route::get("/networks/{id}", inspect),
        Route::delete("/networks/{id}", remove),
        Route::post("/networks/{id}/connect", connect),
        Route::post("/networks/{id}/disconnect", disconnect),
    ]
}

fn invalid_json(e: serde_json::Error) -> EngineError {
    EngineError::invalid_parameter(format!("invalid JSON: {e}"))
}

/// The create body.
pub fn parse_create(body: &[u8]) -> Result<CreateNetwork, EngineError> {
    serde_json::from_slice(body).map_err(invalid_json)
}

/// connect's body: `{"Container": ..., "EndpointConfig": {...}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectBody {
    pub container: String,
    pub endpoint_config: Value,
}

/// disconnect's body: `{"Container": ..., "Force": bool}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectBody {
    pub container: String,
    pub force: bool,
}

async fn create(State(s): State<AppState>, body: Bytes) -> HResult {
    let req = parse_create(&body)?;
    let e = s.engine;
    let rec = blocking(move || e.create_network(req)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": rec.id, "Warning": ""})),
    )
        .into_response())
}

async fn list(State(s): State<AppState>, Query(q): Q) -> HResult {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let e = s.engine;
    let out = blocking(move || {
        let list = e.list_networks(&filters)?;
        Ok(list
            .iter()
            .map(|n| e.network_json(n, false))
            .collect::<Vec<Value>>())
    })
    .await?;
    Ok(Json(out).into_response())
}

async fn inspect(State(s): State<AppState>, Path(id): Path<String>) -> HResult {
    let e = s.engine;
    let v = blocking(move || e.network(&id).map(|n| e.network_json(&n, true))).await?;
    Ok(Json(v).into_response())
}

async fn remove(State(s): State<AppState>, Path(id): Path<String>) -> HResult {
    let e = s.engine;
    blocking(move || e.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn connect(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> HResult {
    let b: ConnectBody = serde_json::from_slice(&body).map_err(invalid_json)?;
    let e = s.engine;
    blocking(move || e.connect(&id, &b.container, &b.endpoint_config)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> HResult {
    let b: DisconnectBody = serde_json::from_slice(&body).map_err(invalid_json)?;
    let e = s.engine;
    blocking(move || e.disconnect(&id, &b.container, b.force)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune(State(s): State<AppState>, Query(q): Q) -> HResult {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let e = s.engine;
    let removed = blocking(move || e.prune_networks(&filters)).await?;
    Ok(Json(json!({
        "NetworksDeleted": if removed.is_empty() { Value::Null } else { json!(removed) },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies() {
        let c = parse_create(
            br#"{"Name":"n1","CheckDuplicate":true,"Driver":"bridge","Internal":true,
                "IPAM":{"Driver":"default","Config":[{"Subnet":"10.77.0.0/24","IPRange":"10.77.0.128/25","Gateway":"10.77.0.1"}]},
                "Labels":{"a":"b"},"Options":{"x":"y"}}"#,
        )
        .unwrap();
        assert_eq!(c.name, "n1");
        assert!(c.internal);
        let cfg = &c.ipam.unwrap().config.unwrap()[0];
        assert_eq!(
            (
                cfg.subnet.as_str(),
                cfg.ip_range.as_str(),
                cfg.gateway.as_str()
            ),
            ("10.77.0.0/24", "10.77.0.128/25", "10.77.0.1")
        );
        assert_eq!(c.labels.unwrap()["a"], "b");
        assert!(parse_create(b"{").is_err());
    }

    #[test]
    fn connect_bodies() {
        let b: ConnectBody = serde_json::from_slice(
            br#"{"Container":"c1","EndpointConfig":{"Aliases":["x"],"IPAMConfig":{"IPv4Address":"10.1.0.9"}}}"#,
        )
        .unwrap();
        assert_eq!(b.container, "c1");
        assert_eq!(b.endpoint_config["Aliases"][0], "x");
        let d: DisconnectBody =
            serde_json::from_slice(br#"{"Container":"c1","Force":true}"#).unwrap();
        assert!(d.force);
    }
}
