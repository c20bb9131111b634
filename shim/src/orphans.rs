//! A container whose shim was killed (SIGKILL, OOM) keeps running: by design it survives its
//! caller, but nothing owns it any more. Its cgroup still names every one of its processes, so
//! whoever finds the shim gone (rm -f, kill, stop) kills them through it and removes the group,
//! and the group that the dead shim could not remove, its own.

use crate::cgroups::{self, Cgroup, ShimGroup};
use crate::paths::ContainerPaths;
use crate::spec::ContainerSpec;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// How long the processes of a killed group get to leave it.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    #[error("{0}")]
    Cgroup(#[from] cgroups::CgroupError),
    #[error("processes {0:?} of the container are still running")]
    Survivors(Vec<i32>),
}

/// The container's cgroup as its shim made it (from its spec); None when it has no spec (never
/// started) or the machine has no cgroups.
pub fn cgroup_of(cpaths: &ContainerPaths) -> Option<Cgroup> {
    let data = std::fs::read(cpaths.config()).ok()?;
    let spec: ContainerSpec = serde_json::from_slice(&data).ok()?;
    let layout = cgroups::detect().ok()?;
    Cgroup::new(&layout, &spec.cgroup_parent, &cpaths.id).ok()
}

/// The processes still in the container's cgroup. Call only when its shim is gone: while it
/// lives, they are its own.
pub fn orphans(cpaths: &ContainerPaths) -> Vec<i32> {
    cgroup_of(cpaths).map(|cg| cg.pids()).unwrap_or_default()
}

/// Send `signal` to every process left in the cgroup of a container whose shim is gone. For
/// SIGKILL, wait until the group is empty (cgroup.kill on v2; else the group frozen, each pid
/// killed, thawed) and remove its directories and those of the shim's group. Returns how many
/// processes there were.
pub fn signal_orphans(cpaths: &ContainerPaths, signal: Signal) -> Result<usize, OrphanError> {
    let found = match cgroup_of(cpaths) {
        Some(cg) => signal_group(&cg, signal)?,
        None => 0,
    };
    if signal == Signal::SIGKILL {
        // With the shim gone, what is left in its group is exec helpers that will never be
        // served (one waiting for the attach of an API process that died waits forever): they
        // go too, or the group cannot be removed.
        let group = ShimGroup::new(&cpaths.id)?;
        for pid in group.pids() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        group.remove()?;
    }
    Ok(found)
}

/// [`signal_orphans`] on the container's own group.
fn signal_group(cg: &Cgroup, signal: Signal) -> Result<usize, OrphanError> {
    let found = cg.pids().len();
    if found > 0 {
        cg.kill_all(signal)?;
    }
    if signal != Signal::SIGKILL {
        return Ok(found);
    }
    // A paused container: its killed processes die once thawed.
    if cg.is_frozen() {
        cg.thaw()?;
    }
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    loop {
        let left = cg.pids();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(OrphanError::Survivors(left));
        }
        // A process forked between two reads escapes neither: kill again.
        cg.kill_all(Signal::SIGKILL)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    cg.remove()?;
    Ok(found)
}
