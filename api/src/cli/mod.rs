//! berth's command line. `berth serve` runs the Docker Engine API server; other subcommands
//! drive the engine directly.

use crate::config::{Settings, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_SOCKET};
use berth_shim::paths::{DEFAULT_ROOT, DEFAULT_RUN_ROOT};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A daemonless container engine that speaks the Docker Engine API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Docker Engine API on a unix socket (or the socket systemd passes).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The socket to listen on, unless systemd passes one.
    #[arg(long, env = "BERTH_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Persistent state: containers, images, volumes.
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Runtime state that a reboot clears: locks and shim sockets.
    #[arg(long, env = "BERTH_RUN_ROOT", default_value = DEFAULT_RUN_ROOT)]
    pub run_root: PathBuf,
    /// Exit after this many seconds with no open connection; 0 never.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout: u64,
}

impl ServeArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            root: self.root.clone(),
            run_root: self.run_root.clone(),
            socket: self.socket.clone(),
            idle_timeout_secs: self.idle_timeout,
        }
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(crate::http::server::serve(args.settings()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_and_flags() {
        let cli = Cli::try_parse_from(["berth", "serve"]).unwrap();
        let Command::Serve(args) = cli.command;
        // The environment may set BERTH_*; only check what it does not.
        if std::env::var_os("BERTH_SOCKET").is_none() {
            assert_eq!(args.socket, PathBuf::from("/run/berth/berth.sock"));
        }
        assert_eq!(args.idle_timeout, 60);
        let cli = Cli::try_parse_from([
            "berth",
            "serve",
            "--socket",
            "/s",
            "--root",
            "/r",
            "--run-root",
            "/rr",
            "--idle-timeout",
            "0",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        let s = args.settings();
        assert_eq!(
            (s.socket, s.root, s.run_root, s.idle_timeout_secs),
            ("/s".into(), "/r".into(), "/rr".into(), 0)
        );
    }
}
