//! The events rings: a pool of ring buffers shared by all containers over time, one container
//! at a time each.
//!
//! Inserting a map into a map-in-map makes the kernel wait for an RCU grace period (tens of
//! milliseconds on a 2-core VM), and so does removing one: doing it for every container would
//! put that wait on every start and every exit. Instead the rings stay in the `rings` map
//! under slot numbers, and a container takes a free slot: the shim that drains it holds an
//! exclusive flock on the slot's directory under the pins (`slots/<n>/`, a bpffs directory)
//! for as long as it reads, so a shim killed with SIGKILL frees its slot at once. The
//! programs find a cgroup's slot in `ring_of`, a plain hash updated with no grace period.
//!
//! A new slot is made only when none is free, under the pins directory's lock: its directory
//! is made as `new-<n>` (bpffs refuses names with a dot), locked, its ring inserted, then renamed to `<n>`, so a slot that can
//! be seen always has its ring (a leftover `new-<n>` of a killed maker is finished by the
//! next). Slots from [`KEEP`] on give their ring back to the kernel when released (rmdir after
//! the ring is removed, while still locked): the pool holds at most KEEP idle rings.

use crate::{abi, absent, loader, Event, MonitorError, Result};
use aya::maps::{HashMap, HashOfMaps, MapData, RingBuf};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Slots below this number keep their ring when released, for the next container.
pub const KEEP: u32 = 8;

/// The reader of one container's events; poll its descriptor for input. Dropping it stops its
/// cgroup's events and frees its slot.
///
/// The ring is mapped only while it is drained: a ring buffer's mapping puts all its pages (its
/// data twice over, 0.5 MiB) in the reader's resident set at once, and events are rare, so
/// a shim would otherwise carry them for the container's whole life. Polling needs only the
/// descriptor.
pub struct EventRing {
    fd: OwnedFd,
    cgroup_id: u64,
    slot: u32,
    dir: PathBuf,
    // Released after Drop::drop has cleaned up: last field.
    _lock: Flock<File>,
}

fn slots_dir(dir: &Path) -> PathBuf {
    loader::versioned(dir).join("slots")
}

/// A new ring buffer map, of the size the programs' template declares.
fn new_ring() -> Result<MapData> {
    let def = aya_obj::Map::new_from_params(
        aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_RINGBUF as u32,
        0,
        0,
        abi::RINGBUF_BYTES as u32,
        0,
    );
    MapData::create(def, "berth_ring", None).map_err(|e| MonitorError::Map("a new ring", e))
}

/// The ring of slot `n`, inserted first when it has none.
fn ring_at(rings: &mut HashOfMaps<MapData, u32>, n: u32) -> Result<MapData> {
    match rings.get(&n, 0) {
        Ok(ring) => Ok(ring),
        Err(e) if absent(&e) => {
            let ring = new_ring()?;
            rings
                .insert(n, &ring, 0)
                .map_err(|e| MonitorError::Map("rings", e))?;
            Ok(ring)
        }
        Err(e) => Err(MonitorError::Map("rings", e)),
    }
}

/// Locks the slot directory `path` if nobody holds it and it is still there.
fn try_lock(path: &Path) -> Result<Option<Flock<File>>> {
    let handle = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(MonitorError::io("opening", path, e)),
    };
    match Flock::lock(handle, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            // Removed by its last holder between our open and our lock.
            let removed = lock.metadata().map(|m| m.nlink() == 0).unwrap_or(true);
            Ok(if removed { None } else { Some(lock) })
        }
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(MonitorError::io("locking", path, e.into())),
    }
}

