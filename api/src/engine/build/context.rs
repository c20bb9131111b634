//! The build context: the request's tar (plain, gzip, bzip2, xz or zstd) unpacked into a scratch
//! directory under the root with the containment of image layers, the Dockerfile read from it
//! (its path resolved inside the context), and what `.dockerignore` leaves out removed.
//! The scratch directory is a store temp dir: it goes on drop, and a killed API's is swept.

use super::dockerfile::ignore::Ignore;
use super::tree::{split, Tree};
use crate::engine::images::store::TmpDir;
use crate::engine::images::unpack::{unpack_layer, Limits, UnpackError};
use crate::engine::{Engine, EngineError, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The file that marks a store temp dir as a build's scratch; `containers` lists the names of
/// the RUN containers the build made, one a line.
pub const BUILD_MARKER: &str = "build";
pub const BUILD_CONTAINERS: &str = "containers";

/// A context unpacked, with its Dockerfile's text.
pub struct Context {
    pub scratch: TmpDir,
    pub root: PathBuf,
    pub dockerfile: String,
}

/// The reader of `r` decompressed as its first bytes say.
pub(super) fn decompressed<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let head = r
        .fill_buf()
        .map_err(|e| EngineError::invalid_parameter(format!("reading the build context: {e}")))?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(r)),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            Box::new(xz2::read::XzDecoder::new_multi_decoder(r))
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| EngineError::invalid_parameter(format!("build context: {e}")))?,
        ),
        _ => Box::new(r),
    })
}

/// A tar stream completed where it stops short of its end: padded to a whole block, then the
/// two zero blocks that end an archive. The docker CLI's context with a Dockerfile from stdin
/// or from outside the context (moby's `ReplaceFileTarWrapper`) ends right after the last
/// file's data, which Go's tar reader takes as the end and the tar crate refuses ("unexpected
/// EOF during skip"). A stream cut inside a file's data reads that file's end as zeros.
struct EndBlocks<R> {
    inner: R,
    read: u64,
    /// Zeros still owed once `inner` ended (None: it has not).
    owed: Option<u64>,
}

impl<R: Read> EndBlocks<R> {
    fn new(inner: R) -> Self {
        EndBlocks {
            inner,
            read: 0,
            owed: None,
        }
    }
}

impl<R: Read> Read for EndBlocks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.owed.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.read += n as u64;
                return Ok(n);
            }
            self.owed = Some((512 - self.read % 512) % 512 + 1024);
        }
        let owed = self.owed.as_mut().expect("set above");
        let n = buf.len().min(usize::try_from(*owed).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        *owed -= n as u64;
        Ok(n)
    }
}

impl Engine {
    /// Unpack the context and read its Dockerfile (`dockerfile`: a path inside the context;
    /// empty for `Dockerfile`, then `dockerfile`).
    pub(super) fn build_context(&self, tar: impl Read, dockerfile: &str) -> Result<Context> {
        let scratch = self.store().tmp_dir()?;
        let marker = scratch.path.join(BUILD_MARKER);
        std::fs::write(&marker, b"").map_err(|e| EngineError::system(marker.display(), e))?;
        let root = scratch.path.join("context");
        std::fs::create_dir(&root).map_err(|e| EngineError::system(root.display(), e))?;
        let plain = EndBlocks::new(decompressed(tar)?);
        unpack_layer(plain, &root, &Limits::default()).map_err(|e| match e {
            UnpackError::Write { .. } => EngineError::from(e),
            e => EngineError::invalid_parameter(format!(
                "the build context is not a valid tar archive: {e}"
            )),
        })?;
        let tree = Tree::Dir(root.clone());
        let name = if dockerfile.is_empty() {
            "Dockerfile"
        } else {
            dockerfile
        };
        let found = |name: &str| -> Result<Option<PathBuf>> {
            if split(name).iter().any(|c| c == "..") {
                return Err(EngineError::invalid_parameter(format!(
                    "The Dockerfile ({name}) must be within the build context"
                )));
            }
            let comps = tree.resolve(name, true)?;
            Ok(tree
                .lstat(&comps)
                .filter(|n| n.meta.is_file())
                .map(|n| n.host))
        };
        let path = match found(name)? {
            Some(p) => p,
            None if dockerfile.is_empty() => found("dockerfile")?.ok_or_else(|| {
                EngineError::invalid_parameter(
                    "Cannot locate specified Dockerfile: Dockerfile".into(),
                )
            })?,
            None => {
                return Err(EngineError::invalid_parameter(format!(
                    "Cannot locate specified Dockerfile: {name}"
                )))
            }
        };
        let dockerfile = std::fs::read_to_string(&path)
            .map_err(|e| EngineError::invalid_parameter(format!("reading the Dockerfile: {e}")))?;
        let ignore_path = root.join(".dockerignore");
        if let Ok(text) = std::fs::read_to_string(&ignore_path) {
            let ignore = Ignore::parse(&text);
            remove_ignored(&root, "", &ignore)?;
        }
        Ok(Context {
            scratch,
            root,
            dockerfile,
        })
    }
}

