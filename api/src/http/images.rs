//! /images: list, inspect, history, import (`/images/create?fromSrc=-`), load, tag, remove.
//! Image names hold '/' and ':', so `/images/{*rest}` is split by its last segment here.
//! Handlers decode, then call the engine on a blocking thread.

use super::blocking;
use super::query::{parse_filters, QueryPairs};
use super::stream::BodyReader;
use super::version::ApiVersion;
use super::{AppState, Route};
use crate::engine::images::platform::Platform;
use crate::engine::images::reference::Reference;
use crate::engine::images::registry::Credentials;
use crate::engine::images::views;
use crate::engine::{Engine, EngineError};
use axum::body::Body;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/images/json", list),
        Route::post("/images/create", create),
        Route::post("/images/load", load),
        Route::get("/images/get", save_many),
        Route::post("/images/prune", prune),
        Route::get("/images/search", search),
        // Image names contain '/' and ':': one wildcard per method, dispatched on the suffix.
        Route::get("/images/{*rest}", by_name_get),
        Route::post("/images/{*rest}", by_name_post),
        Route::delete("/images/{*rest}", remove),
        Route::dispatched("GET", "/images/{name}/json"),
        Route::dispatched("GET", "/images/{name}/history"),
        Route::dispatched("GET", "/images/{name}/get"),
        Route::dispatched("POST", "/images/{name}/tag"),
        Route::dispatched("POST", "/images/{name}/push"),
        Route::dispatched("DELETE", "/images/{name}"),
    ]
}

fn error_response(e: EngineError) -> Response {
    e.into_response()
}

/// `POST /images/create`, decoded.
#[derive(Debug, PartialEq)]
pub enum CreateRequest {
    /// `fromSrc=-`: the body is a tarball.
    Import {
        repo_tag: Option<String>,
        changes: Vec<String>,
        message: String,
    },
    /// `fromImage=x&tag=y`: a pull from the registry.
    Pull { reference: String },
}

impl CreateRequest {
    pub fn parse(q: &QueryPairs) -> Result<CreateRequest, EngineError> {
        let tag = q.get("tag").unwrap_or("");
        let join = |repo: &str| {
            if tag.is_empty() {
                repo.to_string()
            } else if tag.starts_with("sha256:") {
                format!("{repo}@{tag}")
            } else {
                format!("{repo}:{tag}")
            }
        };
        if let Some(image) = q.get("fromImage").filter(|s| !s.is_empty()) {
            let reference = join(image);
            Reference::parse(&reference)?;
            return Ok(CreateRequest::Pull { reference });
        }
        match q.get("fromSrc") {
            Some("-") => {}
            Some(other) => {
                return Err(EngineError::not_implemented(format!(
                    "importing from {other:?} is not supported; send the tarball in the body"
                )))
            }
            None => {
                return Err(EngineError::invalid_parameter(
                    "fromImage or fromSrc is required".into(),
                ))
            }
        }
        let repo_tag = q.get("repo").filter(|s| !s.is_empty()).map(join);
        if let Some(r) = &repo_tag {
            Reference::parse(r)?;
        }
        Ok(CreateRequest::Import {
            repo_tag,
            changes: q.all("changes"),
            message: q.get("message").unwrap_or("").to_string(),
        })
    }
}

/// The request's API version; the current one where the router adds none (tests that mount
/// these routes alone).
fn api_version(v: Option<Extension<ApiVersion>>) -> ApiVersion {
    v.map_or(super::version::API_VERSION, |Extension(v)| v)
}

/// `platform` of pull and import (API 1.32 on): a specifier ("linux/amd64").
fn platform_specifier(
    version: ApiVersion,
    q: &QueryPairs,
) -> Result<Option<Platform>, EngineError> {
    match q.get("platform").filter(|p| !p.is_empty()) {
        Some(p)
            if version
                >= (ApiVersion {
                    major: 1,
                    minor: 32,
                }) =>
        {
            Platform::parse(p).map(Some)
        }
        _ => Ok(None),
    }
}

/// `platform` of save, load and history (API 1.48 on): an OCI platform object in JSON; older
/// versions do not read it, as dockerd.
fn platform_object(version: ApiVersion, q: &QueryPairs) -> Result<Option<Platform>, EngineError> {
    let all = q.all("platform");
    if version
        < (ApiVersion {
            major: 1,
            minor: 48,
        })
        || all.is_empty()
    {
        return Ok(None);
    }
    if all.len() > 1 {
        return Err(EngineError::invalid_parameter(
            "multiple platform parameters are not supported in this API version; use API \
             version 1.52 or later"
                .into(),
        ));
    }
    Platform::from_json(&all[0]).map(Some)
}

