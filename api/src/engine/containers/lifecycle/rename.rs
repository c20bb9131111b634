//! docker rename.

use crate::engine::{Engine, EngineError, Result};

impl Engine {
    /// docker rename. 409 when the new name is taken.
    pub fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let id = self.lookup(reference)?;
        let new = new_name.trim_start_matches('/');
        if !crate::engine::names::valid(new) {
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
            tracing::warn!("listing the networks of {id}: {e}");
        }
        self.container_event(&id, "rename", &[("oldName", format!("/{old}"))]);
        drop(held);
        Ok(())
    }
}
