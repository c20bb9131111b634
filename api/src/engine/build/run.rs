//! RUN: the step's command in a berth container made through the engine from the stage's image
//! (the SHELL in force, the ENV and the ARGs, USER, WORKDIR, the build's network and resources),
//! its output streamed as it is written, its diff committed as the step's layer; the container
//! then removed as `rm`/`forcerm` say.

use super::output::{short, Output};
use super::state::{StageState, StepLayer};
use super::BuildOptions;
use crate::engine::containers::attach::{read_frame, AttachHello};
use crate::engine::images::pack::pack_layer;
use crate::engine::wire::{CreateBody, DockerConfig, HostConfig, LogConfigJson, StringOrList};
use crate::engine::{Engine, EngineError, Result};
use std::io::Write;

impl Engine {
    /// Run `argv` (the full command: shell prefix included) on the stage's image; the layer of
    /// what it changed.
    pub(super) fn run_step(
        &self,
        st: &StageState,
        argv: &[String],
        opts: &BuildOptions,
        scratch: &std::path::Path,
        out: &mut Output,
    ) -> Result<StepLayer> {
        let body = step_body(st, argv, opts);
        // Noted before it exists, so that a build killed at any point leaves nothing the sweep
        // does not find.
        let name = format!("berth_build_{}", &berth_shim::ids::random_id()[..12]);
        super::context::note_container(scratch, &name)?;
        let created = self.create_container(Some(&name), body)?;
        let id = created.id;
        for w in &created.warnings {
            out.text(&format!(" ---> [Warning] {w}\n"));
        }
        out.text(&format!(" ---> Running in {}\n", short(id.as_str())));
        let result = self.run_and_commit(&id, argv, out);
        let remove = match &result {
            Ok(_) => opts.rm || opts.forcerm,
            Err(_) => opts.forcerm,
        };
        if remove {
            if let Err(e) = self.remove(id.as_str(), true) {
                tracing::warn!("removing intermediate container {id}: {e}");
            }
            out.text(&format!(
                "Removing intermediate container {}\n",
                short(id.as_str())
            ));
        }
        result
    }

    /// A step that runs nothing (ENV, LABEL, CMD, WORKDIR, ...) gets a container too, as in
    /// dockerd's classic builder: made on the stage's image with the step's `#(nop)` command,
    /// never started, and removed as `rm`/`forcerm` say (`rm=false` leaves it, as dockerd does).
    pub(super) fn probe_step(
        &self,
        st: &StageState,
        argv: &[String],
        opts: &BuildOptions,
        scratch: &std::path::Path,
        out: &mut Output,
    ) -> Result<()> {
        let name = format!("berth_build_{}", &berth_shim::ids::random_id()[..12]);
        super::context::note_container(scratch, &name)?;
        let created = self.create_container(Some(&name), step_body(st, argv, opts))?;
        let id = created.id;
        for w in &created.warnings {
            out.text(&format!(" ---> [Warning] {w}\n"));
        }
        out.text(&format!(" ---> Running in {}\n", short(id.as_str())));
        if opts.rm || opts.forcerm {
            self.remove(id.as_str(), true)?;
            out.text(&format!(
                "Removing intermediate container {}\n",
                short(id.as_str())
            ));
        }
        Ok(())
    }

    fn run_and_commit(
        &self,
        id: &crate::engine::ids::ContainerId,
        argv: &[String],
        out: &mut Output,
    ) -> Result<StepLayer> {
        let hello = AttachHello {
            stdin: false,
            stdout: true,
            stderr: true,
            raw: Some(false),
        };
        let mut sock = self.attach(id, hello)?;
        self.start(id.as_str())?;
        let mut payload = Vec::new();
        while read_frame(&mut sock, &mut payload).is_some() {
            out.raw(&payload);
        }
        let code = self.wait_exit(id);
        if code != 0 {
            return Err(EngineError::invalid_parameter(format!(
                "The command '{}' returned a non-zero code: {code}",
                argv.join(" ")
            ))
            .with_exit_code(code));
        }
        let stack = self.container_stack(id.as_str())?;
        let tmp = self.store().tmp_dir()?;
        let tar = tmp.path.join("layer.tar");
        let f = std::fs::File::create(&tar).map_err(|e| EngineError::system(tar.display(), e))?;
        // A RUN container in a user namespace of its own writes through its range: the layer
        // is written back in the image's own ids, as a commit's is.
        // The runtime's own mount points stay out of the layer; those of the image's VOLUMEs
        // go in, as in dockerd's RUN steps (they are made in the container's own layer there).
        let runtime: std::collections::BTreeSet<String> =
            crate::engine::containers::export::RUNTIME_MOUNT_POINTS
                .into_iter()
                .map(str::to_string)
                .collect();
        pack_layer(
            &stack.upper,
            &runtime,
            stack.shift,
            std::io::BufWriter::new(f),
        )
        .and_then(|mut w| w.flush())
        .map_err(|e| EngineError::system(format!("committing container {id}"), e))?;
        let (layer_tmp, unpacked) = self.unpack_aside_file(&tar, None)?;
        Ok(StepLayer {
            tmp: layer_tmp,
            unpacked,
        })
    }
}

/// The container of a step: the stage's image and config, the build's network and resources.
fn step_body(st: &StageState, argv: &[String], opts: &BuildOptions) -> CreateBody {
    let mut env = st.config.env.clone().unwrap_or_default();
    env.extend(st.run_args());
    CreateBody {
        config: DockerConfig {
            image: st.image_id.clone(),
            cmd: Some(StringOrList::List(argv.to_vec())),
            entrypoint: Some(StringOrList::List(Vec::new())),
            env: Some(env),
            user: st.config.user.clone().unwrap_or_default(),
            working_dir: st.config.working_dir.clone().unwrap_or_default(),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        },
        host_config: HostConfig {
            network_mode: opts.network_mode.clone(),
            extra_hosts: (!opts.extra_hosts.is_empty()).then(|| opts.extra_hosts.clone()),
            shm_size: opts.shm_size,
            memory: opts.memory,
            memory_swap: opts.memory_swap,
            cpu_shares: opts.cpu_shares,
            cpuset_cpus: opts.cpuset_cpus.clone(),
            cpu_period: opts.cpu_period,
            cpu_quota: opts.cpu_quota,
            log_config: LogConfigJson {
                kind: "none".into(),
                config: Default::default(),
            },
            ..Default::default()
        },
        networking_config: serde_json::Value::Null,
    }
}
