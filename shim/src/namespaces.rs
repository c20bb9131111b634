//! Which namespaces a container gets: the clone flags for the private ones, and the joins for
//! those shared with the host or another container.

use crate::spec::{Namespaces, NsMode};
use nix::sched::CloneFlags;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("opening namespace {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("joining namespace {path}: {source}")]
    Join { path: PathBuf, source: nix::Error },
    #[error("unsharing the cgroup namespace: {0}")]
    Cgroup(nix::Error),
}

pub type Result<T> = std::result::Result<T, NamespaceError>;

/// The clone(2) flags for the namespaces made new at clone time. The mount namespace is always
/// new; the cgroup namespace is unshared later, after the process has joined its cgroup, so
/// that the container's cgroup is its root.
pub fn clone_flags(ns: &Namespaces) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS;
    for (mode, flag) in [
        (&ns.pid, CloneFlags::CLONE_NEWPID),
        (&ns.net, CloneFlags::CLONE_NEWNET),
        (&ns.ipc, CloneFlags::CLONE_NEWIPC),
        (&ns.uts, CloneFlags::CLONE_NEWUTS),
    ] {
        if *mode == NsMode::Private {
            flags |= flag;
        }
    }
    if ns.user.is_some() {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    flags
}

/// The namespaces to enter with setns(2), in the order they must be entered.
pub fn joins(ns: &Namespaces) -> Vec<(PathBuf, CloneFlags)> {
    let mut out = Vec::new();
    for (mode, flag) in [
        (&ns.ipc, CloneFlags::CLONE_NEWIPC),
        (&ns.uts, CloneFlags::CLONE_NEWUTS),
        (&ns.net, CloneFlags::CLONE_NEWNET),
    ] {
        if let NsMode::Join(path) = mode {
            out.push((path.clone(), flag));
        }
    }
    out
}

/// Enter one namespace by path.
pub fn join(path: &std::path::Path, flag: CloneFlags) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|source| NamespaceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    nix::sched::setns(&f, flag).map_err(|source| NamespaceError::Join {
        path: path.to_path_buf(),
        source,
    })
}

/// A pid namespace to join is entered by the shim before clone (it applies to children), and
/// left again after: returns the shim's own namespace to restore.
pub fn enter_pid_for_children(ns: &Namespaces) -> Result<Option<std::fs::File>> {
    let NsMode::Join(path) = &ns.pid else {
        return Ok(None);
    };
    let own = std::fs::File::open("/proc/self/ns/pid").map_err(|source| NamespaceError::Open {
        path: PathBuf::from("/proc/self/ns/pid"),
        source,
    })?;
    join(path, CloneFlags::CLONE_NEWPID)?;
    Ok(Some(own))
}

/// Undo [`enter_pid_for_children`].
pub fn leave_pid_for_children(own: Option<std::fs::File>) -> Result<()> {
    if let Some(f) = own {
        nix::sched::setns(&f, CloneFlags::CLONE_NEWPID).map_err(|source| NamespaceError::Join {
            path: PathBuf::from("/proc/self/ns/pid"),
            source,
        })?;
    }
    Ok(())
}

/// Make the cgroup the process is in now the root of a new cgroup namespace.
pub fn unshare_cgroup(ns: &Namespaces) -> Result<()> {
    if ns.cgroup == NsMode::Private {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(NamespaceError::Cgroup)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_namespaces_are_all_private() {
        let f = clone_flags(&Namespaces::default());
        for flag in [
            CloneFlags::CLONE_NEWNS,
            CloneFlags::CLONE_NEWPID,
            CloneFlags::CLONE_NEWNET,
            CloneFlags::CLONE_NEWIPC,
            CloneFlags::CLONE_NEWUTS,
        ] {
            assert!(f.contains(flag), "{flag:?} missing from {f:?}");
        }
        assert!(!f.contains(CloneFlags::CLONE_NEWUSER));
        assert!(joins(&Namespaces::default()).is_empty());
    }

    #[test]
    fn host_and_joined_namespaces_are_not_cloned() {
        let ns = Namespaces {
            net: NsMode::Host,
            ipc: NsMode::Join(PathBuf::from("/proc/1/ns/ipc")),
            ..Namespaces::default()
        };
        let f = clone_flags(&ns);
        assert!(!f.contains(CloneFlags::CLONE_NEWNET));
        assert!(!f.contains(CloneFlags::CLONE_NEWIPC));
        assert_eq!(
            joins(&ns),
            vec![(PathBuf::from("/proc/1/ns/ipc"), CloneFlags::CLONE_NEWIPC)]
        );
    }
}
