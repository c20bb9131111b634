//! Where berth keeps its state and listens: flags, then BERTH_* environment, then defaults.

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
}

impl Settings {
    pub fn paths(&self) -> Paths {
        Paths::new(&self.root, &self.run_root)
    }
}
