//! Where berth keeps its state and listens: flags, then BERTH_* environment, then defaults.

use crate::engine::images::registry::{RegistrySettings, DEFAULT_READ_TIMEOUT};
use berth_shim::log::LogLevel;
use berth_shim::Paths;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// A connection that has not sent a whole request head within this long is closed (hyper's
/// `header_read_timeout`, also between the requests of a kept-alive connection).
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 30_000;
/// Connections served at once; further ones wait in the listen queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub run_root: PathBuf,
    pub socket: PathBuf,
    /// Exit after this long with no open connection; 0 never.
    pub idle_timeout_secs: u64,
    /// Close a connection that sends no whole request head within this long.
    pub header_timeout_ms: u64,
    /// Serve at most this many connections at once.
    pub max_connections: usize,
    /// What the environment configures for the engine.
    pub engine: EngineSettings,
}

impl Settings {
    pub fn paths(&self) -> Paths {
        Paths::new(&self.root, &self.run_root)
    }
}

/// What the environment configures for the engine, read once at the process's start
/// ([`EngineSettings::from_env`]) and held by the `Engine`; every variable is in README's
/// Configuration table. The runtime's part goes to each container's shim in its spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineSettings {
    /// The shim's settings: the monitor, cgroups, the shim binary, the log level.
    pub runtime: berth_shim::Settings,
    /// Plain-HTTP registries and the registry read timeout.
    pub registries: RegistrySettings,
    /// User namespaces: the default mode and the pool of host ids (`--userns-remap` /
    /// `BERTH_USERNS_REMAP`, `--userns-pool` / `BERTH_USERNS_POOL`).
    pub userns: UsernsSettings,
    /// The cap on what one load, import or pull may write (`BERTH_LOAD_MAX_BYTES`, checked
    /// where it is used: a bad value fails those operations, naming it).
    pub load_max_bytes: Option<String>,
    /// The file this boot's id is read from (`BERTH_BOOT_ID_FILE`); None: the kernel's,
    /// /proc/sys/kernel/random/boot_id. Tests point it at a file they change to fake a reboot.
    pub boot_id_file: Option<PathBuf>,
}

/// `--userns-remap`: whether a container that does not choose (`HostConfig.UsernsMode` "")
/// gets a user namespace of its own, and with which ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum UsernsRemap {
    /// The host's user namespace, as dockerd without `--userns-remap`.
    #[default]
    Off,
    /// A private user namespace with a range of 65536 ids of the container's own.
    Auto,
    /// A private user namespace with one range shared by every container (dockerd's
    /// `--userns-remap default`).
    Default,
}

/// The user namespace settings in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernsSettings {
    pub remap: UsernsRemap,
    /// A file in /etc/subuid's format (`name:start:count` lines) whose ranges make the pool;
    /// None: 100000-4294967295.
    pub pool: Option<PathBuf>,
}

impl EngineSettings {
    /// Read from the process's environment; `log_level` is the one the process logs at
    /// (`--log-level` / `BERTH_LOG`), which its shims log at too.
    pub fn from_env(log_level: LogLevel) -> EngineSettings {
        EngineSettings::from_vars(log_level, |key| std::env::var_os(key))
    }

    fn from_vars(
        log_level: LogLevel,
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> EngineSettings {
        let text = |key: &str| var(key).and_then(|v| v.into_string().ok());
        EngineSettings {
            runtime: berth_shim::Settings {
                log_level,
                monitor: text("BERTH_MONITOR").as_deref() != Some("0"),
                bpf_dir: var("BERTH_BPF_DIR").map(PathBuf::from),
                cgroup_favordynmods: text("BERTH_CGROUP_FAVORDYNMODS").as_deref() != Some("0"),
                shim_binary: var("BERTH_SHIM").map(PathBuf::from),
            },
            registries: RegistrySettings {
                insecure: text("BERTH_INSECURE_REGISTRIES")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(String::from)
                    .collect(),
                // Whole seconds, at least one; anything else keeps the default.
                read_timeout: text("BERTH_REGISTRY_READ_TIMEOUT")
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .filter(|s| *s > 0)
                    .map_or(DEFAULT_READ_TIMEOUT, std::time::Duration::from_secs),
            },
            // Set by the command line (`Global`), which reads its variables too.
            userns: UsernsSettings::default(),
            load_max_bytes: text("BERTH_LOAD_MAX_BYTES"),
            boot_id_file: var("BERTH_BOOT_ID_FILE").map(PathBuf::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_becomes_the_engine_settings() {
        let none = EngineSettings::from_vars(LogLevel::Warn, |_| None);
        let want = EngineSettings {
            runtime: berth_shim::Settings {
                log_level: LogLevel::Warn,
                ..Default::default()
            },
            registries: RegistrySettings::default(),
            userns: UsernsSettings::default(),
            load_max_bytes: None,
            boot_id_file: None,
        };
        assert_eq!(none, want, "an empty environment");
        let vars = [
            ("BERTH_MONITOR", "0"),
            ("BERTH_BPF_DIR", "/sys/fs/bpf/t"),
            ("BERTH_CGROUP_FAVORDYNMODS", "0"),
            ("BERTH_SHIM", "/opt/berth-shim"),
            ("BERTH_INSECURE_REGISTRIES", "a:5000, ,b:80"),
            ("BERTH_LOAD_MAX_BYTES", "1048576"),
            ("BERTH_BOOT_ID_FILE", "/tmp/boot"),
            ("BERTH_REGISTRY_READ_TIMEOUT", "7"),
        ];
        let set = EngineSettings::from_vars(LogLevel::Debug, |k| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
        });
        let want = EngineSettings {
            runtime: berth_shim::Settings {
                log_level: LogLevel::Debug,
                monitor: false,
                bpf_dir: Some("/sys/fs/bpf/t".into()),
                cgroup_favordynmods: false,
                shim_binary: Some("/opt/berth-shim".into()),
            },
            load_max_bytes: Some("1048576".into()),
            registries: RegistrySettings {
                insecure: vec!["a:5000".into(), "b:80".into()],
                read_timeout: std::time::Duration::from_secs(7),
            },
            userns: UsernsSettings::default(),
            boot_id_file: Some("/tmp/boot".into()),
        };
        assert_eq!(set, want, "every variable set");
        // Only "0" turns a switch off, as before.
        let on = EngineSettings::from_vars(LogLevel::Info, |k| {
            (k == "BERTH_MONITOR").then(|| "no".into())
        });
        assert!(on.runtime.monitor, "BERTH_MONITOR=no leaves the monitor on");
    }
}
