//! Where a container's files live. Persistent state under `root` (default /var/lib/berth) survives a
//! reboot; `run_root` (default /run/berth) holds what only a live shim has: its lock and sockets.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_RUN_ROOT: &str = "/run/berth";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub root: PathBuf,
    pub run_root: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            root: PathBuf::from(DEFAULT_ROOT),
            run_root: PathBuf::from(DEFAULT_RUN_ROOT),
        }
    }
}

/// The root's mode: root may do anything, its group only traverse (dockerd's since
/// CVE-2021-41091), others nothing: container configurations (their environments, their
/// secrets), upper dirs, layers with setuid binaries, volumes and the events log lie below.
pub const ROOT_MODE: u32 = 0o710;
/// The run root's mode: others may traverse it, to reach the API socket that lies in it by
/// default (`SocketGroup=docker`), but not list it. Everything of the shims lies in
/// `containers/`, which is [`PRIVATE_MODE`].
pub const RUN_ROOT_MODE: u32 = 0o711;
/// A directory only root enters.
pub const PRIVATE_MODE: u32 = 0o700;

impl Paths {
    /// Makes the root, the run root and the run root's `containers/` with their modes
    /// ([`ROOT_MODE`], [`RUN_ROOT_MODE`], [`PRIVATE_MODE`]), and tightens any of them that
    /// an older berth (or a hand) left looser. Every berth process that works on the state
    /// calls it at its start: two or three stats once the directories are right.
    pub fn secure(&self) -> std::io::Result<()> {
        secure_dir(&self.root, ROOT_MODE)?;
        secure_dir(&self.run_root, RUN_ROOT_MODE)?;
        secure_dir(&self.run_root.join("containers"), PRIVATE_MODE)
    }

    pub fn new(root: impl Into<PathBuf>, run_root: impl Into<PathBuf>) -> Self {
        Paths {
            root: root.into(),
            run_root: run_root.into(),
        }
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `<root>/containers/<id>`: config.json, state.json, the log, upper and work dirs.
    pub fn container(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.containers().join(id),
            run: self.run_root.join("containers").join(id),
            id: id.to_string(),
        }
    }
}

/// Makes `dir` (and its missing parents, with the default mode) and gives it at most `mode`:
/// a looser existing one is tightened, a stricter one left.
pub fn secure_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // The group's search bit stays: where berth let a user namespace's root search the
    // directory it is the ACL's mask (see `acl`), and the group is root's.
    let now = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
    if now & !(mode | 0o010) != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(now & mode))?;
    }
    Ok(())
}

/// The files of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPaths {
    pub id: String,
    pub dir: PathBuf,
    pub run: PathBuf,
}

impl ContainerPaths {
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// Held (flock) while the state is read-modified-written; never across a wait.
    pub fn state_lock(&self) -> PathBuf {
        self.dir.join("state.lock")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
    /// Held (flock) by the live shim for its whole life: taking it means no shim is alive.
    pub fn shim_lock(&self) -> PathBuf {
        self.run.join("shim.lock")
    }
    pub fn control_socket(&self) -> PathBuf {
        self.run.join("control.sock")
    }
    pub fn attach_socket(&self) -> PathBuf {
        self.run.join("attach.sock")
    }
    /// The mount point of the container's root inside its own mount namespace.
    pub fn rootfs(&self) -> PathBuf {
        self.run.join("rootfs")
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