fn ndjson(lines: Vec<Value>) -> Response {
    let mut body = String::new();
    for l in lines {
        body.push_str(&l.to_string());
        body.push('\n');
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn stream_error(e: EngineError) -> Value {
    let m = e.to_string();
    json!({"errorDetail": {"message": m}, "error": m})
}

/// `X-Registry-Auth`, decoded.
fn registry_auth(headers: &axum::http::HeaderMap) -> Option<Credentials> {
    headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(Credentials::from_header)
}

async fn create(
    State(st): State<AppState>,
    version: Option<Extension<ApiVersion>>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let version = api_version(version);
    let creds = registry_auth(&headers);
    let q = QueryPairs::parse(q.as_deref());
    let (req, platform) =
        match CreateRequest::parse(&q).and_then(|r| Ok((r, platform_specifier(version, &q)?))) {
            Ok(r) => r,
            Err(e) => return error_response(e),
        };
    let engine = st.engine;
    match req {
        CreateRequest::Pull { reference } => {
            super::stream::progress(move |out| {
                engine.pull_platform(&reference, creds, platform.as_ref(), out)
            })
            .await
        }
        CreateRequest::Import {
            repo_tag,
            changes,
            message,
        } => {
            // An import is of berth's own platform: another one cannot be honoured.
            if let Some(p) = platform.filter(|p| !Platform::host().matches(p)) {
                return error_response(EngineError::invalid_parameter(format!(
                    "berth imports images for its own platform ({}) only: platform {p} is not \
                     supported",
                    Platform::host()
                )));
            }
            let reader = BodyReader::new(body);
            let r =
                blocking(move || engine.import(reader, repo_tag.as_deref(), &changes, &message))
                    .await;
            ndjson(vec![match r {
                Ok(img) => json!({"status": img.id}),
                Err(e) => stream_error(e),
            }])
        }
    }
}

async fn load(
    State(st): State<AppState>,
    version: Option<Extension<ApiVersion>>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Response {
    let version = api_version(version);
    let platform = match platform_object(version, &QueryPairs::parse(q.as_deref())) {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    let reader = BodyReader::new(body);
    let engine = st.engine;
    match blocking(move || engine.load_platform(reader, platform.as_ref())).await {
        Ok(lines) => ndjson(
            lines
                .into_iter()
                .map(|l| json!({"stream": format!("{l}\n")}))
                .collect(),
        ),
        Err(e) => ndjson(vec![stream_error(e)]),
    }
}

async fn list(
    State(st): State<AppState>,
    version: Option<Extension<ApiVersion>>,
    RawQuery(q): RawQuery,
) -> Response {
    let version = api_version(version);
    let q = QueryPairs::parse(q.as_deref());
    // `shared-size` is read from API 1.42 on, as dockerd reads it.
    let shared_size = version
        >= (ApiVersion {
            major: 1,
            minor: 42,
        })
        && q.flag("shared-size");
    let filters = match parse_filters(q.get("filters")) {
        Ok(f) => f,
        Err(e) => return error_response(e),
    };
    let all = q.flag("all");
    let engine = st.engine;
    match blocking(move || engine.images_json(&filters, all, shared_size)).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /images/prune?filters=...`
async fn prune(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    let opts = match parse_filters(q.get("filters"))
        .and_then(|f| crate::engine::images::prune::PruneOptions::from_filters(&f))
    {
        Ok(o) => o,
        Err(e) => return error_response(e),
    };
    let engine = st.engine;
    match blocking(move || engine.prune_images(&opts)).await {
        Ok((deleted, space)) => Json(json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": space,
        }))
        .into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /images/search`: dockerd asks Docker Hub's index (`/v1/search`); berth has no index to
/// ask (a registry v2 has none; its catalog lists names without descriptions, stars or the
/// official flag), so the search is refused with a message that says so.
async fn search() -> Response {
    error_response(EngineError::not_implemented(
        "berth has no registry index to search: image search is not supported".into(),
    ))
}

/// `GET /images/get?names=a&names=b`
async fn save_many(
    State(st): State<AppState>,
    version: Option<Extension<ApiVersion>>,
    RawQuery(q): RawQuery,
) -> Response {
    let version = api_version(version);
    let q = QueryPairs::parse(q.as_deref());
    let platform = match platform_object(version, &q) {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    save(st.engine, q.all("names"), platform).await
}

/// Resolve every name first (a 404 before any byte), then stream the archive.
async fn save(engine: Engine, names: Vec<String>, platform: Option<Platform>) -> Response {
    let plan = match blocking(move || engine.plan_save_platform(&names, platform.as_ref())).await {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    super::stream::streamed("application/x-tar", move |w| plan.write(w))
}

async fn by_name_get(
    State(st): State<AppState>,
    version: Option<Extension<ApiVersion>>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let version = api_version(version);
    let engine = st.engine;
    let platform = match platform_object(version, &QueryPairs::parse(q.as_deref())) {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    if let Some(name) = rest.strip_suffix("/json") {
        let name = name.to_string();
        // Inspect reads `platform` from API 1.49 on.
        let platform = platform.filter(|_| {
            version
                >= (ApiVersion {
                    major: 1,
                    minor: 49,
                })
        });
        let found = move || -> Result<_, EngineError> {
            let img = engine.image(&name)?;
            crate::engine::images::platform::check(&name, &img, platform.as_ref())?;
            Ok(img)
        };
        return match blocking(found).await {
            Ok(img) => Json(views::inspect(&img)).into_response(),
            Err(e) => error_response(e),
        };
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let name = name.to_string();
        let found = move || -> Result<_, EngineError> {
            let img = engine.image(&name)?;
            crate::engine::images::platform::check(&name, &img, platform.as_ref())?;
            Ok(img)
        };
        return match blocking(found).await {
            Ok(img) => Json(views::history(&img)).into_response(),
            Err(e) => error_response(e),
        };
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(engine, vec![name.to_string()], platform).await;
    }
    error_response(EngineError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

async fn by_name_post(
    State(st): State<AppState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    let engine = st.engine;
    if let Some(name) = rest.strip_suffix("/tag") {
        let name = name.to_string();
        let repo = q.get("repo").unwrap_or("").to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        if repo.is_empty() {
            return error_response(EngineError::invalid_parameter("repo is required".into()));
        }
        return match blocking(move || engine.tag(&name, &repo, &tag)).await {
            Ok(()) => StatusCode::CREATED.into_response(),
            Err(e) => error_response(e),
        };
    }
    if let Some(name) = rest.strip_suffix("/push") {
        let name = name.to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        let creds = registry_auth(&headers);
        return super::stream::progress(move |out| engine.push(&name, &tag, creds, out)).await;
    }
    error_response(EngineError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

async fn remove(
    State(st): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    let (force, prune) = (q.flag("force"), !q.flag("noprune"));
    let engine: Engine = st.engine;
    match blocking(move || engine.remove_image_with(&name, force, prune)).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => error_response(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ErrorKind;

    #[test]
    fn query_pairs() {
        let q = QueryPairs::parse(Some(
            "fromSrc=-&repo=my%2Fapp&tag=v1&changes=CMD+%5B%22sh%22%5D&changes=ENV%20A%3D1&message=hi%",
        ));
        assert_eq!(q.get("repo"), Some("my/app"));
        assert_eq!(q.all("changes"), ["CMD [\"sh\"]", "ENV A=1"]);
        assert_eq!(q.get("message"), Some("hi%"));
        assert!(!q.flag("force"));
        assert!(QueryPairs::parse(Some("force=1")).flag("force"));
    }

    #[test]
    fn create_requests() {
        let p = |s: &str| CreateRequest::parse(&QueryPairs::parse(Some(s)));
        assert_eq!(
            p("fromSrc=-&repo=app&tag=v1&message=m").unwrap(),
            CreateRequest::Import {
                repo_tag: Some("app:v1".into()),
                changes: vec![],
                message: "m".into()
            }
        );
        assert_eq!(
            p("fromImage=busybox&tag=1.36").unwrap(),
            CreateRequest::Pull {
                reference: "busybox:1.36".into()
            }
        );
        let kind = |q: &str| p(q).map_err(|e| e.kind()).err();
        assert_eq!(
            kind("fromSrc=-&repo=Bad"),
            Some(ErrorKind::InvalidParameter)
        );
        assert_eq!(
            kind("fromSrc=http://x/y.tar"),
            Some(ErrorKind::NotImplemented)
        );
        assert_eq!(kind(""), Some(ErrorKind::InvalidParameter));
    }

    #[test]
    fn filters_in_both_forms() {
        let f = parse_filters(Some(r#"{"dangling":{"true":true},"reference":["bu*"]}"#)).unwrap();
        assert_eq!(f["dangling"], ["true"]);
        assert_eq!(f["reference"], ["bu*"]);
    }
}
