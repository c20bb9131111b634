//! `berth volume create|ls|inspect|rm|prune`: the engine's volume functions (the same the
//! `/volumes` endpoints call), with the docker CLI's flags and output.

use super::table;
use super::{CliError, Global, Result};
use crate::engine::filters::parse_pairs;
use crate::engine::volumes::{CreateVolume, Volume};
use crate::engine::Engine;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name unless one is given); prints its name.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show volumes as Docker's inspect JSON.
    Inspect(InspectArgs),
    /// Remove one or more volumes (never one in use).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (every unused one with --all).
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The volume driver (only "local").
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// A driver option: type=tmpfs, device=tmpfs, o=size=64m (repeat for more).
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Set a label: KEY=VALUE (or KEY for an empty value).
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// The volume's name (as the positional argument).
    #[arg(long, hide = true)]
    pub name: Option<String>,
    /// The volume's name.
    #[arg(value_name = "VOLUME")]
    pub volume: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print names only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter: KEY=VALUE with dangling, driver, label, name (repeat for more).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output: "json" (one object per line) or fields such as "name,driver,mountpoint".
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output: "json" (the default: one array) or fields such as "name,mountpoint", one line
    /// per volume.
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Volumes, by name.
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// A volume that is not there is no error.
    #[arg(short, long)]
    pub force: bool,
    /// Volumes, by name.
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every unused volume, named ones too.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Filter: label=KEY or label=KEY=VALUE (repeat for more).
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

pub fn run(g: &Global, cmd: VolumeCommand) -> Result<i32> {
    let engine = g.engine();
    match cmd {
        VolumeCommand::Create(a) => create(&engine, a),
        VolumeCommand::Ls(a) => ls(&engine, a),
        VolumeCommand::Inspect(a) => inspect(&engine, a),
        VolumeCommand::Rm(a) => rm(&engine, a),
        VolumeCommand::Prune(a) => prune(&engine, a),
    }
}

/// KEY=VALUE (or KEY, an empty value) entries as a map.
fn key_values(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

fn create(engine: &Engine, a: CreateArgs) -> Result<i32> {
    let name = match (a.name, a.volume) {
        (Some(n), Some(v)) if n != v => {
            return Err(CliError::Usage(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg".into(),
            ))
        }
        (n, v) => v.or(n).unwrap_or_default(),
    };
    let v = engine.create_volume(&CreateVolume {
        name,
        driver: a.driver,
        driver_opts: Some(key_values(&a.opt)),
        labels: Some(key_values(&a.label)),
    })?;
    println!("{}", v.name);
    Ok(0)
}

/// The docker CLI's `volume ls --format json` object.
fn row(engine: &Engine, v: &Volume) -> Map<String, Value> {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut m = Map::new();
    for k in ["Availability", "Group", "Links", "Size", "Status"] {
        m.insert(k.into(), json!("N/A"));
    }
    m.insert("Driver".into(), json!(v.driver));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("Mountpoint".into(), json!(engine.volume_data(&v.name)));
    m.insert("Name".into(), json!(v.name));
    m.insert("Scope".into(), json!("local"));
    m
}

/// "name,driver" to the keys of `row` (for ls) or of the inspect object; an unknown field is
/// an error.
fn fields(format: &str, inspect: bool) -> Result<Vec<&'static str>> {
    format
        .split(',')
        .map(|f| {
            Ok(match f.trim().to_ascii_lowercase().as_str() {
                "name" => "Name",
                "driver" => "Driver",
                "mountpoint" => "Mountpoint",
                "scope" => "Scope",
                "label" | "labels" => "Labels",
                "created" | "createdat" | "created_at" if inspect => "CreatedAt",
                "options" if inspect => "Options",
                other => {
                    return Err(CliError::Usage(format!(
                        "unknown field {other:?} in --format"
                    )))
                }
            })
        })
        .collect()
}

fn ls(engine: &Engine, a: LsArgs) -> Result<i32> {
    let filters = parse_pairs(&a.filter).map_err(CliError::Usage)?;
    let format = a.format.as_deref().filter(|f| !f.is_empty());
    let wanted = match format {
        Some("json") | None => None,
        Some(f) => Some(fields(f, false)?),
    };
    let rows: Vec<Map<String, Value>> = engine
        .list_volumes(&filters)?
        .iter()
        .map(|v| row(engine, v))
        .collect();
    if a.quiet {
        for r in &rows {
            println!("{}", table::cell(&r["Name"]));
        }
    } else if format == Some("json") {
        for r in rows {
            println!("{}", Value::Object(r));
        }
    } else if let Some(keys) = wanted {
        for r in &rows {
            let cells: Vec<String> = keys.iter().map(|k| table::cell(&r[*k])).collect();
            println!("{}", cells.join("\t"));
        }
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| vec![table::cell(&r["Driver"]), table::cell(&r["Name"])])
            .collect();
        table::print(&["DRIVER", "VOLUME NAME"], &cells);
    }
    Ok(0)
}

fn inspect(engine: &Engine, a: InspectArgs) -> Result<i32> {
    let format = a.format.as_deref().filter(|f| !f.is_empty());
    let keys = match format {
        Some("json") | None => None,
        Some(f) => Some(fields(f, true)?),
    };
    table::inspect_named(&a.volumes, keys, |name| {
        engine.volume(name).map(|v| engine.volume_json(&v))
    })
}

fn rm(engine: &Engine, a: RmArgs) -> Result<i32> {
    let mut failed = false;
    for name in &a.volumes {
        match engine.remove_volume(name, a.force) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::Reported)
    } else {
        Ok(0)
    }
}

fn prune(engine: &Engine, a: PruneArgs) -> Result<i32> {
    let filters = parse_pairs(&a.filter).map_err(CliError::Usage)?;
    if let Some(v) = filters.get("all").and_then(|v| v.first()) {
        return Err(CliError::Usage(format!(
            "invalid filter 'all={v}': use --all"
        )));
    }
    // What is left are the labels, passed on; any other key is dockerd's invalid filter.
    crate::engine::filters::validate(&filters, &["label", "label!"])?;
    let labels = filters;
    if !a.force {
        let what = if a.all {
            "all local volumes"
        } else {
            "anonymous local volumes"
        };
        eprint!("WARNING! This will remove {what} not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(0);
        }
    }
    let (deleted, space) = engine.prune_volumes(a.all, &labels)?;
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", table::human_size(space));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_labels_and_fields() {
        let m = key_values(&["type=tmpfs".into(), "o=size=1m,uid=1".into(), "k".into()]);
        assert_eq!(m["type"], "tmpfs");
        assert_eq!(m["o"], "size=1m,uid=1");
        assert_eq!(m["k"], "");
        assert_eq!(
            fields("name, Driver,mountpoint", false).unwrap(),
            ["Name", "Driver", "Mountpoint"]
        );
        assert!(fields("options", false).is_err());
        assert_eq!(fields("options", true).unwrap(), ["Options"]);
    }

    #[test]
    fn a_row_as_the_docker_cli_shows_it() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Engine::at(tmp.path(), tmp.path().join("run"));
        let v = e
            .create_volume(&CreateVolume {
                name: "data".into(),
                labels: Some(key_values(&["b=2".into(), "a=1".into()])),
                ..Default::default()
            })
            .unwrap();
        let r = row(&e, &v);
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Name"], "data");
        assert_eq!(r["Size"], "N/A");
        assert_eq!(
            r["Mountpoint"],
            json!(tmp.path().join("volumes/data/_data"))
        );
    }
}
