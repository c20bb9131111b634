//! `docker commit`: a container's upper dir becomes a new layer on top of its image's layers; the
//! new image's config is the container's Config (already merged with the image's at create) with
//! `changes` applied, and a history entry with the author and comment.

use super::changes;
use super::import::NewLayer;
use super::pack::pack_layer;
use super::reference::Reference;
use super::store::hex_of;
use super::ImageConfig;
use crate::engine::layers::Stack;
use crate::engine::wire::StringOrList;
use crate::engine::{Engine, EngineError, Result};
use std::io::Write;

/// `POST /commit`, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitOptions {
    pub container: String,
    /// "repo[:tag]" or None for a dangling image.
    pub repo_tag: Option<String>,
    pub comment: String,
    pub author: String,
    /// Freeze a running container while its upper dir is read (the default, as in dockerd).
    pub pause: bool,
    pub changes: Vec<String>,
    /// The body of `POST /commit` (docker-py's `conf=`): the config for the image, changes
    /// applied to it, then what it leaves unset taken from the container's, as dockerd merges.
    pub config: Option<crate::engine::wire::DockerConfig>,
}

/// Unpauses on drop: a commit that fails half way never leaves the container frozen.
struct Paused<'a> {
    engine: &'a Engine,
    id: String,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        berth_shim::cleanup::cleanup(
            format!("unpausing {} after its commit", self.id),
            self.engine.unpause(&self.id),
        );
    }
}

