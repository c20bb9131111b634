//! Step 3 of the root, kernel filesystems: proc, the /dev tmpfs with devpts, shm and mqueue,
//! sysfs and the cgroup hierarchies, each on a target resolved inside the root. The image's
//! /proc, /dev and /sys must be directories (or missing): a symlink or a file there is refused.

use super::{do_mount, prep, target, Result, RootfsError};
use crate::mount_target::Target;
use crate::paths::ContainerPaths;
use crate::spec::{ContainerSpec, NsMode, ShmSource};
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{fstatat, Mode, SFlag};
use std::path::Path;

/// The image's `dest` ("/proc", "/dev", "/sys"), made if missing: the directory itself, never
/// what a symlink there names.
fn kernel_dir(root: &Path, dest: &'static str, fstype: &'static str) -> Result<Target> {
    let refused = || RootfsError::NotADirectory {
        fstype,
        destination: dest,
    };
    let resolve_err = |source| RootfsError::Resolve {
        destination: dest.to_string(),
        source,
    };
    let rootfd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(resolve_err)?;
    let name = dest.trim_start_matches('/');
    match fstatat(&rootfd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR => {}
        Ok(_) => return Err(refused()),
        Err(nix::Error::ENOENT) => {}
        Err(source) => return Err(resolve_err(source)),
    }
    let at = target(root, dest, false)?;
    // What was resolved is the name in the root itself (not something swapped in since).
    let here = fstatat(&rootfd, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(resolve_err)?;
    let there = at.stat().map_err(resolve_err)?;
    if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino) {
        return Err(refused());
    }
    Ok(at)
}

pub(super) fn mount_kernel_filesystems(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    root: &Path,
) -> Result<()> {
    let nosuid_noexec_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    let proc_dir = kernel_dir(root, "/proc", "proc")?;
    do_mount(
        Some("proc"),
        &proc_dir.path(),
        Some("proc"),
        nosuid_noexec_nodev,
        None,
    )?;

    let dev = kernel_dir(root, "/dev", "tmpfs")?;
    do_mount(
        Some("tmpfs"),
        &dev.path(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    // From here on /dev is the tmpfs just mounted: resolved again, its paths are berth's.
    let pts = target(root, "/dev/pts", false)?;
    do_mount(
        Some("devpts"),
        &pts.path(),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = target(root, "/dev/shm", false)?;
    match &spec.shm_source {
        ShmSource::Private => do_mount(
            Some("shm"),
            &shm.path(),
            Some("tmpfs"),
            nosuid_noexec_nodev,
            Some(crate::shm::options(spec.shm_size).as_str()),
        )?,
        ShmSource::None => {}
        source @ (ShmSource::Shareable | ShmSource::Bind(_)) => {
            let source = match source {
                ShmSource::Bind(path) => path.clone(),
                _ => crate::shm::shareable_path(paths),
            };
            do_mount(source.to_str(), &shm.path(), None, MsFlags::MS_BIND, None)?;
        }
    }
    let mqueue = target(root, "/dev/mqueue", false)?;
    do_mount(
        Some("mqueue"),
        &mqueue.path(),
        Some("mqueue"),
        nosuid_noexec_nodev,
        None,
    )?;

    let sys = kernel_dir(root, "/sys", "sysfs")?;
    let ro = if spec.process.privileged {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    if spec.namespaces.net == NsMode::Private || spec.namespaces.user.is_some() {
        do_mount(
            Some("sysfs"),
            &sys.path(),
            Some("sysfs"),
            nosuid_noexec_nodev | ro,
            None,
        )?;
    } else {
        // sysfs may not be mounted anew from a shared network namespace: bind the host's.
        do_mount(
            Some("/sys"),
            &sys.path(),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        if !ro.is_empty() {
            let top = target(root, "/sys", false)?;
            do_mount(
                None,
                &top.path(),
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
    const BASE: &str = "/sys/fs/cgroup";
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
            let base = target(root, BASE, false)?;
            do_mount(Some("cgroup"), &base.path(), Some("cgroup2"), flags, None)?;
            return Ok(());
        }
        if !any {
            let base = target(root, BASE, false)?;
            do_mount(
                Some("tmpfs"),
                &base.path(),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                Some("mode=755"),
            )?;
            any = true;
        }
        let at = target(root, &format!("{BASE}{rel}"), false)?;
        let data = (!data.is_empty()).then_some(data.as_str());
        match do_mount(Some("cgroup"), &at.path(), Some(fstype), flags, data) {
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
        let base = target(root, BASE, false)?;
        do_mount(
            None,
            &base.path(),
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
