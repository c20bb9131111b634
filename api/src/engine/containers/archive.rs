//! `docker cp`: stat, read (a tar) and write (extract a tar) paths of a container, running or
//! not. Every path is resolved inside the container's root, never on the host: the first step
//! is one `openat2(RESOLVE_IN_ROOT)` from a directory fd of that root (so `..` and absolute
//! symlinks stop at the container's "/"), and every later step is an `*at` call on one name with
//! `O_NOFOLLOW` from a held directory fd, so that a container swapping a directory for a symlink
//! meanwhile cannot send a read or a write to the host (the CVE-2018-15664 class).
//!
//! The root is `/proc/<pid>/root` of a running container (its mounts and volumes included), or,
//! for a stopped one, its overlay (layers, upper and work dirs) mounted in a mount namespace of a
//! dedicated thread, which the host never sees; writes land in the upper dir either way.

use super::archive_fs;
pub use super::archive_fs::PutOptions;
use crate::engine::{Engine, EngineError, Result};
use base64::Engine as _;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{FileStat, Mode, SFlag};
use serde::Serialize;
use std::os::fd::OwnedFd;

/// Go's os.FileMode type bits, as `X-Docker-Container-Path-Stat` carries them.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_NAMED_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHAR_DEVICE: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// The stat dockerd sends (base64 JSON) in `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    pub link_target: String,
}

impl PathStat {
    pub fn header_value(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }
}

/// A stat's mode as Go's os.FileMode.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match SFlag::from_bits_truncate(st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => m |= GO_DIR,
        SFlag::S_IFLNK => m |= GO_SYMLINK,
        SFlag::S_IFBLK => m |= GO_DEVICE,
        SFlag::S_IFCHR => m |= GO_DEVICE | GO_CHAR_DEVICE,
        SFlag::S_IFIFO => m |= GO_NAMED_PIPE,
        SFlag::S_IFSOCK => m |= GO_SOCKET,
        _ => {}
    }
    if st_mode & 0o4000 != 0 {
        m |= GO_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= GO_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= GO_STICKY;
    }
    m
}

/// "/a/./b/../c/" -> ("/a/c", trailing slash); the path stays inside "/".
pub fn clean(path: &str) -> (String, bool) {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path == ".";
    (format!("/{}", parts.join("/")), trailing)
}

fn rfc3339(sec: i64, nsec: i64) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::new(sec.max(0) as u64, nsec.clamp(0, 999_999_999) as u32);
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Open `path` inside the root: every symlink on the way (and the last one, with `follow`)
/// resolved as if the root were "/".
pub fn resolve(root: &OwnedFd, path: &str, follow: bool) -> nix::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if !follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

fn stat_of(fd: &OwnedFd, path: &str) -> nix::Result<PathStat> {
    let st: FileStat = nix::sys::stat::fstat(fd)?;
    let name = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("/")
        .to_string();
    let link_target = if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits() {
        let target = nix::fcntl::readlinkat(fd, "")?;
        let target = target.to_string_lossy();
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        if target.starts_with('/') {
            clean(&target).0
        } else {
            clean(&format!("{parent}/{target}")).0
        }
    } else {
        String::new()
    };
    Ok(PathStat {
        name,
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
        link_target,
    })
}

/// dockerd's checks before a write: into a read-only mount, 400; elsewhere on a read-only
/// root, refused. The longest mount destination holding `path` decides.
fn check_writable(record: &super::ContainerRecord, path: &str) -> Result<()> {
    let holder = record
        .mount_points
        .iter()
        .filter(|m| {
            let d = m.destination.trim_end_matches('/');
            path == d || path.starts_with(&format!("{d}/"))
        })
        .max_by_key(|m| m.destination.len());
    match holder {
        Some(m) if !m.rw => Err(EngineError::invalid_parameter(
            "mounted volume is marked read-only".into(),
        )),
        None if record.host_config.readonly_rootfs => Err(EngineError::system_message(
            "container rootfs is marked read-only".into(),
        )),
        _ => Ok(()),
    }
}

impl Engine {
    fn not_found_in(&self, path: &str, reference: &str) -> EngineError {
        EngineError::not_found(format!(
            "Could not find the file {path} in container {reference}"
        ))
    }

