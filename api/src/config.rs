//! Where berth keeps its state and listens: flags, then BERTH_* environment, then defaults.

use berth_shim::Paths;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub run_root: PathBuf,
    pub socket: PathBuf,
    /// Exit after this long with no open connection; 0 never.
    pub idle_timeout_secs: u64,
}

impl Settings {
    pub fn paths(&self) -> Paths {
        Paths::new(&self.root, &self.run_root)
    }
}
