//! The container's root filesystem, made inside its own mount namespace (so it vanishes with the
//! container and nothing is left mounted on the host): overlayfs of the image layers, the kernel
//! filesystems and devices, the per-container /etc files, user mounts, pivot_root, then Docker's
//! masked and read-only paths.

use crate::devices::{DeviceKind, DeviceNode};
use crate::paths::ContainerPaths;
use crate::spec::{ContainerSpec, MountSpec, NsMode};
use crate::state::RootMode;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mounting {what} on {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: nix::Error,
    },
    #[error("preparing {path}: {source}")]
    Prepare { path: PathBuf, source: io::Error },
    #[error("creating device {path}: {source}")]
    Device { path: PathBuf, source: nix::Error },
    #[error("pivot_root into {root}: {source}")]
    Pivot { root: PathBuf, source: nix::Error },
    #[error("overlay options for {layers} layers are longer than a page")]
    TooManyLayers { layers: usize },
    #[error("invalid mount {destination}: {reason}")]
    InvalidMount { destination: String, reason: String },
}

pub type Result<T> = std::result::Result<T, RootfsError>;

fn do_mount(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, target, fstype, flags, data).map_err(|source| RootfsError::Mount {
        what: fstype.or(src).unwrap_or("remount").to_string(),
        target: target.to_path_buf(),
        source,
    })
}

fn prep<T>(path: &Path, r: io::Result<T>) -> Result<T> {
    r.map_err(|source| RootfsError::Prepare {
        path: path.to_path_buf(),
        source,
    })
}

/// Resolve `dest` (an absolute path inside the container) under `root`, refusing `..` so that a
/// mount can never land outside the container's root.
fn inside(root: &Path, dest: &str) -> Result<PathBuf> {
    let rel = Path::new(dest);
    if !rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(RootfsError::InvalidMount {
            destination: dest.to_string(),
            reason: "the destination must be an absolute path without ..".to_string(),
        });
    }
    Ok(root.join(rel.strip_prefix("/").unwrap_or(rel)))
}

fn ensure_dir(path: &Path) -> Result<()> {
    prep(path, std::fs::create_dir_all(path))
}

fn ensure_file(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    prep(
        path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map(drop),
    )
}

/// Build the root and enter it. Runs in the container's first process, in its new mount
/// namespace, before any privilege is dropped. Each step is one call with its own error.
pub fn setup(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    devices: &[DeviceNode],
) -> Result<RootMode> {
    let root = paths.rootfs();
    // 1. Nothing we mount may propagate back to the host, except through a shared bind.
    propagation(spec, &root)?;
    // 2. The root itself: overlayfs of the layers plus the container's upper dir.
    ensure_dir(&root)?;
    mount_root(spec, paths, &root)?;
    // 3. Kernel filesystems and devices.
    mount_kernel_filesystems(spec, paths, &root)?;
    make_devices(spec, &root)?;
    for node in devices {
        make_mapped_device(&root, node)?;
    }
    // 4. The per-container files dockerd bind-mounts into /etc.
    for (file, dest) in [
        (paths.hostname(), "/etc/hostname"),
        (paths.hosts(), "/etc/hosts"),
        (paths.resolv_conf(), "/etc/resolv.conf"),
    ] {
        if file.exists() {
            let target = inside(&root, dest)?;
            ensure_file(&target)?;
            do_mount(file.to_str(), &target, None, MsFlags::MS_BIND, None)?;
        }
    }
    // 5. The user's mounts.
    for m in &spec.mounts {
        mount_user(&root, m)?;
    }
    // 6. Enter the root.
    let mode = enter(&root)?;
    // 7. Docker's masked and read-only paths (not for privileged containers).
    if !spec.process.privileged {
        for p in &spec.masked_paths {
            mask(Path::new(p))?;
        }
        for p in &spec.readonly_paths {
            readonly(Path::new(p))?;
        }
    }
    // 8. A read-only root.
    if spec.rootfs.readonly {
        do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(mode)
}

fn mount_root(spec: &ContainerSpec, paths: &ContainerPaths, root: &Path) -> Result<()> {
    let upper = paths.upper();
    let work = paths.work();
    ensure_dir(&upper)?;
    ensure_dir(&work)?;
    if spec.rootfs.layers.is_empty() {
        return do_mount(
            upper.to_str(),
            root,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        );
    }
    // overlayfs lists lower dirs top-most first.
    let lower: Vec<String> = spec
        .rootfs
        .layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        return Err(RootfsError::TooManyLayers {
            layers: spec.rootfs.layers.len(),
        });
    }
    // An auto-removed container's upper dir is thrown away when it exits, so it need not
    // survive a host crash: `volatile` skips overlayfs's syncs, among them the sync of the
    // whole host filesystem that the unmount at the container's exit makes (3 to 15 ms of a
    // `docker run --rm` here, far more while the host writes a lot), before the shim even
    // hears of the exit. Without support for it (Linux < 5.10) the mount is made as before.
    if spec.auto_remove {
        clear_volatile_marker(&work);
        let volatile = format!("{data},volatile");
        if mount(
            Some("overlay"),
            root,
            Some("overlay"),
            MsFlags::empty(),
            Some(volatile.as_str()),
        )
        .is_ok()
        {
            return Ok(());
        }
    }
    do_mount(
        Some("overlay"),
        root,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    )
}

