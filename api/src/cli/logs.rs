//! `berth logs`: the json-file log, stdout entries to stdout and stderr entries to stderr; with
//! -f the new entries until the container stops.

use super::{CliError, Global, Result};
use crate::engine::containers::logs::LogOptions;
use crate::engine::containers::logs::{Entry, Stream};
use crate::engine::time::parse_cli_time;
use clap::Args;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the log until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Prefix each line with its RFC 3339 time.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show only the last N lines ("all" for every line).
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Show lines since a time (RFC 3339 or unix seconds).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show lines until a time (RFC 3339 or unix seconds).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The container, by name, id or unique id prefix.
    pub container: String,
}

fn print(opts: &LogOptions, e: &Entry) -> bool {
    let bytes = opts.render(e);
    let r = match e.stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(&bytes).and_then(|_| o.flush())
        }
        Stream::Stderr => {
            let mut o = std::io::stderr().lock();
            o.write_all(&bytes).and_then(|_| o.flush())
        }
    };
    r.is_ok()
}

pub fn run(g: &Global, args: LogsArgs) -> Result<i32> {
    let tail = match args.tail.as_str() {
        "all" | "" => None,
        n => Some(
            n.parse::<i64>()
                .map(|n| n.max(0) as usize)
                .map_err(|_| CliError::Usage(format!("invalid value for --tail: {n}")))?,
        ),
    };
    let now = std::time::SystemTime::now();
    let opts = LogOptions {
        stdout: true,
        stderr: true,
        timestamps: args.timestamps,
        details: false,
        tail,
        since: parse_cli_time(args.since.as_deref().unwrap_or(""), now)?,
        until: parse_cli_time(args.until.as_deref().unwrap_or(""), now)?,
    };
    let engine = g.engine();
    let id = engine.lookup(&args.container)?;
    // The cursor is where the snapshot ended: nothing is lost or printed twice.
    let (entries, mut cursor) = engine.logs(&id, &opts)?;
    for e in &entries {
        if !print(&opts, e) {
            return Ok(0);
        }
    }
    if !args.follow {
        return Ok(0);
    }
    loop {
        let running = engine
            .state(&id)
            .map(|st| st.status.is_live())
            .unwrap_or(false);
        for e in cursor.read_new() {
            if opts.wants(&e) && !print(&opts, &e) {
                return Ok(0);
            }
        }
        if !running {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
