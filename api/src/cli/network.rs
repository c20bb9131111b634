//! `berth network ls | rm | teardown`.

use super::{Global, Result};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks: id, name, driver.
    Ls,
    /// Remove one or more user-defined networks.
    Rm(RmArgs),
    /// Delete this root's bridges and firewall table (for a root being thrown away, such as a
    /// test's; the records stay, and the next start of a container makes them again).
    Teardown,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

pub fn run(g: &Global, cmd: NetworkCommand) -> Result<i32> {
    let engine = g.engine();
    match cmd {
        NetworkCommand::Ls => {
            println!("{:<12}   {:<20} DRIVER", "NETWORK ID", "NAME");
            for n in engine.list_networks(&Default::default())? {
                println!("{:<12}   {:<20} {}", &n.id[..12], n.name, n.driver);
            }
        }
        NetworkCommand::Rm(args) => {
            for n in &args.networks {
                engine.remove_network(n)?;
                println!("{n}");
            }
        }
        NetworkCommand::Teardown => {
            berth_shim::net::teardown(&engine.paths.root)
                .map_err(|e| crate::engine::EngineError::system("network teardown", e))?;
        }
    }
    Ok(0)
}
