//! `docker system df`: what images, containers and volumes hold on disk, in dockerd's shapes
//! (`GET /system/df`). berth has no build cache, so that part is always empty. Sizes are
//! measured at each call, as dockerd does: layer sizes from each layer's record, container
//! sizes from their upper dirs, volume sizes from their data dirs.

use super::containers::list::ListOptions;
use super::images::store::hex_of;
use super::images::views;
use super::sizes::dir_size;
use super::{Engine, EngineError, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Which parts a request asks for (`type=` of API 1.42; all of them without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub images: bool,
    pub containers: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        images: true,
        containers: true,
        volumes: true,
        build_cache: true,
    };

    /// The `type` values of a request; none means every part. An unknown type is refused in
    /// dockerd's words.
    pub fn from_types(types: &[String]) -> Result<Parts> {
        if types.is_empty() {
            return Ok(Parts::ALL);
        }
        let mut p = Parts {
            images: false,
            containers: false,
            volumes: false,
            build_cache: false,
        };
        for t in types {
            match t.as_str() {
                "image" => p.images = true,
                "container" => p.containers = true,
                "volume" => p.volumes = true,
                "build-cache" => p.build_cache = true,
                other => {
                    return Err(EngineError::invalid_parameter(format!(
                        "unknown object type: {other}"
                    )))
                }
            }
        }
        Ok(p)
    }
}

impl Engine {
    /// The body of `GET /system/df`. As dockerd (API < 1.52): a part not asked for is left
    /// out; `LayersSize` is left out when it is 0; `BuildCache` is `[]` when asked for.
    pub fn disk_usage(&self, parts: Parts) -> Result<Value> {
        let mut out = serde_json::Map::new();
        if parts.images {
            let (layers_size, images) = self.image_usage()?;
            if layers_size > 0 {
                out.insert("LayersSize".into(), json!(layers_size));
            }
            out.insert("Images".into(), Value::Array(images));
        }
        if parts.containers {
            let opts = ListOptions {
                all: true,
                size: true,
                ..ListOptions::default()
            };
            let raw = self.list_containers_json(&opts)?;
            let containers: Value = serde_json::from_slice(&raw)
                .map_err(|e| EngineError::system("container list", e))?;
            out.insert("Containers".into(), containers);
        }
        if parts.volumes {
            out.insert("Volumes".into(), Value::Array(self.volume_usage()));
        }
        if parts.build_cache {
            out.insert("BuildCache".into(), json!([]));
        }
        Ok(Value::Object(out))
    }

    /// The total of distinct layers, and each image's summary with `SharedSize` (its layers
    /// that another image also uses) and `Containers` (the containers made from it).
    fn image_usage(&self) -> Result<(u64, Vec<Value>)> {
        let images = self.images()?;
        let store = self.store();
        let mut layer_size = BTreeMap::new();
        let mut layer_users: BTreeMap<String, usize> = BTreeMap::new();
        for img in &images {
            let distinct: BTreeSet<&String> = img.diff_ids.iter().collect();
            for d in distinct {
                *layer_users.entry(d.clone()).or_default() += 1;
                if !layer_size.contains_key(d) {
                    let size = store.layer_meta(hex_of(d))?.map_or(0, |m| m.size);
                    layer_size.insert(d.clone(), size);
                }
            }
        }
        let mut users: BTreeMap<String, i64> = BTreeMap::new();
        for entry in self.list_containers(&ListOptions {
            all: true,
            ..ListOptions::default()
        })? {
            *users.entry(entry.image_id).or_default() += 1;
        }
        let summaries = images
            .iter()
            .map(|img| {
                let distinct: BTreeSet<&String> = img.diff_ids.iter().collect();
                let shared: u64 = distinct
                    .into_iter()
                    .filter(|d| layer_users.get(*d).copied().unwrap_or(0) > 1)
                    .map(|d| layer_size.get(d).copied().unwrap_or(0))
                    .sum();
                let mut v = views::summary(img);
                v["SharedSize"] = json!(shared);
                v["Containers"] = json!(users.get(&img.id).copied().unwrap_or(0));
                v
            })
            .collect();
        Ok((layer_size.values().sum(), summaries))
    }

    /// Each volume with its `UsageData`: bytes under its data dir and how many containers
    /// use it.
    fn volume_usage(&self) -> Vec<Value> {
        let mut users: BTreeMap<String, i64> = BTreeMap::new();
        for id in self.container_ids() {
            if let Ok(r) = self.record(&id) {
                for m in r.mount_points.iter().filter(|m| m.kind == "volume") {
                    *users.entry(m.name.clone()).or_default() += 1;
                }
            }
        }
        self.volumes()
            .iter()
            .map(|v| {
                let mut j = self.volume_json(v);
                j["UsageData"] = json!({
                    "Size": dir_size(&self.volume_data(&v.name)),
                    "RefCount": users.get(&v.name).copied().unwrap_or(0),
                });
                j
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ErrorKind;

    #[test]
    fn types_select_parts() {
        assert_eq!(Parts::from_types(&[]).unwrap(), Parts::ALL);
        let p = Parts::from_types(&["image".into(), "volume".into()]).unwrap();
        assert!(p.images && p.volumes && !p.containers && !p.build_cache);
        let e = Parts::from_types(&["images".into()]).unwrap_err();
        assert!(e.is(ErrorKind::InvalidParameter), "{e}");
        assert_eq!(e.to_string(), "unknown object type: images");
    }

    #[test]
    fn an_empty_root_has_empty_parts() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Engine::new(berth_shim::Paths::new(
            tmp.path().join("root"),
            tmp.path().join("run"),
        ));
        assert_eq!(
            e.disk_usage(Parts::ALL).unwrap(),
            json!({"Images": [], "Containers": [], "Volumes": [], "BuildCache": []})
        );
    }
}
