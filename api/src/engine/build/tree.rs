//! A file tree the builder reads: a directory (the context, an extracted archive) or an image's
//! layers merged as overlayfs merges them. Paths given by a Dockerfile or an image are resolved
//! inside the tree: `..` stops at its root and a symlink's target is read as if the tree were
//! `/`, so nothing a path names can be outside it.

use crate::engine::{EngineError, Result};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Symlinks followed in one resolution before it is refused, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// One entry of a tree: the host path holding it and its metadata (never followed).
#[derive(Debug, Clone)]
pub struct Node {
    pub host: PathBuf,
    pub meta: std::fs::Metadata,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }
    pub fn symlink_target(&self) -> Option<PathBuf> {
        self.meta
            .file_type()
            .is_symlink()
            .then(|| std::fs::read_link(&self.host).ok())
            .flatten()
    }
}

#[derive(Debug, Clone)]
pub enum Tree {
    /// A plain directory.
    Dir(PathBuf),
    /// Image layer dirs, top first.
    Layers(Vec<PathBuf>),
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    matches!(xattr::get(p, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

impl Tree {
    /// The tree of an image's layers (given base first, as an [`crate::engine::images::Image`]).
    pub fn of_layers(base_first: &[PathBuf]) -> Tree {
        Tree::Layers(base_first.iter().rev().cloned().collect())
    }

    /// The entry at `comps` (already resolved: no symlinked parents), not following it.
    pub fn lstat(&self, comps: &[String]) -> Option<Node> {
        match self {
            Tree::Dir(root) => {
                let host = join(root, comps);
                let meta = std::fs::symlink_metadata(&host).ok()?;
                Some(Node { host, meta })
            }
            Tree::Layers(layers) => {
                for layer in layers {
                    // A parent whited out, not a directory, or opaque here hides what lies below.
                    let mut hidden_below = false;
                    for i in 1..comps.len() {
                        let p = join(layer, &comps[..i]);
                        match std::fs::symlink_metadata(&p) {
                            Ok(m) if m.is_dir() => hidden_below |= is_opaque(&p),
                            Ok(_) => return None,
                            Err(_) => {}
                        }
                    }
                    let host = join(layer, comps);
                    if let Ok(meta) = std::fs::symlink_metadata(&host) {
                        if is_whiteout(&meta) {
                            return None;
                        }
                        return Some(Node { host, meta });
                    }
                    if hidden_below {
                        return None;
                    }
                }
                None
            }
        }
    }

    /// The names in directory `comps` (resolved), sorted.
    pub fn read_dir(&self, comps: &[String]) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut gone = std::collections::BTreeSet::new();
        let layers: Vec<PathBuf> = match self {
            Tree::Dir(root) => vec![root.clone()],
            Tree::Layers(l) => l.clone(),
        };
        for layer in layers {
            let dir = join(&layer, comps);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if gone.contains(&name) {
                    continue;
                }
                match e.metadata() {
                    Ok(m) if is_whiteout(&m) => {
                        gone.insert(name);
                    }
                    _ => {
                        names.insert(name);
                    }
                }
            }
            if is_opaque(&dir) {
                break;
            }
        }
        names.into_iter().collect()
    }

    /// Resolve `path` (absolute or relative to the root) inside the tree: symlinks followed in
    /// scope, the last one too when `follow_last`. The components of the result.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut todo: Vec<String> = split(path).into_iter().rev().collect();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                out.pop();
                continue;
            }
            out.push(c);
            let last = todo.is_empty();
            if last && !follow_last {
                break;
            }
            let Some(node) = self.lstat(&out) else {
                continue;
            };
            if let Some(target) = node.symlink_target() {
                links += 1;
                if links > MAX_LINKS {
                    return Err(EngineError::invalid_parameter(format!(
                        "too many levels of symbolic links resolving {path}"
                    )));
                }
                out.pop();
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    out.clear();
                }
                todo.extend(split(&t).into_iter().rev());
            }
        }
        Ok(out)
    }
}

/// The components of a `/`-separated path, `.` and empty ones dropped (`..` kept).
pub fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

pub fn join(root: &Path, comps: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("real/up")).unwrap();
        let t = Tree::Dir(root.to_path_buf());
        assert_eq!(t.resolve("/abs/sub", true).unwrap(), ["real", "sub"]);
        assert_eq!(
            t.resolve("real/up/passwd", true).unwrap(),
            ["etc", "passwd"],
            "a link climbing out stays at the root"
        );
        assert_eq!(t.resolve("../../x", true).unwrap(), ["x"]);
        assert_eq!(t.resolve("abs", false).unwrap(), ["abs"]);
    }
}
