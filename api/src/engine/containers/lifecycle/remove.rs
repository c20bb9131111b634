//! docker rm and docker container prune.

use crate::engine::{Engine, EngineError, Result};
use berth_shim::control::{self, Request};
use berth_shim::state::Status;
use std::time::Duration;

impl Engine {
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
            .is_some_and(|r| crate::engine::containers::ports::publishes_any(&r.host_config))
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
            Err(e) => tracing::warn!("releasing the addresses of {id}: {e}"),
        }
        let names = self.names();
        let lock = names.lock()?;
        match berth_shim::remove::remove_container_files(&paths, &self.settings.runtime) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::system("removing the container", e)),
        }
        if let Some(r) = &record {
            lock.release(&r.name, &id);
        }
        drop(lock);
        // Its processes are gone and its files too: its ids may go to another container.
        self.release_userns(id.as_str());
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
}
