//! docker restart: a stop that keeps an auto-removed container, then a start.

use crate::engine::{Engine, ErrorKind, Result};

impl Engine {
    pub fn restart(
        &self,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> Result<()> {
        let id = self.lookup(reference)?;
        let op = self.op_lock(&id)?;
        match self.stop_locked(&id, timeout, signal, true, op) {
            Ok(()) => {}
            Err(e) if e.is(ErrorKind::NotModified) => {}
            Err(e) => return Err(e),
        }
        // The stop let the lock go while it waited (see stop_locked): taken again for the start,
        // which finds the container running when another start came first, as dockerd's would.
        let _op = self.op_lock(&id)?;
        match self.start_locked(&id) {
            Ok(()) => {}
            Err(e) if e.is(ErrorKind::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.container_event(&id, "restart", &[]);
        Ok(())
    }
}
