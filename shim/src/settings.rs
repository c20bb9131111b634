//! What the host's configuration says about running containers: read from the environment once,
//! by the API or the CLI at its start (README's Configuration table), and carried to each shim
//! in its container's spec (`ContainerSpec::settings`). Nothing in the runtime reads the
//! environment itself.

use crate::log::LogLevel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The runtime's settings. A spec written before they existed decodes to the defaults, which
/// are what an empty environment means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The level of the shim's log (`--log-level` / `BERTH_LOG` of the API).
    pub log_level: LogLevel,
    /// The eBPF monitor is on (`BERTH_MONITOR=0` turns it off).
    pub monitor: bool,
    /// Where the monitor's programs are pinned (`BERTH_BPF_DIR`); None: the default.
    pub bpf_dir: Option<PathBuf>,
    /// Turn on the cgroup2 mount's `favordynmods` (`BERTH_CGROUP_FAVORDYNMODS=0` leaves it).
    pub cgroup_favordynmods: bool,
    /// The `berth-shim` binary to spawn (`BERTH_SHIM`); None: found beside the running one.
    pub shim_binary: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            log_level: LogLevel::default(),
            monitor: true,
            bpf_dir: None,
            cgroup_favordynmods: true,
            shim_binary: None,
        }
    }
}

impl Settings {
    /// The settings in a container's spec (`config.json`); the defaults when it cannot be
    /// read (the shim then fails on the spec itself, and says why).
    pub fn of_container(cpaths: &crate::paths::ContainerPaths) -> Settings {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Only {
            settings: Settings,
        }
        std::fs::read(cpaths.config())
            .ok()
            .and_then(|data| serde_json::from_slice::<Only>(&data).ok())
            .unwrap_or_default()
            .settings
    }

    /// Where the monitor's programs are pinned, or None when the monitor is off.
    pub fn pin_dir(&self) -> Option<PathBuf> {
        if !self.monitor {
            return None;
        }
        Some(
            self.bpf_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(berth_monitor::DEFAULT_DIR)),
        )
    }

    /// The `berth-shim` binary: the one set, then next to the current executable (or its
    /// parent directory, for test binaries under target/*/deps), then $PATH.
    pub fn shim_binary(&self) -> PathBuf {
        if let Some(p) = &self.shim_binary {
            return p.clone();
        }
        if let Ok(exe) = std::env::current_exe() {
            let mut dir = exe.parent();
            for _ in 0..2 {
                if let Some(d) = dir {
                    let candidate = d.join("berth-shim");
                    if candidate.is_file() {
                        return candidate;
                    }
                    dir = d.parent();
                }
            }
        }
        PathBuf::from("berth-shim")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_spec_without_settings_gets_the_defaults() {
        let s: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, Settings::default(), "an empty record decoded to {s:?}");
        assert_eq!(
            s.pin_dir(),
            Some(PathBuf::from(berth_monitor::DEFAULT_DIR)),
            "the default pin directory"
        );
        let off = Settings {
            monitor: false,
            bpf_dir: Some("/x".into()),
            ..Settings::default()
        };
        assert_eq!(off.pin_dir(), None, "the monitor turned off has no pins");
        let set = Settings {
            shim_binary: Some("/opt/berth-shim".into()),
            ..Settings::default()
        };
        assert_eq!(set.shim_binary(), PathBuf::from("/opt/berth-shim"));
    }
}
