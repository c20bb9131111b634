//! AppArmor's exec label (runc's `aa_change_onexec`): `exec <profile>` written to the process's
//! attr file puts it under the profile at its next execve. The engine made sure the profile is
//! loaded; where AppArmor is off the spec names none and nothing is written.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The attr files, in the order tried: AppArmor's own (kernels since 5.8, where several LSMs
/// may be stacked), then the shared one of older kernels.
pub const ATTR_FILES: [&str; 2] = ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"];

#[derive(Debug, thiserror::Error)]
pub enum AppArmorError {
    #[error("apparmor failed to apply profile: none of {0:?} exists")]
    NoAttrFile(Vec<PathBuf>),
    #[error("apparmor failed to apply profile: write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("apparmor failed to apply profile: write {path}: {written} of {len} bytes written")]
    Short {
        path: PathBuf,
        written: usize,
        len: usize,
    },
}

/// Ask that the next execve put this process under `profile`: `exec <profile>` written, in one
/// write (the kernel takes the label from a single write), to the first of `files` that exists.
pub fn change_onexec(profile: &str, files: &[&Path]) -> Result<(), AppArmorError> {
    let label = format!("exec {profile}");
    for path in files {
        let mut f = match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(AppArmorError::Write {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let written = f
            .write(label.as_bytes())
            .map_err(|source| AppArmorError::Write {
                path: path.to_path_buf(),
                source,
            })?;
        if written != label.len() {
            return Err(AppArmorError::Short {
                path: path.to_path_buf(),
                written,
                len: label.len(),
            });
        }
        return Ok(());
    }
    Err(AppArmorError::NoAttrFile(
        files.iter().map(|p| p.to_path_buf()).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_goes_to_the_first_attr_file_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (new, old) = (dir.path().join("apparmor-exec"), dir.path().join("exec"));
        std::fs::write(&old, "").unwrap();
        change_onexec("berth-default", &[&new, &old]).unwrap();
        let got = std::fs::read_to_string(&old).unwrap();
        assert_eq!(
            got, "exec berth-default",
            "expected the label in the older kernel's file, got {got:?}"
        );
        std::fs::write(&new, "").unwrap();
        change_onexec("mine", &[&new, &old]).unwrap();
        let got = std::fs::read_to_string(&new).unwrap();
        assert_eq!(
            got, "exec mine",
            "expected the label in AppArmor's own file, got {got:?}"
        );
    }

    #[test]
    fn no_attr_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        match change_onexec("mine", &[&missing]) {
            Err(AppArmorError::NoAttrFile(p)) => assert_eq!(p, vec![missing]),
            other => panic!("expected NoAttrFile, got {other:?}"),
        }
    }
}
