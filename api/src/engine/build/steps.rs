//! The instructions of a stage, as the classic builder runs them: FROM (and the image's ONBUILD
//! triggers), then each instruction expanded with the variables in force, looked up in the
//! cache, else done and committed as the step's image.

use super::copy::{CopyLayer, CopyPlan};
use super::dockerfile::words::{process, process_words};
use super::dockerfile::{
    self, ArgDecl, Command, CopySpec, Healthcheck, Instruction, Located, Stage,
};
use super::state::{StageState, StepLayer, PROXY_ARGS};
use super::tree::{split, Tree};
use super::Build;
use crate::engine::images::platform::Platform;
use crate::engine::{EngineError, ErrorKind, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn bad(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// A step's work, done on a cache miss: the layer it makes.
type Work<'a, 'o> = Box<dyn FnOnce(&mut Build<'a, 'o>, &StageState) -> Result<StepLayer>>;

impl Build<'_, '_> {
    fn expand(&self, st: &StageState, word: &str) -> Result<String> {
        process(word, self.escape, &|n| st.var(n)).map_err(|e| bad(e.to_string()))
    }

    fn expand_words(&self, st: &StageState, text: &str) -> Result<Vec<String>> {
        process_words(text, self.escape, &|n| st.var(n)).map_err(|e| bad(e.to_string()))
    }

    /// The value of an ARG: a build arg given, else its default (expanded), else a meta ARG's.
    fn arg_value(&mut self, st: &StageState, d: &ArgDecl) -> Result<Option<String>> {
        if let Some(v) = self.opts.build_args.get(&d.name) {
            self.consumed.insert(d.name.clone());
            if v.is_some() {
                return Ok(v.clone());
            }
        }
        match &d.default {
            Some(def) => Ok(Some(self.expand(st, def)?)),
            None => Ok(self.meta.get(&d.name).cloned().flatten()),
        }
    }

    pub(super) fn meta_args(&mut self, decls: &[Located<ArgDecl>]) -> Result<()> {
        for d in decls {
            let mut st = StageState::scratch();
            st.config.env = None;
            st.args = self.meta.clone();
            let v = self.arg_value(&st, &d.value)?;
            self.meta.insert(d.value.name.clone(), v);
        }
        Ok(())
    }

    pub(super) fn stage(&mut self, stage: &Stage, context: &Path) -> Result<StageState> {
        let mut st = self.from(&stage.from)?;
        for p in PROXY_ARGS {
            if let Some(Some(v)) = self.opts.build_args.get(p) {
                st.args.insert(p.to_string(), Some(v.clone()));
            }
        }
        for i in &stage.instructions {
            self.step += 1;
            self.out.step(self.step, self.total, &i.text);
            self.instruction(&mut st, &i.value, context)?;
        }
        Ok(st)
    }

    fn from(&mut self, from: &Located<dockerfile::From>) -> Result<StageState> {
        self.step += 1;
        self.out.step(self.step, self.total, &from.text);
        let mut meta = StageState::scratch();
        meta.config.env = None;
        meta.args = self.meta.clone();
        for k in self.meta.keys() {
            if self.opts.build_args.contains_key(k) {
                self.consumed.insert(k.clone());
            }
        }
        let name = self.expand(&meta, &from.value.image)?;
        if let Some(p) = &from.value.platform {
            let p = self.expand(&meta, p)?;
            if !p.is_empty() && !Platform::host().matches(&Platform::parse(&p)?) {
                return Err(bad(format!(
                    "berth builds for its own platform ({}) only: FROM --platform={p} is not supported",
                    Platform::host()
                )));
            }
        }
        if name.is_empty() {
            return Err(bad(
                "base name (${}) should not be blank".replace("${}", &from.value.image)
            ));
        }
        let lower = name.to_ascii_lowercase();
        let mut st = if lower == "scratch" {
            StageState::scratch()
        } else if let Some(b) = self
            .stages
            .iter()
            .find(|b| b.name.as_deref() == Some(lower.as_str()))
        {
            let mut s = b.state.clone();
            s.args.clear();
            s.maintainer = None;
            s
        } else {
            let img = self.base_image(&name)?;
            StageState::of_image(self.engine, &img)?
        };
        if !st.image_id.is_empty() {
            self.out.result(&st.image_id);
        }
        // dockerd gives every stage a PATH when its image has none.
        let env = st.config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.into());
        }
        // The image's triggers run first, and are not passed on.
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            let word = if triggers.len() == 1 {
                "trigger"
            } else {
                "triggers"
            };
            self.out
                .text(&format!("# Executing {} build {word}...\n", triggers.len()));
            for t in &triggers {
                let i = dockerfile::parse_instruction(t).map_err(|e| bad(e.to_string()))?;
                self.instruction(&mut st, &i.value, Path::new("/nonexistent"))?;
            }
        }
        Ok(st)
    }

    /// The image FROM names: local, else pulled (with `pull`, pulled again).
    fn base_image(&mut self, name: &str) -> Result<crate::engine::images::Image> {
        let engine = self.engine;
        if !self.opts.pull {
            match engine.image(name) {
                Ok(i) => return Ok(i),
                Err(e) if e.is(ErrorKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let r = crate::engine::images::reference::Reference::parse(name)?;
        let creds = self
            .opts
            .registry_auth
            .iter()
            .find(|(k, _)| crate::engine::images::registry::login_domain(k) == r.domain)
            .map(|(_, c)| c.clone());
        let out = &mut self.out;
        engine.pull(name, creds, &mut |v| {
            if let Some(s) = v["status"].as_str() {
                let id = v["id"]
                    .as_str()
                    .map(|i| format!("{i}: "))
                    .unwrap_or_default();
                out.text(&format!("{id}{s}\n"));
            }
        })?;
        engine.image(name)
    }

    /// One instruction on the stage: cache lookup, else the work and the commit.
    fn instruction(&mut self, st: &mut StageState, i: &Instruction, context: &Path) -> Result<()> {
        let parent = st.image_id.clone();
        let mut next = st.clone();
        // A step that runs nothing gets dockerd's container that is never started: its command.
        let mut probe: Option<Vec<String>> = None;
        let (created_by, key, work): (String, String, Option<Work>) = match i {
            Instruction::Run(cmd) => {
                let argv = match cmd {
                    Command::Shell(s) => {
                        let mut v = st.shell();
                        v.push(s.clone());
                        v
                    }
                    Command::Exec(v) => v.clone(),
                };
                let args = st.run_args();
                let shown = if args.is_empty() {
                    argv.join(" ")
                } else {
                    format!("|{} {} {}", args.len(), args.join(" "), argv.join(" "))
                };
                let key = format!("RUN {}", json!([args, argv]));
                (
                    shown,
                    key,
                    Some(Box::new(move |b: &mut Self, s: &StageState| {
                        let opts = b.opts;
                        b.engine.run_step(s, &argv, opts, &b.scratch, &mut b.out)
                    })),
                )
            }
            Instruction::Copy(spec) | Instruction::Add(spec) => {
                let verb = if matches!(i, Instruction::Add(_)) {
                    "ADD"
                } else {
                    "COPY"
                };
                let (made, by) = self.copy(st, verb, spec, context)?;
                let key = by.clone();
                (
                    st.nop_single(&by),
                    key,
                    Some(Box::new(move |b: &mut Self, _: &StageState| {
                        // The whole scratch dir moves in (not only the tar's path), and lives on.
                        let made: CopyLayer = made;
                        let (tmp, unpacked) = b.engine.unpack_aside_file(&made.tar, None)?;
                        Ok(StepLayer { tmp, unpacked })
                    })),
                )
            }
            Instruction::Workdir(dir) => {
                let dir = self.expand(st, dir)?;
                let base = st.config.working_dir.clone().unwrap_or_default();
                let joined = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{base}/{dir}")
                };
                let clean = format!("/{}", split(&joined).join("/"));
                next.config.working_dir = Some(clean.clone());
                let tree = Tree::of_layers(&st.layers);
                let exists = tree
                    .lstat(&tree.resolve(&clean, true)?)
                    .is_some_and(|n| n.is_dir());
                let by = st.nop_single(&format!("WORKDIR {clean}"));
                probe = Some(st.nop_argv(&format!("WORKDIR {clean}")));
                if exists {
                    (by.clone(), by, None)
                } else {
                    let plan_dir = clean.clone();
                    (
                        by.clone(),
                        by,
                        Some(Box::new(move |b: &mut Self, s: &StageState| {
                            b.engine.workdir_layer(s, &plan_dir)
                        })),
                    )
                }
            }
            other => {
                let comment = self.meta_change(&mut next, other)?;
                let by = st.nop(&comment);
                probe = Some(st.nop_argv(&comment));
                (by.clone(), by, None)
            }
        };
        // The step's result: from the cache, else made (on the config the instruction set).
        if let Some(hit) = self.engine.cache_lookup(&self.cache, &parent, &key)? {
            self.out.text(" ---> Using cache\n");
            self.engine.move_to(st, &hit)?;
            st.args = next.args;
            st.maintainer = next.maintainer;
            self.out.result(&st.image_id);
            return Ok(());
        }
        if let Some(argv) = probe.filter(|_| !parent.is_empty()) {
            let opts = self.opts;
            self.engine
                .probe_step(&next, &argv, opts, &self.scratch, &mut self.out)?;
        }
        let layer = match work {
            Some(w) => Some(w(self, &next)?),
            None => None,
        };
        let id = self.engine.commit_step(&mut next, &created_by, layer)?;
        self.engine.cache_store(&parent, &key, &id)?;
        *st = next;
        self.out.result(&id);
        Ok(())
    }

    /// A metadata instruction applied to the config; the comment of its history entry.
    fn meta_change(&mut self, st: &mut StageState, i: &Instruction) -> Result<String> {
        Ok(match i {
            Instruction::Env(pairs) => {
                // Every word is expanded with the variables in force before the instruction.
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((self.expand(st, k)?, self.expand(st, v)?));
                }
                let mut shown = Vec::new();
                for (k, v) in expanded {
                    let env = st.config.env.get_or_insert_with(Vec::new);
                    let item = format!("{k}={v}");
                    match env
                        .iter_mut()
                        .find(|e| e.split_once('=').map_or(e.as_str(), |p| p.0) == k)
                    {
                        Some(e) => *e = item.clone(),
                        None => env.push(item.clone()),
                    }
                    shown.push(item);
                }
                format!("ENV {}", shown.join(" "))
            }
            Instruction::Label(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((self.expand(st, k)?, self.expand(st, v)?));
                }
                let mut shown = Vec::new();
                for (k, v) in expanded {
                    shown.push(format!("{k}={v}"));
                    st.config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k, v);
                }
                format!("LABEL {}", shown.join(" "))
            }
            Instruction::Cmd(cmd) => {
                let v = self.command(st, cmd);
                st.config.cmd = Some(v.clone());
                st.cmd_set = true;
                format!("CMD {}", go_quoted(&v))
            }
            Instruction::Entrypoint(cmd) => {
                let v = self.command(st, cmd);
                st.config.entrypoint = Some(v.clone());
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                format!("ENTRYPOINT {}", go_quoted(&v))
            }
            Instruction::Expose(ports) => {
                let mut shown = Vec::new();
                for p in ports {
                    for w in self.expand_words(st, p)? {
                        for port in expose(&w)? {
                            st.config
                                .exposed_ports
                                .get_or_insert_with(BTreeMap::new)
                                .insert(port.clone(), json!({}));
                            shown.push(port);
                        }
                    }
                }
                format!("EXPOSE {}", shown.join(" "))
            }
            Instruction::Volume(vols) => {
                let mut shown = Vec::new();
                for v in vols {
                    let v = self.expand(st, v)?;
                    if v.trim().is_empty() {
                        return Err(bad("VOLUME specified can not be an empty string".into()));
                    }
                    st.config
                        .volumes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(v.clone(), json!({}));
                    shown.push(v);
                }
                format!("VOLUME [{}]", shown.join(" "))
            }
            Instruction::User(u) => {
                let u = self.expand(st, u)?;
                st.config.user = Some(u.clone());
                format!("USER {u}")
            }
            Instruction::Stopsignal(s) => {
                let s = self.expand(st, s)?;
                st.config.stop_signal = Some(s.clone());
                format!("STOPSIGNAL {s}")
            }
            Instruction::Healthcheck(h) => {
                let v = match h {
                    Healthcheck::None => json!({"Test": ["NONE"]}),
                    Healthcheck::Check {
                        test,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let test = match test {
                            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                            Command::Exec(v) => std::iter::once("CMD".to_string())
                                .chain(v.iter().cloned())
                                .collect(),
                        };
                        let mut o = json!({"Test": test});
                        let ns = |d: &Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
                        for (k, d) in [
                            ("Interval", interval),
                            ("Timeout", timeout),
                            ("StartPeriod", start_period),
                            ("StartInterval", start_interval),
                        ] {
                            if let Some(n) = ns(d) {
                                o[k] = n.into();
                            }
                        }
                        if let Some(r) = retries {
                            o["Retries"] = (*r).into();
                        }
                        o
                    }
                };
                st.config.healthcheck = Some(v.clone());
                format!("HEALTHCHECK {v}")
            }
            Instruction::Shell(v) => {
                st.shell = Some(v.clone());
                format!("SHELL [{}]", v.join(" "))
            }
            Instruction::Maintainer(m) => {
                st.maintainer = Some(m.clone());
                format!("MAINTAINER {m}")
            }
            Instruction::Onbuild(t) => {
                let first = t
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match first.as_str() {
                    "ONBUILD" => {
                        return Err(bad(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                        ))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(bad(format!("{first} isn't allowed as an ONBUILD trigger")))
                    }
                    _ => {}
                }
                st.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(t.clone());
                format!("ONBUILD {t}")
            }
            Instruction::Arg(decls) => {
                let mut shown = Vec::new();
                for d in decls {
                    let v = self.arg_value(st, d)?;
                    st.args.insert(d.name.clone(), v);
                    shown.push(match &d.default {
                        Some(def) => format!("{}={def}", d.name),
                        None => d.name.clone(),
                    });
                }
                format!("ARG {}", shown.join(" "))
            }
            Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Workdir(_) => {
                unreachable!("handled by instruction()")
            }
        })
    }

    fn command(&self, st: &StageState, cmd: &Command) -> Vec<String> {
        match cmd {
            Command::Shell(s) => {
                let mut v = st.shell();
                v.push(s.clone());
                v
            }
            Command::Exec(v) => v.clone(),
        }
    }

    /// COPY/ADD: the layer written and the history text naming its sources.
    fn copy(
        &mut self,
        st: &StageState,
        verb: &'static str,
        spec: &CopySpec,
        context: &Path,
    ) -> Result<(CopyLayer, String)> {
        let mut sources = Vec::new();
        for s in &spec.sources {
            sources.push(self.expand(st, s)?);
        }
        let dest = self.expand(st, &spec.dest)?;
        let dest = if dest.starts_with('/') {
            dest
        } else {
            let wd = st.config.working_dir.clone().unwrap_or_default();
            let slash = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
            let mut d = format!("/{}", split(&format!("{wd}/{dest}")).join("/"));
            if slash && !d.ends_with('/') {
                d.push('/');
            }
            d
        };
        let (src, from_context) = match &spec.from {
            None => (Tree::Dir(context.to_path_buf()), true),
            Some(f) => {
                let f = self.expand(st, f)?.to_ascii_lowercase();
                let stage = match f.parse::<usize>() {
                    Ok(n) => Some(self.stages.get(n).ok_or_else(|| {
                        bad(format!("invalid from flag value {f}: index out of bounds"))
                    })?),
                    Err(_) => self
                        .stages
                        .iter()
                        .find(|b| b.name.as_deref() == Some(f.as_str())),
                };
                let layers = match stage {
                    Some(b) => b.state.layers.clone(),
                    None => {
                        self.base_image(&f)
                            .map_err(|e| {
                                bad(format!("invalid from flag value {f}: {}", e.message()))
                            })?
                            .layers
                    }
                };
                (Tree::of_layers(&layers), false)
            }
        };
        let chown = spec
            .chown
            .as_ref()
            .map(|c| self.expand(st, c))
            .transpose()?;
        let chmod = spec
            .chmod
            .as_ref()
            .map(|c| self.expand(st, c))
            .transpose()?;
        let plan = CopyPlan {
            verb,
            sources,
            dest: dest.clone(),
            src: &src,
            from_context,
            chown: chown.clone(),
            chmod: chmod.clone(),
        };
        let image = Tree::of_layers(&st.layers);
        let made = self.engine.copy_layer(&plan, &image)?;
        let mut by = format!("{verb} ");
        if let Some(c) = &chown {
            by.push_str(&format!("--chown={c} "));
        }
        if let Some(c) = &chmod {
            by.push_str(&format!("--chmod={c} "));
        }
        by.push_str(&format!("{} in {dest} ", made.checksum));
        Ok((made, by))
    }
}

