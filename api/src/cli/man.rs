//! `berth man DIR`: the manual pages (section 1) clap_mangen writes from the command line's own
//! definition: `berth.1`, and `berth-<command>.1` for each command and subcommand
//! (`berth-network-create.1`). The setup script writes them to `target/man/` after the release
//! build and installs them.

use super::{Cli, CliError, Result};
use clap::{Args, CommandFactory};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages into (made if missing).
    pub dir: PathBuf,
}

pub fn run(args: ManArgs) -> Result<i32> {
    std::fs::create_dir_all(&args.dir).map_err(|e| CliError::io(args.dir.display(), e))?;
    let mut cmd = Cli::command();
    cmd.build();
    let written = write_pages(&cmd, &args.dir)?;
    println!("{written} manual pages in {}", args.dir.display());
    Ok(0)
}

/// The page of `cmd` and, recursively, of each visible subcommand: once built, clap names a
/// subcommand's page after its path (`berth-network-create`).
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<usize> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut roff = Vec::new();
    man.render(&mut roff)
        .map_err(|e| CliError::io(format!("rendering {}", path.display()), e))?;
    std::fs::write(&path, roff).map_err(|e| CliError::io(path.display(), e))?;
    let mut written = 1;
    for sub in cmd.get_subcommands() {
        if !sub.is_hide_set() && sub.get_name() != "help" {
            written += write_pages(sub, dir)?;
        }
    }
    Ok(written)
}
