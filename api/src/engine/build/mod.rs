//! docker build: a Dockerfile and a context to an image, each RUN step a berth container, with
//! a cache in the image store. The Dockerfile's text is read by [`dockerfile`], which does no I/O.
//! Files by concern: the context ([`context`]), the trees paths resolve in ([`tree`]), the
//! stages' state and step commits ([`state`]), the instructions ([`steps`]), RUN ([`run`]),
//! COPY/ADD ([`copy`], [`sources`]), the cache ([`cache`]) and the response texts ([`output`]).

pub mod cache;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod output;
pub mod run;
pub mod sources;
pub mod state;
pub mod steps;
pub mod tree;

use crate::engine::images::reference::Reference;
use crate::engine::images::registry::Credentials;
use crate::engine::{Engine, EngineError, Result};
use dockerfile::{Instruction, Located};
use output::Output;
use serde_json::Value;
use state::StageState;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// `POST /build` (and `berth build`), decoded.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context; empty for `Dockerfile`.
    pub dockerfile: String,
    pub tags: Vec<String>,
    /// `buildargs`: a value of None is an arg given without one (its value then from the env of
    /// the client, which dockerd does not see either: the arg counts as unset).
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: String,
    pub no_cache: bool,
    pub cache_from: Vec<String>,
    pub pull: bool,
    pub rm: bool,
    pub forcerm: bool,
    pub quiet: bool,
    pub network_mode: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: i64,
    pub memory: i64,
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    /// `X-Registry-Config`: credentials by registry, for FROM of a private image.
    pub registry_auth: BTreeMap<String, Credentials>,
}

/// A stage done: its name (lowercased) and where it ended.
struct Built {
    name: Option<String>,
    state: StageState,
}

/// One build under way.
pub(crate) struct Build<'a, 'o> {
    engine: &'a Engine,
    opts: &'a BuildOptions,
    out: Output<'o>,
    escape: char,
    cache: cache::Policy,
    /// Build args an ARG (or a FROM line) used.
    consumed: BTreeSet<String>,
    step: usize,
    total: usize,
    stages: Vec<Built>,
    /// The meta ARGs (before the first FROM) with their values.
    meta: BTreeMap<String, Option<String>>,
    /// The build's scratch dir (the context is in it; its RUN containers are noted there).
    scratch: std::path::PathBuf,
}

impl Engine {
    /// Build the image; every line of dockerd's stream goes to `sink`. Returns the image id.
    pub fn build(
        &self,
        opts: &BuildOptions,
        context: impl Read,
        sink: &mut dyn FnMut(Value),
    ) -> Result<String> {
        let tags = opts
            .tags
            .iter()
            .map(|t| {
                let r = Reference::parse(t)
                    .map_err(|_| {
                        EngineError::invalid_parameter(format!(
                            "invalid reference format: repository name ({t}) must be lowercase"
                        ))
                    })?
                    .with_default_tag();
                if r.digest.is_some() {
                    return Err(EngineError::invalid_parameter(
                        "refusing to create a tag with a digest reference".into(),
                    ));
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = self.build_context(context, &opts.dockerfile)?;
        let mut df = dockerfile::parse(&ctx.dockerfile)
            .map_err(|e| EngineError::invalid_parameter(e.to_string()))?;
        if df.stages.is_empty() {
            return Err(EngineError::invalid_parameter(
                "the Dockerfile (Dockerfile) cannot be empty".into(),
            ));
        }
        if !opts.target.is_empty() {
            let want = opts.target.to_ascii_lowercase();
            let Some(i) = df
                .stages
                .iter()
                .position(|s| s.from.value.name.as_deref() == Some(want.as_str()))
            else {
                return Err(EngineError::invalid_parameter(format!(
                    "failed to reach build target {} in Dockerfile",
                    opts.target
                )));
            };
            df.stages.truncate(i + 1);
        }
        if !opts.labels.is_empty() {
            let text = opts
                .labels
                .iter()
                .map(|(k, v)| format!("{k:?}='{v}'"))
                .collect::<Vec<_>>();
            let last = df.stages.last_mut().expect("stages checked non-empty");
            last.instructions.push(Located {
                line: 0,
                text: format!("LABEL {}", text.join(" ")),
                value: Instruction::Label(
                    opts.labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
            });
        }
        let cache = if opts.no_cache {
            cache::Policy::Off
        } else if !opts.cache_from.is_empty() {
            self.cache_from(&opts.cache_from)
        } else {
            cache::Policy::Local
        };
        let total = df.stages.iter().map(|s| 1 + s.instructions.len()).sum();
        let mut b = Build {
            engine: self,
            opts,
            out: Output::new(sink, opts.quiet),
            escape: df.escape,
            cache,
            consumed: BTreeSet::new(),
            step: 0,
            total,
            stages: Vec::new(),
            meta: BTreeMap::new(),
            scratch: ctx.scratch.path.clone(),
        };
        b.meta_args(&df.meta_args)?;
        for stage in &df.stages {
            let state = b.stage(stage, &ctx.root)?;
            b.stages.push(Built {
                name: stage.from.value.name.clone(),
                state,
            });
        }
        let last = &b.stages.last().expect("one stage at least").state;
        if last.image_id.is_empty() {
            return Err(EngineError::invalid_parameter(
                "No image was generated. Is your Dockerfile empty?".into(),
            ));
        }
        let id = last.image_id.clone();
        let unused: Vec<&String> = opts
            .build_args
            .keys()
            .filter(|k| !b.consumed.contains(*k) && !state::PROXY_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            b.out.text(&format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                names.join(" ")
            ));
        }
        for t in &tags {
            self.tag(&id, &t.familiar(), "")?;
        }
        let shown: Vec<String> = tags.iter().map(|t| t.familiar()).collect();
        b.out.done(&id, &shown);
        Ok(id)
    }
}
