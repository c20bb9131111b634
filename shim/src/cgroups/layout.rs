//! Where the cgroup hierarchies are mounted, read from /proc/self/mountinfo.

use super::{CgroupError, Result, V1_CONTROLLERS};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Where the cgroup hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Pure cgroup v2: every controller in one tree.
    Unified { root: PathBuf },
    /// v1 controllers mounted one by one (controller name -> mount point; co-mounted
    /// controllers such as `cpu,cpuacct` share a mount point), plus the v2 tree if mounted.
    Hybrid {
        v1: BTreeMap<String, PathBuf>,
        v2: Option<PathBuf>,
    },
}

/// Read `/proc/self/mountinfo` and tell which layout this machine runs.
pub fn detect() -> Result<Layout> {
    let path = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_mountinfo(&text)
}

/// The layout described by the text of a mountinfo file.
pub fn parse_mountinfo(text: &str) -> Result<Layout> {
    let mut v1: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut v2: Option<PathBuf> = None;
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = pre.split(' ').nth(4) else {
            continue;
        };
        let mut post = post.split(' ');
        let (Some(fstype), Some(_source), Some(super_opts)) =
            (post.next(), post.next(), post.next())
        else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
        match fstype {
            "cgroup2" => {
                v2.get_or_insert(mount_point);
            }
            "cgroup" => {
                for opt in super_opts.split(',') {
                    if V1_CONTROLLERS.contains(&opt) {
                        v1.entry(opt.to_string())
                            .or_insert_with(|| mount_point.clone());
                    }
                }
            }
            _ => {}
        }
    }
    match (v1.is_empty(), v2) {
        (true, Some(root)) => Ok(Layout::Unified { root }),
        (true, None) => Err(CgroupError::NoHierarchy {
            what: "any controller",
        }),
        (false, v2) => Ok(Layout::Hybrid { v1, v2 }),
    }
}

/// One mounted cgroup hierarchy, whatever it holds: a v1 controller's, a named v1 one (such as
/// `name=systemd`) or the v2 tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// A v1 hierarchy with the cpuset controller: a new group there takes no task until it has
    /// cpus and mems.
    pub v1_cpuset: bool,
}

/// Every cgroup hierarchy mounted here, each once (a hierarchy mounted twice shares its
/// device number; the first mount is kept), in mountinfo's order.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    let path = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_hierarchies(&text))
}

/// The hierarchies described by the text of a mountinfo file.
pub fn parse_hierarchies(text: &str) -> Vec<Hierarchy> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let (Some(device), Some(mount_point)) = (pre.get(2), pre.get(4)) else {
            continue;
        };
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(fstype), Some(super_opts)) = (post.first(), post.get(2)) else {
            continue;
        };
        if !matches!(*fstype, "cgroup" | "cgroup2") || seen.contains(device) {
            continue;
        }
        seen.push(device);
        out.push(Hierarchy {
            mount_point: PathBuf::from(unescape_mountinfo(mount_point)),
            v1_cpuset: *fstype == "cgroup" && super_opts.split(',').any(|o| o == "cpuset"),
        });
    }
    out
}

