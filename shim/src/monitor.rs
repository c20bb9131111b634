//! The shim's part in the eBPF monitor: it watches its container's cgroup from the moment the
//! first process is placed in it until the container ends; whoever removes the container
//! drops its counts ([`forget`], from `remove::remove_container_files`). Every failure is logged and ignored: a machine without BPF (or a
//! kernel that refuses the programs) still runs containers, only without counts.
//!
//! Events and counts, chosen by the container's label `berth.monitor`
//! (`exec,fork,security,net,counts`, `all` or `none`; `security` when there is no label,
//! see berth_monitor::events::wants): the shim takes a ring buffer for its container from the pool (berth_monitor::rings) and
//! drains it in its poll loop into the events log (type `process`: exec, fork, exit; type
//! `syscall`: mount, ptrace, connect, ...; type `policy`: kill, refuse), so events need no API
//! process, every `/events` reader sees them, and an API restart loses none. Events that find
//! the ring full (or missing) are counted as the container's DroppedEvents. `counts` attaches
//! the all-syscalls hooks for the container (berth_monitor::Monitor::count) until it exits.
//! Its deny rules ([`policy_of`]) and packet counters are set when it starts.
//!
//! The programs are pinned under bpffs by whoever needs them first (berth_monitor::
//! ensure_loaded); the shim loads them itself only when nothing is pinned yet, and otherwise
//! only opens the pinned maps, so a shim's memory stays small.

use berth_monitor::{Event, EventRing, Monitor};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::PathBuf;

/// Readies the caller's mount namespace for the monitor (berth_monitor::prepare_host): to be
/// called in the host's namespace, before the shim makes its own. A failure is logged (to the
/// container's `shim.log`); the watch then finds no bpffs and says so ([`Watch::start`]).
pub fn prepare_host(settings: &crate::Settings) {
    let Some(dir) = settings.pin_dir() else {
        return;
    };
    if let Err(e) = berth_monitor::prepare_host(&dir) {
        tracing::warn!("eBPF monitor: {e}");
    }
}

/// The file in a container's directory that says why the monitor could not watch it (its
/// shim's last start), for the API to answer with instead of empty counts; gone when the
/// monitor watches it.
pub const UNAVAILABLE_FILE: &str = "monitor-unavailable";

/// Why the monitor did not watch the container of `container_dir` at its last start, if it
/// did not.
pub fn unavailable(container_dir: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(container_dir.join(UNAVAILABLE_FILE)).ok()
}

/// The label that chooses the events.
pub const LABEL: &str = "berth.monitor";

/// The events (`berth_monitor::abi::WANT_*` bits) a label value asks for; a value the API
/// would have refused asks for the default.
pub fn wants(label: Option<&str>) -> u32 {
    berth_monitor::events::wants(label).unwrap_or(berth_monitor::events::DEFAULT_WANTS)
}

/// The file in a container's directory with the policy POST /containers/{id}/policy set last;
/// without it, the labels' (berth_monitor::policy).
pub const POLICY_FILE: &str = "policy.json";

/// The container's policy: the last one set through the API, else its labels'.
pub fn policy_of(container_dir: &std::path::Path) -> berth_monitor::Policy {
    if let Ok(data) = std::fs::read(container_dir.join(POLICY_FILE)) {
        if let Ok(p) = serde_json::from_slice(&data) {
            return p;
        }
    }
    berth_monitor::Policy::from_labels(&crate::events::container_attributes(container_dir))
}

/// The architectures a container's seccomp filter lets through: the native one alone when it
/// has deny rules, which the monitor matches by native number (a call made through the 32-bit
/// entry, `int 0x80`, carries the i386 table's number and would go past them); the profile's
/// otherwise, as dockerd.
pub fn seccomp_arches(policy: &berth_monitor::Policy) -> crate::security::seccomp::Arches {
    use crate::security::seccomp::Arches;
    if !policy.deny_connect.is_empty() {
        Arches::NativeOnlyNoPacketSockets
    } else if *policy == berth_monitor::Policy::default() {
        Arches::Profile
    } else {
        Arches::NativeOnly
    }
}

