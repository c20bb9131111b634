//! Reading `/proc/self/mountinfo`: which mount holds a path, and its propagation.

use std::path::{Path, PathBuf};

/// A mount as mountinfo lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    /// Optional fields: "shared:1", "master:2", "propagate_from:3", "unbindable".
    pub optional: Vec<String>,
}

impl MountEntry {
    pub fn shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
    pub fn slave(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("master:"))
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The mount holding `path` in `mountinfo`'s text: the deepest mount point above it, the last
/// one listed when several are stacked there.
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<MountEntry> {
    let mut best: Option<MountEntry> = None;
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(mp) = f.get(4) else { continue };
        let mp = PathBuf::from(unescape(mp));
        let deeper = best
            .as_ref()
            .is_none_or(|b| mp.as_os_str().len() >= b.mount_point.as_os_str().len());
        if path.starts_with(&mp) && deeper {
            let optional = f
                .get(6..)
                .unwrap_or_default()
                .iter()
                .take_while(|x| **x != "-")
                .map(|x| x.to_string())
                .collect();
            best = Some(MountEntry {
                mount_point: mp,
                optional,
            });
        }
    }
    best
}

/// The mount holding `path` in this process's mount namespace.
pub fn current_mount_of(path: &Path) -> std::io::Result<MountEntry> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    mount_of(&info, path).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no mount holds {}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_mount_holds_a_path() {
        let info = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /mnt/x rw master:3 - tmpfs tmpfs rw\n\
                    31 22 0:6 / /mnt/with\\040space rw - tmpfs tmpfs rw\n";
        let m = mount_of(info, Path::new("/mnt/x/y")).unwrap();
        assert_eq!(m.mount_point, Path::new("/mnt/x"));
        assert!(m.slave() && !m.shared());
        let root = mount_of(info, Path::new("/mnt/xy")).unwrap();
        assert_eq!(root.mount_point, Path::new("/"));
        assert!(root.shared());
        let sp = mount_of(info, Path::new("/mnt/with space/a")).unwrap();
        assert_eq!(sp.mount_point, Path::new("/mnt/with space"));
    }
}
