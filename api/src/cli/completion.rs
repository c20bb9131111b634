//! `berth completion SHELL`: the completion script clap_complete generates from the command
//! line's own definition.

use super::{Cli, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh or fish (elvish and powershell too).
    pub shell: Shell,
}

pub fn run(args: CompletionArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(0)
}