/// overlayfs leaves `<workdir>/work/incompat/volatile/` (holding a file `dirty`) behind a
/// `volatile` mount and refuses
/// to mount that work dir again while it is there, since after a host crash the upper dir may
/// be torn. One made since this boot only says that the dir was mounted volatile before (a
/// restart of the container, or a copy out of it) and unmounted with nothing lost: remove it.
/// One older than the boot stays, and the mount fails, as overlayfs means it to.
pub fn clear_volatile_marker(work: &Path) {
    let marker = work.join("work/incompat/volatile");
    let Ok(made) = std::fs::symlink_metadata(&marker).and_then(|m| m.modified()) else {
        return;
    };
    if boot_time().is_some_and(|boot| made >= boot) {
        // The kernel puts a `dirty` file in it.
        let _ = std::fs::remove_dir_all(&marker);
    }
}

/// When this boot began (`btime` of /proc/stat).
fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

fn mount_kernel_filesystems(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    root: &Path,
) -> Result<()> {
    let nosuid_noexec_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    let proc_dir = root.join("proc");
    ensure_dir(&proc_dir)?;
    do_mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        nosuid_noexec_nodev,
        None,
    )?;

    let dev = root.join("dev");
    ensure_dir(&dev)?;
    do_mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    let pts = dev.join("pts");
    ensure_dir(&pts)?;
    do_mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    ensure_dir(&shm)?;
    match spec.shm_source.as_str() {
        "" => do_mount(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            nosuid_noexec_nodev,
            Some(crate::shm::options(spec.shm_size).as_str()),
        )?,
        "none" => {}
        source => {
            let source = if source == "shareable" {
                crate::shm::shareable_path(paths)
            } else {
                PathBuf::from(source)
            };
            do_mount(source.to_str(), &shm, None, MsFlags::MS_BIND, None)?;
        }
    }
    let mqueue = dev.join("mqueue");
    ensure_dir(&mqueue)?;
    do_mount(
        Some("mqueue"),
        &mqueue,
        Some("mqueue"),
        nosuid_noexec_nodev,
        None,
    )?;

    let sys = root.join("sys");
    ensure_dir(&sys)?;
    let ro = if spec.process.privileged {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    if spec.namespaces.net == NsMode::Private || spec.namespaces.user.is_some() {
        do_mount(
            Some("sysfs"),
            &sys,
            Some("sysfs"),
            nosuid_noexec_nodev | ro,
            None,
        )?;
    } else {
        // sysfs may not be mounted anew from a shared network namespace: bind the host's.
        do_mount(
            Some("/sys"),
            &sys,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        if !ro.is_empty() {
            do_mount(
                None,
                &sys,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | nosuid_noexec_nodev | ro,
                None,
            )?;
        }
    }
    mount_cgroups(
        root,
        nosuid_noexec_nodev | ro,
        spec.namespaces.user.is_some(),
    )
}

/// Mount the cgroup hierarchies the host has, seen from the container's cgroup namespace (so the
/// container's own cgroup is their root), read-only as dockerd does. net_cls and net_prio are
/// never mounted: once used they break cgroup2 socket matching for eBPF until reboot.
fn mount_cgroups(root: &Path, flags: MsFlags, in_userns: bool) -> Result<()> {
    let mounts = prep(
        Path::new("/proc/self/mounts"),
        std::fs::read_to_string("/proc/self/mounts"),
    )?;
    let base = root.join("sys/fs/cgroup");
    let mut any = false;
    let mut hierarchies = Vec::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let (mnt, fstype, opts) = (f[1], f[2], f[3]);
        let Some(rel) = mnt.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        match fstype {
            "cgroup2" => hierarchies.push((rel.to_string(), "cgroup2", String::new())),
            "cgroup" => {
                let subsystems: Vec<&str> = opts
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime")
                            && !o.starts_with("release_agent")
                            && !o.starts_with("clone_children")
                    })
                    .collect();
                if subsystems
                    .iter()
                    .any(|s| *s == "net_cls" || *s == "net_prio")
                {
                    continue;
                }
                hierarchies.push((rel.to_string(), "cgroup", subsystems.join(",")));
            }
            _ => {}
        }
    }
    for (rel, fstype, data) in &hierarchies {
        if rel.is_empty() && *fstype == "cgroup2" {
            // Pure cgroup v2: one mount at /sys/fs/cgroup.
            ensure_dir(&base)?;
            do_mount(Some("cgroup"), &base, Some("cgroup2"), flags, None)?;
            return Ok(());
        }
        if !any {
            ensure_dir(&base)?;
            do_mount(
                Some("tmpfs"),
                &base,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                Some("mode=755"),
            )?;
            any = true;
        }
        let target = base.join(rel.trim_start_matches('/'));
        ensure_dir(&target)?;
        let data = (!data.is_empty()).then_some(data.as_str());
        match do_mount(Some("cgroup"), &target, Some(fstype), flags, data) {
            // cgroup v1 hierarchies cannot be mounted from a user namespace; the container
            // still has the cgroup2 view of itself.
            Err(RootfsError::Mount {
                source: nix::Error::EPERM,
                ..
            }) if in_userns && *fstype == "cgroup" => {}
            other => other?,
        }
    }
    if any && !flags.contains(MsFlags::MS_RDONLY) {
        return Ok(());
    }
    if any {
        // The tmpfs holding the mount points is read-only too.
        do_mount(
            None,
            &base,
            None,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_NODEV
                | MsFlags::MS_RDONLY,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

/// The device nodes every container has, and the /dev links.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn make_devices(spec: &ContainerSpec, root: &Path) -> Result<()> {
    let dev = root.join("dev");
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        let made = mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        );
        match made {
            Ok(()) => {
                // mknod is subject to the umask; set the mode dockerd gives.
                use std::os::unix::fs::PermissionsExt;
                prep(
                    &path,
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)),
                )?;
            }
            // In a user namespace device nodes cannot be made: bind the host's.
            Err(nix::Error::EPERM) => {
                ensure_file(&path)?;
                do_mount(
                    Path::new("/dev").join(name).to_str(),
                    &path,
                    None,
                    MsFlags::MS_BIND,
                    None,
                )?;
            }
            Err(source) => return Err(RootfsError::Device { path, source }),
        }
    }
    if spec.process.privileged {
        copy_host_devices(&dev)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        let path = dev.join(link);
        prep(&path, symlink(target, &path))?;
    }
    Ok(())
}