    /// The user namespace range of container `reference`'s files, if it has one.
    fn archive_shift(&self, reference: &str) -> Result<Option<crate::engine::layers::IdShift>> {
        let spec = self.read_spec(&self.lookup(reference)?)?;
        Ok(crate::engine::userns::shift_of(&spec))
    }

    /// Run `f` on a directory fd of the container's root (see the module's comment).
    fn with_container_root<T: Send>(
        &self,
        reference: &str,
        f: impl FnOnce(&OwnedFd) -> Result<T> + Send,
    ) -> Result<T> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        let paths = self.container_paths(&id);
        if state.status.is_live() && state.pid > 0 && berth_shim::state::shim_alive(&paths) {
            let proc_root = format!("/proc/{}/root", state.pid);
            let root = nix::fcntl::open(
                proc_root.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| EngineError::system(&proc_root, e))?;
            // The root opened is the container's only if its pid still has the start time
            // recorded with it, checked after the open: a reused pid is another process's.
            if berth_shim::host::process_start_time(state.pid).ok() != Some(state.pid_start_time) {
                return Err(EngineError::conflict(format!(
                    "container {id}: its process {} is gone (the pid is another process's now)",
                    state.pid
                )));
            }
            return f(&root);
        }
        // Stopped: no start may mount the same upper dir meanwhile.
        let _op = self.op_lock(&id)?;
        let record = self.record(&id)?;
        // Its image must still be there: its layers are the root's lower dirs.
        self.container_image(&record.image_id)?;
        let spec_path = paths.config();
        let spec: berth_shim::spec::ContainerSpec = std::fs::read(&spec_path)
            .map_err(|e| EngineError::system(spec_path.display(), e))
            .and_then(|d| {
                serde_json::from_slice(&d).map_err(|e| EngineError::system(spec_path.display(), e))
            })?;
        let target = paths.dir.join("cp-root");
        std::thread::scope(|s| {
            let worker = std::thread::Builder::new()
                .name("cp".into())
                .stack_size(crate::engine::tree_depth::WALK_STACK);
            let worker = worker.spawn_scoped(s, || -> Result<T> {
                let step = |what: &str, e: Errno| EngineError::system(what, e);
                // This thread's own mount namespace: the overlay is seen by nobody else and
                // goes when the thread ends.
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| step("unshare mount namespace", e))?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .map_err(|e| step("making mounts private", e))?;
                let root = berth_shim::host::mount_stopped_root(&spec, &paths, &target)
                    .map_err(|e| EngineError::system("mounting the container's root", e))
                    .and_then(|()| {
                        nix::fcntl::open(
                            &target,
                            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|e| step("opening the container's root", e))
                    });
                let out = root.and_then(|r| f(&r));
                berth_shim::cleanup::cleanup(
                    format!("unmounting {}", target.display()),
                    umount2(&target, MntFlags::MNT_DETACH),
                );
                berth_shim::cleanup::cleanup(
                    format!("removing {}", target.display()),
                    std::fs::remove_dir(&target),
                );
                out
            });
            let worker = worker.map_err(|e| EngineError::system("docker cp: its thread", e))?;
            worker.join().unwrap_or_else(|_| {
                Err(EngineError::system_message(
                    "docker cp: worker panicked".into(),
                ))
            })
        })
    }

    /// `HEAD /containers/{id}/archive`: the path's stat (a final symlink not followed).
    pub fn archive_stat(&self, reference: &str, path: &str) -> Result<PathStat> {
        check_path(path)?;
        let (clean_path, trailing) = clean(path);
        self.with_container_root(reference, |root| {
            let fd = resolve(root, &clean_path, trailing).map_err(|e| match e {
                Errno::ENOENT | Errno::ENOTDIR => self.not_found_in(path, reference),
                e => unresolvable(path, e),
            })?;
            stat_of(&fd, &clean_path).map_err(|e| EngineError::system(path, e))
        })
    }

    /// `GET /containers/{id}/archive`: the stat, then a tar of the path written to `out`.
    pub fn archive_get(
        &self,
        reference: &str,
        path: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<()> {
        check_path(path)?;
        let (clean_path, trailing) = clean(path);
        let name = if path.ends_with("/.") || clean_path == "/" {
            ".".to_string()
        } else {
            clean_path.rsplit('/').next().unwrap_or(".").to_string()
        };
        let shift = self.archive_shift(reference)?;
        self.with_container_root(reference, |root| {
            let fd = resolve(root, &clean_path, trailing).map_err(|e| match e {
                Errno::ENOENT | Errno::ENOTDIR => self.not_found_in(path, reference),
                e => unresolvable(path, e),
            })?;
            archive_fs::write_tar(&fd, &name, shift, out).map_err(|e| EngineError::system(path, e))
        })
    }

    /// `PUT /containers/{id}/archive`: extract a tar into the directory at `path`.
    pub fn archive_put(
        &self,
        reference: &str,
        path: &str,
        opts: &PutOptions,
        tar: &mut (dyn std::io::Read + Send),
    ) -> Result<()> {
        check_path(path)?;
        let (clean_path, _) = clean(path);
        check_writable(&self.record(&self.lookup(reference)?)?, &clean_path)?;
        let shift = self.archive_shift(reference)?;
        let opts = &PutOptions {
            shift,
            ..opts.clone()
        };
        self.with_container_root(reference, |root| {
            let fd = resolve(root, &clean_path, true).map_err(|e| match e {
                Errno::ENOENT => self.not_found_in(path, reference),
                Errno::ENOTDIR => {
                    EngineError::invalid_parameter("extraction point is not a directory".into())
                }
                e => unresolvable(path, e),
            })?;
            let st = nix::sys::stat::fstat(&fd).map_err(|e| EngineError::system(path, e))?;
            if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFDIR.bits() {
                return Err(EngineError::invalid_parameter(
                    "extraction point is not a directory".into(),
                ));
            }
            match opts.shift {
                // Files made through the overlay of a user-namespaced container must be made by
                // an id of its range (its mounter's namespace cannot map the host's root): a
                // thread of our own acts as the range's root for the file system.
                Some(shift) => std::thread::scope(|s| {
                    s.spawn(|| {
                        crate::engine::userns::act_as_range_root(shift)?;
                        archive_fs::extract(&fd, tar, opts)
                    })
                    .join()
                    .unwrap_or_else(|_| {
                        Err(EngineError::system_message(
                            "docker cp: worker panicked".into(),
                        ))
                    })
                }),
                None => archive_fs::extract(&fd, tar, opts),
            }
        })
    }
}

