//! COPY and ADD: the files a step adds, gathered from a source tree (the context, another stage
//! or an image) into a sorted set of entries under their destination resolved inside the image,
//! written as one layer tar (deterministic: sorted, no host ids), and a checksum of what was
//! copied (paths, content, mode, owner: not times) that keys the step's cache.

use super::sources::{chmod_bits, chown_ids, context_path, glob, has_glob};
use super::tree::{split, Node, Tree};
use crate::engine::images::store::TmpDir;
use crate::engine::images::unpack::{unpack_layer, Limits};
use crate::engine::{Engine, EngineError, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// A COPY or ADD, its words expanded.
pub struct CopyPlan<'a> {
    /// "COPY" or "ADD": errors begin with it.
    pub verb: &'static str,
    pub sources: Vec<String>,
    /// Absolute (the WORKDIR applied), a trailing `/` kept.
    pub dest: String,
    pub src: &'a Tree,
    pub from_context: bool,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(PathBuf),
    Symlink(PathBuf),
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

/// The layer tar written, and what keys its cache.
pub struct CopyLayer {
    pub scratch: TmpDir,
    pub tar: PathBuf,
    /// `file:<sha>`, `dir:<sha>` or `multi:<sha>`, as dockerd names the sources in history.
    pub checksum: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn is_archive(path: &std::path::Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(b"BZh")
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || (n == 512 && &h[257..262] == b"ustar")
}

impl Engine {
    /// Gather the plan's entries and write them as a layer tar in a scratch dir.
    pub(super) fn copy_layer(&self, plan: &CopyPlan, image: &Tree) -> Result<CopyLayer> {
        let verb = plan.verb;
        let owner = match &plan.chown {
            Some(s) => Some(chown_ids(s, image)?),
            None => None,
        };
        let chmod = plan.chmod.as_deref().map(chmod_bits).transpose()?;
        let scratch = self.store().tmp_dir()?;

        // The sources, globs expanded.
        let mut found: Vec<Vec<String>> = Vec::new();
        for s in &plan.sources {
            if plan.verb == "ADD" && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(EngineError::invalid_parameter(format!(
                    "ADD failed: berth does not download URLs in a build ({s}): fetch it into \
                     the build context and COPY it"
                )));
            }
            let comps = if plan.from_context {
                context_path(s)?
            } else {
                split(s).into_iter().filter(|c| c != "..").collect()
            };
            if comps.iter().any(|c| has_glob(c)) {
                found.extend(glob(plan.src, &comps));
                continue;
            }
            let resolved = plan.src.resolve(&comps.join("/"), true)?;
            if plan.src.lstat(&resolved).is_none() {
                return Err(EngineError::invalid_parameter(if plan.from_context {
                    format!("{verb} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist")
                } else {
                    format!("{verb} failed: stat {s}: file does not exist")
                }));
            }
            found.push(resolved);
        }
        if found.is_empty() {
            return Err(EngineError::invalid_parameter(format!(
                "{verb} failed: no source files were specified"
            )));
        }
        let slash = plan.dest.ends_with('/');
        if found.len() > 1 && !slash {
            return Err(EngineError::invalid_parameter(format!(
                "When using {verb} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let dest = image.resolve(&plan.dest, true)?;
        let dest_is_dir = slash || image.lstat(&dest).is_some_and(|n| n.is_dir());

        let mut entries: BTreeMap<Vec<String>, Entry> = BTreeMap::new();
        let mut kinds = Vec::new();
        for (i, comps) in found.iter().enumerate() {
            let node = plan.src.lstat(comps).ok_or_else(|| {
                EngineError::invalid_parameter(format!(
                    "{verb} failed: {} vanished",
                    comps.join("/")
                ))
            })?;
            // Copied files belong to root (or to --chown), wherever they came from, as in dockerd.
            let ident = |_: &Node| owner.unwrap_or((0, 0));
            if node.is_dir() {
                kinds.push("dir");
                walk(plan.src, comps, &dest, &mut entries, &|n| ident(n), chmod)?;
            } else if plan.verb == "ADD" && node.meta.is_file() && is_archive(&node.host) {
                kinds.push("file");
                let x = scratch.path.join(format!("archive-{i}"));
                std::fs::create_dir(&x).map_err(|e| EngineError::system(x.display(), e))?;
                let f = std::fs::File::open(&node.host)
                    .map_err(|e| EngineError::system(node.host.display(), e))?;
                unpack_layer(super::context::decompressed(f)?, &x, &Limits::default())?;
                let t = Tree::Dir(x);
                // An archive's owners are kept, as dockerd keeps them.
                walk(
                    &t,
                    &[],
                    &dest,
                    &mut entries,
                    &|n| owner.unwrap_or((n.meta.uid(), n.meta.gid())),
                    chmod,
                )?;
            } else {
                kinds.push("file");
                let mut target = dest.clone();
                if dest_is_dir {
                    target.push(comps.last().cloned().unwrap_or_default());
                }
                entries.insert(target, entry_of(&node, ident(&node), chmod));
            }
        }
        // Parents the entries need: the image's own (mode, owner, time) where it has them.
        let created_owner = owner.unwrap_or((0, 0));
        let mut parents = BTreeMap::new();
        if dest_is_dir && !dest.is_empty() && !entries.contains_key(&dest) {
            parents.insert(dest.clone(), ());
        }
        for path in entries.keys() {
            for i in 1..path.len() {
                parents.insert(path[..i].to_vec(), ());
            }
        }
        for p in parents.into_keys() {
            if entries.contains_key(&p) {
                continue;
            }
            let e = match image.lstat(&p).filter(|n| n.is_dir()) {
                Some(n) => Entry {
                    kind: Kind::Dir,
                    mode: n.meta.mode() & 0o7777,
                    uid: n.meta.uid(),
                    gid: n.meta.gid(),
                    mtime: n.meta.mtime().max(0) as u64,
                },
                None => Entry {
                    kind: Kind::Dir,
                    mode: 0o755,
                    uid: created_owner.0,
                    gid: created_owner.1,
                    mtime: now(),
                },
            };
            entries.insert(p, e);
        }

        let tar = scratch.path.join("layer.tar");
        let sum = write_tar(&tar, &entries)?;
        let what = match kinds.as_slice() {
            [one] => *one,
            _ => "multi",
        };
        Ok(CopyLayer {
            scratch,
            tar,
            checksum: format!("{what}:{sum}"),
        })
    }
}

fn entry_of(n: &Node, (uid, gid): (u32, u32), chmod: Option<u32>) -> Entry {
    let kind = if n.is_dir() {
        Kind::Dir
    } else if let Some(t) = n.symlink_target() {
        Kind::Symlink(t)
    } else {
        Kind::File(n.host.clone())
    };
    let own_mode = n.meta.permissions().mode() & 0o7777;
    let mode = match (&kind, chmod) {
        (Kind::Symlink(_), _) => 0o777,
        (_, Some(m)) => m,
        _ => own_mode,
    };
    Entry {
        kind,
        mode,
        uid,
        gid,
        mtime: n.meta.mtime().max(0) as u64,
    }
}

/// The contents of directory `src` (in `tree`) under `dest`, the directory itself as `dest`.
fn walk(
    tree: &Tree,
    src: &[String],
    dest: &[String],
    out: &mut BTreeMap<Vec<String>, Entry>,
    ident: &dyn Fn(&Node) -> (u32, u32),
    chmod: Option<u32>,
) -> Result<()> {
    if let Some(n) = tree.lstat(src) {
        if !dest.is_empty() {
            out.insert(dest.to_vec(), entry_of(&n, ident(&n), chmod));
        }
    }
    for name in tree.read_dir(src) {
        let mut s = src.to_vec();
        s.push(name.clone());
        let mut d = dest.to_vec();
        d.push(name);
        let Some(n) = tree.lstat(&s) else { continue };
        if n.is_dir() {
            walk(tree, &s, &d, out, ident, chmod)?;
        } else if n.meta.is_file() || n.meta.file_type().is_symlink() {
            out.insert(d, entry_of(&n, ident(&n), chmod));
        }
    }
    Ok(())
}

/// A reader hashing what passes through.
struct Hashing<'a, R> {
    inner: R,
    sha: &'a mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Write the entries as a tar; the checksum of paths, kinds, modes, owners and contents.
fn write_tar(path: &std::path::Path, entries: &BTreeMap<Vec<String>, Entry>) -> Result<String> {
    let sys = |e: std::io::Error| EngineError::system(path.display(), e);
    let f = std::fs::File::create(path).map_err(sys)?;
    let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, f));
    b.mode(tar::HeaderMode::Deterministic);
    let mut sum = Sha256::new();
    for (comps, e) in entries {
        let name = comps.join("/");
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid as u64);
        h.set_gid(e.gid as u64);
        h.set_mtime(e.mtime);
        write!(sum, "{name}\0{:o}\0{}\0{}\0", e.mode, e.uid, e.gid).map_err(sys)?;
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                sum.update(b"d\n");
                b.append_data(&mut h, format!("{name}/"), std::io::empty())
                    .map_err(sys)?;
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                writeln!(sum, "l{}", t.display()).map_err(sys)?;
                b.append_link(&mut h, &name, t).map_err(sys)?;
            }
            Kind::File(src) => {
                let f =
                    std::fs::File::open(src).map_err(|e| EngineError::system(src.display(), e))?;
                let len = f.metadata().map_err(sys)?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(len);
                let mut file_sum = Sha256::new();
                let r = Hashing {
                    inner: f.take(len),
                    sha: &mut file_sum,
                };
                b.append_data(&mut h, &name, r).map_err(sys)?;
                writeln!(sum, "f{}", hex::encode(file_sum.finalize())).map_err(sys)?;
            }
        }
    }
    let mut w = b.into_inner().map_err(sys)?;
    w.flush().map_err(sys)?;
    Ok(hex::encode(sum.finalize()))
}
