//! Compiled filters: the BPF program libseccomp generates for a profile, kept on disk so that a
//! container start loads a ready program instead of compiling ~400 rules (several milliseconds).
//! The cache key (profile, capabilities, architecture and the architectures the filter lets
//! through, kernel) is stored in the file and compared
//! in full, so a hash collision can never load the wrong program.

use super::{build, Arches, Result, SeccompError};
use crate::security::caps::CapSet;
use crate::spec::SeccompSpec;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// A BPF program: an array of `struct sock_filter` (8 bytes each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bpf(pub Vec<u8>);

const MAGIC: &str = "berth-seccomp-bpf v1";

fn key(spec: &SeccompSpec, caps: &CapSet, arches: Arches) -> Option<String> {
    let profile = match spec {
        SeccompSpec::Unconfined if arches == Arches::Profile => return None,
        SeccompSpec::Unconfined => "unconfined".to_string(),
        SeccompSpec::Default => format!("default {}", env!("CARGO_PKG_VERSION")),
        SeccompSpec::Profile(text) => format!("profile {text}"),
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Some(format!(
        "{MAGIC}\narch={}\narches={arches:?}\nkernel={}\ncaps={:x}\n{profile}",
        std::env::consts::ARCH,
        kernel.trim(),
        caps.mask()
    ))
}

fn cache_file(key: &str, cache_dir: Option<&Path>) -> Option<std::path::PathBuf> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    cache_dir.map(|d| d.join(format!("{:016x}.bpf", h.finish())))
}

/// What [`compile`] would return when it needs no compiling: `Some(None)` when unconfined,
/// `Some(Some(program))` from the cache; None when the program must be compiled.
pub fn cached(
    spec: &SeccompSpec,
    caps: &CapSet,
    arches: Arches,
    cache_dir: Option<&Path>,
) -> Option<Option<Bpf>> {
    let Some(key) = key(spec, caps, arches) else {
        return Some(None);
    };
    read_cached(&cache_file(&key, cache_dir)?, &key).map(Some)
}

/// The compiled program for `spec` with `caps` and `arches`, from `cache_dir` when it is there
/// (None when it needs no filter, see [`build`]). A cache that cannot be read or written is
/// only a slower start.
pub fn compile(
    spec: &SeccompSpec,
    caps: &CapSet,
    arches: Arches,
    cache_dir: Option<&Path>,
) -> Result<Option<Bpf>> {
    let Some(key) = key(spec, caps, arches) else {
        return Ok(None);
    };
    let file = cache_file(&key, cache_dir);
    if let Some(bpf) = file.as_deref().and_then(|f| read_cached(f, &key)) {
        return Ok(Some(bpf));
    }
    let Some(filter) = build(spec, caps, arches)? else {
        return Ok(None);
    };
    let mut tmp = tempfile_in(cache_dir).map_err(|e| SeccompError::Export(e.to_string()))?;
    filter
        .ctx
        .export_bpf(&tmp)
        .map_err(|e| SeccompError::Export(e.to_string()))?;
    let mut program = Vec::new();
    tmp.rewind()
        .and_then(|_| tmp.read_to_end(&mut program))
        .map_err(|e| SeccompError::Export(e.to_string()))?;
    if program.is_empty() || !program.len().is_multiple_of(8) {
        return Err(SeccompError::Export(format!(
            "libseccomp exported {} bytes",
            program.len()
        )));
    }
    if let Some(f) = &file {
        let mut data = Vec::with_capacity(key.len() + 1 + program.len());
        data.extend_from_slice(key.as_bytes());
        data.push(0);
        data.extend_from_slice(&program);
        let _ = std::fs::create_dir_all(f.parent().unwrap_or(Path::new("/")));
        let _ = crate::fsutil::write_atomic(f, &data);
    }
    Ok(Some(Bpf(program)))
}

fn read_cached(file: &Path, key: &str) -> Option<Bpf> {
    let data = std::fs::read(file).ok()?;
    let split = data.iter().position(|b| *b == 0)?;
    let (stored, program) = (&data[..split], &data[split + 1..]);
    (stored == key.as_bytes() && !program.is_empty() && program.len().is_multiple_of(8))
        .then(|| Bpf(program.to_vec()))
}

/// An unnamed temporary file (O_TMPFILE) to receive libseccomp's export.
fn tempfile_in(dir: Option<&Path>) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match dir {
        Some(d) if std::fs::create_dir_all(d).is_ok() => d.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)?;
    f.flush()?;
    Ok(f)
}

