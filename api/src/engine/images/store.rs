//! The image store on disk. Everything under `<root>`:
//!
//! ```text
//! images/lock                   flock: held to add/remove records, move references, collect layers
//! images/repositories.json      {"Version":1,"References":{"docker.io/library/busybox:latest":"sha256:.."}}
//! images/records/<hex>.json     {"Version":1,"Id":"sha256:<hex>","Config":<the config JSON, byte for byte>}
//! images/retired/<hex>.json     records removed (rmi -f) while a container still uses them
//! layers/<hex>/diff/            an unpacked layer (hex of its diff id): an overlay lower dir
//! layers/<hex>/layer.json       {"Version":1,"DiffId":"sha256:..","Size":n,"TarSize":n}
//! layers/<hex>/blob             the layer tar exactly as it came (plain, gzip or zstd)
//! tmp/<nonce>/                  work in progress, with `lock` flocked by its owner
//! ```
//!
//! Tags live only in repositories.json (one truth: a crash between two files could otherwise let
//! a record and the index disagree). Layers are not reference counted: under the lock a layer is
//! live when a record (or a retired record a container still uses) lists it, so counts can never
//! drift after a crash. Every file is replaced by write-temp, fsync, rename; a layer appears by a
//! rename of a finished temp dir, so a SIGKILL leaves at worst an orphan that the next collection
//! removes, never a half image.

use crate::engine::{EngineError, Result};
use berth_shim::fsutil::{write_atomic, FileLock};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

pub const RECORD_VERSION: u32 = 1;
/// A temp dir whose owner holds no lock and that is older than this is garbage.
const TMP_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    pub version: u32,
    pub id: String,
    pub config: Box<RawValue>,
    /// The image a commit was made on ("sha256:..."): dockerd's `Parent`. Empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Index {
    pub version: u32,
    /// Full reference ("docker.io/library/busybox:latest" or "...@sha256:..") to image id.
    pub references: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerMeta {
    pub version: u32,
    pub diff_id: String,
    pub size: u64,
    /// Bytes of the uncompressed layer tar (absent for layers stored before blobs were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar_size: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

fn sys(path: &Path) -> impl Fn(io::Error) -> EngineError + '_ {
    move |e| EngineError::system(path.display(), e)
}

