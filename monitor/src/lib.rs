//! berth's eBPF monitor: what each container asks of the kernel.
//!
//! Programs in `monitor/bpf/` (compiled by build.rs, embedded here) count system calls and
//! their errors per (cgroup v2 id, syscall) and put process events (exec, fork, exit) and
//! security calls (mount, ptrace, connect, ...: see [`events`]) in a ring buffer, only for the
//! cgroups in the `watched` map and only the kinds each asked for. There is no monitor daemon: [`ensure_loaded`] loads and pins
//! everything under bpffs once, and any process opens the pins with [`Monitor::open`].
//!
//! Events: each watched container has a ring buffer of its own while it runs, taken from a
//! pool by its reader (the container's shim, [`Monitor::open_ring`], see [`rings`]) and
//! registered in the `ring_of` map under its cgroup id, so a reader only ever takes its own
//! container's events. A container with no ring emits none; events that find its ring full
//! are counted as dropped in the watched map, never silently lost. The ring is the
//! container's as long as its reader holds it: when the shim is gone, so are the events not
//! yet read.
#![deny(unsafe_code)]

pub mod abi;
pub mod devices;
pub mod events;
mod loader;
pub mod policy;
pub mod rings;
pub mod syscalls;

pub use events::Event;
pub use loader::{counting, denying, ensure_loaded, prepare_host, unload, SENSITIVE_PATHS};
pub use policy::Policy;
pub use rings::EventRing;

