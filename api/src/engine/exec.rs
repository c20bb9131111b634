//! docker exec: create records the exec under its container (and an index by exec id), start
//! spawns the exec helper, inspect reads what the helper recorded.

use super::detach_keys::DetachKeys;
use super::{Engine, EngineError, Result};
use crate::engine::ids::ContainerId;
use berth_shim::control::ErrorKind;
use berth_shim::exec::{ExecPaths, ExecSpec};
use berth_shim::spawn::{self, SpawnError};
use berth_shim::state::Status;
use serde::Deserialize;
use serde_json::{json, Value};

/// Docker's exec create body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub privileged: bool,
    pub user: String,
    pub working_dir: String,
    pub console_size: Option<Vec<u16>>,
    /// docker-py sends `detachKeys` (dockerd's decoder ignores case).
    #[serde(alias = "detachKeys")]
    pub detach_keys: String,
}

impl Engine {
    fn exec_index(&self, exec_id: &str) -> std::path::PathBuf {
        self.paths.root.join("execs").join(exec_id)
    }

    /// The container an exec belongs to, and the exec's files.
    pub fn exec_paths(&self, exec_id: &str) -> Result<(ContainerId, ExecPaths)> {
        let not_found = || EngineError::not_found(format!("No such exec instance: {exec_id}"));
        if exec_id.is_empty() || !exec_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let cid = std::fs::read_to_string(self.exec_index(exec_id)).map_err(|_| not_found())?;
        let cid = ContainerId::parse(cid.trim()).ok_or_else(not_found)?;
        let ep = ExecPaths::new(&self.container_paths(&cid), exec_id);
        if !ep.spec().exists() {
            return Err(not_found());
        }
        Ok((cid, ep))
    }