/// A `--device` node: made with the host node's type, numbers, mode and owner; bound from the
/// host where a user namespace cannot make nodes. A path a privileged container already has
/// from the host's /dev is left as it is.
fn make_mapped_device(root: &Path, node: &DeviceNode) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let destination = node.path.to_string_lossy();
    let path = inside(root, &destination)?;
    if path.symlink_metadata().is_ok() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    let kind = match node.kind {
        DeviceKind::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFCHR,
    };
    let dev = makedev(u64::from(node.major), u64::from(node.minor));
    match mknod(&path, kind, Mode::from_bits_truncate(node.mode), dev) {
        Ok(()) => {
            let owner = (
                Some(nix::unistd::Uid::from_raw(node.uid)),
                Some(nix::unistd::Gid::from_raw(node.gid)),
            );
            nix::unistd::chown(&path, owner.0, owner.1).map_err(|source| RootfsError::Device {
                path: path.clone(),
                source,
            })?;
            // mknod is subject to the umask: give the host node's mode.
            prep(
                &path,
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(node.mode)),
            )
        }
        Err(nix::Error::EPERM) => {
            ensure_file(&path)?;
            do_mount(node.host_path.to_str(), &path, None, MsFlags::MS_BIND, None)
        }
        Err(source) => Err(RootfsError::Device { path, source }),
    }
}

