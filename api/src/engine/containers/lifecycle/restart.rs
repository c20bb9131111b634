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
}