    /// As dockerd (API 1.42 on) checks an exec's `User` at create: a name (user or group) that
    /// the container's /etc/passwd or /etc/group lacks is a 400 in runc's words, rather than a
    /// start that fails inside the container. The files are read through the container's root
    /// from here only when they are plain files (a symlink is left to the start, which reads it
    /// inside the container).
    fn check_exec_user(&self, id: &ContainerId, user: &str) -> Result<()> {
        if user.is_empty() {
            return Ok(());
        }
        let st = self.state(id)?;
        let root = std::path::PathBuf::from(format!("/proc/{}/root", st.pid));
        let plain = ["etc", "etc/passwd", "etc/group"].iter().all(|p| {
            std::fs::symlink_metadata(root.join(p))
                .map(|m| !m.file_type().is_symlink())
                .unwrap_or(true)
        });
        if st.pid <= 0 || !plain {
            return Ok(());
        }
        use berth_shim::security::UserError;
        match berth_shim::security::user::resolve(&root, user, &[]) {
            Err(e @ (UserError::NoSuchUser(_) | UserError::NoSuchGroup(_))) => {
                Err(EngineError::invalid_parameter(e.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Whether the container's process runs: its state says so, the pid recorded is still
    /// the same process (its start time), and it still has the namespaces an exec joins (an
    /// exiting process loses them before it is a zombie, and a zombie has none; both still
    /// have their start time).
    fn container_process_alive(&self, id: &ContainerId) -> bool {
        self.state(id).is_ok_and(|st| {
            st.status == Status::Running
                && st.pid > 0
                && berth_shim::host::process_start_time(st.pid).ok() == Some(st.pid_start_time)
                && std::fs::read_link(format!("/proc/{}/ns/mnt", st.pid)).is_ok()
        })
    }

    fn check_exec_allowed(&self, id: &ContainerId) -> Result<()> {
        let st = self.state(id)?;
        match st.status {
            Status::Running => Ok(()),
            Status::Paused => Err(EngineError::conflict(format!(
                "container {id} is paused, unpause the container before exec"
            ))),
            _ => Err(EngineError::conflict(format!(
                "container {id} is not running"
            ))),
        }
    }

    pub fn exec_create(&self, reference: &str, cfg: ExecConfig) -> Result<String> {
        let id = self.lookup(reference)?;
        self.check_exec_allowed(&id)?;
        let args = cfg.cmd.clone().unwrap_or_default();
        if args.is_empty() {
            return Err(EngineError::invalid_parameter(
                "No exec command specified".into(),
            ));
        }
        self.check_exec_user(&id, &cfg.user)?;
        // dockerd's words, and its status: a plain error (500).
        if DetachKeys::parse(&cfg.detach_keys).is_err() {
            return Err(EngineError::system_message(format!(
                "Invalid escape keys ({}) provided",
                cfg.detach_keys
            )));
        }
        let exec_id = super::names::new_id();
        let spec = ExecSpec {
            id: exec_id.clone(),
            container_id: id.to_string(),
            args,
            env: cfg.env.unwrap_or_default(),
            user: cfg.user,
            working_dir: cfg.working_dir,
            tty: cfg.tty,
            attach_stdin: cfg.attach_stdin,
            attach_stdout: cfg.attach_stdout,
            attach_stderr: cfg.attach_stderr,
            privileged: cfg.privileged,
            console_size: cfg
                .console_size
                .filter(|s| s.len() == 2 && s[0] > 0 && s[1] > 0)
                .map(|s| (s[0], s[1])),
            detach_keys: cfg.detach_keys,
        };
        let ep = ExecPaths::new(&self.container_paths(&id), &exec_id);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&ep.dir)?;
            let data = serde_json::to_vec_pretty(&spec).map_err(std::io::Error::other)?;
            berth_shim::fsutil::write_atomic(&ep.spec(), &data)?;
            let index = self.exec_index(&exec_id);
            std::fs::create_dir_all(index.parent().unwrap_or(&self.paths.root))?;
            berth_shim::fsutil::write_atomic(&index, id.as_bytes())
        };
        write().map_err(|e| EngineError::system("recording the exec", e))?;
        self.container_event(
            &id,
            &format!("exec_create: {}", spec.args.join(" ")),
            &[("execID", exec_id.clone())],
        );
        Ok(exec_id)
    }

    /// Start an exec. `attached`: the helper waits for the client's attach before it starts
    /// the process; the caller then attaches with `berth_shim::exec::attach`.
    pub fn exec_start(&self, exec_id: &str, attached: bool) -> Result<ExecPaths> {
        let (cid, _) = self.exec_paths(exec_id)?;
        // Held until the helper has reported: a removal (or a stop, or a start) of the
        // container waits, so that the helper never finds the container half removed, nor
        // makes its run directory again after the removal took it.
        let _op = self.op_lock(&cid).map_err(|e| {
            if e.is(super::error::ErrorKind::NotFound) {
                EngineError::not_found(format!("No such exec instance: {exec_id}"))
            } else {
                e
            }
        })?;
        // The container may have been removed, or replaced, while this waited for the lock.
        let (cid, ep) = self.exec_paths(exec_id)?;
        self.check_exec_allowed(&cid)?;
        if ep.state().exists() || berth_shim::fsutil::is_locked(&ep.lock()) {
            return Err(EngineError::conflict(format!(
                "Error: Exec command {exec_id} has already run"
            )));
        }
        let args = std::fs::read(ep.spec())
            .ok()
            .and_then(|d| serde_json::from_slice::<ExecSpec>(&d).ok())
            .map(|s| s.args.join(" "))
            .unwrap_or_default();
        self.container_event(
            &cid,
            &format!("exec_start: {args}"),
            &[("execID", exec_id.to_string())],
        );
        match spawn::start_exec(
            &self.paths,
            &cid,
            exec_id,
            attached,
            self.settings.runtime.shim_binary.clone(),
        ) {
            Ok(_) => Ok(ep),
            // The container ended between the check above and the helper's own (a kill, or
            // its process exiting): dockerd's conflict, as if it had ended before.
            Err(_) if !self.container_process_alive(&cid) => Err(EngineError::conflict(format!(
                "container {cid} is not running"
            ))),
            Err(SpawnError::Start { message, .. }) if !attached => Err(EngineError::system_message(
                format!("OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown"),
            )),
            Err(SpawnError::Start { message, kind: ErrorKind::Conflict, .. }) => Err(EngineError::conflict(message)),
            Err(e) => Err(EngineError::system("starting the exec", e)),
        }
    }

    /// The detach keys an attached start of exec `exec_id` watches for: None when the exec has
    /// no TTY (dockerd watches for them only then).
    pub fn exec_detach_keys(&self, exec_id: &str) -> Result<Option<DetachKeys>> {
        let (_, ep) = self.exec_paths(exec_id)?;
        let spec = read_exec_spec(&ep)?;
        Ok(spec
            .tty
            .then(|| DetachKeys::parse(&spec.detach_keys).unwrap_or_default()))
    }

    /// A client detached from exec `exec_id` with the detach keys: dockerd's `exec_detach`.
    pub fn exec_detached(&self, exec_id: &str) {
        if let Ok((cid, _)) = self.exec_paths(exec_id) {
            self.container_event(&cid, "exec_detach", &[("execID", exec_id.to_string())]);
        }
    }

    /// The start's `ConsoleSize` (rows, columns): replaces the exec's own before it starts.
    pub fn exec_set_console_size(&self, exec_id: &str, size: (u16, u16)) -> Result<()> {
        let (_, ep) = self.exec_paths(exec_id)?;
        let mut spec = read_exec_spec(&ep)?;
        spec.console_size = Some(size);
        let data = serde_json::to_vec_pretty(&spec).map_err(|e| EngineError::system("exec", e))?;
        berth_shim::fsutil::write_atomic(&ep.spec(), &data)
            .map_err(|e| EngineError::system("recording the exec", e))
    }

    pub fn exec_resize(&self, exec_id: &str, rows: u16, cols: u16) -> Result<()> {
        let (_, ep) = self.exec_paths(exec_id)?;
        berth_shim::exec::resize(&ep, rows, cols)
            .map_err(|e| EngineError::conflict(format!("exec {exec_id} is not running: {e}")))
    }

    pub fn exec_inspect(&self, exec_id: &str) -> Result<Value> {
        let (cid, ep) = self.exec_paths(exec_id)?;
        let spec = read_exec_spec(&ep)?;
        let st = berth_shim::exec::read_state(&ep);
        let (entrypoint, arguments) = spec
            .args
            .split_first()
            .map(|(a, rest)| (a.clone(), rest.to_vec()))
            .unwrap_or_default();
        Ok(json!({
            "ID": exec_id,
            "Running": st.running,
            "ExitCode": st.exit_code,
            "ProcessConfig": {
                "tty": spec.tty,
                "entrypoint": entrypoint,
                "arguments": arguments,
                "privileged": spec.privileged,
                "user": spec.user,
            },
            "OpenStdin": spec.attach_stdin,
            "OpenStderr": spec.attach_stderr,
            "OpenStdout": spec.attach_stdout,
            "CanRemove": false,
            "ContainerID": cid,
            "DetachKeys": DetachKeys::inspect_form(&spec.detach_keys),
            "Pid": st.pid,
        }))
    }
}

fn read_exec_spec(ep: &ExecPaths) -> Result<ExecSpec> {
    let data = std::fs::read(ep.spec()).map_err(|e| EngineError::system("exec", e))?;
    serde_json::from_slice(&data).map_err(|e| EngineError::system("exec", e))
}