impl Engine {
    /// Commit the container; returns the new image id.
    pub fn commit(&self, opts: &CommitOptions) -> Result<String> {
        let tag = opts
            .repo_tag
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| Reference::parse(s).map(Reference::with_default_tag))
            .transpose()?;
        if tag.as_ref().is_some_and(|t| t.digest.is_some()) {
            return Err(EngineError::invalid_parameter(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let id = self.lookup(&opts.container)?;
        let record = self.record(&id)?;
        let stack = self.container_stack(&id)?;
        let parent = self.container_image(&record.image_id)?;
        let parent_file: serde_json::Value = {
            let rec = self
                .store()
                .read_record_or_retired(hex_of(&parent.id))?
                .ok_or_else(|| EngineError::not_found(format!("No such image: {}", parent.id)))?;
            serde_json::from_str(rec.config.get())
                .map_err(|e| EngineError::system(format!("image {}", parent.id), e))?
        };
        let mut config = image_config(opts.config.as_ref().unwrap_or(&record.config));
        changes::apply(&mut config, &opts.changes)?;
        if opts.config.is_some() {
            merge(&mut config, image_config(&record.config));
        }

        // The layer: the upper dir packed to a temp file (the container frozen meanwhile when
        // asked), then unpacked like any other layer, which keeps the tar as its blob.
        let store = self.store();
        let tmp = store.tmp_dir()?;
        let tar_path = tmp.path.join("layer.tar");
        {
            let _paused = if opts.pause && self.state(&id)?.status.can_pause() {
                self.pause(&id)?;
                Some(Paused {
                    engine: self,
                    id: id.to_string(),
                })
            } else {
                None
            };
            let f = std::fs::File::create(&tar_path)
                .map_err(|e| EngineError::system(tar_path.display(), e))?;
            pack_layer_skipping(&stack, std::io::BufWriter::new(f))
                .map_err(|e| EngineError::system(format!("committing container {id}"), e))?;
        }
        let (layer_tmp, unpacked) = self.unpack_aside_file(&tar_path, None)?;
        drop(tmp);

        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let mut file = parent_file;
        let created_by = std::iter::once(record.path.clone())
            .chain(record.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut history = file
            .get("history")
            .and_then(|h| h.as_array().cloned())
            .unwrap_or_default();
        let mut entry = serde_json::json!({"created": now, "created_by": created_by});
        if !opts.author.is_empty() {
            entry["author"] = opts.author.clone().into();
        }
        if !opts.comment.is_empty() {
            entry["comment"] = opts.comment.clone().into();
        }
        history.push(entry);
        let mut diff_ids = parent.diff_ids.clone();
        diff_ids.push(unpacked.diff_id.clone());
        file["created"] = now.into();
        file["author"] = opts.author.clone().into();
        file["comment"] = opts.comment.clone().into();
        file["container"] = id.clone().into();
        file["config"] =
            serde_json::to_value(&config).map_err(|e| EngineError::system("image config", e))?;
        file["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
        file["history"] = history.into();
        if let Some(o) = file.as_object_mut() {
            o.remove("container_config");
        }
        let bytes =
            serde_json::to_vec(&file).map_err(|e| EngineError::system("image config", e))?;

        let mut layers: Vec<NewLayer> = parent
            .diff_ids
            .iter()
            .map(|d| NewLayer {
                hex: hex_of(d).to_string(),
                tmp: None,
            })
            .collect();
        layers.push(NewLayer {
            hex: hex_of(&unpacked.diff_id).to_string(),
            tmp: Some(layer_tmp),
        });
        let tags: Vec<Reference> = tag.into_iter().collect();
        match self.commit_image(layers, &bytes, &parent.id, &tags)? {
            Ok(done) => Ok(done.id),
            Err(missing) => Err(EngineError::conflict(format!(
                "the image's layers {missing:?} were removed while committing"
            ))),
        }
    }
}

/// The upper dir as a layer tar, without the mount points berth itself made in it.
fn pack_layer_skipping<W: Write>(stack: &Stack, out: W) -> std::io::Result<()> {
    let mut w = pack_layer(&stack.upper, &stack.mount_points, stack.shift, out)?;
    w.flush()
}

/// An image config from a container's Config (Docker copies these fields on commit).
fn image_config(c: &crate::engine::wire::DockerConfig) -> ImageConfig {
    let list = |v: &Option<StringOrList>| v.as_ref().map(StringOrList::to_vec);
    ImageConfig {
        user: (!c.user.is_empty()).then(|| c.user.clone()),
        exposed_ports: c.exposed_ports.clone(),
        env: c.env.clone(),
        cmd: list(&c.cmd),
        healthcheck: c.healthcheck.clone(),
        entrypoint: list(&c.entrypoint),
        volumes: c.volumes.clone(),
        working_dir: (!c.working_dir.is_empty()).then(|| c.working_dir.clone()),
        labels: c.labels.clone().filter(|l| !l.is_empty()),
        stop_signal: c.stop_signal.clone(),
        on_build: None,
    }
}

/// dockerd's commit merge: what the user's config leaves unset comes from the container's.
fn merge(user: &mut ImageConfig, base: ImageConfig) {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = base.user;
    }
    match (&mut user.exposed_ports, base.exposed_ports) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            for (k, v) in theirs {
                mine.entry(k).or_insert(v);
            }
        }
        (mine, theirs) => *mine = theirs,
    }
    match (&mut user.env, base.env) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
            for e in theirs {
                if !mine.iter().any(|m| key(m) == key(&e)) {
                    mine.push(e);
                }
            }
        }
        (mine, theirs) => *mine = theirs,
    }
    let labels = user.labels.get_or_insert_with(Default::default);
    for (k, v) in base.labels.unwrap_or_default() {
        labels.entry(k).or_insert(v);
    }
    if labels.is_empty() {
        user.labels = None;
    }
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = base.cmd;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = base.entrypoint;
        }
    }
    match (&mut user.healthcheck, base.healthcheck) {
        (Some(serde_json::Value::Object(mine)), Some(serde_json::Value::Object(theirs))) => {
            for (k, v) in theirs {
                let unset = mine.get(&k).is_none_or(|m| {
                    m.is_null()
                        || m.as_u64() == Some(0)
                        || m.as_array().is_some_and(|a| a.is_empty())
                });
                if unset {
                    mine.insert(k, v);
                }
            }
        }
        (mine @ None, theirs) => *mine = theirs,
        _ => {}
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = base.working_dir;
    }
    match (&mut user.volumes, base.volumes) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => mine.extend(theirs),
        (mine, theirs) => *mine = theirs,
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = base.stop_signal;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_config_merges_as_dockerd() {
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut user = ImageConfig {
            env: strings(&["A=user"]),
            cmd: strings(&["sh"]),
            labels: Some([("u".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let base = ImageConfig {
            env: strings(&["A=base", "B=base"]),
            cmd: strings(&["true"]),
            entrypoint: strings(&["/bin/x"]),
            working_dir: Some("/w".into()),
            labels: Some([("b".to_string(), "2".to_string())].into()),
            ..Default::default()
        };
        merge(&mut user, base);
        assert_eq!(user.env, strings(&["A=user", "B=base"]), "env by key");
        assert_eq!(user.cmd, strings(&["sh"]), "the user's cmd kept");
        assert_eq!(user.entrypoint, strings(&["/bin/x"]), "entrypoint filled");
        assert_eq!(
            user.working_dir.as_deref(),
            Some("/w"),
            "working dir filled"
        );
        assert_eq!(user.labels.unwrap().len(), 2, "labels joined");
    }
}
