//! `GET /containers/{id}/syscalls` (a berth extension): the container's system calls as the
//! eBPF monitor counted them (berth_monitor), read from the maps pinned under bpffs. The counts
//! cover the container's cgroup since its shim placed the first process in it (the init's own
//! set-up included) and stay readable after it exits, until it is removed; so do the bytes and
//! packets its sockets sent and received (cgroup_skb programs on its cgroup2 directory).

use crate::engine::{Engine, EngineError, Result};
use serde::Serialize;

pub use berth_monitor::Policy;

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
    /// `POST /containers/{id}/policy` (a berth extension): replaces the container's deny rules.
    /// Kept in its directory (the shim sets them again at each start) and, when it runs, put
    /// in the kernel's maps at once. A bad rule is a 400 and changes nothing. Rules for a
    /// container whose shim lives with a filter that lets other architectures' calls through
    /// (it started without rules) are a 409: they would not cover its 32-bit calls.
    pub fn set_policy(&self, reference: &str, policy: berth_monitor::Policy) -> Result<()> {
        let id = self.lookup(reference)?;
        policy.validate().map_err(EngineError::invalid_parameter)?;
        // A start in progress has either read the rules or not yet recorded its filter.
        let _op = self.op_lock(&id)?;
        let paths = self.container_paths(&id);
        let dir = paths.dir.clone();
        let state = self.state(&id)?;
        let live = state.status.is_live() && state.cgroup_id != 0;
        // A running container's policy needs the monitor: nothing is stored when it is away.
        let monitor = if live {
            Some(open_monitor(&dir, &self.settings.runtime)?)
        } else {
            None
        };
        let denies = policy != berth_monitor::Policy::default();
        if denies && !state.seccomp_native_only && berth_shim::state::shim_alive(&paths) {
            return Err(EngineError::conflict(format!(
                "container {reference} was started without a deny policy: its seccomp filter lets 32-bit system calls through, which the deny rules would not cover; set the policy at create with the labels {} and {}, or stop the container, set it and start it again",
                berth_monitor::policy::LABEL_SYSCALLS,
                berth_monitor::policy::LABEL_CONNECT,
            )));
        }
        let data = serde_json::to_vec_pretty(&policy)
            .map_err(|e| EngineError::system("encoding the policy", e))?;
        berth_shim::fsutil::write_atomic(&dir.join(berth_shim::monitor::POLICY_FILE), &data)
            .map_err(|e| EngineError::system("writing the policy", e))?;
        let Some(mut monitor) = monitor else {
            return Ok(());
        };
        monitor
            .set_policy(state.cgroup_id, &policy)
            .map_err(|e| EngineError::system("setting the policy", e))
    }

    /// `GET /containers/{id}/seccomp-profile` (a berth extension): a profile in Docker's JSON
    /// format that allows exactly the system calls the monitor counted for the container, plus
    /// those berth's init makes after it loads the filter (seccomp::RUNTIME_CALLS) and those
    /// that never return, which the counts cannot show (exit, exit_group); anything
    /// else fails with EPERM. A 409 when nothing was counted (the container did not ask for
    /// counts, never ran, or the monitor is off), since an empty profile would only stop it
    /// from starting.
    pub fn seccomp_profile(&self, reference: &str) -> Result<serde_json::Value> {
        let counts = self.syscalls(reference)?;
        if counts.syscalls.is_empty() {
            return Err(EngineError::conflict(format!(
                "no system calls were counted for container {reference}: run it first with the label berth.monitor=counts (and the eBPF monitor on)"
            )));
        }
        let mut names: Vec<String> = counts
            .syscalls
            .into_iter()
            .filter(|r| r.calls > 0 && !r.name.starts_with("syscall_"))
            .map(|r| r.name)
            .chain(
                berth_shim::security::seccomp::RUNTIME_CALLS
                    .iter()
                    .chain(&berth_monitor::UNCOUNTED)
                    .map(|s| s.to_string()),
            )
            .collect();
        names.sort();
        names.dedup();
        Ok(profile_of(&names))
    }

    /// The counts of a container that never ran are empty. When the monitor could not watch
    /// the container (BERTH_MONITOR=0, no bpffs, no BTF, programs refused), a 503 that says
    /// why: empty counts would read as "no calls made".
    pub fn syscalls(&self, reference: &str) -> Result<Syscalls> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        let dir = self.container_paths(&id).dir;
        if state.cgroup_id == 0 && berth_shim::monitor::unavailable(&dir).is_none() {
            return Ok(Syscalls::default());
        }
        let monitor = open_monitor(&dir, &self.settings.runtime)?;
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

/// Readies the eBPF monitor in this process's mount namespace, which should be the host's:
/// bpffs and tracefs mounted, the programs loaded and pinned (berth_monitor::prepare_host,
/// ensure_loaded). `berth serve` does it at its start, so that the first container's start
/// does not pay for the load. Ok when the monitor is turned off; the cause when it cannot work.
pub fn prepare_monitor(settings: &berth_shim::Settings) -> std::result::Result<(), String> {
    let Some(pins) = settings.pin_dir() else {
        return Ok(());
    };
    berth_monitor::prepare_host(&pins).map_err(|e| e.to_string())?;
    berth_monitor::ensure_loaded(&pins).map_err(|e| e.to_string())?;
    Ok(())
}

/// The pinned monitor, for the container of `container_dir`; a 503 naming the cause when it
/// is off, could not watch that container at its last start, or is not loaded.
fn open_monitor(
    container_dir: &std::path::Path,
    settings: &berth_shim::Settings,
) -> Result<berth_monitor::Monitor> {
    let unavailable = |cause: String| {
        EngineError::unavailable(format!("the eBPF monitor is unavailable: {cause}"))
    };
    let Some(pins) = settings.pin_dir() else {
        return Err(unavailable("it is turned off (BERTH_MONITOR=0)".into()));
    };
    if let Some(cause) = berth_shim::monitor::unavailable(container_dir) {
        return Err(unavailable(cause));
    }
    berth_monitor::Monitor::open(&pins).map_err(|e| unavailable(e.to_string()))
}

/// Docker's seccomp profile format: deny (EPERM) by default, allow `names`, for the native
/// architecture and the ones it runs.
pub fn profile_of(names: &[String]) -> serde_json::Value {
    let architectures: &[&str] = if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else if cfg!(target_arch = "aarch64") {
        &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    } else {
        &[]
    };
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": architectures,
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_profile_allows_the_names_and_nothing_else() {
        let p = super::profile_of(&["read".into(), "write".into()]);
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(
            p["syscalls"][0]["names"],
            serde_json::json!(["read", "write"])
        );
        assert_eq!(p["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
        assert_eq!(p["syscalls"].as_array().unwrap().len(), 1);
        let text = p.to_string();
        berth_shim::security::seccomp::Profile::parse(&text).expect("the shim reads it");
    }
}
