//! `berth list` (`ps`): the engine's container summaries as the docker CLI shows them: a table,
//! ids only (-q), one JSON object per line (`--format json`) or chosen fields
//! (`--format id,name,status`, tab-separated, no header).

use super::table::{self, ago, created_at, ellipsis, quote};
use super::{CliError, Global, Result};
use crate::engine::containers::list::ListOptions;
use crate::engine::filters::{parse_pairs, Filters};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show every container (only running ones by default).
    #[arg(short, long)]
    pub all: bool,
    /// Print ids only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter: KEY=VALUE with id, name, label, status, ancestor, exited, before, since
    /// (repeat for more).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output: "json" (one object per line) or fields such as "id,name,status"
    /// (id, image, command, created, running_for, status, state, names, labels, ports,
    /// networks).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Show the last N containers created (any state).
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<i64>,
    /// Show only the latest container created (any state).
    #[arg(short, long)]
    pub latest: bool,
    /// Do not truncate ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
}

/// The docker CLI's `ps --format json` object for one summary.
fn row(s: &Value, trunc: bool) -> Map<String, Value> {
    let id = s["Id"].as_str().unwrap_or_default();
    let command = s["Command"].as_str().unwrap_or_default();
    let command = if trunc {
        quote(&ellipsis(command, 20))
    } else {
        quote(command)
    };
    let names: Vec<&str> = s["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/'))
        .collect();
    let labels: Vec<String> = s["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let created = s["Created"].as_i64().unwrap_or(0);
    // The docker CLI's Networks: the names of the networks the container is on.
    let networks: Vec<&str> = s["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("Command", json!(command));
    put("CreatedAt", json!(created_at(created)));
    put(
        "ID",
        json!(if trunc { &id[..id.len().min(12)] } else { id }),
    );
    put("Image", s["Image"].clone());
    put("Labels", json!(labels.join(",")));
    put("LocalVolumes", json!("0"));
    put("Mounts", json!(""));
    put("Names", json!(names.join(",")));
    put("Networks", json!(networks.join(",")));
    put("Ports", json!(""));
    put("RunningFor", json!(ago(created)));
    put("Size", json!("0B"));
    put("State", s["State"].clone());
    put("Status", s["Status"].clone());
    m
}

/// "id,name,status" to the JSON keys; an unknown field is an error.
fn fields(format: &str) -> Result<Vec<&'static str>> {
    format
        .split(',')
        .map(|f| {
            Ok(match f.trim().to_ascii_lowercase().as_str() {
                "id" => "ID",
                "image" => "Image",
                "command" => "Command",
                "created" | "createdat" | "created_at" => "CreatedAt",
                "runningfor" | "running_for" => "RunningFor",
                "status" => "Status",
                "state" => "State",
                "name" | "names" => "Names",
                "label" | "labels" => "Labels",
                "ports" => "Ports",
                "networks" | "network" => "Networks",
                "mounts" => "Mounts",
                "size" => "Size",
                other => {
                    return Err(CliError::Usage(format!(
                        "unknown field {other:?} in --format"
                    )))
                }
            })
        })
        .collect()
}

fn parse_filters(list: &[String]) -> Result<Filters> {
    parse_pairs(list).map_err(CliError::Usage)
}

pub fn run(g: &Global, args: ListArgs) -> Result<i32> {
    let limit = if args.latest {
        1
    } else {
        args.last.unwrap_or(0)
    };
    let opts = ListOptions {
        all: args.all || limit > 0,
        limit,
        size: false,
        filters: parse_filters(&args.filter)?,
    };
    let format = args.format.as_deref().filter(|f| !f.is_empty());
    let wanted = match format {
        Some("json") | None => None,
        Some(f) => Some(fields(f)?),
    };
    let summaries: Vec<Value> = g
        .engine()
        .list_containers(&opts)?
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or_default())
        .collect();
    let trunc = !args.no_trunc;
    let rows: Vec<Map<String, Value>> = summaries.iter().map(|s| row(s, trunc)).collect();
    let text = |m: &Map<String, Value>, k: &str| -> String {
        match &m[k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    if args.quiet {
        for r in &rows {
            println!("{}", text(r, "ID"));
        }
    } else if format == Some("json") {
        for r in rows {
            println!("{}", Value::Object(r));
        }
    } else if let Some(keys) = wanted {
        for r in &rows {
            let cells: Vec<String> = keys.iter().map(|k| text(r, k)).collect();
            println!("{}", cells.join("\t"));
        }
    } else {
        let header = [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "NAMES",
        ];
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                ["ID", "Image", "Command", "RunningFor", "Status", "Names"]
                    .iter()
                    .map(|k| text(r, k))
                    .collect()
            })
            .collect();
        table::print(&header, &cells);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_as_the_docker_cli_shows_it() {
        let s = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "busybox",
            "Command": "sh -c 'echo hello; sleep 1000'", "Created": 0,
            "Labels": {"a": "1"}, "State": "running", "Status": "Up 5 seconds",
            "HostConfig": {"NetworkMode": "bridge"},
            "NetworkSettings": {"Networks": {"back": {}, "bridge": {}}},
        });
        let r = row(&s, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sh -c 'echo hello; …\"");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Labels"], "a=1");
        assert_eq!(r["Networks"], "back,bridge");
        assert_eq!(r["CreatedAt"], "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            fields("id, Name,status").unwrap(),
            ["ID", "Names", "Status"]
        );
        assert!(fields("id,colour").is_err());
        assert_eq!(
            parse_filters(&["status=exited".into(), "status=created".into()]).unwrap()["status"],
            ["exited", "created"]
        );
    }
}
