//! The pool of host ids that user namespaces take their ranges from, and who holds which.
//!
//! | path                       | what                                                  |
//! |----------------------------|-------------------------------------------------------|
//! | `<root>/userns/ranges.json`| `{version, ranges: [{owner, start, size, shared, holder}]}` |
//! | `<root>/userns/lock`       | flock held for every read-modify-write of the file    |
//!
//! Crash consistency: a range is written to the file (fsynced, renamed into place) before any
//! container uses it, with the creating process as its holder. An entry is live while its
//! container's directory (or its `.creating-` directory) exists, or while its holder process
//! runs; any other entry is free, and the next allocation drops it. So a create killed at any
//! point leaks nothing, and a container removed by any path (docker rm, an auto-remove by its
//! shim, a sweep) gives its range back.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Every range is this many ids, a container's 0-65535.
pub const RANGE_SIZE: u32 = 65_536;
/// The pool without a file: 100000-4294967295.
pub const DEFAULT_POOL: Segment = Segment {
    start: 100_000,
    end: 4_294_967_295,
};
const VERSION: u32 = 1;

/// Host ids `start..end` (end excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("reading the user namespace pool {path}: {source}")]
    ReadPool { path: PathBuf, source: io::Error },
    #[error("the user namespace pool {path}, line {line}: {text:?} is not name:start:count")]
    BadLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("{path}: {source}")]
    Store { path: PathBuf, source: io::Error },
    #[error("no free range of {RANGE_SIZE} ids is left in the user namespace pool ({pool}): {held} ranges are held; remove containers, widen the pool (--userns-pool), or run with --userns=host")]
    Exhausted { pool: String, held: usize },
}

pub type Result<T> = std::result::Result<T, PoolError>;

/// The process that made a range, as pid and start time (a reused pid is not it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: i32,
    pub start_time: u64,
}

impl Holder {
    pub fn me() -> Option<Holder> {
        let pid = std::process::id() as i32;
        let start_time = berth_shim::host::process_start_time(pid).ok()?;
        Some(Holder { pid, start_time })
    }

    fn alive(&self) -> bool {
        berth_shim::host::process_start_time(self.pid).ok() == Some(self.start_time)
    }
}

/// One range held by a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The container's id.
    pub owner: String,
    pub start: u64,
    pub size: u32,
    /// The one range of `--userns-remap default`, which every such container shares.
    #[serde(default)]
    pub shared: bool,
    /// Who allocated it, live until the container appears.
    #[serde(default)]
    pub holder: Option<Holder>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    ranges: Vec<Held>,
}

/// The pool: its segments and the store of held ranges under `<root>/userns`.
#[derive(Debug, Clone)]
pub struct Pool {
    segments: Vec<Segment>,
    source: String,
    dir: PathBuf,
    containers: PathBuf,
}

impl Pool {
    /// The pool of `file` (None: the default), stored under `root`, whose containers are in
    /// `containers`.
    pub fn open(file: Option<&Path>, root: &Path, containers: &Path) -> Result<Pool> {
        let (segments, source) = match file {
            None => (vec![DEFAULT_POOL], "100000-4294967295".to_string()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| PoolError::ReadPool {
                    path: p.to_path_buf(),
                    source,
                })?;
                (parse_subid(p, &text)?, p.display().to_string())
            }
        };
        Ok(Pool {
            segments,
            source,
            dir: root.join("userns"),
            containers: containers.to_path_buf(),
        })
    }

    fn store_err(&self, source: io::Error) -> PoolError {
        PoolError::Store {
            path: self.dir.clone(),
            source,
        }
    }

    /// Run `f` on the held ranges (the stale ones dropped) under the lock, and write what it
    /// leaves if it changed anything.
    fn update<T>(&self, f: impl FnOnce(&mut Vec<Held>) -> Result<T>) -> Result<T> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.store_err(e))?;
        let _lock = berth_shim::fsutil::FileLock::acquire(&self.dir.join("lock"))
            .map_err(|e| self.store_err(e))?;
        let path = self.dir.join("ranges.json");
        let mut file: File = match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| self.store_err(io::Error::new(io::ErrorKind::InvalidData, e)))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(self.store_err(e)),
        };
        let before = file.ranges.clone();
        file.ranges.retain(|h| self.live(h));
        let out = f(&mut file.ranges)?;
        if file.ranges != before {
            file.version = VERSION;
            let data = serde_json::to_vec_pretty(&file).map_err(|e| self.store_err(e.into()))?;
            berth_shim::fsutil::write_atomic(&path, &data).map_err(|e| self.store_err(e))?;
        }
        Ok(out)
    }

    fn live(&self, h: &Held) -> bool {
        self.containers.join(&h.owner).is_dir()
            || self
                .containers
                .join(format!(".creating-{}", h.owner))
                .is_dir()
            || h.holder.is_some_and(|p| p.alive())
    }

    /// A range for container `owner`: the shared one when `shared`, else one of its own,
    /// recorded (with this process as its holder) before it is returned.
    pub fn allocate(&self, owner: &str, shared: bool) -> Result<Held> {
        self.update(|ranges| {
            let start = match ranges.iter().find(|h| h.shared).filter(|_| shared) {
                Some(s) => s.start,
                None => self.first_free(ranges)?,
            };
            let held = Held {
                owner: owner.to_string(),
                start,
                size: RANGE_SIZE,
                shared,
                holder: Holder::me(),
            };
            ranges.push(held.clone());
            Ok(held)
        })
    }

    /// The first aligned range of the pool that no held range overlaps (a shared range may be
    /// held by many).
    fn first_free(&self, ranges: &[Held]) -> Result<u64> {
        let mut taken: Vec<(u64, u64)> = ranges
            .iter()
            .map(|h| (h.start, h.start + u64::from(h.size)))
            .collect();
        taken.sort_unstable();
        for seg in &self.segments {
            let mut start = seg.start;
            while start + u64::from(RANGE_SIZE) <= seg.end {
                let end = start + u64::from(RANGE_SIZE);
                match taken.iter().find(|(s, e)| *s < end && start < *e) {
                    // Past the range in the way.
                    Some((_, e)) => start = *e,
                    None => return Ok(start),
                }
            }
        }
        let mut owners: Vec<u64> = ranges.iter().map(|h| h.start).collect();
        owners.dedup();
        Err(PoolError::Exhausted {
            pool: self.source.clone(),
            held: owners.len(),
        })
    }

    /// Give back `owner`'s range (at its removal, or when its create fails).
    pub fn release(&self, owner: &str) -> Result<()> {
        self.update(|ranges| {
            ranges.retain(|h| h.owner != owner);
            Ok(())
        })
    }

    /// The ranges held now.
    pub fn held(&self) -> Result<Vec<Held>> {
        self.update(|ranges| Ok(ranges.clone()))
    }
}

