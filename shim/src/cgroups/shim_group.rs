//! A shim's own cgroup: `berth.slice/shim-<id>` in every mounted hierarchy (each v1 one, named
//! ones such as `name=systemd` included, and the v2 tree), shared by the container's shim and
//! its exec helpers. A shim moves there as soon as it has detached, so that it never stays in
//! the cgroup of whoever spawned it (a service, a login session) and never dies with it.
//!
//! Invariants: the group never holds a controller setting and never enables one below it, so
//! it can hold processes under any parent (v2's no-internal-process rule); the shim leaves it
//! before removing it, since a cgroup with a process in it cannot go. `berth.slice` itself is
//! shared by every berth on the machine and is never removed.

use super::{remove_dir, v1, write_file, CgroupError, Hierarchy, Result};
use std::fs;
use std::path::PathBuf;

/// The berth-owned parent of every shim's group: a slice at the top, where systemd expects one.
pub const SHIM_PARENT: &str = "berth.slice";

/// One container's shim group.
#[derive(Debug, Clone)]
pub struct ShimGroup {
    hierarchies: Vec<Hierarchy>,
    /// `berth.slice/shim-<id>`, relative to each hierarchy's root.
    rel: PathBuf,
}

impl ShimGroup {
    /// The group of container `id` in every hierarchy mounted here. Nothing is touched.
    pub fn new(id: &str) -> Result<ShimGroup> {
        ShimGroup::under(super::hierarchies()?, SHIM_PARENT, id)
    }

    /// The group `<parent>/shim-<id>` in `hierarchies`.
    pub(super) fn under(hierarchies: Vec<Hierarchy>, parent: &str, id: &str) -> Result<ShimGroup> {
        super::check_component(id)?;
        Ok(ShimGroup {
            hierarchies,
            rel: PathBuf::from(parent).join(format!("shim-{id}")),
        })
    }

    /// The group's directory in each hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|h| h.mount_point.join(&self.rel))
            .collect()
    }

    /// Move process `pid` into the group in every hierarchy, creating what is missing. A
    /// hierarchy that refuses does not stop the others; the last refusal is returned.
    pub fn enter(&self, pid: u32) -> Result<()> {
        let mut result = Ok(());
        for h in &self.hierarchies {
            if let Err(e) = self.enter_one(h, pid) {
                result = Err(e);
            }
        }
        result
    }

    fn enter_one(&self, h: &Hierarchy, pid: u32) -> Result<()> {
        let dir = h.mount_point.join(&self.rel);
        // 1. The parent and the group (both may be there already: a re-start, an exec).
        fs::create_dir_all(&dir).map_err(|source| CgroupError::Create {
            path: dir.clone(),
            source,
        })?;
        // 2. A v1 cpuset group refuses tasks until it has cpus and mems: its parent's.
        if h.v1_cpuset {
            v1::inherit_cpuset(&h.mount_point, &self.rel)?;
        }
        // 3. The move (all of the process's threads).
        write_file(&dir.join("cgroup.procs"), &pid.to_string())
    }

    /// Move process `pid` back to each hierarchy's root, out of the group, so that the group
    /// can be removed while it still runs.
    pub fn leave(&self, pid: u32) -> Result<()> {
        let mut result = Ok(());
        for h in &self.hierarchies {
            if let Err(e) = write_file(&h.mount_point.join("cgroup.procs"), &pid.to_string()) {
                result = Err(e);
            }
        }
        result
    }

    /// The processes in the group (every hierarchy's view, each once).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs()
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|s| {
                s.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Remove the group's directory from every hierarchy (gone already is fine; busy is
    /// retried for [`super::REMOVE_TIMEOUT`]). The parent stays.
    pub fn remove(&self) -> Result<()> {
        let mut result = Ok(());
        for dir in self.dirs() {
            if let Err(e) = remove_dir(&dir) {
                result = Err(e);
            }
        }
        result
    }
}
