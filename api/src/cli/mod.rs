//! berth's command line. `berth serve` runs the Docker Engine API server; every other command
//! drives the same engine functions in-process, so no API process is needed. One file per
//! command group; flags are spelled as the docker CLI spells them.

mod attach;
mod build;
mod check;
mod completion;
mod create;
mod create_flags;
mod device_flags;
mod exec;
mod health_flags;
mod images;
mod inspect;
mod lifecycle;
mod list;
mod logs;
mod man;
mod network;
mod restore;
mod run;
mod serve;
mod status;
mod storage_flags;
mod table;
mod terminal;
mod volumes;

pub use serve::ServeArgs;

use crate::engine::{Engine, EngineError, DEFAULT_ROOT, DEFAULT_RUN_ROOT};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version = crate::build_info::VERSION_LINE,
    about = "A daemonless container engine that speaks the Docker Engine API",
    long_about = "A daemonless container engine that speaks the Docker Engine API.\n\n\
        Every command but `serve` works on the state under --root and --run-root directly: \
        no server needs to run, and any `berth serve` on the same root sees the same containers."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the state lives; the same options and environment as `berth serve`.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Persistent state: containers, images, volumes.
    #[arg(long, global = true, env = "BERTH_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Runtime state that a reboot clears: locks and shim sockets.
    #[arg(long, global = true, env = "BERTH_RUN_ROOT", default_value = DEFAULT_RUN_ROOT)]
    pub run_root: PathBuf,
    /// What is logged to stderr (or the journal under systemd): error, warn, info, debug or
    /// trace. Default: info for `serve`, warn for the other commands.
    #[arg(long, global = true, env = "BERTH_LOG", value_name = "LEVEL")]
    pub log_level: Option<crate::logging::LogLevel>,
    /// Give every container that does not choose (`--userns`) a user namespace of its own:
    /// `auto`, a range of 65536 ids per container; `default`, one range shared by all; `off`,
    /// the host's (the default).
    #[arg(long, global = true, env = "BERTH_USERNS_REMAP", value_name = "MODE")]
    pub userns_remap: Option<crate::config::UsernsRemap>,
    /// A file in /etc/subuid's format (`name:start:count` lines) whose ranges are the host ids
    /// that user namespaces may use (default: 100000-4294967295).
    #[arg(long, global = true, env = "BERTH_USERNS_POOL", value_name = "FILE")]
    pub userns_pool: Option<PathBuf>,
    /// What the environment configures (BERTH_SHIM, BERTH_MONITOR, ...), read once in `main`.
    #[arg(skip)]
    pub settings: crate::config::EngineSettings,
}

