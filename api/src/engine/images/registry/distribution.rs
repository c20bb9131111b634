//! `GET /distribution/{name}/json`: what the registry holds under a reference, without pulling
//! it: the manifest's descriptor, and the platforms it serves (each entry of a list or index;
//! for a single manifest, the os and architecture of its config blob), as dockerd answers.

use super::client::{read_small, Body, Client, Credentials};
use super::pull::fetch_manifest;
use super::{registry_error, Endpoint, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX};
use crate::engine::images::reference::Reference;
use crate::engine::images::store::sha256_hex;
use crate::engine::{EngineError, Result};
use serde_json::{json, Map, Value};
use ureq::http::Method;

/// The platform fields of an OCI platform object, as dockerd shows them (empty ones left out).
const PLATFORM_FIELDS: [&str; 5] = ["architecture", "os", "os.version", "os.features", "variant"];

fn platform_of(v: &Value) -> Value {
    let mut p = Map::new();
    for k in PLATFORM_FIELDS {
        match v.get(k) {
            Some(Value::String(s)) if !s.is_empty() => {
                p.insert(k.into(), json!(s));
            }
            Some(Value::Array(a)) if !a.is_empty() => {
                p.insert(k.into(), json!(a));
            }
            _ => {}
        }
    }
    Value::Object(p)
}

/// The body of `GET /distribution/{name}/json` for `reference`.
pub fn inspect(
    reference: &str,
    creds: Option<Credentials>,
    settings: &super::RegistrySettings,
) -> Result<Value> {
    check_name(reference)?;
    let r = Reference::parse(reference)?.with_default_tag();
    let ep = Endpoint::of(&r, settings)?;
    let mut c = Client::connect(ep, creds, "pull")?;
    let wanted = r.digest.clone().or(r.tag.clone()).unwrap_or_default();
    let (bytes, header_media) = fetch_manifest(&mut c, &r, &wanted)?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| registry_error(format!("manifest of {}: {e}", r.familiar())))?;
    let media = match manifest.get("mediaType").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => header_media,
    };
    let digest = match &r.digest {
        Some(d) => d.clone(),
        None => format!("sha256:{}", sha256_hex(&bytes)),
    };
    let platforms: Vec<Value> = if media == MEDIA_DOCKER_LIST || media == MEDIA_OCI_INDEX {
        manifest["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| platform_of(&d["platform"]))
            .collect()
    } else {
        config_platform(&mut c, &manifest).into_iter().collect()
    };
    Ok(json!({
        "Descriptor": {"mediaType": media, "digest": digest, "size": bytes.len()},
        "Platforms": if platforms.is_empty() { Value::Null } else { json!(platforms) },
    }))
}

/// The platform in a single manifest's config blob; None when the blob cannot be read or names
/// no platform (dockerd then shows none either).
fn config_platform(c: &mut Client, manifest: &Value) -> Option<Value> {
    let digest = manifest["config"]["digest"].as_str()?;
    let url = c.ep.url(&format!("blobs/{digest}"));
    let mut resp = c.send(Method::GET, &url, &[], Body::Empty, &[]).ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let config: Value = serde_json::from_slice(&read_small(&mut resp, "config").ok()?).ok()?;
    let p = platform_of(&config);
    p.as_object()
        .is_some_and(|m| m.contains_key("os") || m.contains_key("architecture"))
        .then_some(p)
}

/// A name dockerd refuses before it asks any registry: a bare image id.
fn check_name(name: &str) -> Result<()> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EngineError::system_message(
            "no manifest found for full image ID".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_keep_the_fields_set() {
        assert_eq!(
            platform_of(
                &json!({"architecture": "arm", "os": "linux", "variant": "v7",
                                "os.version": "", "features": ["x"]})
            ),
            json!({"architecture": "arm", "os": "linux", "variant": "v7"})
        );
    }

    #[test]
    fn full_ids_are_refused() {
        let id = "a".repeat(64);
        assert_eq!(
            check_name(&id).unwrap_err().to_string(),
            "no manifest found for full image ID"
        );
        assert!(check_name("busybox:latest").is_ok());
    }
}
