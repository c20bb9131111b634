//! `berth serve`: the Docker Engine API server.

use super::{CliError, Global, Result};
use crate::config::{
    Settings, DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SOCKET,
};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The socket to listen on, unless systemd passes one.
    #[arg(long, env = "BERTH_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Exit after this many seconds with no open connection; 0 never.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout: u64,
    /// Close a connection that sends no whole request head within this many milliseconds
    /// (also between the requests of a kept-alive connection).
    #[arg(long, value_name = "MS", env = "BERTH_HEADER_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Serve at most this many connections at once; further ones wait in the listen queue.
    #[arg(long, value_name = "N", env = "BERTH_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    pub max_connections: usize,
}

impl ServeArgs {
    pub fn settings(&self, g: &Global) -> Settings {
        Settings {
            root: g.root.clone(),
            run_root: g.run_root.clone(),
            socket: self.socket.clone(),
            idle_timeout_secs: self.idle_timeout,
            header_timeout_ms: self.header_timeout_ms,
            max_connections: self.max_connections,
            engine: g.settings.clone(),
        }
    }
}

pub fn run(g: &Global, args: &ServeArgs) -> Result<i32> {
    // The monitor's mounts and programs, beside the server's start: in the host's namespace,
    // before any shim seals itself in one of its own. When the monitor cannot work, one line
    // says why; containers still run, and its endpoints answer 503 with the cause.
    let runtime_settings = g.settings.runtime.clone();
    std::thread::spawn(move || {
        if let Err(cause) = crate::engine::containers::syscalls::prepare_monitor(&runtime_settings)
        {
            tracing::warn!(
                "the eBPF monitor is unavailable ({cause}); containers run without syscall counts, process and security events, deny policies or packet counters"
            );
        }
    });
    // A tree walk (export, commit, diff) runs on the runtime's blocking threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(crate::engine::tree_depth::WALK_STACK)
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the runtime", e))?;
    runtime
        .block_on(crate::http::server::serve(args.settings(g)))
        .map_err(CliError::Serve)?;
    Ok(0)
}
