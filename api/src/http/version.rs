//! API versions, handled outside routing as dockerd does: a `/v{major}.{minor}` prefix is checked
//! against the supported range and stripped, the requested version goes into the request's
//! extensions for handlers whose behaviour depends on it, and every response gets the headers
//! clients negotiate with (`Api-Version`, `Ostype`, `Server`, `Docker-Experimental`).

use super::error::json_message;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use std::fmt;
use tower::ServiceExt;

/// The version berth speaks and advertises. The CLI uses min(its own, this); docker-py and
/// compose use what `/version` says.
pub const API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 50,
};
/// The oldest version berth answers, as dockerd 28.
pub const MIN_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};
/// The `Server` header.
pub const SERVER: &str = concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)");

/// An API version; compares numerically (1.4 < 1.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the path says about the version: `(version as written, rest of the path)`. A path
/// without a `/v<digits and dots>` first segment has no version.
pub fn split_version(path: &str) -> (Option<&str>, &str) {
    let Some(after) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let end = after.find('/').unwrap_or(after.len());
    let (version, rest) = after.split_at(end);
    let looks_like_version = !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && version.bytes().any(|b| b.is_ascii_digit());
    if !looks_like_version {
        return (None, path);
    }
    (Some(version), if rest.is_empty() { "/" } else { rest })
}

/// "1.47" -> 1.47; a missing part is 0 ("1" is 1.0), and parts after the second are ignored.
pub fn parse(version: &str) -> Option<ApiVersion> {
    let mut parts = version.split('.');
    let num = |p: Option<&str>| match p {
        None | Some("") => Some(0),
        Some(p) => p.parse::<u32>().ok(),
    };
    Some(ApiVersion {
        major: num(parts.next())?,
        minor: num(parts.next())?,
    })
}

/// The error a client gets for a version outside [`MIN_API_VERSION`]..=[`API_VERSION`], in
/// dockerd's words.
pub fn check(version: &str) -> Result<ApiVersion, String> {
    let v = parse(version).ok_or_else(|| format!("invalid API version {version:?}"))?;
    if v > API_VERSION {
        return Err(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        ));
    }
    if v < MIN_API_VERSION {
        return Err(format!(
            "client version {version} is too old. Minimum supported API version is \
             {MIN_API_VERSION}, please upgrade your client to a newer version"
        ));
    }
    Ok(v)
}

/// Serve one request through `router` with version handling around it.
pub async fn serve(router: axum::Router, mut req: Request) -> Response {
    let mut response = match strip_version(&mut req) {
        Ok(version) => {
            req.extensions_mut().insert(version);
            match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
        Err(message) => json_message(StatusCode::BAD_REQUEST, &message),
    };
    let headers = response.headers_mut();
    let api = HeaderValue::from_str(&API_VERSION.to_string()).expect("a version is a header");
    headers.insert(HeaderName::from_static("api-version"), api);
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    headers.insert(
        HeaderName::from_static("server"),
        HeaderValue::from_static(SERVER),
    );
    headers.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
    response
}

/// Check and remove the version prefix; the version the request asked for (the default when
/// unversioned).
/// Repeated slashes count as one, as dockerd's router cleans them (docker-py asks for
/// `/containers//web/db` to name the link `/web/db`).
fn strip_version(req: &mut Request) -> Result<ApiVersion, String> {
    let (version, rest) = split_version(req.uri().path());
    let v = match version {
        Some(version) => check(version)?,
        None => API_VERSION,
    };
    let mut rest = rest.to_string();
    while rest.contains("//") {
        rest = rest.replace("//", "/");
    }
    if version.is_none() && rest == req.uri().path() {
        return Ok(v);
    }
    let rest = rest.as_str();
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|e| format!("invalid path {path_and_query:?}: {e}"))?,
    );
    *req.uri_mut() = Uri::from_parts(parts).map_err(|e| format!("invalid URI: {e}"))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_version_prefix() {
        assert_eq!(split_version("/v1.47/_ping"), (Some("1.47"), "/_ping"));
        assert_eq!(
            split_version("/v1.24/containers/x/json"),
            (Some("1.24"), "/containers/x/json")
        );
        assert_eq!(split_version("/v1.47"), (Some("1.47"), "/"));
        assert_eq!(split_version("/_ping"), (None, "/_ping"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
        assert_eq!(split_version("/v/x"), (None, "/v/x"));
        assert_eq!(split_version("/v./x"), (None, "/v./x"));
    }

    #[test]
    fn compares_numerically() {
        assert!(parse("1.4").unwrap() < parse("1.24").unwrap());
        assert_eq!(parse("1").unwrap(), ApiVersion { major: 1, minor: 0 });
        assert_eq!(parse("1.x"), None);
    }

    #[test]
    fn checks_the_range_with_dockers_words() {
        assert_eq!(check("1.50"), Ok(API_VERSION));
        assert_eq!(
            check("1.48"),
            Ok(ApiVersion {
                major: 1,
                minor: 48
            })
        );
        assert_eq!(check("1.24"), Ok(MIN_API_VERSION));
        assert_eq!(
            check("1.99").unwrap_err(),
            "client version 1.99 is too new. Maximum supported API version is 1.50"
        );
        assert_eq!(
            check("1.12").unwrap_err(),
            "client version 1.12 is too old. Minimum supported API version is 1.24, please \
             upgrade your client to a newer version"
        );
        assert!(check("2.0").is_err());
    }

    #[tokio::test]
    async fn strips_the_prefix_and_keeps_the_query() {
        let router = axum::Router::new().route(
            "/echo",
            axum::routing::get(
                |uri: Uri, axum::Extension(v): axum::Extension<ApiVersion>| async move {
                    format!("{uri} {v}")
                },
            ),
        );
        let req = Request::get("/v1.41/echo?a=1")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = serve(router, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["api-version"], "1.50");
        assert_eq!(resp.headers()["ostype"], "linux");
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"/echo?a=1 1.41");
    }

    #[tokio::test]
    async fn repeated_slashes_count_as_one() {
        let router = axum::Router::new().route(
            "/containers/{a}/{b}",
            axum::routing::delete(|uri: Uri| async move { uri.to_string() }),
        );
        for path in [
            "/v1.50/containers//web/db?link=1",
            "/containers//web/db?link=1",
        ] {
            let req = Request::delete(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = serve(router.clone(), req).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}: expected a match");
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(&body[..], b"/containers/web/db?link=1", "{path}");
        }
    }
}