/// A privileged container sees the host's device nodes.
fn copy_host_devices(dev: &Path) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let entries = prep(Path::new("/dev"), std::fs::read_dir("/dev"))?;
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            continue;
        };
        // /dev/ptmx is the container's own devpts's (a symlink made after this).
        if entry.file_name() == "ptmx" {
            continue;
        }
        let path = dev.join(entry.file_name());
        if path.exists() {
            continue;
        }
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        mknod(&path, kind, mode, meta.rdev())
            .map_err(|source| RootfsError::Device { path, source })?;
    }
    Ok(())
}

fn mount_user(root: &Path, m: &MountSpec) -> Result<()> {
    inside(root, &m.destination)?;
    let file_bind = m.kind == "bind" && !Path::new(&m.source).is_dir();
    let held = crate::mount_target::resolve(root, &m.destination, file_bind).map_err(|source| {
        RootfsError::Mount {
            what: format!("the destination {}", m.destination),
            target: root.to_path_buf(),
            source,
        }
    })?;
    let target = held.path();
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    let mut propagation = MsFlags::empty();
    let mut recursive = m.kind == "bind";
    for o in &m.options {
        match o.as_str() {
            "ro" | "readonly" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "bind" => recursive = false,
            "rbind" => recursive = true,
            "private" => propagation = MsFlags::MS_PRIVATE,
            "rprivate" => propagation = MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "shared" => propagation = MsFlags::MS_SHARED,
            "rshared" => propagation = MsFlags::MS_SHARED | MsFlags::MS_REC,
            "slave" => propagation = MsFlags::MS_SLAVE,
            "rslave" => propagation = MsFlags::MS_SLAVE | MsFlags::MS_REC,
            other => data.push(other.to_string()),
        }
    }
    match m.kind.as_str() {
        "bind" => {
            let mut bflags = MsFlags::MS_BIND;
            if recursive {
                bflags |= MsFlags::MS_REC;
            }
            do_mount(Some(&m.source), &target, None, bflags, None)?;
            if !flags.is_empty() {
                // The fd held names the directory under the mount: address the new mount.
                let top = crate::mount_target::resolve(root, &m.destination, file_bind).map_err(
                    |source| RootfsError::Mount {
                        what: format!("the destination {}", m.destination),
                        target: root.to_path_buf(),
                        source,
                    },
                )?;
                do_mount(
                    None,
                    &top.path(),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
                    None,
                )?;
            }
        }
        "tmpfs" => {
            let data = data.join(",");
            do_mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        }
        other => {
            let data = data.join(",");
            do_mount(
                Some(&m.source),
                &target,
                Some(other),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        }
    }
    if !propagation.is_empty() {
        let top =
            crate::mount_target::resolve(root, &m.destination, file_bind).map_err(|source| {
                RootfsError::Mount {
                    what: format!("the destination {}", m.destination),
                    target: root.to_path_buf(),
                    source,
                }
            })?;
        do_mount(None, &top.path(), None, propagation, None)?;
    }
    Ok(())
}

/// Step 1 of [`setup`], by `root_propagation`:
/// - "" : every mount rprivate.
/// - "rslave": every mount a slave of the host's (host mounts reach the container, not back).
/// - "shared": the mounts stay as copied (peers of the host's shared mounts, so that a shared
///   bind carries mounts both ways); only "/" and the mount holding the container's root are made
///   private, so that the root's own mounts stay in this namespace (runc's
///   rootfsParentMountPrivate) and pivot_root accepts them.
fn propagation(spec: &ContainerSpec, root: &Path) -> Result<()> {
    match spec.root_propagation.as_str() {
        "shared" => {
            do_mount(None, Path::new("/"), None, MsFlags::MS_PRIVATE, None)?;
            let parent = root.parent().unwrap_or(root);
            let holder = crate::mountinfo::current_mount_of(parent).map_err(|source| {
                RootfsError::Prepare {
                    path: parent.to_path_buf(),
                    source,
                }
            })?;
            do_mount(None, &holder.mount_point, None, MsFlags::MS_PRIVATE, None)
        }
        "rslave" => do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None,
        ),
        _ => do_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        ),
    }
}

