//! Start, stop, kill, restart, pause, unpause, remove, rename and resize: each asks the
//! container's shim (spawning one to start it) and answers with dockerd's status and words.

use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, ErrorKind, Result};
use berth_shim::control::{self, Request, Response};
use berth_shim::spawn::{self, SpawnError, StartOptions, Started};
use berth_shim::spec::{ContainerSpec, Donor, NsMode, ShmSource};
use berth_shim::state::Status;
use std::time::{Duration, Instant};

fn response(id: &str, r: Response) -> Result<Response> {
    match r {
        Response::Error { message, kind, .. } => Err(if kind == control::ErrorKind::Conflict {
            EngineError::conflict(message)
        } else {
            EngineError::system_message(message)
        }),
        _ => {
            let _ = id;
            Ok(r)
        }
    }
}

impl Engine {
    fn ask(&self, id: &ContainerId, req: Request) -> Result<Response> {
        let r = control::request(&self.container_paths(id), &req)?;
        response(id, r)
    }

    /// docker start. 304 when it runs already.
    pub fn start(&self, reference: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let _op = self.op_lock(&id)?;
        self.start_locked(&id)
    }

    fn start_locked(&self, id: &ContainerId) -> Result<()> {
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
                return self
                    .ask(&id, Request::Start)
                    .map(drop)
                    .map_err(with_docker_run_exit_code);
            }
            _ => {}
        }
        self.prepare_spawn(&id)?;
        match spawn::start(&self.paths, &id, &StartOptions::default()) {
            Ok(_) => Ok(()),
            Err(e) => Err(start_error(&id, e)),
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
            ..Default::default()
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

    /// docker stop: the stop signal, SIGKILL after the timeout. 304 when not running.
    pub fn stop(
        &self,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> Result<()> {
        let id = self.lookup(reference)?;
        let _op = self.op_lock(&id)?;
        self.stop_locked(&id, timeout, signal, false)
    }

    /// `keep`: a restart's stop (an auto-removed container is kept, as dockerd does).
    fn stop_locked(
        &self,
        id: &ContainerId,
        timeout: Option<i64>,
        signal: Option<String>,
        keep: bool,
    ) -> Result<()> {
        let state = self.state(id)?;
        let paths = self.container_paths(id);
        let alive = berth_shim::state::shim_alive(&paths);
        let orphaned = !alive && !berth_shim::orphans::orphans(&paths).is_empty();
        if !orphaned && (!alive || !(state.status.is_live() || state.status == Status::Created)) {
            return Err(EngineError::not_modified(
                "container already stopped".into(),
            ));
        }
        let timeout = timeout.map(|t| if t < 0 { u32::MAX } else { t as u32 });
        // dockerd's order: kill (with the stop signal), die (the shim's), stop.
        let stop_signal = signal
            .clone()
            .or_else(|| self.record(id).ok().and_then(|r| r.config.stop_signal))
            .unwrap_or_else(|| "SIGTERM".into());
        self.container_event(id, "kill", &[("signal", signal_number(&stop_signal))]);
        if orphaned {
            // Its shim was killed: the stop signal, then SIGKILL after the timeout, from here.
            let sig = berth_shim::signals::parse(&stop_signal)
                .map_err(|e| EngineError::invalid_parameter(e.to_string()))?;
            self.kill_orphans(id, sig)?;
            let grace = Duration::from_secs(timeout.unwrap_or(10).min(3600).into());
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && !berth_shim::orphans::orphans(&paths).is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill_orphans(id, nix::sys::signal::Signal::SIGKILL)?;
            self.container_event(id, "stop", &[]);
            return Ok(());
        }
        // The shim answers once the container has stopped.
        self.ask(
            id,
            Request::Stop {
                timeout,
                // A signal the shim cannot read was SIGTERM when it parsed the name itself.
                signal: signal.map(|s| {
                    berth_shim::signals::parse(&s).unwrap_or(nix::sys::signal::Signal::SIGTERM)
                }),
                keep,
            },
        )?;
        self.wait_shim_gone(id, Duration::from_secs(30));
        self.container_event(id, "stop", &[]);
        Ok(())
    }

    /// docker kill. 409 when not running.
    pub fn kill(&self, reference: &str, signal: Option<String>) -> Result<()> {
        let id = self.lookup(reference)?;
        let signal = signal
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGKILL".into());
        let sig = berth_shim::signals::parse(&signal)
            .map_err(|e| EngineError::invalid_parameter(e.to_string()))?;
        let paths = self.container_paths(&id);
        if !berth_shim::state::shim_alive(&paths)
            && !berth_shim::orphans::orphans(&paths).is_empty()
        {
            // Its shim was killed: the signal goes from here, to every process of its cgroup.
            self.container_event(&id, "kill", &[("signal", signal_number(&signal))]);
            return self.kill_orphans(&id, sig).map(drop);
        }
        let state = self.state(&id)?;
        if !matches!(
            state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) {
            return Err(EngineError::conflict(format!(
                "cannot kill container: {reference}: container {id} is not running"
            )));
        }
        // Logged before the signal goes, so that it comes before the `die` it may cause.
        self.container_event(&id, "kill", &[("signal", signal_number(&signal))]);
        self.ask(&id, Request::Kill { signal: sig })
            .map_err(|e| match e {
                e if e.is(ErrorKind::Conflict) => EngineError::conflict(format!(
                    "cannot kill container: {reference}: container {id} is not running"
                )),
                other => other,
            })
            .map(drop)
    }

    pub fn restart(
        &self,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> Result<()> {
        let id = self.lookup(reference)?;
        let _op = self.op_lock(&id)?;
        match self.stop_locked(&id, timeout, signal, true) {
            Ok(()) => {}
            Err(e) if e.is(ErrorKind::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.start_locked(&id)?;
        self.container_event(&id, "restart", &[]);
        Ok(())
    }

    pub fn pause(&self, reference: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        match state.status {
            Status::Paused => Err(EngineError::conflict(format!(
                "container {id} is already paused"
            ))),
            Status::Running => {
                self.ask(&id, Request::Pause)?;
                self.container_event(&id, "pause", &[]);
                Ok(())
            }
            _ => Err(EngineError::conflict(format!(
                "container {id} is not running"
            ))),
        }
    }

    pub fn unpause(&self, reference: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        if state.status != Status::Paused {
            return Err(EngineError::conflict(format!(
                "container {id} is not paused"
            )));
        }
        self.ask(&id, Request::Resume)?;
        self.container_event(&id, "unpause", &[]);
        Ok(())
    }

    pub fn resize(&self, reference: &str, rows: u16, cols: u16) -> Result<()> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        if !state.status.is_live() && !berth_shim::state::shim_alive(&self.container_paths(&id)) {
            return Err(EngineError::conflict(format!(
                "container {id} is not running"
            )));
        }
        self.ask(&id, Request::Resize { rows, cols })?;
        let size = [("height", rows.to_string()), ("width", cols.to_string())];
        self.container_event(&id, "resize", &size);
        Ok(())
    }

    /// docker rm. 409 for a running container without force.
    pub fn remove(&self, reference: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(reference, force, false)
    }

    /// docker rm [-v]: with `volumes`, the container's anonymous volumes go too (those no other
    /// container uses).
    pub fn remove_with_volumes(&self, reference: &str, force: bool, volumes: bool) -> Result<()> {
        let id = self.lookup(reference)?;
        let _op = self.op_lock(&id)?;
        let paths = self.container_paths(&id);
        let state = self.state(&id)?;
        let alive = berth_shim::state::shim_alive(&paths);
        if alive {
            if state.status.is_live() && !force {
                let what = if state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(EngineError::conflict(format!(
                    "cannot remove container \"{}\": container is {what}: stop the container before removing or force remove",
                    self.record(&id).map(|r| r.name).unwrap_or_else(|_| id.to_string())
                )));
            }
            let _ = control::request(
                &paths,
                &Request::Stop {
                    timeout: Some(0),
                    signal: Some(nix::sys::signal::Signal::SIGKILL),
                    keep: false,
                },
            );
            if !self.wait_shim_gone(&id, Duration::from_secs(20)) {
                return Err(EngineError::system_message(format!(
                    "could not kill container {id}: its shim did not exit"
                )));
            }
        } else {
            // A shim that was killed left its container running, owned by nobody.
            if !force && !berth_shim::orphans::orphans(&paths).is_empty() {
                return Err(EngineError::conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    self.record(&id).map(|r| r.name).unwrap_or_else(|_| id.to_string())
                )));
            }
            self.kill_orphans(&id, nix::sys::signal::Signal::SIGKILL)?;
        }
        let record = self.record(&id).ok();
        if record
            .as_ref()
            .is_some_and(|r| super::ports::publishes_any(&r.host_config))
        {
            // Rules a killed shim could not take down go with the container.
            if let Err(e) = berth_shim::net::ports::Table::for_root(&self.paths.root).remove(&id) {
                return Err(EngineError::system(
                    "removing the container's port rules",
                    e,
                ));
            }
        }
        // Read before the record goes: `destroy` carries the container's name and labels.
        let attributes = berth_shim::events::container_attributes(&paths.dir);
        // Its addresses are free before the container is seen gone (a client may reuse them at
        // once); a process killed from here on leaves a marked container that a sweep removes.
        match berth_shim::remove::begin_removal(&self.paths.root, &paths) {
            Ok(_) => {}
            Err(e) => eprintln!("berth: releasing the addresses of {id}: {e}"),
        }
        let names = self.names();
        let lock = names.lock()?;
        match berth_shim::remove::remove_container_files(&paths) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::system("removing the container", e)),
        }
        if let Some(r) = &record {
            lock.release(&r.name, &id);
        }
        drop(lock);
        if let Some(r) = record.filter(|_| volumes) {
            let names: Vec<String> = r
                .mount_points
                .iter()
                .filter(|m| m.kind == "volume")
                .map(|m| m.name.clone())
                .collect();
            self.remove_anonymous_volumes(&names);
        }
        self.log_event(berth_shim::events::Event::container(
            &id, "destroy", attributes,
        ));
        Ok(())
    }

    /// docker rename. 409 when the new name is taken.
    pub fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let new = new_name.trim_start_matches('/');
        if !super::super::names::valid(new) {
            return Err(EngineError::invalid_parameter(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let names = self.names();
        let lock = names.lock()?;
        let mut record = self.record(&id)?;
        let old = record.name.trim_start_matches('/').to_string();
        if old == new {
            return Err(EngineError::invalid_parameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        // Under the container's state lock, which its shim holds while it records an exit and
        // logs `die`: that event falls wholly before the rename (with the old name) or after.
        let held = berth_shim::state::lock(&self.container_paths(&id))
            .map_err(|e| EngineError::system("locking the container's state", e))?;
        lock.reserve(new, &id)?;
        record.name = format!("/{new}");
        if let Err(e) = self.write_record(&record) {
            lock.release(new, &id);
            return Err(e);
        }
        lock.release(&old, &id);
        drop(lock);
        self.rename_endpoints(&id, new);
        // The endpoints' DNS names follow the new name in `docker ps`.
        if let Err(e) = self.relist_networks(&id) {
            eprintln!("berth: listing the networks of {id}: {e}");
        }
        self.container_event(&id, "rename", &[("oldName", format!("/{old}"))]);
        drop(held);
        Ok(())
    }

    /// Signal the processes that a killed shim left in the container's cgroup (for SIGKILL:
    /// until none is left, and the cgroup goes). How many there were.
    fn kill_orphans(&self, id: &ContainerId, signal: nix::sys::signal::Signal) -> Result<usize> {
        berth_shim::orphans::signal_orphans(&self.container_paths(id), signal)
            .map_err(|e| EngineError::system_message(format!("could not kill container {id}: {e}")))
    }

    /// Wait until the container's shim has exited; false on timeout.
    pub fn wait_shim_gone(&self, id: &ContainerId, timeout: Duration) -> bool {
        let paths = self.container_paths(id);
        let deadline = Instant::now() + timeout;
        while berth_shim::state::shim_alive(&paths) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// A signal as dockerd writes it in events: its number ("15"); as given when unknown.
fn signal_number(signal: &str) -> String {
    berth_shim::signals::parse(signal)
        .map(|s| (s as i32).to_string())
        .unwrap_or_else(|_| signal.to_string())
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
