//! The one place where an engine failure becomes Docker's HTTP answer: the status code dockerd
//! gives that kind of failure and the body `{"message": ...}` with a Content-Type of exactly
//! `application/json` (the Go client decodes the body only when the header matches exactly).

use crate::engine::{EngineError, ErrorKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

impl EngineError {
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::System => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for EngineError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::NOT_MODIFIED {
            // A 304 carries no body; the CLI counts it as success.
            return status.into_response();
        }
        json_message(status, &self.to_string())
    }
}

/// `{"message": message}` with `status`.
pub fn json_message(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// What dockerd answers for an unknown path, and for an unknown method on a known path.
pub async fn page_not_found() -> Response {
    json_message(StatusCode::NOT_FOUND, "page not found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn parts(e: EngineError) -> (StatusCode, Option<String>, Vec<u8>) {
        let resp = e.into_response();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, ct, body)
    }

    #[tokio::test]
    async fn each_kind_has_dockers_status_and_a_json_message() {
        let cases = [
            (EngineError::not_found("No such container: x".into()), 404),
            (EngineError::conflict("in use".into()), 409),
            (EngineError::invalid_parameter("bad".into()), 400),
            (EngineError::unauthorized("who".into()), 401),
            (EngineError::forbidden("no".into()), 403),
            (EngineError::not_implemented("later".into()), 501),
            (EngineError::unavailable("no bpffs".into()), 503),
            (EngineError::system_message("disk: EIO".into()), 500),
        ];
        for (e, code) in cases {
            let message = e.to_string();
            let (status, ct, body) = parts(e).await;
            assert_eq!(status.as_u16(), code, "status for {message:?}");
            assert_eq!(
                ct.as_deref(),
                Some("application/json"),
                "content type for {message:?}"
            );
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v, serde_json::json!({ "message": message }));
        }
    }

    #[tokio::test]
    async fn not_modified_has_no_body() {
        let (status, _, body) = parts(EngineError::not_modified("running".into())).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty(), "304 body should be empty, got {body:?}");
    }
}
