//! `docker login` (`POST /auth`): the credentials are checked against the registry as dockerd
//! checks them: `GET /v2/`, then the challenge it answers with, basic (the same request with
//! the credentials) or bearer (a token from the token server, asked for offline access, then
//! `/v2/` with it). The refresh token a token server gives back is the identity token.

use super::client::{parse_challenge, Body, Challenge, Client, Credentials};
use super::{base_url, registry_error, Endpoint};
use crate::engine::images::reference::DEFAULT_DOMAIN;
use crate::engine::{EngineError, Result};
use base64::Engine as _;
use ureq::http::{Method, StatusCode};

/// The registry a login's `serveraddress` names: its host and port, without scheme or path.
/// Empty, or Docker Hub's index URL, is Docker Hub.
pub fn login_domain(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_DOMAIN.into(),
        h => h.into(),
    }
}

/// Check `creds` against their registry: the identity token to keep ("" when the registry gave
/// none). A refusal of a basic login is dockerd's 500 "login attempt to ... failed with
/// status: ...", a refusal by a token server its 401 "Get ...: unauthorized: ...".
pub fn login(creds: Credentials, settings: &super::RegistrySettings) -> Result<String> {
    let domain = login_domain(&creds.server_address);
    let ep = Endpoint {
        base: base_url(&domain, &settings.insecure),
        repository: String::new(),
        domain,
        read_timeout: settings.read_timeout,
    };
    let ping = format!("{}/v2/", ep.base);
    let c = Client::unauthenticated(ep, Some(creds.clone()), "pull");
    let resp = c.raw(Method::GET, &ping, &[], Body::Empty)?;
    let challenge = match resp.status() {
        StatusCode::OK => return Ok(String::new()),
        StatusCode::UNAUTHORIZED => resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge),
        other => return Err(failed(&ping, other)),
    };
    let (auth, identity) = match challenge {
        None => return Err(failed(&ping, StatusCode::UNAUTHORIZED)),
        Some(Challenge::Basic) => {
            let b = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", creds.username, creds.password));
            (format!("Basic {b}"), String::new())
        }
        Some(Challenge::Bearer { realm, service }) => {
            match c.fetch_token(&realm, &service, &[], true)? {
                Ok(t) => (format!("Bearer {}", t.token), t.refresh_token),
                Err(_) => {
                    return Err(EngineError::unauthorized(format!(
                        "Get \"{ping}\": unauthorized: incorrect username or password"
                    )))
                }
            }
        }
    };
    let resp = c.raw(
        Method::GET,
        &ping,
        &[("authorization", auth.as_str())],
        Body::Empty,
    )?;
    if resp.status() != StatusCode::OK {
        return Err(failed(&ping, resp.status()));
    }
    Ok(identity)
}

/// dockerd's words when `/v2/` does not answer 200 to a login.
fn failed(ping: &str, status: StatusCode) -> EngineError {
    registry_error(format!(
        "login attempt to {ping} failed with status: {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain("localhost:5000"), "localhost:5000");
        assert_eq!(login_domain("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn failures_in_dockers_words() {
        assert_eq!(
            failed("http://127.0.0.1:5000/v2/", StatusCode::UNAUTHORIZED).to_string(),
            "login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized"
        );
    }
}