/// pivot_root into `root` and detach the old root; chroot where pivot_root is refused.
fn enter(root: &Path) -> Result<RootMode> {
    // The old root, to come back to after pivot_root: "." then names the new root (runc does
    // the same fchdir).
    let old_root = prep(Path::new("/"), std::fs::File::open("/"))?;
    prep(root, std::env::set_current_dir(root))?;
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => {
            // The old root is stacked under the new one at "/": make it rslave first (its
            // mounts may be peers of the host's, and an unmount would propagate there), then
            // detach it.
            nix::unistd::fchdir(&old_root).map_err(|source| RootfsError::Pivot {
                root: root.to_path_buf(),
                source,
            })?;
            do_mount(
                None,
                Path::new("."),
                None,
                MsFlags::MS_REC | MsFlags::MS_SLAVE,
                None,
            )?;
            drop(old_root);
            umount2(".", MntFlags::MNT_DETACH).map_err(|source| RootfsError::Mount {
                what: "old root".to_string(),
                target: PathBuf::from("/"),
                source,
            })?;
            prep(root, std::env::set_current_dir("/"))?;
            Ok(RootMode::PivotRoot)
        }
        Err(nix::Error::EINVAL) => {
            // The root is on a filesystem pivot_root cannot leave (initramfs): move and chroot.
            do_mount(Some("."), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
            nix::unistd::chroot(".").map_err(|source| RootfsError::Pivot {
                root: root.to_path_buf(),
                source,
            })?;
            prep(root, std::env::set_current_dir("/"))?;
            Ok(RootMode::Chroot)
        }
        Err(source) => Err(RootfsError::Pivot {
            root: root.to_path_buf(),
            source,
        }),
    }
}

/// Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory.
fn mask(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            do_mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)
        }
        Ok(_) => do_mount(Some("/dev/null"), path, None, MsFlags::MS_BIND, None),
    }
}

/// Make a path read-only in place.
fn readonly(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    do_mount(
        path.to_str(),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    do_mount(
        None,
        path,
        None,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None,
    )
}

/// With a user namespace the container's root is an unprivileged id on the host: give it the
/// upper and work dirs, and make from the host side the mount points it could not make itself
/// in a root whose image files belong to ids outside its map.
pub fn prepare_for_userns(spec: &ContainerSpec, paths: &ContainerPaths) -> io::Result<()> {
    let Some(userns) = &spec.namespaces.user else {
        return Ok(());
    };
    let host = |map: &[crate::spec::IdMap]| {
        map.iter()
            .find(|m| m.container_id == 0)
            .map(|m| m.host_id)
            .unwrap_or(0)
    };
    let (uid, gid) = (host(&userns.uid_map), host(&userns.gid_map));
    let upper = paths.upper();
    for d in [
        upper.clone(),
        paths.work(),
        upper.join("proc"),
        upper.join("dev"),
        upper.join("sys"),
    ] {
        std::fs::create_dir_all(&d)?;
    }
    std::fs::create_dir_all(upper.join("etc"))?;
    for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        let p = upper.join(f);
        if !p.exists() {
            std::fs::write(&p, b"")?;
        }
    }
    for p in [
        upper.clone(),
        paths.work(),
        upper.join("proc"),
        upper.join("dev"),
        upper.join("sys"),
        upper.join("etc"),
    ] {
        nix::unistd::chown(&p, Some(uid.into()), Some(gid.into())).map_err(io::Error::from)?;
    }
    Ok(())
}

