//! A stage's state while it is built: the image it is at (each step commits one, as the classic
//! builder does), its config, the variables in force, and the commit of a step.

use crate::engine::images::import::NewLayer;
use crate::engine::images::store::{hex_of, TmpDir};
use crate::engine::images::unpack::Unpacked;
use crate::engine::images::{host_arch, Image, ImageConfig};
use crate::engine::{Engine, EngineError, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The args dockerd lets a build use without an ARG line (and never warns about).
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[derive(Debug, Clone)]
pub struct StageState {
    /// The image the stage is at ("sha256:..."); empty for `FROM scratch` before any step.
    pub image_id: String,
    /// The image's config file (`config`, `history`, `rootfs` ...).
    pub file: Value,
    pub config: ImageConfig,
    /// SHELL in force (kept in the config as dockerd's `Shell`).
    pub shell: Option<Vec<String>>,
    pub diff_ids: Vec<String>,
    /// The unpacked layers, base first.
    pub layers: Vec<std::path::PathBuf>,
    /// ARGs declared in this stage, with their values (None: declared without one).
    pub args: BTreeMap<String, Option<String>>,
    /// MAINTAINER: the image's author.
    pub maintainer: Option<String>,
    /// A CMD was set in this stage (an ENTRYPOINT then keeps it; otherwise it drops the
    /// image's CMD, as dockerd does).
    pub cmd_set: bool,
}

impl StageState {
    pub fn scratch() -> StageState {
        StageState {
            image_id: String::new(),
            file: json!({
                "architecture": host_arch(),
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
            config: ImageConfig {
                env: Some(vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ]),
                ..Default::default()
            },
            shell: None,
            diff_ids: Vec::new(),
            layers: Vec::new(),
            args: BTreeMap::new(),
            maintainer: None,
            cmd_set: false,
        }
    }

    pub fn of_image(engine: &Engine, img: &Image) -> Result<StageState> {
        let rec = engine
            .store()
            .read_record(hex_of(&img.id))?
            .ok_or_else(|| EngineError::not_found(format!("No such image: {}", img.id)))?;
        let file: Value = serde_json::from_str(rec.config.get())
            .map_err(|e| EngineError::system(format!("image {}", img.id), e))?;
        let shell = file["config"]["Shell"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        });
        Ok(StageState {
            image_id: img.id.clone(),
            file,
            config: img.config.clone(),
            shell,
            diff_ids: img.diff_ids.clone(),
            layers: img.layers.clone(),
            args: BTreeMap::new(),
            maintainer: None,
            cmd_set: false,
        })
    }

    pub fn shell(&self) -> Vec<String> {
        self.shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The value of variable `name` for word expansion: ENV first, then the ARGs in force.
    pub fn var(&self, name: &str) -> Option<String> {
        let env = self.config.env.as_deref().unwrap_or_default();
        for e in env.iter().rev() {
            match e.split_once('=') {
                Some((k, v)) if k == name => return Some(v.to_string()),
                None if e == name => return Some(String::new()),
                _ => {}
            }
        }
        self.args.get(name).cloned().flatten()
    }

    /// The ARGs with a value that no ENV of the same name overrides, sorted: what a RUN gets in
    /// its environment and what prefixes its command in the history (`|2 A=1 B=2 ...`).
    pub fn run_args(&self) -> Vec<String> {
        let env = self.config.env.as_deref().unwrap_or_default();
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .filter(|(k, _)| {
                !env.iter()
                    .any(|e| e.split_once('=').map(|p| p.0) == Some(k))
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// The `created_by` of a metadata step: the shell and `#(nop) ` then the comment.
    pub fn nop(&self, comment: &str) -> String {
        let mut v = self.shell();
        v.push("#(nop) ".into());
        v.push(comment.into());
        v.join(" ")
    }

    /// The command of a step's container that is never started: the shell, `#(nop) <comment>`.
    pub fn nop_argv(&self, comment: &str) -> Vec<String> {
        let mut v = self.shell();
        v.push(format!("#(nop) {comment}"));
        v
    }

    /// The `created_by` of WORKDIR, COPY and ADD: `#(nop) ` and the comment as one word.
    pub fn nop_single(&self, comment: &str) -> String {
        let mut v = self.shell();
        v.push(format!("#(nop) {comment}"));
        v.join(" ")
    }

    /// The config JSON as the image keeps it (with `Shell` when one is set).
    pub fn config_json(&self) -> Result<Value> {
        let mut c = serde_json::to_value(&self.config)
            .map_err(|e| EngineError::system("image config", e))?;
        if let (Some(shell), Some(o)) = (&self.shell, c.as_object_mut()) {
            o.insert("Shell".into(), json!(shell));
        }
        Ok(c)
    }
}

/// A step's new layer: unpacked aside, to be moved into the store with the step's image.
pub struct StepLayer {
    pub tmp: TmpDir,
    pub unpacked: Unpacked,
}

impl Engine {
    /// Commit the step's image on top of the stage's: its config, a history entry
    /// (`empty_layer` without a layer), the layer if any. The stage moves to the new image.
    pub(super) fn commit_step(
        &self,
        st: &mut StageState,
        created_by: &str,
        layer: Option<StepLayer>,
    ) -> Result<String> {
        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let mut file = st.file.clone();
        let mut history = file["history"].as_array().cloned().unwrap_or_default();
        let mut entry = json!({"created": now, "created_by": created_by});
        if layer.is_none() {
            entry["empty_layer"] = true.into();
        }
        history.push(entry);
        let mut layers: Vec<NewLayer> = st
            .diff_ids
            .iter()
            .map(|d| NewLayer {
                hex: hex_of(d).to_string(),
                tmp: None,
            })
            .collect();
        let mut diff_ids = st.diff_ids.clone();
        if let Some(l) = layer {
            diff_ids.push(l.unpacked.diff_id.clone());
            layers.push(NewLayer {
                hex: hex_of(&l.unpacked.diff_id).to_string(),
                tmp: Some(l.tmp),
            });
        }
        file["created"] = now.into();
        file["config"] = st.config_json()?;
        file["history"] = history.into();
        file["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        // A child image's author is this build's MAINTAINER only (dockerd's NewChildImage):
        // the parent's is not inherited.
        match &st.maintainer {
            Some(m) => file["author"] = m.clone().into(),
            None => {
                if let Some(o) = file.as_object_mut() {
                    o.remove("author");
                }
            }
        }
        if let Some(o) = file.as_object_mut() {
            o.remove("container_config");
            o.remove("container");
        }
        let bytes =
            serde_json::to_vec(&file).map_err(|e| EngineError::system("image config", e))?;
        let id = match self.commit_image(layers, &bytes, &st.image_id, &[])? {
            Ok(done) => done.id,
            Err(missing) => {
                return Err(EngineError::conflict(format!(
                    "the image's layers {missing:?} were removed while building"
                )))
            }
        };
        self.move_to(st, &id)?;
        Ok(id)
    }

    /// Move the stage to image `id` (a step's result, or a cache hit).
    pub(super) fn move_to(&self, st: &mut StageState, id: &str) -> Result<()> {
        let img = self.image(id)?;
        let next = StageState::of_image(self, &img)?;
        st.image_id = next.image_id;
        st.file = next.file;
        st.config = next.config;
        st.shell = next.shell;
        st.diff_ids = next.diff_ids;
        st.layers = next.layers;
        Ok(())
    }
}
