//! dockerd's copy-up: the first time an empty volume is mounted over a path of the image, the
//! image's content at that path is copied into it. The image is read from its unpacked layer
//! dirs, merged as overlayfs would (base first; a whiteout removes, an opaque directory hides
//! what is below), with no mount. No path component is followed through a symlink: content
//! reached through one is not copied.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path};

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// Empty `dir` (keep the directory itself).
fn clear(dir: &Path) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        remove_any(&e.path())?;
    }
    Ok(())
}

fn remove_any(p: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// True if `dir` has no entries (or does not exist).
pub fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Copy the merged content of `layers` (base first) at `path` ("/var/lib/app") into `dest`.
pub fn copy_up(layers: &[std::path::PathBuf], path: &str, dest: &Path) -> io::Result<()> {
    let rel: Vec<&std::ffi::OsStr> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    for layer in layers {
        // Walk down without following symlinks; a whiteout or a file on the way hides what
        // lower layers had there.
        let mut here = layer.clone();
        let mut hidden = false;
        let mut present = true;
        for name in &rel {
            here.push(name);
            match std::fs::symlink_metadata(&here) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    hidden = true;
                    break;
                }
                Err(_) => {
                    present = false;
                    break;
                }
            }
        }
        if hidden {
            clear(dest)?;
            continue;
        }
        if !present {
            continue;
        }
        if is_opaque(&here) {
            clear(dest)?;
        }
        merge(&here, dest)?;
    }
    Ok(())
}

/// Copy `src` over `dst`, applying whiteouts and opaque directories.
fn merge(src: &Path, dst: &Path) -> io::Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        if is_whiteout(&m) {
            remove_any(&to)?;
            continue;
        }
        if m.is_dir() {
            if std::fs::symlink_metadata(&to).is_ok_and(|t| !t.is_dir()) {
                remove_any(&to)?;
            }
            if !to.exists() {
                std::fs::create_dir(&to)?;
            } else if is_opaque(&from) {
                clear(&to)?;
            }
            merge(&from, &to)?;
        } else {
            remove_any(&to)?;
            if m.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            } else if m.is_file() {
                std::fs::copy(&from, &to)?;
            } else {
                // Devices, fifos and sockets are not copied up.
                continue;
            }
        }
        std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
        if !m.file_type().is_symlink() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_merge_base_first_and_symlinks_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (
            tmp.path().join("l1"),
            tmp.path().join("l2"),
            tmp.path().join("out"),
        );
        std::fs::create_dir_all(l1.join("data/sub")).unwrap();
        std::fs::write(l1.join("data/a"), "a1").unwrap();
        std::fs::write(l1.join("data/b"), "b1").unwrap();
        std::fs::write(l1.join("data/sub/c"), "c1").unwrap();
        std::fs::create_dir_all(l2.join("data")).unwrap();
        std::fs::write(l2.join("data/a"), "a2").unwrap();
        std::os::unix::fs::symlink("/etc", l2.join("data/link")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        copy_up(&[l1.clone(), l2.clone()], "/data", &out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "a2");
        assert_eq!(std::fs::read_to_string(out.join("b")).unwrap(), "b1");
        assert_eq!(std::fs::read_to_string(out.join("sub/c")).unwrap(), "c1");
        assert_eq!(
            std::fs::read_link(out.join("link")).unwrap(),
            Path::new("/etc")
        );

        // A symlink on the way is not followed.
        let out2 = tmp.path().join("out2");
        std::fs::create_dir_all(&out2).unwrap();
        copy_up(&[l2], "/data/link", &out2).unwrap();
        assert!(is_empty(&out2), "content behind a symlink was copied");
    }
}
