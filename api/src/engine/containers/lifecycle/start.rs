//! docker start, and a start made ready for an attach: the namespaces joined, the shim
//! spawned; a failed start worded as dockerd words it, with `docker run`'s exit code.

use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::control::{self, Request};
use berth_shim::spawn::{self, SpawnError, StartOptions, Started};
use berth_shim::spec::{ContainerSpec, Donor, NsMode, ShmSource};
use berth_shim::state::Status;

impl Engine {
    /// docker start. 304 when it runs already.
    pub fn start(&self, reference: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let _op = self.op_lock(&id)?;
        self.start_locked(&id)
    }

    pub(super) fn start_locked(&self, id: &ContainerId) -> Result<()> {
        let id = id.clone();
        let state = self.state(&id)?;
        let paths = self.container_paths(&id);
        match state.status {
            Status::Running | Status::Restarting => {
                return Err(EngineError::not_modified(
                    "container already started".into(),
                ))
            }
            Status::Paused => {
                return Err(EngineError::conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Created if berth_shim::state::shim_alive(&paths) => {
                // A shim made ready for an attach before start: tell it to go.
                return match self.ask(&id, Request::Start) {
                    Ok(_) => Ok(()),
                    // Or a shim starting the container for a start whose API process died
                    // before the container was recorded running: it runs, as dockerd says 304.
                    Err(e)
                        if e.is(crate::engine::ErrorKind::Conflict)
                            && self.started_meanwhile(&id) =>
                    {
                        Err(EngineError::not_modified(
                            "container already started".into(),
                        ))
                    }
                    Err(e) => Err(with_docker_run_exit_code(e)),
                };
            }
            _ => {}
        }
        // A shim that has recorded its container's exit may still be finishing (deleting its
        // veths, giving slow clients their last output, cleaning up): the next one starts once
        // it is gone, or it would find the container's lock taken.
        if !self.wait_shim_gone(&id, std::time::Duration::from_secs(15)) {
            return Err(EngineError::conflict(format!(
                "container {id} is still stopping: its shim has not ended"
            )));
        }
        if !berth_shim::state::shim_alive(&paths)
            && !berth_shim::orphans::orphans(&paths).is_empty()
        {
            // What a killed shim left of the last run goes first, as containerd kills a task
            // whose shim died: the new run is alone in its cgroup.
            let n = self.kill_orphans(&id, nix::sys::signal::Signal::SIGKILL)?;
            tracing::info!("killed {n} processes that the killed shim of {id} left");
        }
        self.prepare_spawn(&id)?;
        let opts = StartOptions {
            shim_binary: self.settings.runtime.shim_binary.clone(),
            ..Default::default()
        };
        match spawn::start(&self.paths, &id, &opts) {
            Ok(_) => Ok(()),
            Err(e) => Err(start_error(&id, e)),
        }
    }

    /// Whether a container whose shim refused a start as started already is recorded live
    /// once that shim has recorded its start (or is gone), within a few seconds.
    fn started_meanwhile(&self, id: &ContainerId) -> bool {
        let paths = self.container_paths(id);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match self.state(id) {
                Ok(st) if st.status.is_live() => return true,
                Ok(st) if st.status != Status::Created => return false,
                Err(_) => return false,
                Ok(_) => {}
            }
            if !berth_shim::state::shim_alive(&paths) || std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Make a container ready for clients to attach before it starts: its shim is spawned
    /// and waits for `start`. A container that runs already is left alone.
    pub fn prepare_attach(&self, id: &ContainerId) -> Result<()> {
        let _op = self.op_lock(id)?;
        let state = self.state(id)?;
        let paths = self.container_paths(id);
        if berth_shim::state::shim_alive(&paths) {
            return Ok(());
        }
        if !state.status.can_start() {
            return Ok(());
        }
        self.prepare_spawn(id)?;
        let opts = StartOptions {
            wait_start: true,
            shim_binary: self.settings.runtime.shim_binary.clone(),
        };
        match spawn::start(&self.paths, id, &opts) {
            Ok(Started::Created) | Ok(Started::Running { .. }) => Ok(()),
            Err(e) => Err(start_error(id, e)),
        }
    }

    /// What must be in place before a shim is spawned, since its mount namespace is a copy of
    /// the host's made then: the namespaces it joins, and a shareable /dev/shm mounted on the
    /// host (for a `docker run`, the shim is spawned by the attach, before the start).
    fn prepare_spawn(&self, id: &ContainerId) -> Result<()> {
        self.resolve_joins(id)?;
        self.resolve_links(id)?;
        let record = self.record(id)?;
        if record.host_config.ipc_mode == "shareable" {
            let size = record.host_config.shm_size.max(0) as u64;
            berth_shim::shm::prepare_shareable(&self.container_paths(id), size)
                .map_err(|e| EngineError::system("mounting the shareable /dev/shm", e))?;
        }
        Ok(())
    }

    /// Namespaces shared with another container (`container:<name>`) are joined through that
    /// container's pid 1, known only while it runs: write its pid and that pid's start time into
    /// the shim's spec at every start (the record keeps the container reference).
    fn resolve_joins(&self, id: &ContainerId) -> Result<()> {
        let record = self.record(id)?;
        let h = &record.host_config;
        let wanted: Vec<(&str, &str)> = [
            (h.pid_mode.as_str(), "pid"),
            (h.network_mode.as_str(), "net"),
            (h.ipc_mode.as_str(), "ipc"),
            (h.uts_mode.as_str(), "uts"),
        ]
        .into_iter()
        .filter_map(|(mode, kind)| mode.strip_prefix("container:").map(|other| (other, kind)))
        .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let path = self.container_paths(id).config();
        let data = std::fs::read(&path).map_err(|e| EngineError::system(path.display(), e))?;
        let mut spec: ContainerSpec =
            serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))?;
        for (other, kind) in wanted {
            let other_id = self.lookup(other)?;
            let st = self.state(&other_id)?;
            // Its pid is its process's only while that pid has the start time recorded with it
            // (the shim checks again once it has opened the namespace).
            let same_process = st.pid > 0
                && berth_shim::host::process_start_time(st.pid).ok() == Some(st.pid_start_time);
            if st.status != Status::Running || !same_process {
                let what = match kind {
                    "pid" => "PID",
                    "net" => "network",
                    "ipc" => "IPC",
                    _ => "UTS",
                };
                return Err(EngineError::conflict(format!(
                    "cannot join {what} of a non running container: {other_id}"
                )));
            }
            let join = NsMode::Join(Donor {
                container: other_id.to_string(),
                pid: st.pid,
                start_time: st.pid_start_time,
            });
            if kind == "ipc" {
                // The donor's /dev/shm too, which only a shareable (or host) IPC has.
                spec.shm_source = match self.record(&other_id)?.host_config.ipc_mode.as_str() {
                    "shareable" => ShmSource::Bind(berth_shim::shm::shareable_path(
                        &self.container_paths(&other_id),
                    )),
                    "host" => ShmSource::Bind("/dev/shm".into()),
                    _ => {
                        return Err(EngineError::conflict(format!(
                            "cannot join IPC of container {other_id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                        )))
                    }
                };
            }
            match kind {
                "pid" => spec.namespaces.pid = join,
                "net" => spec.namespaces.net = join,
                "ipc" => spec.namespaces.ipc = join,
                _ => spec.namespaces.uts = join,
            }
        }
        let data =
            serde_json::to_vec_pretty(&spec).map_err(|e| EngineError::system("encoding", e))?;
        berth_shim::fsutil::write_atomic(&path, &data)
            .map_err(|e| EngineError::system(path.display(), e))
    }
}

/// A failed start, as dockerd words it (the CLI prints it after "Error response from daemon:"),
/// with the exit code `docker run` gives for it; the shim's report is kept as the cause.
fn start_error(id: &str, e: SpawnError) -> EngineError {
    let SpawnError::Start { message, kind, .. } = &e else {
        return with_docker_run_exit_code(EngineError::system(
            format!("starting container {id}"),
            e,
        ));
    };
    let error = if *kind == control::ErrorKind::Conflict {
        EngineError::conflict(message.clone())
    } else if message.starts_with("driver failed programming external connectivity") {
        EngineError::system_message(message.clone())
    } else if message.starts_with("exec: ") {
        EngineError::system_message(format!(
            "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: {message}: unknown"
        ))
    } else {
        EngineError::system_message(format!("cannot start container {id}: {message}"))
    };
    with_docker_run_exit_code(error).with_source(e)
}

/// A failed start with the exit code `docker run` gives for it.
fn with_docker_run_exit_code(e: EngineError) -> EngineError {
    let code = docker_run_exit_code(e.message());
    e.with_exit_code(code)
}

/// The exit code `docker run` gives for a start that failed with `message`: 127 when the
/// command was not found, 126 when it cannot be run, else 125. The docker CLI decides from the
/// daemon's words (`runStartContainerErr`), and so does this, once, for both faces: the shim's
/// own code (the container's recorded exit code) is 127 for every failure before exec, where
/// `docker run` gives 125.
pub fn docker_run_exit_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ErrorKind;

    #[test]
    fn start_failures_map_to_dockers_codes() {
        for (message, want) in [
            ("exec: \"nope\": executable file not found in $PATH", 127),
            ("open /x: no such file or directory", 127),
            ("exec: \"/etc\": permission denied", 126),
            ("cgroup: EBUSY", 125),
        ] {
            assert_eq!(docker_run_exit_code(message), want, "for {message:?}");
        }
    }

    #[test]
    fn a_failed_start_carries_its_exit_code_and_the_shims_report() {
        let report = SpawnError::Start {
            message: "exec: \"nope\": executable file not found in $PATH".into(),
            exit_code: Some(127),
            kind: berth_shim::control::ErrorKind::Failed,
        };
        let e = start_error("abc", report);
        assert_eq!(
            (e.kind(), e.exit_code()),
            (ErrorKind::System, Some(127)),
            "expected a 500 with docker run's 127, got {e:?}"
        );
        assert!(
            matches!(
                e.cause().and_then(|c| c.downcast_ref::<SpawnError>()),
                Some(SpawnError::Start {
                    exit_code: Some(127),
                    ..
                })
            ),
            "expected the shim's report kept as the cause, got {:?}",
            e.cause()
        );
    }
}