/// Undo mountinfo's octal escapes (`\040` for a space, ...).
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(value) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::cgroups::Cgroup;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:40 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
";

    #[test]
    fn mountinfo_hybrid() {
        let Layout::Hybrid { v1, v2 } = parse_mountinfo(HYBRID).unwrap() else {
            panic!("expected a hybrid layout");
        };
        assert_eq!(v1.get("cpu").unwrap(), Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(
            v1.get("cpuacct").unwrap(),
            Path::new("/sys/fs/cgroup/cpuacct")
        );
        assert!(!v1.contains_key("net_cls") && !v1.contains_key("net_prio"));
        assert!(!v1.contains_key("name=systemd"));
        assert_eq!(v1.len(), 3);
        assert_eq!(v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn every_hierarchy_once() {
        let twice = format!(
            "{HYBRID}50 31 0:29 / /mnt/cpu-again rw - cgroup cgroup rw,cpu\n\
             51 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
        );
        let found = parse_hierarchies(&twice);
        let mounts: Vec<&Path> = found.iter().map(|h| h.mount_point.as_path()).collect();
        assert_eq!(
            mounts,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/net_cls,net_prio",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup/cpuset",
            ]
            .map(Path::new),
            "named and unused hierarchies count, a second mount of one does not"
        );
        let cpuset: Vec<bool> = found.iter().map(|h| h.v1_cpuset).collect();
        assert_eq!(cpuset, [false, false, false, false, false, false, true]);
    }

    #[test]
    fn mountinfo_comounted_and_legacy() {
        let text = "\
25 22 0:22 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
26 22 0:23 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";
        let layout = parse_mountinfo(text).unwrap();
        let Layout::Hybrid { v1, v2 } = &layout else {
            panic!("expected legacy (hybrid without v2), got {layout:?}");
        };
        assert_eq!(v1["cpu"], v1["cpuacct"]);
        assert!(v2.is_none());
        let cg = Cgroup::new(&layout, "berth", "abc").unwrap();
        assert_eq!(
            cg.paths(),
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/abc"),
                PathBuf::from("/sys/fs/cgroup/pids/berth/abc"),
            ],
            "co-mounted controllers share one directory"
        );
    }

    #[test]
    fn mountinfo_unified_and_escapes() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n\
                    31 23 0:27 / /mnt/with\\040space rw - tmpfs tmpfs rw\n";
        assert_eq!(
            parse_mountinfo(text).unwrap(),
            Layout::Unified {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
        assert_eq!(unescape_mountinfo("/a\\040b\\134c"), "/a b\\c");
        assert!(matches!(
            parse_mountinfo("31 23 0:27 / /tmp rw - tmpfs tmpfs rw\n"),
            Err(CgroupError::NoHierarchy { .. })
        ));
    }
}

/// Whether the cgroup2 mount of `layout` has `favordynmods` (None: no cgroup2 tree).
pub fn has_favordynmods(layout: &Layout) -> Option<bool> {
    let root = match layout {
        Layout::Unified { root } => root,
        Layout::Hybrid { v2: Some(v2), .. } => v2,
        Layout::Hybrid { v2: None, .. } => return None,
    };
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (_, super_opts) = cgroup2_options(&text, root)?;
    Some(super_opts.iter().any(|o| o == "favordynmods"))
}

/// Moving a process into a cgroup takes a global lock whose writer waits for an RCU grace
/// period: about 2 ms per hierarchy here, nearly 20 ms for a container in nine of them. The
/// cgroup2 mount option `favordynmods` (Linux 6.0) makes those moves cheap at a small cost to
/// fork and exit. Turn it on when the machine's cgroup2 mount lacks it; it is one flag of the
/// cgroup2 superblock, so it is set once for the whole machine. Settings that say no
/// (`BERTH_CGROUP_FAVORDYNMODS=0`) leave the mount alone.
pub fn favor_dynamic_modifications(layout: &Layout, settings: &crate::Settings) {
    if !settings.cgroup_favordynmods {
        return;
    }
    let root = match layout {
        Layout::Unified { root } => root.clone(),
        Layout::Hybrid { v2: Some(v2), .. } => v2.clone(),
        Layout::Hybrid { v2: None, .. } => return,
    };
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let Some((mount_opts, super_opts)) = cgroup2_options(&text, &root) else {
        return;
    };
    if super_opts.iter().any(|o| o == "favordynmods") {
        return;
    }
    let mut flags = nix::mount::MsFlags::MS_REMOUNT;
    for o in &mount_opts {
        flags |= match o.as_str() {
            "nosuid" => nix::mount::MsFlags::MS_NOSUID,
            "nodev" => nix::mount::MsFlags::MS_NODEV,
            "noexec" => nix::mount::MsFlags::MS_NOEXEC,
            "relatime" => nix::mount::MsFlags::MS_RELATIME,
            "noatime" => nix::mount::MsFlags::MS_NOATIME,
            "ro" => nix::mount::MsFlags::MS_RDONLY,
            _ => nix::mount::MsFlags::empty(),
        };
    }
    // The superblock keeps only the options named at remount: repeat the ones it has.
    let mut data: Vec<String> = super_opts
        .into_iter()
        .filter(|o| o != "rw" && o != "ro")
        .collect();
    data.push("favordynmods".to_string());
    let _ = nix::mount::mount(
        None::<&str>,
        &root,
        None::<&str>,
        flags,
        Some(data.join(",").as_str()),
    );
}

/// The per-mount and superblock options of the cgroup2 mount at `root`.
fn cgroup2_options(mountinfo: &str, root: &Path) -> Option<(Vec<String>, Vec<String>)> {
    let root = root.to_str()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if l.get(4) != Some(&root) || r.first() != Some(&"cgroup2") {
            return None;
        }
        let split = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        Some((split(l.get(5)?), split(r.get(2)?)))
    })
}

#[cfg(test)]
mod favor_tests {
    use super::*;

    #[test]
    fn reads_the_cgroup2_mount_options() {
        let text = "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid,relatime - cgroup2 cgroup2 rw,nsdelegate\n\
                    30 1 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let (m, s) = cgroup2_options(text, Path::new("/sys/fs/cgroup/unified")).unwrap();
        assert_eq!(m, vec!["rw", "nosuid", "relatime"]);
        assert_eq!(s, vec!["rw", "nsdelegate"]);
        assert!(cgroup2_options(text, Path::new("/sys/fs/cgroup")).is_none());
    }
}
