//! `POST /build`: the classic builder's request (the context tar as the body, the options in
//! the query, `X-Registry-Config` for FROM of a private image) decoded into the engine's
//! [`BuildOptions`]; the answer is dockerd's JSON stream. `POST /build/prune` clears the cache.

use super::query::{parse_filters, truthy, QueryPairs};
use super::stream::BodyReader;
use super::{blocking, AppState, Route};
use crate::engine::build::BuildOptions;
use crate::engine::images::platform::Platform;
use crate::engine::images::registry::Credentials;
use crate::engine::EngineError;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::BTreeMap;

pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/build", build),
        Route::post("/build/prune", build_prune),
    ]
}

fn bad(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// dockerd reads these as integers, a value that is not one as 0.
fn int(q: &QueryPairs, key: &str) -> i64 {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn flag(q: &QueryPairs, key: &str) -> bool {
    q.get(key).is_some_and(truthy)
}

/// The query (and `X-Registry-Config`) of `POST /build`.
pub fn parse(q: &QueryPairs, registry_config: Option<&str>) -> Result<BuildOptions, EngineError> {
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(bad(
            "berth builds from an uploaded context only: remote= (a git repository or URL as the context) is not supported".into(),
        ));
    }
    if q.get("version") == Some("2") {
        return Err(bad(
            "berth has no BuildKit: only the classic builder (version=1) is supported".into(),
        ));
    }
    if flag(q, "squash") {
        return Err(bad("squash is not supported by berth's builder".into()));
    }
    for key in ["cgroupparent", "cpusetmems", "outputs"] {
        if q.get(key).is_some_and(|v| !v.is_empty()) {
            return Err(bad(format!("{key} is not supported by berth's builder")));
        }
    }
    if let Some(u) = q
        .get("ulimits")
        .filter(|u| !matches!(*u, "" | "null" | "[]"))
    {
        return Err(bad(format!(
            "ulimits are not supported by berth's builder: {u}"
        )));
    }
    if let Some(i) = q.get("isolation").filter(|i| !matches!(*i, "" | "default")) {
        return Err(bad(format!(
            "isolation {i} is not supported by berth's builder"
        )));
    }
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        let host = Platform::host();
        if !host.matches(&Platform::parse(p)?) {
            return Err(bad(format!(
                "berth builds for its own platform ({host}) only: platform {p} is not supported"
            )));
        }
    }
    let json_of = |key: &str, what: &str| -> Result<Option<serde_json::Value>, EngineError> {
        match q.get(key).filter(|v| !v.is_empty()) {
            Some(v) => serde_json::from_str(v)
                .map(Some)
                .map_err(|e| bad(format!("unable to parse {what}: {e}"))),
            None => Ok(None),
        }
    };
    let build_args: BTreeMap<String, Option<String>> = match json_of("buildargs", "build args")? {
        Some(v) => serde_json::from_value(v)
            .map_err(|e| bad(format!("unable to parse build args: {e}")))?,
        None => BTreeMap::new(),
    };
    let labels: BTreeMap<String, String> = match json_of("labels", "labels")? {
        Some(v) => {
            serde_json::from_value(v).map_err(|e| bad(format!("unable to parse labels: {e}")))?
        }
        None => BTreeMap::new(),
    };
    let cache_from: Vec<String> = match json_of("cachefrom", "cache-from")? {
        Some(v) => serde_json::from_value(v)
            .map_err(|e| bad(format!("unable to parse cache-from: {e}")))?,
        None => Vec::new(),
    };
    let network_mode = match q.get("networkmode").unwrap_or("") {
        "default" => String::new(),
        m => m.to_string(),
    };
    let forcerm = flag(q, "forcerm");
    let registry_auth = registry_config.map(registry_auth).unwrap_or_default();
    Ok(BuildOptions {
        dockerfile: q.get("dockerfile").unwrap_or("").to_string(),
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        build_args,
        labels,
        target: q.get("target").unwrap_or("").to_string(),
        no_cache: flag(q, "nocache"),
        cache_from,
        pull: flag(q, "pull"),
        // `rm` is on unless the client turns it off; forcerm implies it.
        rm: q.get("rm").is_none_or(|v| v.is_empty() || truthy(v)) || forcerm,
        forcerm,
        quiet: flag(q, "q"),
        network_mode,
        extra_hosts: q
            .all("extrahosts")
            .iter()
            .flat_map(|h| h.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|h| !h.is_empty())
            .collect(),
        shm_size: int(q, "shmsize"),
        memory: int(q, "memory"),
        memory_swap: int(q, "memswap"),
        cpu_shares: int(q, "cpushares"),
        cpuset_cpus: q.get("cpusetcpus").unwrap_or("").to_string(),
        cpu_period: int(q, "cpuperiod"),
        cpu_quota: int(q, "cpuquota"),
        registry_auth,
    })
}

