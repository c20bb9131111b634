//! Container names: unique across every process sharing the root. `<root>/names/<name>` holds the
//! id of the container that owns the name; changes happen under one flock, and a name whose
//! container directory is gone is stale (its creator died mid-way) and may be taken.

use super::ids::ContainerId;
use super::{EngineError, Result};
use berth_shim::fsutil::{self, FileLock};
use std::path::{Path, PathBuf};

pub struct Names {
    dir: PathBuf,
    containers: PathBuf,
}

/// Docker's rule for names: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
pub fn valid(name: &str) -> bool {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Held while names are checked and changed.
pub struct NamesLock<'a> {
    names: &'a Names,
    _lock: FileLock,
}

impl Names {
    pub fn new(root: &Path) -> Names {
        Names {
            dir: root.join("names"),
            containers: root.join("containers"),
        }
    }

    pub fn lock(&self) -> Result<NamesLock<'_>> {
        std::fs::create_dir_all(&self.dir).map_err(|e| EngineError::system("names", e))?;
        let lock = FileLock::acquire(&self.dir.join(".lock"))
            .map_err(|e| EngineError::system("locking names", e))?;
        Ok(NamesLock {
            names: self,
            _lock: lock,
        })
    }

    /// The id owning `name`, if its container exists (no lock needed: a read). A name file
    /// that does not hold an id names nothing.
    pub fn get(&self, name: &str) -> Option<ContainerId> {
        let name = name.strip_prefix('/').unwrap_or(name);
        if !valid(name) {
            return None;
        }
        let id = std::fs::read_to_string(self.dir.join(name)).ok()?;
        let id = ContainerId::parse(id.trim())?;
        self.containers.join(&id).is_dir().then_some(id)
    }
}

impl NamesLock<'_> {
    /// The live owner of `name`, or None (a stale entry counts as none).
    pub fn owner(&self, name: &str) -> Option<ContainerId> {
        self.names.get(name)
    }

    /// Reserve `name` for `id`; Conflict when another container has it.
    pub fn reserve(&self, name: &str, id: &str) -> Result<()> {
        let name = name.strip_prefix('/').unwrap_or(name);
        if let Some(owner) = self.owner(name) {
            if owner != id {
                return Err(EngineError::conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
        }
        fsutil::write_atomic(&self.names.dir.join(name), id.as_bytes())
            .map_err(|e| EngineError::system("recording the name", e))
    }

    /// Release `name` if `id` owns it.
    pub fn release(&self, name: &str, id: &str) {
        let name = name.strip_prefix('/').unwrap_or(name);
        let path = self.names.dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == id) {
            berth_shim::cleanup::cleanup(
                format!("removing {}", path.display()),
                std::fs::remove_file(&path),
            );
        }
    }

    /// A random free name in dockerd's style ("adjective_surname").
    pub fn generate(&self) -> String {
        for attempt in 0.. {
            let mut name = random_name();
            if attempt > 10 {
                name.push_str(&(berth_shim::ids::random_u64() % 10).to_string());
            }
            if self.owner(&name).is_none() {
                return name;
            }
        }
        unreachable!("the loop above returns")
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring", "agile", "bold", "brave", "calm", "clever", "cool", "crisp", "dazzling", "eager",
    "elastic", "epic", "fervent", "focused", "gallant", "gentle", "happy", "hardy", "hopeful",
    "jolly", "keen", "kind", "lucid", "modest", "nifty", "noble", "patient", "quirky", "relaxed",
    "serene", "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant", "vigilant",
    "wizardly", "youthful", "zealous",
];

const SURNAMES: &[&str] = &[
    "agnesi", "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermat",
    "feynman", "galileo", "gauss", "goldberg", "hamilton", "hopper", "hypatia", "johnson",
    "kepler", "knuth", "lamarr", "lovelace", "maxwell", "meitner", "newton", "noether", "pascal",
    "planck", "ritchie", "shannon", "sinoussi", "thompson", "turing", "wilson", "wozniak", "yalow",
];

fn random_name() -> String {
    let r = berth_shim::ids::random_u64();
    let a = ADJECTIVES[(r % ADJECTIVES.len() as u64) as usize];
    let s = SURNAMES[((r >> 32) % SURNAMES.len() as u64) as usize];
    format!("{a}_{s}")
}

/// A new container id: 64 hex digits from the kernel's random source.
pub fn new_id() -> String {
    berth_shim::ids::random_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_name_rule() {
        assert!(valid("web"));
        assert!(valid("/web_1.a-b"));
        assert!(!valid("a"));
        assert!(!valid("_web"));
        assert!(!valid("we b"));
        assert!(!valid(""));
    }

    #[test]
    fn reserve_conflicts_and_stale_entries_are_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let names = Names::new(tmp.path());
        let (aaa, bbb) = ("a".repeat(64), "b".repeat(64));
        std::fs::create_dir_all(tmp.path().join("containers").join(&aaa)).unwrap();
        let lock = names.lock().unwrap();
        lock.reserve("web", &aaa).unwrap();
        let err = lock.reserve("/web", &bbb).unwrap_err();
        assert!(
            err.is(crate::engine::ErrorKind::Conflict)
                && err.message().contains(&format!(
                    "\"/web\" is already in use by container \"{aaa}\""
                )),
            "{err:?}"
        );
        // The owner's directory goes away (its create died): the name is free.
        std::fs::remove_dir(tmp.path().join("containers").join(&aaa)).unwrap();
        lock.reserve("web", &bbb).unwrap();
        lock.release("web", "zzz");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("names/web")).unwrap(),
            bbb
        );
        // A name file that holds no id names nothing, even beside a directory of that name.
        std::fs::create_dir_all(tmp.path().join("containers/..")).unwrap();
        std::fs::write(tmp.path().join("names/dots"), "..").unwrap();
        assert_eq!(names.get("dots"), None, "a name file holding \"..\"");
        let g = lock.generate();
        assert!(valid(&g) && g.contains('_'), "{g}");
    }
}
