//! Which namespaces a container gets: the clone flags for the private ones, and the joins for
//! those shared with another container. A joined namespace is opened through the donor's pid
//! and kept only if that pid still has the donor's start time after the open, so that a pid
//! reused by another process never gives its namespaces.

use crate::spec::{Donor, Namespaces, NsMode};
use crate::sys;
use nix::sched::CloneFlags;
use std::fs::File;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// dockerd's words for a donor that is not running.
    #[error("cannot join {what} of a non running container: {container}")]
    DonorGone {
        what: &'static str,
        container: String,
    },
    #[error("opening namespace {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("joining namespace {what}: {source}")]
    Join {
        what: &'static str,
        source: nix::Error,
    },
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

/// One joined namespace, opened and checked: enter it with [`Joined::enter`].
#[derive(Debug)]
pub struct Joined {
    file: File,
    flag: CloneFlags,
    /// "network", "IPC", ... as dockerd names them.
    what: &'static str,
}

impl Joined {
    pub fn enter(&self) -> Result<()> {
        self.setns().map_err(|source| NamespaceError::Join {
            what: self.what,
            source,
        })
    }

    /// setns(2) into it.
    pub fn setns(&self) -> nix::Result<()> {
        nix::sched::setns(&self.file, self.flag)
    }
}

/// Every namespace of the running process `pid` (its user namespace too, with `user`), for an
/// exec into its container: all opened before any is entered (after the mount namespace,
/// /proc is the container's), in the order to enter them, the mount namespace last.
pub fn open_of_process(pid: i32, user: bool) -> io::Result<Vec<Joined>> {
    let mut kinds = vec![
        ("ipc", "IPC", CloneFlags::CLONE_NEWIPC),
        ("uts", "UTS", CloneFlags::CLONE_NEWUTS),
        ("net", "network", CloneFlags::CLONE_NEWNET),
        ("cgroup", "cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("pid", "PID", CloneFlags::CLONE_NEWPID),
        ("mnt", "mount", CloneFlags::CLONE_NEWNS),
    ];
    if user {
        kinds.insert(0, ("user", "user", CloneFlags::CLONE_NEWUSER));
    }
    kinds
        .into_iter()
        .map(|(kind, what, flag)| {
            let file = File::open(format!("/proc/{pid}/ns/{kind}"))?;
            Ok(Joined { file, flag, what })
        })
        .collect()
}

/// The namespaces to join, opened now (before the clone, by the shim), in the order they must
/// be entered: IPC, UTS, network; the pid namespace apart (the shim enters it for its child).
#[derive(Debug, Default)]
pub struct Joins {
    pub pid: Option<Joined>,
    pub others: Vec<Joined>,
}

/// Open the namespace `kind` of `donor`'s process, and keep it only if that pid is still the
/// donor's: its start time is checked after the open, so that the file cannot be another
/// process's that took the pid meanwhile.
fn open_donor(donor: &Donor, kind: &str, what: &'static str, flag: CloneFlags) -> Result<Joined> {
    let gone = || NamespaceError::DonorGone {
        what,
        container: donor.container.clone(),
    };
    if donor.pid <= 0 {
        return Err(gone());
    }
    let path = PathBuf::from(format!("/proc/{}/ns/{kind}", donor.pid));
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => {
            return Err(gone())
        }
        Err(source) => return Err(NamespaceError::Open { path, source }),
    };
    if sys::process_start_time(donor.pid).ok() != Some(donor.start_time) {
        return Err(gone());
    }
    Ok(Joined { file, flag, what })
}

/// Open (and check) every namespace `ns` joins.
pub fn open_joins(ns: &Namespaces) -> Result<Joins> {
    let mut joins = Joins::default();
    if let NsMode::Join(d) = &ns.pid {
        joins.pid = Some(open_donor(d, "pid", "PID", CloneFlags::CLONE_NEWPID)?);
    }
    for (mode, kind, what, flag) in [
        (&ns.ipc, "ipc", "IPC", CloneFlags::CLONE_NEWIPC),
        (&ns.uts, "uts", "UTS", CloneFlags::CLONE_NEWUTS),
        (&ns.net, "net", "network", CloneFlags::CLONE_NEWNET),
    ] {
        if let NsMode::Join(d) = mode {
            joins.others.push(open_donor(d, kind, what, flag)?);
        }
    }
    Ok(joins)
}

/// A pid namespace to join is entered by the shim before clone (it applies to children), and
/// left again after: returns the shim's own namespace to restore.
pub fn enter_pid_for_children(pid: Option<&Joined>) -> Result<Option<File>> {
    let Some(joined) = pid else {
        return Ok(None);
    };
    let own = File::open("/proc/self/ns/pid").map_err(|source| NamespaceError::Open {
        path: PathBuf::from("/proc/self/ns/pid"),
        source,
    })?;
    joined.enter()?;
    Ok(Some(own))
}

/// Undo [`enter_pid_for_children`].
pub fn leave_pid_for_children(own: Option<File>) -> Result<()> {
    if let Some(f) = own {
        nix::sched::setns(&f, CloneFlags::CLONE_NEWPID).map_err(|source| NamespaceError::Join {
            what: "PID (the shim's own)",
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
        let j = open_joins(&Namespaces::default()).unwrap();
        assert!(j.pid.is_none() && j.others.is_empty());
    }

    fn donor(pid: i32, start_time: u64) -> Donor {
        Donor {
            container: "d0n0r".into(),
            pid,
            start_time,
        }
    }

    #[test]
    fn host_and_joined_namespaces_are_not_cloned() {
        let ns = Namespaces {
            net: NsMode::Host,
            ipc: NsMode::Join(donor(1, 0)),
            ..Namespaces::default()
        };
        let f = clone_flags(&ns);
        assert!(!f.contains(CloneFlags::CLONE_NEWNET));
        assert!(!f.contains(CloneFlags::CLONE_NEWIPC));
    }

    #[test]
    fn a_donor_is_joined_only_while_its_pid_has_its_start_time() {
        let me = std::process::id() as i32;
        let start = sys::process_start_time(me).unwrap();
        let ns = |d: Donor| Namespaces {
            net: NsMode::Join(d),
            ..Namespaces::default()
        };
        let j = open_joins(&ns(donor(me, start))).expect("our own namespace, start time right");
        assert_eq!(j.others.len(), 1);
        for (d, case) in [
            (
                donor(me, start + 1),
                "a pid whose start time is not the donor's",
            ),
            (donor(0, start), "no pid"),
        ] {
            let err = open_joins(&ns(d)).map(|_| ()).unwrap_err().to_string();
            assert_eq!(
                err, "cannot join network of a non running container: d0n0r",
                "{case}: expected dockerd's words for a donor that is gone, got {err:?}"
            );
        }
        let pid_ns = Namespaces {
            pid: NsMode::Join(donor(me, start + 1)),
            ..Namespaces::default()
        };
        let err = open_joins(&pid_ns).map(|_| ()).unwrap_err().to_string();
        assert_eq!(err, "cannot join PID of a non running container: d0n0r");
    }
}
