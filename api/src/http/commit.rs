//! `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`: the container's upper
//! dir becomes a new image layer. Answers 201 `{"Id":"sha256:..."}` as dockerd does.

use super::query::{truthy, QueryPairs};
use super::{AppState, Route};
use crate::engine::images::commit::CommitOptions;
use crate::engine::wire::DockerConfig;
use crate::engine::EngineError;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub fn routes() -> Vec<Route> {
    vec![Route::post("/commit", commit)]
}

/// Decode the query; `pause` defaults to true, as in dockerd.
pub fn parse(q: &QueryPairs) -> Result<CommitOptions, EngineError> {
    let container = q.get("container").unwrap_or("").to_string();
    if container.is_empty() {
        return Err(EngineError::invalid_parameter(
            "container is required".into(),
        ));
    }
    let repo = q.get("repo").unwrap_or("");
    let tag = q.get("tag").unwrap_or("");
    let repo_tag = match (repo, tag) {
        ("", "") => None,
        ("", _) => {
            return Err(EngineError::invalid_parameter(
                "a tag needs a repository".into(),
            ))
        }
        (r, "") => Some(r.to_string()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    Ok(CommitOptions {
        container,
        repo_tag,
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        pause: q.get("pause").is_none_or(truthy),
        changes: q.all("changes"),
        config: None,
    })
}

/// The body: a container Config for the image (docker-py's `conf=`), or nothing (empty or
/// `null`, as the docker CLI sends).
pub fn parse_body(body: &[u8]) -> Result<Option<DockerConfig>, EngineError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))
}

async fn commit(State(st): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let opts = match parse(&QueryPairs::parse(q.as_deref())).and_then(|mut o| {
        o.config = parse_body(&body)?;
        Ok(o)
    }) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let engine = st.engine;
    let r = tokio::task::spawn_blocking(move || engine.commit(&opts))
        .await
        .map_err(|e| EngineError::system("engine task", e))
        .and_then(|r| r);
    match r {
        Ok(id) => (StatusCode::CREATED, Json(json!({"Id": id}))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_queries() {
        let p = |s: &str| parse(&QueryPairs::parse(Some(s)));
        let o = p("container=c1&repo=app&tag=v2&comment=hi+there&author=me&changes=ENV%20A%3D1&changes=CMD%20%5B%22sh%22%5D").unwrap();
        assert_eq!(o.container, "c1");
        assert_eq!(o.repo_tag.as_deref(), Some("app:v2"));
        assert_eq!(o.comment, "hi there");
        assert_eq!(o.author, "me");
        assert!(o.pause, "pause defaults to true");
        assert_eq!(o.changes, ["ENV A=1", "CMD [\"sh\"]"]);
        assert!(!p("container=c1&pause=0").unwrap().pause);
        assert!(!p("container=c1&pause=false").unwrap().pause);
        assert_eq!(p("container=c1").unwrap().repo_tag, None);
        assert!(p("repo=x").is_err());
        assert!(p("container=c&tag=x").is_err());
    }
}