/// A path no file can have is the client's error (400), not the server's: a NUL byte, which
/// the kernel refuses with EINVAL.
fn check_path(path: &str) -> Result<()> {
    if path.contains('\0') {
        return Err(EngineError::invalid_parameter(format!(
            "invalid path {path:?}: it contains a NUL byte"
        )));
    }
    Ok(())
}

/// A failed resolution other than a missing path: a name too long is the client's (400).
fn unresolvable(path: &str, e: Errno) -> EngineError {
    match e {
        Errno::ENAMETOOLONG => EngineError::invalid_parameter(format!("{path}: {e}")),
        e => EngineError::system(path, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_inside_the_root() {
        assert_eq!(clean("/a/./b/../c/"), ("/a/c".to_string(), true));
        assert_eq!(
            clean("../../etc/shadow"),
            ("/etc/shadow".to_string(), false)
        );
        assert_eq!(clean("/etc/."), ("/etc".to_string(), true));
        assert_eq!(clean("/"), ("/".to_string(), true));
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_mode(0o020666), (1 << 26) | (1 << 21) | 0o666);
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/shadow"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        let rootfd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let read = |p: &str| {
            let fd = resolve(&rootfd, p, true).unwrap();
            std::fs::read_to_string(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
            .unwrap()
        };
        assert_eq!(read("/abs"), "inside");
        assert_eq!(read("/up/shadow"), "inside");
        assert_eq!(read("/../../etc/shadow"), "inside");
        let st = stat_of(&resolve(&rootfd, "/abs", false).unwrap(), "/abs").unwrap();
        assert_eq!(st.link_target, "/etc/shadow");
        assert_eq!(st.mode & GO_SYMLINK, GO_SYMLINK);
    }
}
