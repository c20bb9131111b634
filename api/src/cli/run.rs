//! `berth run`: create the container from the `create` flags, then start it detached (`-d`,
//! printing its id) or attached (the docker CLI's attached run: `attach::run`).

use super::create::create_container;
use super::create_flags::CreateFlags;
use super::{attach, CliError, Global, Result};
use crate::engine::{Engine, EngineError};
use clap::Args;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(g: &Global, args: RunArgs) -> Result<i32> {
    let f = &args.flags;
    if !args.detach
        && f.tty
        && f.interactive
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        return Err(CliError::Usage("the input device is not a TTY".into()));
    }
    let engine = g.engine();
    let id = create_container(&engine, f, args.detach)?;
    if args.detach {
        if let Err(e) = engine.start(&id) {
            return Err(start_failed(&engine, &id, f.rm, e));
        }
        println!("{id}");
        return Ok(0);
    }
    let opts = attach::Options {
        stdin: f.interactive,
        tty: f.tty,
        remove: f.rm,
    };
    attach::run(&engine, &id, &opts)
}

/// A start that failed: with --rm the container goes (the shim may have removed it already).
pub fn start_failed(engine: &Engine, id: &str, remove: bool, e: EngineError) -> CliError {
    if remove {
        let _ = engine.remove(id, true);
    }
    CliError::Start(e)
}
