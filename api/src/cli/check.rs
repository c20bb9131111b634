//! `berth check`: what berth needs from this host, what it found, and what berth does about
//! each piece (engine::host), as lines or JSON. It changes nothing; it exits 1 when something
//! berth needs is missing or in the way.

use super::{Global, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON list instead of lines.
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub format: Option<String>,
}

pub fn run(g: &Global, args: CheckArgs) -> Result<i32> {
    let found = crate::engine::host::check(&g.settings.runtime);
    let code = if found.iter().all(|r| r.ok) { 0 } else { 1 };
    if args.format.is_some() {
        println!("{}", serde_json::to_string(&found).unwrap_or_default());
        return Ok(code);
    }
    let width = found.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &found {
        let mark = if r.ok { "ok" } else { "!!" };
        println!("{mark} {:width$}  {}", r.name, r.found);
        println!("   {:width$}  berth {}", "", r.berth);
    }
    Ok(code)
}
