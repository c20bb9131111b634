//! `GET /containers/{id}/syscalls` (a berth extension): the container's system calls as the
//! eBPF monitor counted them (berth_monitor), read from the maps pinned under bpffs. The counts
//! cover the container's cgroup since its shim placed the first process in it (the init's own
//! set-up included) and stay readable after it exits, until it is removed; so do the bytes and
//! packets its sockets sent and received (cgroup_skb programs on its cgroup2 directory).

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

/// What the container's sockets sent and received, headers included (loopback traffic
/// counts both ways).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetRow {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// `{"Syscalls": [...], "DroppedEvents": N, "Network": {...}}`; the rows most called first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Syscalls {
    pub syscalls: Vec<SyscallRow>,
    /// Events lost to a full (or missing) ring buffer while the container was watched.
    pub dropped_events: u64,
    pub network: NetRow,
}

impl Syscalls {
    /// Calls and errors of every system call together.
    pub fn totals(&self) -> (u64, u64) {
        self.syscalls
            .iter()
            .fold((0, 0), |(c, e), r| (c + r.calls, e + r.errors))
    }
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
        let net = monitor
            .net(state.cgroup_id)
            .map_err(|e| EngineError::system("reading the packet counts", e))?;
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
            network: NetRow {
                rx_bytes: net.rx_bytes,
                rx_packets: net.rx_packets,
                tx_bytes: net.tx_bytes,
                tx_packets: net.tx_packets,
            },
        })
    }
}