impl Global {
    pub fn engine(&self) -> Engine {
        Engine::at_with(&self.root, &self.run_root, self.settings.clone())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a container from an image (attached unless -d).
    Run(run::RunArgs),
    /// Create a container without starting it; prints its id.
    Create(create::CreateArgs),
    /// Start one or more stopped containers.
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers (the stop signal, then SIGKILL after a timeout).
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers.
    Restart(lifecycle::RestartArgs),
    /// Send a signal (SIGKILL by default) to one or more running containers.
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers.
    Rm(lifecycle::RmArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// Show the events log: container and image life cycles (follows until --until).
    Events(exec::EventsArgs),
    /// List containers (running ones unless -a).
    #[command(visible_alias = "ps")]
    List(list::ListArgs),
    /// Show a container's state, pid, uptime or exit code, restarts and resource use.
    Status(status::StatusArgs),
    /// Freeze every process of one or more containers.
    #[command(visible_alias = "pause")]
    Freeze(lifecycle::Targets),
    /// Thaw one or more frozen containers.
    #[command(visible_alias = "unpause")]
    Thaw(lifecycle::Targets),
    /// Print a container's logs.
    Logs(logs::LogsArgs),
    /// Show containers or images as Docker's inspect JSON.
    Inspect(inspect::InspectArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Change the resource limits or restart policy of one or more containers.
    Update(lifecycle::UpdateArgs),
    /// Build an image from a Dockerfile and a context (a directory, or `-`).
    Build(build::BuildArgs),
    /// List images.
    Images(images::ImagesArgs),
    /// Manage images (`berth image ls`).
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Load images from a tar archive made by `docker save` (or an OCI layout).
    Load(images::LoadArgs),
    /// Import a root filesystem tarball as an image; prints its id.
    Import(images::ImportArgs),
    /// Remove one or more images.
    Rmi(images::RmiArgs),
    /// Give an image another name: SOURCE TARGET.
    Tag(images::TagArgs),
    /// Manage networks: create, ls, inspect, rm, connect, disconnect, prune.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes: create, ls, inspect, rm, prune.
    #[command(subcommand)]
    Volume(volumes::VolumeCommand),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
    /// Write berth's manual pages (section 1) into a directory.
    Man(man::ManArgs),
    /// Show what berth needs from this host, what it found, and what berth does about each.
    Check(check::CheckArgs),
    /// Serve the Docker Engine API on a unix socket (or the socket systemd passes).
    Serve(ServeArgs),
    /// After a reboot: record containers whose shims are gone as exited and start those whose
    /// restart policy says so, once per boot (the first berth process of a boot does it too).
    Restore(restore::RestoreArgs),
}

/// Why a command failed, and the exit code the docker CLI would give.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// A flag value that can never work ("invalid argument ... for --memory").
    #[error("{0}")]
    Usage(String),
    /// The container could not start: the engine's error carries `docker run`'s exit code
    /// (126 or 127 when the command cannot run), else 125.
    #[error("{0}")]
    Start(EngineError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0:#}")]
    Serve(anyhow::Error),
    /// Several targets failed; each error is printed already.
    #[error("")]
    Reported,
}

pub type Result<T> = std::result::Result<T, CliError>;

impl CliError {
    pub fn io(context: impl std::fmt::Display, source: std::io::Error) -> CliError {
        CliError::Io {
            context: context.to_string(),
            source,
        }
    }

    /// The docker CLI's codes: 125 for its own errors, 126/127 when the command cannot run.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Start(e) => e.exit_code().unwrap_or(125),
            _ => 125,
        }
    }
}

/// Parse the process's arguments and run the command; the process's exit code.
pub fn main() -> i32 {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let serving = matches!(cli.command, Command::Serve(_));
    let level = cli.global.log_level.unwrap_or(if serving {
        crate::logging::LogLevel::Info
    } else {
        crate::logging::LogLevel::Warn
    });
    crate::logging::init(level);
    cli.global.settings = crate::config::EngineSettings::from_env(level);
    cli.global.settings.userns = crate::config::UsernsSettings {
        remap: cli.global.userns_remap.unwrap_or_default(),
        pool: cli.global.userns_pool.clone(),
    };
    if !serving {
        terminal::die_on_closed_stdout();
    }
    match run(cli) {
        Ok(code) => code,
        Err(CliError::Reported) => 125,
        Err(e) => {
            eprintln!("berth: {e}");
            e.exit_code()
        }
    }
}

/// Run a parsed command line; the exit code on success (a container's own for attached runs).
pub fn run(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    if !matches!(
        cli.command,
        Command::Completion(_) | Command::Man(_) | Command::Check(_)
    ) {
        g.engine().secure_roots()?;
    }
    if !matches!(
        cli.command,
        Command::Completion(_) | Command::Man(_) | Command::Check(_) | Command::Restore(_)
    ) {
        // The first berth process of a boot restores it (`berth restore`); a failure is said,
        // and the command goes on.
        if let Err(e) = g.engine().restore_if_pending() {
            tracing::warn!("restoring the containers after a reboot: {e}");
        }
    }
    match cli.command {
        Command::Serve(args) => serve::run(g, &args),
        Command::Run(args) => run::run(g, args),
        Command::Create(args) => create::create(g, args),
        Command::Start(args) => lifecycle::start(g, args),
        Command::Stop(args) => lifecycle::stop(g, args),
        Command::Restart(args) => lifecycle::restart(g, args),
        Command::Kill(args) => lifecycle::kill(g, args),
        Command::Rm(args) => lifecycle::rm(g, args),
        Command::Exec(args) => exec::exec(g, args),
        Command::Events(args) => exec::events(g, args),
        Command::List(args) => list::run(g, args),
        Command::Status(args) => status::run(g, args),
        Command::Freeze(t) => lifecycle::each(g, &t.containers, |e, c| e.pause(c)),
        Command::Thaw(t) => lifecycle::each(g, &t.containers, |e, c| e.unpause(c)),
        Command::Logs(args) => logs::run(g, args),
        Command::Inspect(args) => inspect::run(g, args),
        Command::Rename(args) => lifecycle::rename(g, args),
        Command::Update(args) => lifecycle::update(g, args),
        Command::Build(args) => build::build(g, args),
        Command::Images(args) => images::list(g, args),
        Command::Image(images::ImageCommand::Ls(args)) => images::list(g, args),
        Command::Load(args) => images::load(g, args),
        Command::Import(args) => images::import(g, args),
        Command::Rmi(args) => images::rmi(g, args),
        Command::Tag(args) => images::tag(g, args),
        Command::Network(cmd) => network::run(g, cmd),
        Command::Volume(cmd) => volumes::run(g, cmd),
        Command::Completion(args) => completion::run(args),
        Command::Man(args) => man::run(args),
        Command::Check(args) => check::run(g, args),
        Command::Restore(args) => restore::run(g, &args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>, seen: &mut usize) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if a.is_hide_set() || matches!(id, "help" | "version") {
                    continue;
                }
                *seen += 1;
                // A positional argument's value name tells what it is; a flag needs words.
                if a.get_help().is_none() && !a.is_positional() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing, seen);
            }
        }
        let (mut missing, mut seen) = (Vec::new(), 0);
        walk(&Cli::command(), "berth", &mut missing, &mut seen);
        assert!(missing.is_empty(), "no help for: {missing:?}");
        assert!(seen > 200, "only {seen} arguments walked");
    }

    #[test]
    fn serve_defaults_and_flags() {
        let cli = Cli::try_parse_from(["berth", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
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
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let s = args.settings(&cli.global);
        assert_eq!(
            (s.socket, s.root, s.run_root, s.idle_timeout_secs),
            ("/s".into(), "/r".into(), "/rr".into(), 0)
        );
    }

    #[test]
    fn run_keeps_the_command_after_the_image() {
        let cli = Cli::try_parse_from([
            "berth", "run", "-it", "--rm", "-h", "box", "busybox", "sh", "-c", "echo -d",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert!(r.flags.interactive && r.flags.tty && r.flags.rm);
        assert_eq!(r.flags.hostname.as_deref(), Some("box"));
        assert_eq!(r.flags.image(), "busybox");
        assert_eq!(r.flags.command(), ["sh", "-c", "echo -d"]);
        let cli = Cli::try_parse_from(["berth", "run", "busybox", "-d", "-c", "x"]).unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert!(!r.detach, "flags end at the image");
        assert_eq!(r.flags.command(), ["-d", "-c", "x"]);
    }
}
