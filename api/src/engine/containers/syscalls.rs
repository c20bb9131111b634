//! `GET /containers/{id}/syscalls` (a berth extension): the container's system calls as the
//! eBPF monitor counted them (berth_monitor), read from the maps pinned under bpffs. The counts
//! cover the container's cgroup since its shim placed the first process in it (the init's own
//! set-up included) and stay readable after it exits, until it is removed.

use crate::engine::{Engine, EngineError, Result};
use serde::Serialize;

/// One system call's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SyscallRow {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
}

/// `{"Syscalls": [...], "DroppedEvents": N}`; the rows most called first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Syscalls {
    pub syscalls: Vec<SyscallRow>,
    /// Exec events lost to a full ring buffer while the container was watched.
    pub dropped_events: u64,
}

impl Engine {
    /// Empty when the monitor is off or not loaded (no BPF on this machine), or the container
    /// never ran.
    pub fn syscalls(&self, reference: &str) -> Result<Syscalls> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        let Some(dir) = berth_shim::monitor::pin_dir() else {
            return Ok(Syscalls::default());
        };
        if state.cgroup_id == 0 {
            return Ok(Syscalls::default());
        }
        let monitor = match berth_monitor::Monitor::open(&dir) {
            Ok(m) => m,
            Err(_) => return Ok(Syscalls::default()),
        };
        let rows = monitor
            .counts(state.cgroup_id)
            .map_err(|e| EngineError::system("reading the syscall counts", e))?;
        let dropped_events = monitor
            .dropped(state.cgroup_id)
            .map_err(|e| EngineError::system("reading the dropped events", e))?;
        Ok(Syscalls {
            syscalls: rows
                .into_iter()
                .map(|r| SyscallRow {
                    name: r.name,
                    calls: r.calls,
                    errors: r.errors,
                })
                .collect(),
            dropped_events,
        })
    }
}
