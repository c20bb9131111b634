//! dockerd's views of images: the summary of `GET /images/json` with its list filters, the
//! inspect and the history.

use super::{created_unix, Image};
use crate::engine::filters::{glob, labels_match, Filters};
use crate::engine::{Engine, EngineError, Result};
use serde_json::{json, Value};

/// dockerd's image summary (`GET /images/json`).
pub fn summary(img: &Image) -> Value {
    json!({
        "Id": img.id,
        "ParentId": img.parent,
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Created": created_unix(&img.created),
        "Size": img.size,
        "SharedSize": -1,
        "Labels": img.config.labels.clone().unwrap_or_default(),
        "Containers": -1,
    })
}

/// dockerd's image inspect (`GET /images/{name}/json`).
pub fn inspect(img: &Image) -> Value {
    let mut data = serde_json::Map::new();
    if let Some((top, lower)) = img.layers.split_last() {
        data.insert("UpperDir".into(), json!(top));
        if !lower.is_empty() {
            let l: Vec<String> = lower
                .iter()
                .rev()
                .map(|p| p.display().to_string())
                .collect();
            data.insert("LowerDir".into(), json!(l.join(":")));
        }
    }
    let mut v = json!({
        "Id": img.id,
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Parent": img.parent,
        "Comment": img.comment,
        "Created": img.created,
        "DockerVersion": "",
        "Author": img.author,
        "Config": img.config,
        "Architecture": img.architecture,
        "Os": img.os,
        "Size": img.size,
        "GraphDriver": {"Name": "overlay2", "Data": data},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    if !img.variant.is_empty() {
        v["Variant"] = json!(img.variant);
    }
    v
}

/// `GET /images/{name}/history`: newest first, as dockerd lists it, each entry that made a
/// layer (not `empty_layer`) with that layer's size, in the order of the layers.
pub fn history(img: &Image) -> Value {
    let mut sizes = img.layer_sizes.iter();
    let sized: Vec<u64> = img
        .history
        .iter()
        .map(|h| {
            let empty = h.get("empty_layer").and_then(Value::as_bool) == Some(true);
            if empty {
                0
            } else {
                sizes.next().copied().unwrap_or(0)
            }
        })
        .collect();
    let mut out = Vec::new();
    for (i, h) in img.history.iter().enumerate().rev() {
        out.push(json!({
            "Id": if i + 1 == img.history.len() { img.id.as_str() } else { "<missing>" },
            "Created": created_unix(h.get("created").and_then(Value::as_str).unwrap_or("")),
            "CreatedBy": h.get("created_by").and_then(Value::as_str).unwrap_or(""),
            "Tags": if i + 1 == img.history.len() { json!(img.repo_tags) } else { Value::Null },
            "Size": sized[i],
            "Comment": h.get("comment").and_then(Value::as_str).unwrap_or(""),
        }));
    }
    json!(out)
}

/// `filters` of `GET /images/json`: reference (with '*' globs) and label. `dangling` is read
/// with the image tree, in [`listed`].
fn keep(img: &Image, filters: &Filters) -> bool {
    if let Some(pats) = filters.get("reference") {
        let hit = img.repo_tags.iter().any(|t| tag_matches(pats, t));
        if !hit {
            return false;
        }
    }
    if let Some(labels) = filters.get("label") {
        let have = img.config.labels.clone().unwrap_or_default();
        if !labels_match(&have, labels) {
            return false;
        }
    }
    true
}

/// Which images a listing shows, as dockerd's (daemon/images/images.go): an image with no
/// name (no tag, no digest) that another image was built on (a build's intermediate step, a
/// commit's parent) only with `all`; `dangling=true` only the images with no name and no
/// child, `dangling=false` only the named ones.
pub(crate) fn listed(imgs: &[Image], all: bool, dangling: Option<bool>) -> Vec<&Image> {
    let parents: std::collections::BTreeSet<&str> =
        imgs.iter().map(|i| i.parent.as_str()).collect();
    imgs.iter()
        .filter(|i| {
            let has_child = parents.contains(i.id.as_str());
            let unnamed = i.repo_tags.is_empty() && i.repo_digests.is_empty();
            match dangling {
                Some(true) => !has_child && i.repo_tags.is_empty(),
                Some(false) => !unnamed,
                None => !unnamed || all || !has_child,
            }
        })
        .collect()
}

/// The `dangling` filter: "true"/"1" or "false"/"0"; anything else is refused as dockerd does.
fn dangling_filter(filters: &Filters) -> Result<Option<bool>> {
    let Some(vals) = filters.get("dangling") else {
        return Ok(None);
    };
    let mut want = None;
    for v in vals {
        want = Some(match v.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(EngineError::invalid_parameter(format!(
                    "Invalid filter 'dangling=[{}]'",
                    vals.join(" ")
                )))
            }
        });
    }
    Ok(want)
}