pub fn hex_of(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    pub fn records(&self) -> PathBuf {
        self.images().join("records")
    }
    fn retired(&self) -> PathBuf {
        self.images().join("retired")
    }
    fn index_path(&self) -> PathBuf {
        self.images().join("repositories.json")
    }
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub fn layer_dir(&self, hex: &str) -> PathBuf {
        self.layers().join(hex)
    }
    /// The layer tar as it came (plain, gzip or zstd): its uncompressed bytes hash to the diff
    /// id, which a tar rebuilt from the unpacked dir would not (header formats, entry order,
    /// names of owners, PAX records all vary between the tools that made it).
    pub fn layer_blob(&self, hex: &str) -> PathBuf {
        self.layer_dir(hex).join("blob")
    }
    /// The overlay lower dir of a layer.
    pub fn layer_diff(&self, hex: &str) -> PathBuf {
        self.layer_dir(hex).join("diff")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn ensure_dirs(&self) -> Result<()> {
        for d in [self.records(), self.retired(), self.layers(), self.tmp()] {
            fs::create_dir_all(&d).map_err(sys(&d))?;
        }
        Ok(())
    }

    /// The store lock: held to change records, references or the set of layers.
    pub fn lock(&self) -> Result<FileLock> {
        self.ensure_dirs()?;
        let p = self.images().join("lock");
        FileLock::acquire(&p).map_err(sys(&p))
    }

    /// The references; readers need no lock (the file is only ever replaced whole).
    pub fn read_index(&self) -> Result<Index> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| EngineError::system(p.display(), e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index {
                version: RECORD_VERSION,
                ..Index::default()
            }),
            Err(e) => Err(sys(&p)(e)),
        }
    }

    /// Caller holds [`Store::lock`].
    pub fn write_index(&self, index: &Index, _lock: &FileLock) -> Result<()> {
        let p = self.index_path();
        let b =
            serde_json::to_vec_pretty(index).map_err(|e| EngineError::system(p.display(), e))?;
        write_atomic(&p, &b).map_err(sys(&p))
    }

    pub fn read_record(&self, hex: &str) -> Result<Option<Record>> {
        read_record_at(&self.records().join(format!("{hex}.json")))
    }

    /// A live record, or a retired one (an image removed by force that containers still use).
    pub fn read_record_or_retired(&self, hex: &str) -> Result<Option<Record>> {
        match self.read_record(hex)? {
            Some(r) => Ok(Some(r)),
            None => read_record_at(&self.retired().join(format!("{hex}.json"))),
        }
    }

    /// The ids (hex) of all live records.
    pub fn record_ids(&self) -> Result<Vec<String>> {
        list_json(&self.records())
    }

    /// Write the record of `config`; an existing record's parent is kept when `parent` is empty
    /// (the same image loaded or pulled again).
    pub fn write_record(&self, config: &[u8], parent: &str, _lock: &FileLock) -> Result<String> {
        let hex = sha256_hex(config);
        let text = std::str::from_utf8(config)
            .map_err(|e| EngineError::invalid_parameter(format!("image config: {e}")))?;
        let raw = RawValue::from_string(text.to_string())
            .map_err(|e| EngineError::invalid_parameter(format!("image config: {e}")))?;
        let parent = match parent {
            "" => self
                .read_record(&hex)?
                .map(|r| r.parent)
                .unwrap_or_default(),
            p => p.to_string(),
        };
        let rec = Record {
            version: RECORD_VERSION,
            id: format!("sha256:{hex}"),
            config: raw,
            parent,
        };
        let p = self.records().join(format!("{hex}.json"));
        let b = serde_json::to_vec(&rec).map_err(|e| EngineError::system(p.display(), e))?;
        write_atomic(&p, &b).map_err(sys(&p))?;
        Ok(hex)
    }

    /// Remove a record; keep it aside when a container still uses its layers.
    pub fn remove_record(&self, hex: &str, retire: bool, _lock: &FileLock) -> Result<()> {
        let p = self.records().join(format!("{hex}.json"));
        let r = if retire {
            fs::rename(&p, self.retired().join(format!("{hex}.json")))
        } else {
            fs::remove_file(&p)
        };
        r.map_err(sys(&p))
    }

    pub fn layer_meta(&self, hex: &str) -> Result<Option<LayerMeta>> {
        let p = self.layer_dir(hex).join("layer.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| EngineError::system(p.display(), e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sys(&p)(e)),
        }
    }

    /// A private directory under `<root>/tmp`, removed on drop.
    pub fn tmp_dir(&self) -> Result<TmpDir> {
        self.ensure_dirs()?;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!(
            "{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.tmp().join(name);
        fs::create_dir(&path).map_err(sys(&path))?;
        let lock_path = path.join("lock");
        let lock = FileLock::acquire(&lock_path).map_err(sys(&lock_path))?;
        Ok(TmpDir { path, _lock: lock })
    }

    /// Move a finished layer (`<dir>/diff` and `<dir>/layer.json`) into place, unless another
    /// process got there first: then ours is dropped with its temp dir.
    pub fn commit_layer(&self, dir: &Path, hex: &str, _lock: &FileLock) -> Result<()> {
        let dest = self.layer_dir(hex);
        match fs::rename(dir, &dest) {
            Ok(()) => {
                fs::File::open(self.layers())
                    .and_then(|d| d.sync_all())
                    .map_err(sys(&dest))?;
                Ok(())
            }
            Err(e) if dest.join("layer.json").exists() => {
                let _ = e;
                Ok(())
            }
            Err(e) => Err(sys(&dest)(e)),
        }
    }

    /// Remove layers no record lists (nor any retired record a container still uses), retired
    /// records no container uses, and temp dirs whose owner is gone. Returns the removed layers.
    pub fn collect(&self, in_use: &BTreeSet<String>, lock: &FileLock) -> Result<Vec<String>> {
        let mut live = BTreeSet::new();
        for hex in self.record_ids()? {
            if let Some(r) = self.read_record(&hex)? {
                live.extend(diff_ids_of(&r)?);
            }
        }
        for hex in list_json(&self.retired())? {
            let p = self.retired().join(format!("{hex}.json"));
            if !in_use.contains(&hex) {
                fs::remove_file(&p).map_err(sys(&p))?;
                continue;
            }
            if let Some(r) = read_record_at(&p)? {
                live.extend(diff_ids_of(&r)?);
            }
        }
        let trash = self.tmp_dir()?;
        let mut removed = Vec::new();
        for name in read_dir_names(&self.layers())? {
            if super::reference::is_hex64(&name) && !live.contains(&name) {
                let from = self.layer_dir(&name);
                fs::rename(&from, trash.path.join(&name)).map_err(sys(&from))?;
                removed.push(name);
            }
        }
        let _ = lock;
        for name in read_dir_names(&self.tmp())? {
            let dir = self.tmp().join(&name);
            if dir == trash.path {
                continue;
            }
            let old = fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > TMP_GRACE);
            if old {
                if let Ok(Some(_held)) = FileLock::try_acquire(&dir.join("lock")) {
                    berth_shim::cleanup::cleanup(
                        format!("removing {}", dir.display()),
                        fs::remove_dir_all(&dir),
                    );
                }
            }
        }
        Ok(removed)
    }
}

/// A temp dir that removes itself (whatever is still in it) on drop.
#[derive(Debug)]
pub struct TmpDir {
    pub path: PathBuf,
    _lock: FileLock,
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        berth_shim::cleanup::cleanup(
            format!("removing {}", self.path.display()),
            fs::remove_dir_all(&self.path),
        );
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn read_record_at(p: &Path) -> Result<Option<Record>> {
    match fs::read(p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| EngineError::system(p.display(), e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(sys(p)(e)),
    }
}

/// The layer hexes an image record lists.
pub fn diff_ids_of(r: &Record) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Cfg {
        rootfs: RootFs,
    }
    let c: Cfg = serde_json::from_str(r.config.get())
        .map_err(|e| EngineError::system(format!("image {}", r.id), e))?;
    Ok(c.rootfs
        .diff_ids
        .iter()
        .map(|d| hex_of(d).to_string())
        .collect())
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(sys(dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(sys(dir))?;
        if let Some(n) = e.file_name().to_str() {
            out.push(n.to_string());
        }
    }
    Ok(out)
}

fn list_json(dir: &Path) -> Result<Vec<String>> {
    Ok(read_dir_names(dir)?
        .into_iter()
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter(|h| super::reference::is_hex64(h))
        .collect())
}
