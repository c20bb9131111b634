//! `POST /auth` (`docker login`): the credentials are checked against their registry by the
//! engine's registry client; the answer is dockerd's.

use super::blocking;
use super::{AppState, Route};
use crate::engine::images::registry::{self, Credentials};
use crate::engine::EngineError;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub fn routes() -> Vec<Route> {
    vec![Route::post("/auth", auth)]
}

/// The body: dockerd's AuthConfig (`username`, `password`, `serveraddress`, `identitytoken`).
pub fn parse(body: &[u8]) -> Result<Credentials, EngineError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        // What dockerd's JSON decoder says of an empty body.
        return Err(EngineError::system_message("EOF".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| EngineError::invalid_parameter(format!("invalid JSON: {e}")))
}

async fn auth(state: axum::extract::State<AppState>, body: Bytes) -> Response {
    let creds = match parse(&body) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let settings = state.engine.settings.registries.clone();
    match blocking(move || registry::login(creds, &settings)).await {
        // dockerd leaves IdentityToken out when empty.
        Ok(token) if token.is_empty() => Json(json!({"Status": "Login Succeeded"})).into_response(),
        Ok(token) => {
            Json(json!({"Status": "Login Succeeded", "IdentityToken": token})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let c =
            parse(br#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#).unwrap();
        assert_eq!(
            (
                c.username.as_str(),
                c.password.as_str(),
                c.server_address.as_str()
            ),
            ("u", "p", "localhost:5000")
        );
        assert_eq!(parse(b"").unwrap_err().to_string(), "EOF");
        assert!(parse(b"{").is_err());
    }
}