/// Remove what `ignore` excludes under `dir` (`rel` its path in the context). A directory left
/// out goes once nothing in it is let back in by an exception.
fn remove_ignored(dir: &Path, rel: &str, ignore: &Ignore) -> Result<()> {
    let sys = |p: &Path| {
        let p = p.to_path_buf();
        move |e| EngineError::system(p.display(), e)
    };
    let rd = std::fs::read_dir(dir).map_err(sys(dir))?;
    for e in rd {
        let e = e.map_err(sys(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let rel_path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let excluded = ignore.excludes(&rel_path);
        let is_dir = e.file_type().map_err(sys(&path))?.is_dir();
        if is_dir {
            remove_ignored(&path, &rel_path, ignore)?;
            let empty = std::fs::read_dir(&path)
                .map_err(sys(&path))?
                .next()
                .is_none();
            if excluded && empty {
                std::fs::remove_dir(&path).map_err(sys(&path))?;
            }
        } else if excluded {
            std::fs::remove_file(&path).map_err(sys(&path))?;
        }
    }
    Ok(())
}

impl Engine {
    /// Remove what builds killed mid-way left: their step containers and scratch dirs (a
    /// build's scratch whose lock nobody holds). Part of the engine's sweep, and of every
    /// container listing (a build may have died in another process on the same root).
    pub fn sweep_builds(&self) {
        let tmp = self.store().tmp();
        let Ok(rd) = std::fs::read_dir(&tmp) else {
            return;
        };
        for e in rd.flatten() {
            let dir = e.path();
            if !dir.join(BUILD_MARKER).exists() {
                continue;
            }
            let Ok(Some(_held)) = berth_shim::fsutil::FileLock::try_acquire(&dir.join("lock"))
            else {
                continue;
            };
            let ids = std::fs::read_to_string(dir.join(BUILD_CONTAINERS)).unwrap_or_default();
            for id in ids.lines().filter(|l| !l.is_empty()) {
                // A name noted before its container was made may name nothing.
                match self.remove(id, true) {
                    Ok(()) => {}
                    Err(e) if e.is(crate::engine::ErrorKind::NotFound) => {}
                    Err(e) => tracing::warn!("removing build container {id}: {e}"),
                }
            }
            berth_shim::cleanup::cleanup(
                format!("removing {}", dir.display()),
                std::fs::remove_dir_all(&dir),
            );
        }
    }
}

/// Note a RUN container in the build's scratch, so that a sweep finds it after a crash.
pub(super) fn note_container(scratch: &Path, id: &str) -> Result<()> {
    use std::io::Write;
    let p = scratch.join(BUILD_CONTAINERS);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(|e| EngineError::system(p.display(), e))?;
    writeln!(f, "{id}")
        .and_then(|_| f.sync_all())
        .map_err(|e| EngineError::system(p.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar as the docker CLI sends a context with a Dockerfile from elsewhere: cut right after
    /// the last file's data (no padding, no end blocks).
    fn cut_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("f", &b"file\n"[..]), (".dockerfile.x", b"FROM busybox\n")] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, data).unwrap();
        }
        let mut tar = b.into_inner().unwrap();
        tar.truncate(512 * 3 + b"FROM busybox\n".len());
        tar
    }

    fn names(r: impl Read) -> std::io::Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for e in tar::Archive::new(r).entries()? {
            let mut e = e?;
            let mut data = Vec::new();
            e.read_to_end(&mut data)?;
            out.push((e.path()?.to_string_lossy().into_owned(), data));
        }
        Ok(out)
    }

    #[test]
    fn a_context_cut_after_its_last_file_is_read_whole() {
        let tar = cut_tar();
        assert!(
            names(&tar[..]).is_err(),
            "the tar crate alone was expected to refuse the cut stream"
        );
        let got = names(EndBlocks::new(&tar[..])).expect("the completed stream reads");
        assert_eq!(
            got,
            vec![
                ("f".to_string(), b"file\n".to_vec()),
                (".dockerfile.x".to_string(), b"FROM busybox\n".to_vec())
            ]
        );
    }
}