pub use abi::Net;
use abi::{Count, CountKey, Watch};
use aya::maps::lpm_trie::{Key as LpmKey, LpmTrie};
use aya::maps::{HashMap, HashOfMaps, MapData};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Is the map error that of a key that is not there? (aya reports a missing key on lookup as
/// KeyNotFound, on delete as ENOENT.)
fn absent(e: &aya::maps::MapError) -> bool {
    match e {
        aya::maps::MapError::KeyNotFound => true,
        aya::maps::MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

/// `bpf_map_update_elem`'s flag: only when the key is absent.
const BPF_NOEXIST: u64 = 1;

/// The system calls the counts never show: they do not return, and calls are counted on
/// their way out. A profile made from the counts must allow them.
pub const UNCOUNTED: [&str; 2] = ["exit", "exit_group"];

/// Where berth pins its programs and maps.
pub const DEFAULT_DIR: &str = "/sys/fs/bpf/berth";

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("loading the eBPF programs: {0}")]
    Load(String),
    #[error("pinning {0}: {1}")]
    Pin(String, String),
    #[error("opening the pinned map {0}: {1}")]
    Open(PathBuf, String),
    #[error("{0} map: {1}")]
    Map(&'static str, aya::maps::MapError),
    #[error("{0}")]
    Policy(String),
    #[error("{path} is not on a {fs} mount")]
    NotMounted { fs: &'static str, path: PathBuf },
    #[error("nothing is loaded under {0}: no container has been watched since the machine started, or the programs were unloaded")]
    NotLoaded(PathBuf),
    #[error("mounting {fs} on {path}: {source}")]
    Mount {
        fs: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MonitorError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> MonitorError {
        MonitorError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, MonitorError>;

/// The id `bpf_get_current_cgroup_id()` reports for processes in the cgroup v2 directory `dir`.
pub fn cgroup_id(dir: &Path) -> std::io::Result<u64> {
    Ok(std::fs::metadata(dir)?.ino())
}

/// One row of a container's syscall counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallCount {
    pub name: String,
    pub nr: u32,
    pub calls: u64,
    pub errors: u64,
}

/// Handles on the pinned maps.
pub struct Monitor {
    dir: PathBuf,
    watched: HashMap<MapData, u64, Watch>,
    counts: HashMap<MapData, CountKey, Count>,
    rings: HashOfMaps<MapData, u32>,
    ring_of: HashMap<MapData, u64, u32>,
    netstat: HashMap<MapData, u64, Net>,
    deny_calls: HashMap<MapData, CountKey, u8>,
    deny_connect: LpmTrie<MapData, abi::ConnectKey, u8>,
    /// The cgroups with deny-connect rules, whose raw sockets are refused.
    deny_raw: HashMap<MapData, u64, u8>,
    lost: HashMap<MapData, u64, u64>,
}

impl Monitor {
    /// Opens the maps pinned under `dir` (see [`ensure_loaded`]).
    pub fn open(dir: &Path) -> Result<Monitor> {
        let watched = loader::open_map(dir, "watched")?
            .try_into()
            .map_err(|e| MonitorError::Map("watched", e))?;
        let counts = loader::open_map(dir, "counts")?
            .try_into()
            .map_err(|e| MonitorError::Map("counts", e))?;
        let rings = loader::open_map(dir, "rings")?
            .try_into()
            .map_err(|e| MonitorError::Map("rings", e))?;
        let ring_of = loader::open_map(dir, "ring_of")?
            .try_into()
            .map_err(|e| MonitorError::Map("ring_of", e))?;
        let netstat = loader::open_map(dir, "netstat")?
            .try_into()
            .map_err(|e| MonitorError::Map("netstat", e))?;
        let deny_calls = loader::open_map(dir, "deny_calls")?
            .try_into()
            .map_err(|e| MonitorError::Map("deny_calls", e))?;
        let deny_connect = loader::open_map(dir, "deny_connect")?
            .try_into()
            .map_err(|e| MonitorError::Map("deny_connect", e))?;
        let deny_raw = loader::open_map(dir, "deny_raw")?
            .try_into()
            .map_err(|e| MonitorError::Map("deny_raw", e))?;
        let lost = loader::open_map(dir, "lost")?
            .try_into()
            .map_err(|e| MonitorError::Map("lost", e))?;
        Ok(Monitor {
            lost,
            dir: dir.to_path_buf(),
            watched,
            counts,
            rings,
            ring_of,
            netstat,
            deny_calls,
            deny_connect,
            deny_raw,
        })
    }

    /// Loads the programs if nothing is pinned yet, then opens the pins.
    pub fn ensure(dir: &Path) -> Result<Monitor> {
        ensure_loaded(dir)?;
        Monitor::open(dir)
    }

    /// Starts counting for the processes of cgroup `cgroup_id`, which belongs to `container_id`,
    /// and reporting the events `events` (`abi::WANT_*` bits, see [`events::wants`]) into its
    /// ring ([`Monitor::open_ring`]).
    pub fn watch(&mut self, cgroup_id: u64, container_id: &str, events: u32) -> Result<()> {
        let mut w = Watch {
            dropped: 0,
            events,
            started: 0,
            container_id: [0; abi::CONTAINER_ID_LEN],
        };
        let id = container_id.as_bytes();
        let n = id.len().min(abi::CONTAINER_ID_LEN);
        w.container_id[..n].copy_from_slice(&id[..n]);
        self.watched
            .insert(cgroup_id, w, 0)
            .map_err(|e| MonitorError::Map("watched", e))
    }

    /// Counts the system calls of `cgroup_id`: the counting hook (on every system call's
    /// exit) stays attached while at least one watched cgroup asked for it, until its
    /// [`Monitor::unwatch`].
    pub fn count(&mut self, cgroup_id: u64) -> Result<()> {
        loader::hook_start(&self.dir, &loader::COUNT_HOOK, cgroup_id)
    }

    /// Counts the packets of the sockets of the cgroup2 directory `cgroup_dir` (whose id is
    /// `cgroup_id`): attaches the cgroup_skb programs to it, pinned, until [`Monitor::unwatch`].
    pub fn watch_net(&mut self, cgroup_dir: &Path, cgroup_id: u64) -> Result<()> {
        match self.netstat.insert(cgroup_id, Net::default(), BPF_NOEXIST) {
            Ok(()) => {}
            // Counted already (a restart in the same cgroup): the figures go on.
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(MonitorError::Map("netstat", e)),
        }
        loader::attach_cgroup(&self.dir, cgroup_dir, cgroup_id)
    }

    /// Bytes and packets in and out of `cgroup_id`'s sockets (zero when never watched).
    pub fn net(&self, cgroup_id: u64) -> Result<Net> {
        match self.netstat.get(&cgroup_id, 0) {
            Ok(n) => Ok(n),
            Err(e) if absent(&e) => Ok(Net::default()),
            Err(e) => Err(MonitorError::Map("netstat", e)),
        }
    }

    /// Replaces the policy of `cgroup_id` (its deny rules) with `policy`, which must be valid
    /// ([`Policy::validate`]). The rules apply to the running container at once (denied
    /// system calls attach the policy's hook on every system call's entry, while some cgroup
    /// has such rules; denied destinations also refuse the cgroup's raw sockets).
    pub fn set_policy(&mut self, cgroup_id: u64, policy: &Policy) -> Result<()> {
        let calls = policy.syscall_numbers().map_err(MonitorError::Policy)?;
        let dests = policy.destinations().map_err(MonitorError::Policy)?;
        if !calls.is_empty() {
            loader::hook_start(&self.dir, &loader::DENY_HOOK, cgroup_id)?;
        }
        // New rules first, then the old ones that are not among them go: a rule kept across
        // the change is never absent.
        for &nr in &calls {
            let k = CountKey {
                cgroup_id,
                nr,
                pad: 0,
            };
            self.deny_calls
                .insert(k, 1, 0)
                .map_err(|e| MonitorError::Map("deny_calls", e))?;
        }
        let keys: Vec<(u32, abi::ConnectKey)> = dests.iter().map(|d| d.key(cgroup_id)).collect();
        for (len, data) in &keys {
            self.deny_connect
                .insert(&LpmKey::new(*len, *data), 1, 0)
                .map_err(|e| MonitorError::Map("deny_connect", e))?;
        }
        if !keys.is_empty() {
            self.deny_raw
                .insert(cgroup_id, 1, 0)
                .map_err(|e| MonitorError::Map("deny_raw", e))?;
        }
        self.clear_policy(cgroup_id, &calls, &keys)?;
        if calls.is_empty() {
            loader::hook_stop(&self.dir, &loader::DENY_HOOK, cgroup_id)?;
        }
        Ok(())
    }

    /// Removes the rules of `cgroup_id` except `keep_calls` and `keep_dests`.
    fn clear_policy(
        &mut self,
        cgroup_id: u64,
        keep_calls: &[u32],
        keep_dests: &[(u32, abi::ConnectKey)],
    ) -> Result<()> {
        let old: Vec<CountKey> = self
            .deny_calls
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| k.cgroup_id == cgroup_id && !keep_calls.contains(&k.nr))
            .collect();
        for k in old {
            match self.deny_calls.remove(&k) {
                Ok(()) => {}
                Err(e) if absent(&e) => {}
                Err(e) => return Err(MonitorError::Map("deny_calls", e)),
            }
        }
        let old: Vec<LpmKey<abi::ConnectKey>> = self
            .deny_connect
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| {
                let data = k.data();
                data.cgroup_id == cgroup_id && !keep_dests.contains(&(k.prefix_len(), data))
            })
            .collect();
        for k in old {
            match self.deny_connect.remove(&k) {
                Ok(()) => {}
                Err(e) if absent(&e) => {}
                Err(e) => return Err(MonitorError::Map("deny_connect", e)),
            }
        }
        if keep_dests.is_empty() {
            match self.deny_raw.remove(&cgroup_id) {
                Ok(()) => {}
                Err(e) if absent(&e) => {}
                Err(e) => return Err(MonitorError::Map("deny_raw", e)),
            }
        }
        Ok(())
    }

    /// The deny rules in force for `cgroup_id`: system call numbers and connect keys.
    pub fn policy_rules(&self, cgroup_id: u64) -> (Vec<u32>, usize) {
        let calls = self
            .deny_calls
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| k.cgroup_id == cgroup_id)
            .map(|k| k.nr)
            .collect();
        let dests = self
            .deny_connect
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| k.data().cgroup_id == cgroup_id)
            .count();
        (calls, dests)
    }

    /// Stops counting for `cgroup_id` and unregisters its ring. Its counts stay readable until
    /// [`Monitor::forget`].
    pub fn unwatch(&mut self, cgroup_id: u64) -> Result<()> {
        rings::unregister(&mut self.ring_of, cgroup_id, None);
        loader::detach_cgroup(&self.dir, cgroup_id)?;
        loader::hook_stop(&self.dir, &loader::COUNT_HOOK, cgroup_id)?;
        loader::hook_stop(&self.dir, &loader::DENY_HOOK, cgroup_id)?;
        self.clear_policy(cgroup_id, &[], &[])?;
        // Its dropped events outlive the watch (the programs no longer write them).
        let dropped = self.dropped(cgroup_id)?;
        if dropped > 0 {
            self.lost
                .insert(cgroup_id, dropped, 0)
                .map_err(|e| MonitorError::Map("lost", e))?;
        }
        match self.watched.remove(&cgroup_id) {
            Ok(()) => Ok(()),
            Err(e) if absent(&e) => Ok(()),
            Err(e) => Err(MonitorError::Map("watched", e)),
        }
    }

    /// Removes the counts of `cgroup_id` (when its container is removed).
    pub fn forget(&mut self, cgroup_id: u64) -> Result<()> {
        let keys: Vec<CountKey> = self
            .counts
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| k.cgroup_id == cgroup_id)
            .collect();
        for k in keys {
            match self.counts.remove(&k) {
                Ok(()) => {}
                Err(e) if absent(&e) => {}
                Err(e) => return Err(MonitorError::Map("counts", e)),
            }
        }
        match self.lost.remove(&cgroup_id) {
            Ok(()) => {}
            Err(e) if absent(&e) => {}
            Err(e) => return Err(MonitorError::Map("lost", e)),
        }
        match self.netstat.remove(&cgroup_id) {
            Ok(()) => Ok(()),
            Err(e) if absent(&e) => Ok(()),
            Err(e) => Err(MonitorError::Map("netstat", e)),
        }
    }

    /// Calls and errors per system call for `cgroup_id`, most called first.
    pub fn counts(&self, cgroup_id: u64) -> Result<Vec<SyscallCount>> {
        let mut out = Vec::new();
        for entry in self.counts.iter() {
            let (k, v) = match entry {
                Ok(kv) => kv,
                // An entry removed while we walk the map.
                Err(e) if absent(&e) => continue,
                Err(e) => return Err(MonitorError::Map("counts", e)),
            };
            if k.cgroup_id == cgroup_id {
                out.push(SyscallCount {
                    name: syscalls::name(k.nr),
                    nr: k.nr,
                    calls: v.calls,
                    errors: v.errors,
                });
            }
        }
        out.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.nr.cmp(&b.nr)));
        Ok(out)
    }

    /// Events of `cgroup_id` lost because the ring buffer was full (or missing), while it is
    /// watched and after, until [`Monitor::forget`].
    pub fn dropped(&self, cgroup_id: u64) -> Result<u64> {
        let before = match self.lost.get(&cgroup_id, 0) {
            Ok(n) => n,
            Err(e) if absent(&e) => 0,
            Err(e) => return Err(MonitorError::Map("lost", e)),
        };
        match self.watched.get(&cgroup_id, 0) {
            Ok(w) => Ok(before + w.dropped),
            Err(e) if absent(&e) => Ok(before),
            Err(e) => Err(MonitorError::Map("watched", e)),
        }
    }

    /// Gives `cgroup_id` an events ring from the pool and registers it: the programs write
    /// its events there until [`Monitor::unwatch`] or the reader's drop.
    pub fn open_ring(&mut self, cgroup_id: u64) -> Result<EventRing> {
        rings::open(&self.dir, &mut self.rings, &mut self.ring_of, cgroup_id)
    }

    /// Where the maps are pinned.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
