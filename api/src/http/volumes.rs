//! `/volumes`: create (201), list, inspect, remove and prune, in dockerd's shapes.

use super::blocking;
use super::query::{parse_filters, truthy, Filters};
use super::{AppState, Route};
use crate::engine::volumes::CreateVolume;
use crate::engine::EngineError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;
type HResult = Result<Response, EngineError>;

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/volumes", list),
        Route::post("/volumes/create", create),
        Route::post("/volumes/prune", prune),
        Route::get("/volumes/{name}", inspect),
        Route::delete("/volumes/{name}", remove),
        Route::put("/volumes/{name}", update),
    ]
}

/// `PUT /volumes/{name}` updates a swarm cluster volume; berth's volumes are local and it has
/// no swarm, so it answers as dockerd outside a swarm (503 before the volume is looked up).
async fn update() -> Response {
    EngineError::unavailable(
        "volume update only valid for cluster volumes, but swarm is unavailable".into(),
    )
    .into_response()
}

/// The create body; an empty body is an anonymous volume.
pub fn parse_create(body: &[u8]) -> Result<CreateVolume, EngineError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CreateVolume::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))
}

/// Prune's filters: `all` (named volumes too; one boolean, as dockerd parses it) and
/// `label`/`label!`, which go on to the engine; any other key is refused.
pub fn parse_prune(f: &Filters) -> Result<(bool, Filters), EngineError> {
    crate::engine::filters::validate(f, &["all", "label", "label!"])?;
    let all = match f.get("all").map(Vec::as_slice) {
        None | Some([]) => false,
        Some([v]) => parse_go_bool(v).ok_or_else(|| {
            EngineError::invalid_parameter(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?,
        Some(many) => {
            return Err(EngineError::invalid_parameter(format!(
                "invalid filter 'all=[{}]': only one value is expected",
                many.join(" ")
            )))
        }
    };
    let labels = f
        .iter()
        .filter(|(k, _)| k.starts_with("label"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((all, labels))
}

/// Go's strconv.ParseBool.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

async fn create(State(s): State<AppState>, body: Bytes) -> HResult {
    let req = parse_create(&body)?;
    let e = s.engine;
    let v = blocking(move || {
        let v = e.create_volume(&req)?;
        Ok(e.volume_json(&v))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn list(State(s): State<AppState>, Query(q): Q) -> HResult {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let e = s.engine;
    let vols = blocking(move || {
        let list = e.list_volumes(&filters)?;
        Ok(list
            .iter()
            .map(|v| e.volume_json(v))
            .collect::<Vec<Value>>())
    })
    .await?;
    Ok(Json(json!({"Volumes": vols, "Warnings": Value::Null})).into_response())
}

async fn inspect(State(s): State<AppState>, Path(name): Path<String>) -> HResult {
    let e = s.engine;
    let v = blocking(move || e.volume(&name).map(|v| e.volume_json(&v))).await?;
    Ok(Json(v).into_response())
}

async fn remove(State(s): State<AppState>, Path(name): Path<String>, Query(q): Q) -> HResult {
    let force = q.get("force").is_some_and(|v| truthy(v));
    let e = s.engine;
    blocking(move || e.remove_volume(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(s): State<AppState>, Query(q): Q) -> HResult {
    let filters = parse_filters(q.get("filters").map(String::as_str))?;
    let (all, labels) = parse_prune(&filters)?;
    let e = s.engine;
    let (deleted, space) = blocking(move || e.prune_volumes(all, &labels)).await?;
    Ok(Json(json!({
        // dockerd makes the list before it prunes: `[]`, never null.
        "VolumesDeleted": deleted,
        "SpaceReclaimed": space,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies() {
        assert_eq!(parse_create(b"").unwrap().name, "");
        let c = parse_create(
            br#"{"Name":"v1","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"},"Labels":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(c.name, "v1");
        assert_eq!(c.driver_opts.unwrap()["o"], "size=1m");
        assert!(parse_create(b"{").is_err());
    }

    #[test]
    fn prune_filters() {
        let f = parse_filters(Some(r#"{"all":["true"],"label":["a=1"]}"#)).unwrap();
        let (all, labels) = parse_prune(&f).unwrap();
        assert!(all, "all=true read as false");
        assert_eq!(labels["label"], ["a=1"], "the labels passed on");
        assert_eq!(
            parse_prune(&Filters::new()).unwrap(),
            (false, Filters::new())
        );
        let not = parse_filters(Some(r#"{"label!":["a"]}"#)).unwrap();
        assert_eq!(parse_prune(&not).unwrap().1, not, "label! passed on");
        let err = parse_prune(&parse_filters(Some(r#"{"until":["1h"]}"#)).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'until'");
        let bad = parse_filters(Some(r#"{"dangling":["true"]}"#)).unwrap();
        assert!(parse_prune(&bad).is_err());
    }
}