/// Load a compiled program for this thread. Without no_new_privs the caller must hold
/// CAP_SYS_ADMIN (see the order in [`crate::security`]).
pub fn load(bpf: &Bpf) -> Result<()> {
    crate::sys::seccomp_set_filter(&bpf.0)
        .map_err(|e| SeccompError::Export(format!("loading: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::caps;

    #[test]
    fn the_cache_returns_the_same_program_and_checks_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let set = caps::default_set();
        assert_eq!(
            cached(
                &SeccompSpec::Default,
                &set,
                Arches::Profile,
                Some(dir.path())
            ),
            None,
            "a program found in an empty cache"
        );
        let a = compile(
            &SeccompSpec::Default,
            &set,
            Arches::Profile,
            Some(dir.path()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            cached(
                &SeccompSpec::Default,
                &set,
                Arches::Profile,
                Some(dir.path())
            ),
            Some(Some(a.clone())),
            "the compiled program is not what the cache gives back"
        );
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "one cached program");
        let b = compile(
            &SeccompSpec::Default,
            &set,
            Arches::Profile,
            Some(dir.path()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a, b);
        // Another capability set is another program (unshare etc. depend on CAP_SYS_ADMIN).
        let mut more = set.clone();
        more.insert(::caps::Capability::CAP_SYS_ADMIN);
        let c = compile(
            &SeccompSpec::Default,
            &more,
            Arches::Profile,
            Some(dir.path()),
        )
        .unwrap()
        .unwrap();
        assert_ne!(a, c);
        // A cache file whose key does not match is ignored.
        let f = &files[0].path();
        let mut data = std::fs::read(f).unwrap();
        data[0] ^= 1;
        std::fs::write(f, &data).unwrap();
        assert_eq!(
            read_cached(
                f,
                &key(&SeccompSpec::Default, &set, Arches::Profile).unwrap()
            ),
            None
        );
        assert_eq!(
            cached(
                &SeccompSpec::Default,
                &set,
                Arches::Profile,
                Some(dir.path())
            ),
            None,
            "a cache file with another key was used"
        );
        assert!(
            compile(&SeccompSpec::Unconfined, &set, Arches::Profile, None)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            cached(&SeccompSpec::Unconfined, &set, Arches::Profile, None),
            Some(None)
        );
    }

    /// The architectures are part of the key: a native-only program is another program, kept
    /// beside the profile's, and an unconfined container with deny rules still gets one.
    #[test]
    fn native_only_is_another_cached_program() {
        let dir = tempfile::tempdir().unwrap();
        let set = caps::default_set();
        let all = compile(
            &SeccompSpec::Default,
            &set,
            Arches::Profile,
            Some(dir.path()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            cached(
                &SeccompSpec::Default,
                &set,
                Arches::NativeOnly,
                Some(dir.path())
            ),
            None,
            "the profile's program was found for a native-only key"
        );
        let native = compile(
            &SeccompSpec::Default,
            &set,
            Arches::NativeOnly,
            Some(dir.path()),
        )
        .unwrap()
        .unwrap();
        assert_ne!(all, native, "native-only compiled to the profile's program");
        assert_eq!(
            cached(
                &SeccompSpec::Default,
                &set,
                Arches::NativeOnly,
                Some(dir.path())
            ),
            Some(Some(native.clone())),
        );
        assert_eq!(
            cached(
                &SeccompSpec::Default,
                &set,
                Arches::Profile,
                Some(dir.path())
            ),
            Some(Some(all)),
        );
        let unconfined = compile(&SeccompSpec::Unconfined, &set, Arches::NativeOnly, None)
            .unwrap()
            .unwrap_or_else(|| panic!("expected an architecture-only program, got none"));
        assert_ne!(unconfined, native);
        // It allows native calls.
        crate::sys::in_child(move || {
            load(&unconfined).map_err(|e| e.to_string())?;
            match crate::sys::keyctl_get_keyring_id(-2, false) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    Err(format!("keyctl under the allow-all filter: {e}"))
                }
                _ => Ok(()),
            }
        })
        .unwrap();
    }

    #[test]
    fn a_loaded_program_denies() {
        let set = caps::default_set();
        let bpf = compile(&SeccompSpec::Default, &set, Arches::Profile, None)
            .unwrap()
            .unwrap();
        crate::sys::in_child(|| {
            load(&bpf).map_err(|e| e.to_string())?;
            match crate::sys::keyctl_get_keyring_id(-2, false) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
                other => Err(format!("keyctl under the filter: {other:?}")),
            }
        })
        .unwrap();
    }
}
