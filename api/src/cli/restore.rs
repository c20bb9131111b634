//! `berth restore`: what dockerd does when it comes up, for a boot unit
//! (`berth-restore.service`): containers whose shims a reboot ended are recorded as exited, and
//! those whose restart policy says so are started again. Once per boot: a second run (or any
//! berth process after the first) does nothing and says so.

use super::{Global, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct RestoreArgs {}

pub fn run(g: &Global, _args: &RestoreArgs) -> Result<i32> {
    let report = g.engine().restore()?;
    if !report.ran {
        println!("boot {} is restored already: nothing to do", report.boot_id);
        return Ok(0);
    }
    match &report.previous {
        Some(prev) if *prev != report.boot_id => {
            println!(
                "restoring boot {} (the root last ran in boot {prev})",
                report.boot_id
            )
        }
        Some(_) => println!(
            "restoring boot {} (the run root was emptied)",
            report.boot_id
        ),
        None => println!(
            "restoring boot {} (no boot recorded before)",
            report.boot_id
        ),
    }
    for (id, name) in &report.exited {
        println!("exited {name} {}: its shim was gone", &id[..12]);
    }
    for (id, name) in &report.started {
        println!("started {name} {}: its restart policy", &id[..12]);
    }
    for (id, name, why) in &report.failed {
        println!("failed {name} {}: {why}", &id[..12]);
    }
    println!(
        "{} exited, {} started, {} failed",
        report.exited.len(),
        report.started.len(),
        report.failed.len()
    );
    Ok(if report.failed.is_empty() { 0 } else { 1 })
}