/// One container's watch.
pub struct Watch {
    id: String,
    /// The container's directory, where [`UNAVAILABLE_FILE`] is written.
    dir: PathBuf,
    events: u32,
    policy: berth_monitor::Policy,
    /// Where the programs are pinned; None: the monitor is off.
    pins: Option<PathBuf>,
    monitor: Option<Monitor>,
    cgroup_id: u64,
    ring: Option<EventRing>,
}

impl Watch {
    /// `events`: what the container asked for (see [`wants`]); `policy`: its deny rules;
    /// `dir`: the container's directory; `pins`: where the programs are pinned (None: the
    /// monitor is off, [`crate::Settings::pin_dir`]).
    pub fn new(
        id: &str,
        dir: &std::path::Path,
        events: u32,
        policy: berth_monitor::Policy,
        pins: Option<PathBuf>,
    ) -> Watch {
        Watch {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            events,
            policy,
            pins,
            monitor: None,
            cgroup_id: 0,
            ring: None,
        }
    }

    /// Starts counting for the cgroup2 directory `cgroup_dir` (None: the machine has no v2
    /// tree): syscalls, events and packets. What could not be set up is logged once and kept
    /// in [`UNAVAILABLE_FILE`], so that the counts' readers say why they have none. A container
    /// with deny rules does not run unwatched: when they cannot be put in force, the error says
    /// why and the start must fail (a policy never fails open).
    pub fn start(&mut self, cgroup_dir: Option<&std::path::Path>) -> Result<(), String> {
        let policy = self.policy != berth_monitor::Policy::default();
        let Some(pins) = self.pins.clone() else {
            if policy {
                return Err(
                    "the container's deny policy cannot be enforced: the eBPF monitor is turned off (BERTH_MONITOR=0)".into(),
                );
            }
            return Ok(());
        };
        let problems = self.try_start(&pins, cgroup_dir);
        let file = self.dir.join(UNAVAILABLE_FILE);
        if problems.is_empty() {
            if let Err(e) = std::fs::remove_file(&file) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("removing {}: {e}", file.display());
                }
            }
            return Ok(());
        }
        let cause = problems.join("; ");
        tracing::warn!("eBPF monitor unavailable: {cause}");
        if let Err(e) = crate::fsutil::write_atomic(&file, cause.as_bytes()) {
            tracing::warn!("writing {}: {e}", file.display());
        }
        if policy {
            return Err(format!(
                "the container's deny policy cannot be enforced: {cause}"
            ));
        }
        Ok(())
    }

    /// [`Watch::start`]'s work: what failed, empty when nothing did.
    fn try_start(
        &mut self,
        pins: &std::path::Path,
        cgroup_dir: Option<&std::path::Path>,
    ) -> Vec<String> {
        let Some(cgroup_dir) = cgroup_dir else {
            return vec!["this machine has no cgroup2 hierarchy, by whose ids the monitor tells containers apart".into()];
        };
        let cgroup_id = match berth_monitor::cgroup_id(cgroup_dir) {
            Ok(id) => id,
            Err(e) => return vec![format!("reading the id of {}: {e}", cgroup_dir.display())],
        };
        if self.monitor.is_none() {
            match Monitor::ensure(pins) {
                Ok(m) => self.monitor = Some(m),
                Err(e) => return vec![e.to_string()],
            }
        }
        let Some(m) = &mut self.monitor else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        // The ring first: an event between the two would otherwise find none. (Policy
        // events need it too.)
        let policy = self.policy != berth_monitor::Policy::default();
        if self.events & !berth_monitor::events::WANT_COUNTS != 0 || policy {
            match m.open_ring(cgroup_id) {
                Ok(r) => self.ring = Some(r),
                Err(e) => problems.push(format!("events ring: {e}")),
            }
        }
        let counts = berth_monitor::events::WANT_COUNTS;
        match m.watch(cgroup_id, &self.id, self.events & !counts) {
            Ok(()) => self.cgroup_id = cgroup_id,
            Err(e) => problems.push(format!("watching cgroup {cgroup_id}: {e}")),
        }
        if self.events & counts != 0 {
            if let Err(e) = m.count(cgroup_id) {
                problems.push(format!("counting system calls: {e}"));
            }
        }
        if let Err(e) = m.watch_net(cgroup_dir, cgroup_id) {
            problems.push(format!("counting packets: {e}"));
        }
        if policy {
            if let Err(e) = m.set_policy(cgroup_id, &self.policy) {
                problems.push(format!("setting the policy: {e}"));
            }
        }
        problems
    }

    /// The descriptor to poll for events.
    pub fn ring_fd(&self) -> Option<RawFd> {
        self.ring.as_ref().map(|r| r.as_fd().as_raw_fd())
    }

    /// Events not read yet, at most `max`.
    pub fn drain(&mut self, max: usize) -> Vec<Event> {
        self.ring.as_mut().map(|r| r.drain(max)).unwrap_or_default()
    }

    /// Stops counting (the counts stay readable) and gives the ring back to the pool: read it
    /// first.
    pub fn stop(&mut self) {
        if self.cgroup_id != 0 {
            if let Some(m) = &mut self.monitor {
                if let Err(e) = m.unwatch(self.cgroup_id) {
                    tracing::warn!("unwatching: {e}");
                }
            }
        }
        self.ring = None;
    }
}

