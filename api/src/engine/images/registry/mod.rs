//! The registry v2 protocol (distribution): pull and push of Docker schema2 and OCI images,
//! manifest lists and OCI indexes, bearer and basic auth.
//!
//! A small blocking client on `ureq` rather than a registry crate: the engine works on blocking
//! threads, and `oci-client` (the maintained crate) brings reqwest and an async stack and does
//! not report per-chunk progress on push, which the docker CLI's bars need. TLS is rustls.
//!
//! Plain HTTP, as dockerd allows it: registries on loopback (`localhost`, 127.0.0.0/8, ::1) are
//! spoken to over HTTP; any other host only over HTTPS unless it is listed in
//! `BERTH_INSECURE_REGISTRIES` (comma-separated `host[:port]`), dockerd's insecure-registries.

mod client;
pub mod distribution;
mod login;
mod pull;
mod push;

pub use client::{Client, Credentials};
pub use login::{login, login_domain};

use super::reference::Reference;
use crate::engine::{EngineError, Result};

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Where a reference's repository lives: base URL and the repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// "http://127.0.0.1:5000" or "https://registry-1.docker.io"
    pub base: String,
    /// "library/busybox"
    pub repository: String,
    /// "127.0.0.1:5000", "docker.io": the key of blob sources and of credentials.
    pub domain: String,
    /// The longest wait for a byte from the registry (or for room to send one).
    pub read_timeout: std::time::Duration,
}

/// How berth speaks to registries (part of the engine's settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Registries (`host:port`) spoken to over plain HTTP (`BERTH_INSECURE_REGISTRIES`).
    pub insecure: Vec<String>,
    /// A registry silent for this long (no byte of an answer, or no room to send) fails the
    /// pull, push or login (`BERTH_REGISTRY_READ_TIMEOUT`, seconds).
    pub read_timeout: std::time::Duration,
}

/// The read timeout without `BERTH_REGISTRY_READ_TIMEOUT`.
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for RegistrySettings {
    fn default() -> RegistrySettings {
        RegistrySettings {
            insecure: Vec::new(),
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

/// Whether a registry host (with or without port) is on this machine's loopback.
pub fn is_loopback(domain: &str) -> bool {
    let host = match domain.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => domain.rsplit_once(':').map_or(domain, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                domain
            }
        }),
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The base URL of the registry `domain` ("docker.io" is Docker Hub's registry host): plain
/// HTTP on loopback and for the `insecure` list, HTTPS otherwise.
pub fn base_url(domain: &str, insecure: &[String]) -> String {
    let host = if domain == super::reference::DEFAULT_DOMAIN {
        "registry-1.docker.io"
    } else {
        domain
    };
    let plain = is_loopback(domain) || insecure.iter().any(|h| h == domain);
    let scheme = if plain { "http" } else { "https" };
    format!("{scheme}://{host}")
}

impl Endpoint {
    /// The endpoint of `r`'s registry; plain HTTP for loopback and the `insecure` ones.
    pub fn of(r: &Reference, settings: &RegistrySettings) -> Result<Endpoint> {
        Ok(Endpoint {
            base: base_url(&r.domain, &settings.insecure),
            repository: r.path.clone(),
            domain: r.domain.clone(),
            read_timeout: settings.read_timeout,
        })
    }

    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }
}

/// dockerd's short layer id in progress lines: 12 hex digits of the digest.
pub fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex[..hex.len().min(12)].to_string()
}

/// dockerd's progress bar text: "[=====>      ]  1.2MB/3.4MB".
pub fn progress_text(current: u64, total: u64) -> String {
    let width = 50usize;
    let bar = if total > 0 {
        let done = ((current.min(total) as u128 * width as u128) / total as u128) as usize;
        let mut b = "=".repeat(done);
        if done < width {
            b.push('>');
            b.push_str(&" ".repeat(width - done - 1));
        }
        format!("[{b}] ")
    } else {
        String::new()
    };
    format!("{bar}{}/{}", human(current), human(total))
}

fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[i])
    }
}

pub(crate) fn registry_error(what: impl std::fmt::Display) -> EngineError {
    EngineError::system_message(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_plain_http() {
        let r = |s: &str| Reference::parse(s).unwrap();
        let none = RegistrySettings::default();
        let e = Endpoint::of(&r("busybox"), &none).unwrap();
        assert_eq!(e.read_timeout, DEFAULT_READ_TIMEOUT);
        assert_eq!(e.base, "https://registry-1.docker.io");
        assert_eq!(e.repository, "library/busybox");
        let e = Endpoint::of(&r("localhost:5000/a/b:1"), &none).unwrap();
        assert_eq!(e.base, "http://localhost:5000");
        assert_eq!(
            e.url("manifests/1"),
            "http://localhost:5000/v2/a/b/manifests/1"
        );
        assert_eq!(
            Endpoint::of(&r("127.0.0.2:80/x"), &none).unwrap().base,
            "http://127.0.0.2:80"
        );
        assert_eq!(
            Endpoint::of(&r("reg.example:5000/x"), &none).unwrap().base,
            "https://reg.example:5000"
        );
        assert_eq!(
            Endpoint::of(
                &r("reg.example:5000/x"),
                &RegistrySettings {
                    insecure: vec!["other".into(), "reg.example:5000".into()],
                    ..RegistrySettings::default()
                }
            )
            .unwrap()
            .base,
            "http://reg.example:5000"
        );
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn progress_texts() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1_500_000), "1.5MB");
        assert!(progress_text(1, 2).starts_with("[=========================>"));
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