/// /etc/subuid's format: `name:start:count` per line; blank lines and `#` comments skipped.
fn parse_subid(path: &Path, text: &str) -> Result<Vec<Segment>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || PoolError::BadLine {
            path: path.to_path_buf(),
            line: i + 1,
            text: line.to_string(),
        };
        let mut parts = line.split(':');
        let (Some(_name), Some(start), Some(count), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let start: u64 = start.parse().map_err(|_| bad())?;
        let count: u64 = count.parse().map_err(|_| bad())?;
        // Id 0 is the host's root, never given away; nor ids past 2^32-2.
        if start == 0 || start + count > 4_294_967_295 {
            return Err(bad());
        }
        out.push(Segment {
            start,
            end: start + count,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(file: Option<&str>) -> (tempfile::TempDir, Pool) {
        let tmp = tempfile::tempdir().unwrap();
        let f = file.map(|text| {
            let p = tmp.path().join("subuid");
            std::fs::write(&p, text).unwrap();
            p
        });
        let containers = tmp.path().join("containers");
        std::fs::create_dir_all(&containers).unwrap();
        let pool = Pool::open(f.as_deref(), tmp.path(), &containers).unwrap();
        (tmp, pool)
    }

    #[test]
    fn ranges_are_disjoint_and_shared_only_when_asked() {
        let (_tmp, pool) = pool(None);
        let a = pool.allocate("a", false).unwrap();
        let b = pool.allocate("b", false).unwrap();
        assert_eq!((a.start, b.start), (100_000, 165_536), "first two ranges");
        let s1 = pool.allocate("s1", true).unwrap();
        let s2 = pool.allocate("s2", true).unwrap();
        assert_eq!(s1.start, 231_072, "the shared range is the next free one");
        assert_eq!(
            s2.start, s1.start,
            "a second shared container gets the same range"
        );
        let c = pool.allocate("c", false).unwrap();
        assert_eq!(
            c.start, 296_608,
            "a private range never overlaps the shared one"
        );
    }

    #[test]
    fn a_range_comes_back_at_release_and_when_its_container_and_holder_are_gone() {
        let (tmp, pool) = pool(None);
        let a = pool.allocate("a", false).unwrap();
        pool.release("a").unwrap();
        assert_eq!(pool.allocate("b", false).unwrap().start, a.start);
        // A create that died: its holder is not running and its container never appeared.
        let dead = Held {
            owner: "dead".into(),
            start: 500_000,
            size: RANGE_SIZE,
            shared: false,
            holder: Some(Holder {
                pid: i32::MAX,
                start_time: 1,
            }),
        };
        let file = File {
            version: VERSION,
            ranges: vec![dead.clone()],
        };
        let path = tmp.path().join("userns/ranges.json");
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert_eq!(
            pool.held().unwrap(),
            vec![],
            "the dead create's range was kept"
        );
        // The same with its container present: kept.
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        std::fs::create_dir_all(tmp.path().join("containers/dead")).unwrap();
        assert_eq!(pool.held().unwrap(), vec![dead]);
    }

    #[test]
    fn a_subuid_file_restricts_the_pool_and_an_exhausted_pool_says_so() {
        let (_tmp, pool) = pool(Some(
            "# berth\nberth:200000:131072\n\nother:1000000:65536\n",
        ));
        let starts: Vec<u64> = ["a", "b", "c"]
            .iter()
            .map(|o| pool.allocate(o, false).unwrap().start)
            .collect();
        assert_eq!(starts, vec![200_000, 265_536, 1_000_000]);
        let err = pool.allocate("d", false).unwrap_err().to_string();
        assert!(
            err.starts_with("no free range of 65536 ids is left in the user namespace pool")
                && err.contains("3 ranges are held"),
            "expected the exhausted pool's error, got {err:?}"
        );
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["x:1", "x:0:65536", "x:a:1", "x:4294967295:2"] {
            let p = tmp.path().join("f");
            std::fs::write(&p, bad).unwrap();
            let e = Pool::open(Some(&p), tmp.path(), tmp.path()).unwrap_err();
            assert!(
                matches!(e, PoolError::BadLine { line: 1, .. }),
                "{bad:?}: expected a bad line, got {e}"
            );
        }
    }
}