impl crate::engine::Engine {
    /// WORKDIR's layer: the directory, made with its missing parents.
    fn workdir_layer(&self, st: &StageState, dir: &str) -> Result<StepLayer> {
        let scratch = self.store().tmp_dir()?;
        let empty = scratch.path.join("empty");
        std::fs::create_dir(&empty).map_err(|e| EngineError::system(empty.display(), e))?;
        let src = Tree::Dir(empty);
        let plan = CopyPlan {
            verb: "WORKDIR",
            sources: vec![".".into()],
            dest: format!("{dir}/"),
            src: &src,
            from_context: true,
            chown: None,
            chmod: None,
        };
        let made = self.copy_layer(&plan, &Tree::of_layers(&st.layers))?;
        let (tmp, unpacked) = self.unpack_aside_file(&made.tar, None)?;
        Ok(StepLayer { tmp, unpacked })
    }
}

/// A list as Go's `%q` prints a `[]string`: `["a" "b"]`.
fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// "80" -> "80/tcp"; "53/udp"; "8000-8002" -> three ports.
fn expose(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let invalid = || bad(format!("Invalid containerPort: {spec}"));
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("Invalid proto: {proto}")));
    }
    let num = |p: &str| p.parse::<u16>().map_err(|_| invalid());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if lo > hi {
        return Err(invalid());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}
