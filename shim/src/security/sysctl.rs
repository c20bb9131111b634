//! Sysctls of the container's own namespaces, written by its first process after the
//! namespaces exist and before its root is entered. `/proc/sys` resolves the net and ipc
//! entries by the writer's namespaces, so the host's `/proc` reaches the container's values.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("sysctl {key:?}: not a sysctl name")]
    Name { key: String },
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, SysctlError>;

/// `net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`; None for a key that could name
/// anything but one file under `/proc/sys` (the engine checks keys too: this is the last word).
pub fn path(key: &str) -> Option<PathBuf> {
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    };
    key.split('.')
        .all(word)
        .then(|| PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

/// Write each sysctl, in key order; the first failure stops the container's start.
pub fn apply(sysctls: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in sysctls {
        let path = path(key).ok_or_else(|| SysctlError::Name { key: key.clone() })?;
        std::fs::write(&path, value).map_err(|source| SysctlError::Write {
            path,
            value: value.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_one_file_under_proc_sys() {
        assert_eq!(
            path("net.ipv4.ip_unprivileged_port_start"),
            Some(PathBuf::from(
                "/proc/sys/net/ipv4/ip_unprivileged_port_start"
            ))
        );
        for bad in ["", "net..x", "net/../x", ".net", "net.", "a b"] {
            assert_eq!(path(bad), None, "{bad:?} must name no file");
        }
    }
}