/// Write the files the container gets at /etc/hostname, /etc/hosts and /etc/resolv.conf.
/// On user-defined networks /etc/hosts also names the other containers there (`net::hosts`).
pub fn write_network_files(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    root: &Path,
) -> io::Result<()> {
    let hostname = if spec.hostname.is_empty() {
        spec.id.chars().take(12).collect()
    } else {
        spec.hostname.clone()
    };
    crate::fsutil::write_replace(&paths.hostname(), format!("{hostname}\n").as_bytes())?;
    let networks = if spec.endpoints.is_empty() {
        Vec::new()
    } else {
        crate::net::store::Store::new(root).list()
    };
    let hosts = crate::net::hosts::content(spec, &networks);
    crate::fsutil::write_replace(&paths.hosts(), hosts.as_bytes())?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    crate::fsutil::write_replace(
        &paths.resolv_conf(),
        resolv_conf(&host_resolv, &spec.network).as_bytes(),
    )
}

/// dockerd's resolv.conf for a container: the given DNS settings, else the host's without
/// loopback resolvers (unreachable from a private network namespace), else Google's.
fn resolv_conf(host: &str, net: &crate::spec::NetworkFiles) -> String {
    let mut servers: Vec<String> = net.dns.clone();
    let mut search: Vec<String> = net.dns_search.clone();
    let mut options: Vec<String> = net.dns_options.clone();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") if net.dns.is_empty() => {
                if let Some(ip) = f.next() {
                    if !ip.starts_with("127.") && ip != "::1" {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search") if net.dns_search.is_empty() => search.extend(f.map(String::from)),
            Some("options") if net.dns_options.is_empty() => options.extend(f.map(String::from)),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".to_string(), "8.8.4.4".to_string()];
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::NetworkFiles;

    #[test]
    fn a_volatile_marker_of_this_boot_is_cleared_and_an_older_one_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        let marker = work.join("work/incompat/volatile");
        std::fs::create_dir_all(&marker).unwrap();
        // As overlayfs leaves it: a `dirty` file inside.
        std::fs::write(marker.join("dirty"), b"").unwrap();
        clear_volatile_marker(&work);
        assert!(!marker.exists(), "a marker made now was left in place");
        assert!(
            work.join("work/incompat").is_dir(),
            "more than the marker was removed"
        );
        std::fs::create_dir_all(&marker).unwrap();
        let before_boot =
            boot_time().expect("btime in /proc/stat") - std::time::Duration::from_secs(60);
        std::fs::File::open(&marker)
            .unwrap()
            .set_modified(before_boot)
            .unwrap();
        clear_volatile_marker(&work);
        assert!(marker.exists(), "a marker older than the boot was removed");
        clear_volatile_marker(&tmp.path().join("nothing-here"));
    }

    #[test]
    fn mount_destinations_stay_inside_the_root() {
        let root = Path::new("/r");
        assert_eq!(inside(root, "/data").unwrap(), PathBuf::from("/r/data"));
        assert!(inside(root, "/../etc").is_err());
        assert!(inside(root, "relative").is_err());
    }

    #[test]
    fn resolv_conf_drops_loopback_resolvers() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.com\n";
        let out = resolv_conf(host, &NetworkFiles::default());
        assert_eq!(out, "nameserver 10.0.0.2\nsearch example.com\n");
        let only_loopback = resolv_conf("nameserver 127.0.0.1\n", &NetworkFiles::default());
        assert!(only_loopback.starts_with("nameserver 8.8.8.8\n"));
        let given = NetworkFiles {
            dns: vec!["1.1.1.1".into()],
            ..NetworkFiles::default()
        };
        assert_eq!(
            resolv_conf(host, &given),
            "nameserver 1.1.1.1\nsearch example.com\n"
        );
    }
}
