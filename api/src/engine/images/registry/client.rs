//! One repository's registry session: the auth challenge answered once up front (a ping of
//! `/v2/`, as dockerd does), then every request carries the same Authorization header. A 401
//! later (a blob mount that needs pull on another repository) fetches a wider token and retries.

use super::{registry_error, Endpoint};
use crate::engine::{EngineError, Result};
use base64::Engine as _;
use std::io::Read;
use std::time::Duration;
use ureq::http::{Method, Request, Response};

/// `X-Registry-Auth`: base64 (URL-safe or standard) JSON {username, password, serveraddress,
/// identitytoken}.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

impl Credentials {
    /// None when the header is absent, empty, or carries no credentials ("e30=" is `{}`).
    pub fn from_header(h: &str) -> Option<Credentials> {
        let h = h.trim();
        if h.is_empty() {
            return None;
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let raw = engines.iter().find_map(|e| e.decode(h).ok())?;
        let c: Credentials = serde_json::from_slice(&raw).ok()?;
        (!c.username.is_empty() || !c.identity_token.is_empty() || !c.registry_token.is_empty())
            .then_some(c)
    }
}

/// A request body.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A reader of exactly this many bytes.
    Reader(&'a mut dyn Read, u64),
}

pub struct Client {
    pub(super) agent: ureq::Agent,
    pub ep: Endpoint,
    pub(super) creds: Option<Credentials>,
    /// The Authorization header value in force.
    auth: Option<String>,
    /// The challenge of `/v2/` (for wider tokens later).
    challenge: Option<Challenge>,
    actions: &'static str,
}

/// A token server's answer.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Token {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    access_token: String,
    /// Given when asked for offline access: dockerd's login hands it back as `IdentityToken`.
    #[serde(default)]
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Bearer { realm: String, service: String },
}

/// Parse `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (or Basic).
pub(super) fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = String::new();
    let mut service = String::new();
    let mut s = rest;
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let k = k.trim().trim_start_matches(',').trim();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match k {
            "realm" => realm = v.to_string(),
            "service" => service = v.to_string(),
            _ => {}
        }
        s = next.trim_start_matches(',').trim_start();
    }
    (!realm.is_empty()).then_some(Challenge::Bearer { realm, service })
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    /// A session for `ep` with `actions` ("pull" or "pull,push"); authenticates at once.
    pub fn connect(
        ep: Endpoint,
        creds: Option<Credentials>,
        actions: &'static str,
    ) -> Result<Client> {
        let mut c = Client::unauthenticated(ep, creds, actions);
        let ping = format!("{}/v2/", c.ep.base);
        let resp = c.raw(Method::GET, &ping, &[], Body::Empty)?;
        if resp.status() == 401 {
            let h = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            c.challenge = parse_challenge(h);
            // Basic auth without credentials is refused at the first real request, whose
            // method and URL dockerd's words name.
            if c.challenge != Some(Challenge::Basic) || c.creds.is_some() {
                let scopes = vec![format!("repository:{}:{}", c.ep.repository, c.actions)];
                c.authorize(&scopes, (&Method::GET, &ping))?;
            }
        } else if !resp.status().is_success() {
            return Err(registry_error(format!(
                "{ping}: the registry answered {}",
                resp.status()
            )));
        }
        Ok(c)
    }

    /// A session that has not met the registry yet (no request made).
    pub(super) fn unauthenticated(
        ep: Endpoint,
        creds: Option<Credentials>,
        actions: &'static str,
    ) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(ep.read_timeout))
            .timeout_per_write(Some(ep.read_timeout))
            .build()
            .into();
        Client {
            agent,
            ep,
            creds,
            auth: None,
            challenge: None,
            actions,
        }
    }

    /// Set the Authorization header for `scopes` as the challenge asks; `request` (method and
    /// URL) words the refusal when a basic challenge finds no credentials.
    fn authorize(&mut self, scopes: &[String], request: (&Method, &str)) -> Result<()> {
        match self.challenge.clone() {
            None => Ok(()),
            Some(Challenge::Basic) => match &self.creds {
                Some(c) => {
                    let b = base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", c.username, c.password));
                    self.auth = Some(format!("Basic {b}"));
                    Ok(())
                }
                None => Err(no_basic_auth_credentials(request.0, request.1)),
            },
            Some(Challenge::Bearer { realm, service }) => {
                if let Some(t) = self
                    .creds
                    .as_ref()
                    .map(|c| &c.registry_token)
                    .filter(|t| !t.is_empty())
                {
                    self.auth = Some(format!("Bearer {t}"));
                    return Ok(());
                }
                match self.fetch_token(&realm, &service, scopes, false)? {
                    Ok(t) => self.auth = Some(format!("Bearer {}", t.token)),
                    Err(url) => {
                        return Err(EngineError::forbidden(format!(
                            "Get \"{url}\": unauthorized: incorrect username or password"
                        )))
                    }
                }
                Ok(())
            }
        }
    }

    /// A token from the token server `realm` for `scopes`, asked with the session's
    /// credentials (a refresh token given as `identitytoken` is sent as one). `offline` asks
    /// for a refresh token too, as dockerd's login does. Err(url) when the server refused the
    /// credentials.
    pub(super) fn fetch_token(
        &self,
        realm: &str,
        service: &str,
        scopes: &[String],
        offline: bool,
    ) -> Result<std::result::Result<Token, String>> {
        let mut url = format!("{realm}?service={}", enc(service));
        for s in scopes {
            url.push_str(&format!("&scope={}", enc(s)));
        }
        if offline {
            url.push_str("&offline_token=true&client_id=docker");
        }
        let mut headers = Vec::new();
        if let Some(c) = &self.creds {
            if !c.username.is_empty() {
                let b = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password));
                headers.push(("authorization", format!("Basic {b}")));
            }
        }
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut resp = self.raw(Method::GET, &url, &hdrs, Body::Empty)?;
        if resp.status() == 401 || resp.status() == 403 {
            return Ok(Err(url));
        }
        if !resp.status().is_success() {
            return Err(registry_error(format!(
                "token from {realm}: {}",
                resp.status()
            )));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| registry_error(format!("token from {realm}: {e}")))?;
        let mut t: Token = serde_json::from_slice(&body)
            .map_err(|e| registry_error(format!("token from {realm}: {e}")))?;
        if t.token.is_empty() {
            t.token = std::mem::take(&mut t.access_token);
        }
        Ok(Ok(t))
    }

    pub(super) fn raw(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let mut b = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let err = |e: ureq::Error| match e {
            ureq::Error::Io(io) => registry_error(format!("{method} {url}: {io}")),
            ureq::Error::Timeout(_) => registry_error(format!(
                "{method} {url}: the registry sent nothing for {:?} (BERTH_REGISTRY_READ_TIMEOUT)",
                self.ep.read_timeout
            )),
            other => registry_error(format!("{method} {url}: {other}")),
        };
        match body {
            Body::Empty => {
                let req = b
                    .body(())
                    .map_err(|e| registry_error(format!("{url}: {e}")))?;
                self.agent.run(req).map_err(err)
            }
            Body::Bytes(bytes) => {
                let req = b
                    .header("content-length", bytes.len().to_string())
                    .body(bytes)
                    .map_err(|e| registry_error(format!("{url}: {e}")))?;
                self.agent.run(req).map_err(err)
            }
            Body::Reader(r, len) => {
                let req = b
                    .header("content-length", len.to_string())
                    .body(ureq::SendBody::from_reader(r))
                    .map_err(|e| registry_error(format!("{url}: {e}")))?;
                self.agent.run(req).map_err(err)
            }
        }
    }

    /// A request with the session's auth. A 401 on a request without a body gets one retry
    /// with a token for `extra_scopes` too.
    pub fn send(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        extra_scopes: &[String],
    ) -> Result<Response<ureq::Body>> {
        let retry = matches!(body, Body::Empty | Body::Bytes(_));
        let bytes = match &body {
            Body::Bytes(b) => Some(*b),
            _ => None,
        };
        let resp = self.send_once(method.clone(), url, headers, body)?;
        if resp.status() != 401 || !retry || self.challenge.is_none() {
            return Ok(resp);
        }
        let mut scopes = vec![format!(
            "repository:{}:{}",
            self.ep.repository, self.actions
        )];
        scopes.extend(extra_scopes.iter().cloned());
        self.authorize(&scopes, (&method, url))?;
        let body = match bytes {
            Some(b) => Body::Bytes(b),
            None => Body::Empty,
        };
        self.send_once(method, url, headers, body)
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &self.auth {
            all.push(("authorization", a.as_str()));
        }
        self.raw(method, url, &all, body)
    }

    /// Make a `Location` (absolute or relative) a URL.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.ep.base)
        }
    }
}