/// Takes every event waiting in the watch's ring and appends them to the events log: type
/// `process` or `syscall`, the action, Actor.ID the container's id, and as attributes the
/// container's (name, image, labels) plus the event's own (pid, tid, comm, args, ret ...).
pub fn log_events(
    watch: &mut Watch,
    root: &std::path::Path,
    cpaths: &crate::paths::ContainerPaths,
) {
    let events = watch.drain(usize::MAX);
    if events.is_empty() {
        return;
    }
    let container = crate::events::container_attributes(&cpaths.dir);
    let lines: Vec<crate::events::Event> = events
        .into_iter()
        .map(|e| {
            let mut attributes = container.clone();
            attributes.extend(e.attributes);
            crate::events::Event::of_container_process(&cpaths.id, e.kind, &e.action, attributes)
        })
        .collect();
    let paths = crate::events::EventsPaths::new(root);
    if let Err(err) = crate::events::append_all(&paths, lines) {
        tracing::warn!("monitor events: {err}");
    }
}

/// Drops the counts of a removed container whose shim is gone (best effort).
pub fn forget(cgroup_id: u64, settings: &crate::Settings) {
    let Some(dir) = settings.pin_dir() else {
        return;
    };
    if cgroup_id == 0 {
        return;
    }
    if let Ok(mut m) = Monitor::open(&dir) {
        crate::cleanup::cleanup("unwatching the cgroup", m.unwatch(cgroup_id));
        crate::cleanup::cleanup("forgetting the cgroup's counts", m.forget(cgroup_id));
    }
}

#[cfg(test)]
mod tests {
    use berth_monitor::abi;

    #[test]
    fn deny_rules_make_the_filter_native_only() {
        use crate::security::seccomp::Arches;
        let none = berth_monitor::Policy::default();
        assert_eq!(super::seccomp_arches(&none), Arches::Profile);
        for (policy, want) in [
            (
                berth_monitor::Policy {
                    deny_syscalls: vec!["mkdir".into()],
                    ..Default::default()
                },
                Arches::NativeOnly,
            ),
            (
                berth_monitor::Policy {
                    deny_connect: vec!["10.0.0.1".into()],
                    ..Default::default()
                },
                Arches::NativeOnlyNoPacketSockets,
            ),
        ] {
            assert_eq!(super::seccomp_arches(&policy), want, "{policy:?}");
        }
    }

    #[test]
    fn the_label_chooses_the_events() {
        assert_eq!(super::wants(Some("exec")), abi::WANT_EXEC);
        assert_eq!(
            super::wants(Some("net, exec")),
            abi::WANT_EXEC | abi::WANT_NET
        );
        let default = abi::WANT_SECURITY;
        assert_eq!(super::wants(None), default, "the default");
        assert_eq!(super::wants(Some("bogus")), default);
        assert_eq!(super::wants(Some("none")), 0);
    }
}