/// A `reference` filter against "repo:tag": the whole or the repository part.
fn tag_matches(pats: &[String], tag: &str) -> bool {
    let repo = tag.rsplit_once(':').map_or(tag, |(r, _)| r);
    pats.iter().any(|p| glob(p, tag) || glob(p, repo))
}

/// The filter keys of `GET /images/json`.
const LIST_FILTERS: [&str; 6] = ["before", "dangling", "label", "reference", "since", "until"];

/// The chain id of each layer prefix of an image (dockerd shares layers by chain id: the same
/// diff on the same parents).
fn chain_ids(img: &Image) -> Vec<String> {
    let mut chain = String::new();
    img.diff_ids
        .iter()
        .map(|d| {
            chain = if chain.is_empty() {
                d.clone()
            } else {
                format!(
                    "sha256:{}",
                    super::store::sha256_hex(format!("{chain} {d}").as_bytes())
                )
            };
            chain.clone()
        })
        .collect()
}

/// `shared-size`: for each image, the bytes of its layers that another image also has.
fn shared_sizes(all: &[Image]) -> std::collections::BTreeMap<String, u64> {
    let mut refs: std::collections::BTreeMap<String, usize> = Default::default();
    for img in all {
        for c in chain_ids(img) {
            *refs.entry(c).or_default() += 1;
        }
    }
    all.iter()
        .map(|img| {
            let shared = chain_ids(img)
                .iter()
                .zip(&img.layer_sizes)
                .filter(|(c, _)| refs.get(*c).copied().unwrap_or(0) > 1)
                .map(|(_, n)| *n)
                .sum();
            (img.id.clone(), shared)
        })
        .collect()
}

/// The `until` filter: a timestamp or a duration before now; images created before it are
/// kept. Several values keep the earliest, as dockerd.
fn until_bound(filters: &Filters) -> Result<Option<i64>> {
    let mut bound: Option<i64> = None;
    for v in filters.get("until").into_iter().flatten() {
        let t = crate::engine::time::parse_until(v).ok_or_else(|| {
            EngineError::invalid_parameter(format!(
                "invalid value for 'until' filter: failed to parse value as time or duration: \
                 {v:?}"
            ))
        })?;
        bound = Some(bound.map_or(t, |b| b.min(t)));
    }
    Ok(bound)
}

impl Engine {
    /// The images `docker images` shows, newest first; with `all` the unnamed parents too.
    pub fn listed_images(&self, all: bool) -> Result<Vec<Image>> {
        let imgs = self.images()?;
        Ok(listed(&imgs, all, None).into_iter().cloned().collect())
    }

    /// `GET /images/json`: the summaries of the images that pass `filters`; `all`: with the
    /// unnamed parents of other images (see [`listed`]). `shared_size`: SharedSize counted (API 1.42's `shared-size`); -1 otherwise. `digests` is
    /// not read: RepoDigests is always shown, as dockerd shows it.
    pub fn images_json(
        &self,
        filters: &Filters,
        all: bool,
        shared_size: bool,
    ) -> Result<Vec<Value>> {
        if let Some(k) = filters.keys().find(|k| !LIST_FILTERS.contains(&k.as_str())) {
            return Err(EngineError::invalid_parameter(format!(
                "invalid filter '{k}'"
            )));
        }
        // before/since name an image: keep those created strictly before/after it.
        let mut bounds = (None, None);
        for (key, slot) in [("before", &mut bounds.0), ("since", &mut bounds.1)] {
            if let Some(name) = filters.get(key).and_then(|v| v.last()) {
                *slot = Some(created_unix(&self.image(name)?.created));
            }
        }
        let until = until_bound(filters)?;
        let dangling = dangling_filter(filters)?;
        let imgs = self.images()?;
        let shared = shared_size.then(|| shared_sizes(&imgs));
        Ok(listed(&imgs, all, dangling)
            .into_iter()
            .filter(|i| keep(i, filters))
            .filter(|i| bounds.0.is_none_or(|b| created_unix(&i.created) < b))
            .filter(|i| bounds.1.is_none_or(|s| created_unix(&i.created) > s))
            .filter(|i| until.is_none_or(|u| created_unix(&i.created) < u))
            .map(|i| {
                let mut v = summary(i);
                if let Some(n) = shared.as_ref().and_then(|m| m.get(&i.id)) {
                    v["SharedSize"] = json!(n);
                }
                // As dockerd: with a reference filter, only the matching tags are shown.
                if let Some(pats) = filters.get("reference") {
                    let tags: Vec<&String> = i
                        .repo_tags
                        .iter()
                        .filter(|t| tag_matches(pats, t))
                        .collect();
                    v["RepoTags"] = json!(tags);
                }
                v
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_globs() {
        assert!(glob("bu*", "busybox"));
        assert!(glob("*:latest", "busybox:latest"));
        assert!(glob("bu*x", "busybox"));
        assert!(!glob("bu*z", "busybox"));
        assert!(!glob("busy", "busybox"));
    }
}