/// dockerd's words and status (500, Go's url.Error around the distribution client's error) for
/// a registry asking for basic auth when no credentials were given: `Head
/// "http://r/v2/x/manifests/1": no basic auth credentials`.
fn no_basic_auth_credentials(method: &Method, url: &str) -> EngineError {
    let mut m = method.as_str().chars();
    let op: String = m
        .next()
        .into_iter()
        .chain(m.flat_map(char::to_lowercase))
        .collect();
    EngineError::system_message(format!("{op} {url:?}: no basic auth credentials"))
}

/// dockerd's wording when a registry refuses us.
pub fn denied(ep: &Endpoint) -> EngineError {
    EngineError::not_found(format!(
        "pull access denied for {}, repository does not exist or may require 'docker login'",
        ep.repository
    ))
}

/// Read a JSON-sized body (bounded).
pub fn read_small(resp: &mut Response<ureq::Body>, what: &str) -> Result<Vec<u8>> {
    resp.body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .map_err(|e| registry_error(format!("{what}: {e}")))
}

/// The registry's error message from a JSON error body, or the status.
pub fn error_text(resp: &mut Response<ureq::Body>) -> String {
    let status = resp.status();
    let body = read_small(resp, "error").unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    match serde_json::from_slice::<E>(&body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|x| {
                let code = x["code"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
                    .replace('_', " ");
                let msg = x["message"].as_str().unwrap_or("");
                format!("{code}: {msg}")
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => format!("the registry answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: "registry.docker.io".into()
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn auth_headers() {
        let json = r#"{"username":"u","password":"p?>","serveraddress":"localhost:5000"}"#;
        let url = base64::engine::general_purpose::URL_SAFE.encode(json);
        let c = Credentials::from_header(&url).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p?>"));
        let std = base64::engine::general_purpose::STANDARD.encode(json);
        assert_eq!(Credentials::from_header(&std), Some(c));
        assert_eq!(Credentials::from_header("e30="), None);
        assert_eq!(Credentials::from_header(""), None);
    }
}