/// `X-Registry-Config`: base64 JSON of {registry: auth config}; unreadable is none.
fn registry_auth(h: &str) -> BTreeMap<String, Credentials> {
    use base64::Engine as _;
    let h = h.trim();
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(h).ok())
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default()
}

async fn build(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    let reg = headers
        .get("x-registry-config")
        .and_then(|v| v.to_str().ok());
    let opts = match parse(&q, reg) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let reader = BodyReader::new(body);
    let engine = st.engine;
    super::stream::progress(move |out| engine.build(&opts, reader, out).map(|_| ())).await
}

/// The filter keys dockerd's build-cache prune accepts.
const BUILD_PRUNE_FILTERS: [&str; 11] = [
    "until",
    "unused-for",
    "id",
    "parent",
    "type",
    "description",
    "inuse",
    "shared",
    "private",
    "label",
    "label!",
];

async fn build_prune(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = QueryPairs::parse(q.as_deref());
    let filters = match parse_filters(q.get("filters")) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if let Some(k) = filters
        .keys()
        .find(|k| !BUILD_PRUNE_FILTERS.contains(&k.as_str()))
    {
        return EngineError::invalid_parameter(format!("invalid filter '{k}'")).into_response();
    }
    if !filters.is_empty() {
        return EngineError::invalid_parameter(
            "berth's build cache is pruned whole: filters are not supported".into(),
        )
        .into_response();
    }
    let engine = st.engine;
    match blocking(move || engine.prune_build_cache()).await {
        Ok(space) => Json(json!({"CachesDeleted": null, "SpaceReclaimed": space})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(q: &str) -> Result<BuildOptions, EngineError> {
        parse(&QueryPairs::parse(Some(q)), None)
    }

    #[test]
    fn the_query_decoded() {
        let o = parsed("t=a:1&t=b&buildargs=%7B%22X%22%3A%221%22%2C%22Y%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D&nocache=1&rm=0&q=1&shmsize=1024&networkmode=default&extrahosts=h%3A1.2.3.4&dockerfile=sub%2FDf&target=t1").unwrap();
        assert_eq!(o.tags, ["a:1", "b"]);
        assert_eq!(o.build_args.get("X"), Some(&Some("1".to_string())));
        assert_eq!(o.build_args.get("Y"), Some(&None));
        assert_eq!(o.labels.get("l").map(String::as_str), Some("v"));
        assert!(o.no_cache && o.quiet && !o.rm, "nocache, q, rm=0: {o:?}");
        assert_eq!(o.shm_size, 1024);
        assert_eq!(o.network_mode, "");
        assert_eq!(o.extra_hosts, ["h:1.2.3.4"]);
        assert_eq!((o.dockerfile.as_str(), o.target.as_str()), ("sub/Df", "t1"));
        assert!(parsed("").unwrap().rm, "rm is on by default");
        assert!(parsed("rm=0&forcerm=1").unwrap().rm, "forcerm implies rm");
    }

    #[test]
    fn what_berth_cannot_honour_is_refused() {
        for q in [
            "remote=https://x/y.git",
            "version=2",
            "squash=1",
            "cgroupparent=x",
            "platform=linux/s390x",
            "buildargs=nope",
        ] {
            let e = parsed(q).expect_err(q);
            assert!(
                e.is(crate::engine::ErrorKind::InvalidParameter),
                "{q}: got {e}"
            );
        }
    }
}