/// Takes a free slot (the lowest), or makes one; returns it locked with its ring.
fn claim(dir: &Path, rings: &mut HashOfMaps<MapData, u32>) -> Result<(u32, Flock<File>, MapData)> {
    let slots = slots_dir(dir);
    std::fs::create_dir_all(&slots).map_err(|e| MonitorError::io("creating", &slots, e))?;
    let mut numbers: Vec<u32> = std::fs::read_dir(&slots)
        .map_err(|e| MonitorError::io("reading", &slots, e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    for &n in &numbers {
        if let Some(lock) = try_lock(&slots.join(n.to_string()))? {
            return Ok((n, lock, ring_at(rings, n)?));
        }
    }
    // None free: a new one, one maker at a time.
    let _guard = loader::lock(dir)?;
    let n = (0..abi::MAX_RINGS as u32)
        .find(|n| !slots.join(n.to_string()).exists())
        .ok_or_else(|| {
            MonitorError::Policy(format!("all {} events rings are in use", abi::MAX_RINGS))
        })?;
    let fresh = slots.join(format!("new-{n}"));
    match std::fs::create_dir(&fresh) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(MonitorError::io("creating", &fresh, e)),
    }
    // Makers hold the pins' lock: a `new-` nobody else can have.
    let lock = try_lock(&fresh)?
        .ok_or_else(|| MonitorError::io("locking", &fresh, Errno::EWOULDBLOCK.into()))?;
    let ring = ring_at(rings, n)?;
    let at = slots.join(n.to_string());
    std::fs::rename(&fresh, &at).map_err(|e| MonitorError::io("renaming", &fresh, e))?;
    Ok((n, lock, ring))
}

/// Gives `cgroup_id` a ring from the pool (see the module's text) and registers it; records
/// left in it by its previous holder are discarded.
pub(crate) fn open(
    dir: &Path,
    rings: &mut HashOfMaps<MapData, u32>,
    ring_of: &mut HashMap<MapData, u64, u32>,
    cgroup_id: u64,
) -> Result<EventRing> {
    let (slot, lock, data) = claim(dir, rings)?;
    let fd = data.fd().as_fd().try_clone_to_owned().map_err(|e| {
        MonitorError::io(
            "duplicating the ring of slot",
            Path::new(&slot.to_string()),
            e,
        )
    })?;
    let mut ring = RingBuf::try_from(aya::maps::Map::RingBuf(data))
        .map_err(|e| MonitorError::Map("a ring", e))?;
    while ring.next().is_some() {}
    drop(ring);
    ring_of
        .insert(cgroup_id, slot, 0)
        .map_err(|e| MonitorError::Map("ring_of", e))?;
    Ok(EventRing {
        fd,
        cgroup_id,
        slot,
        dir: dir.to_path_buf(),
        _lock: lock,
    })
}

/// Unregisters `cgroup_id`'s ring if it is still `slot` (best effort: a missing entry is fine).
pub(crate) fn unregister(
    ring_of: &mut HashMap<MapData, u64, u32>,
    cgroup_id: u64,
    slot: Option<u32>,
) {
    let ours = match ring_of.get(&cgroup_id, 0) {
        Ok(s) => slot.is_none_or(|want| want == s),
        Err(_) => false,
    };
    if ours {
        let _ = ring_of.remove(&cgroup_id);
    }
}

impl AsFd for EventRing {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl EventRing {
    /// Takes pending records of its cgroup, at most `max` of them (none when the ring cannot
    /// be mapped: they stay for the next call).
    pub fn drain(&mut self, max: usize) -> Vec<Event> {
        let mut out = Vec::new();
        let Ok(fd) = self.fd.try_clone() else {
            return out;
        };
        let Ok(data) = MapData::from_fd(fd) else {
            return out;
        };
        let Ok(mut ring) = RingBuf::try_from(aya::maps::Map::RingBuf(data)) else {
            return out;
        };
        while out.len() < max {
            let Some(item) = ring.next() else { break };
            // A straggler of the slot's previous holder is not ours.
            if let Some(e) = Event::from_bytes(&item).filter(|e| e.cgroup_id == self.cgroup_id) {
                out.push(e);
            }
        }
        out
    }

    /// The pool slot it holds.
    pub fn slot(&self) -> u32 {
        self.slot
    }
}

impl Drop for EventRing {
    fn drop(&mut self) {
        if let Ok(map) = loader::open_map(&self.dir, "ring_of") {
            if let Ok(mut ring_of) = HashMap::<_, u64, u32>::try_from(map) {
                unregister(&mut ring_of, self.cgroup_id, Some(self.slot));
            }
        }
        if self.slot < KEEP {
            return;
        }
        // Beyond the pool's idle size: the ring goes back to the kernel, then the slot.
        if let Ok(map) = loader::open_map(&self.dir, "rings") {
            if let Ok(mut rings) = HashOfMaps::<_, u32>::try_from(map) {
                let _ = rings.remove(&self.slot);
            }
        }
        let _ = std::fs::remove_dir(slots_dir(&self.dir).join(self.slot.to_string()));
    }
}
