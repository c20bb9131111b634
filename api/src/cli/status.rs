//! `berth status`: one container's state, pid, uptime or exit code, restarts, and memory and
//! pids in use against their limits (from its cgroup), and what the eBPF monitor counted
//! (system calls, the most called ones, packets), as aligned "Key: value" lines or JSON.

use super::table::binary_size;
use super::{Global, Result};
use crate::engine::containers::status::Status;
use crate::engine::time::{human_duration, since};
use clap::Args;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of lines.
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub format: Option<String>,
    /// The container, by name, id or unique id prefix.
    pub container: String,
}

fn limit_text(limit: Option<u64>, show: impl Fn(u64) -> String) -> String {
    match limit {
        Some(l) => show(l),
        None => "unlimited".into(),
    }
}

pub fn run(g: &Global, args: StatusArgs) -> Result<i32> {
    let status = g.engine().container_status(&args.container)?;
    if args.format.is_some() {
        println!("{}", status.to_json());
        return Ok(0);
    }
    let (state, stats, calls) = (&status.state, &status.stats, &status.calls);
    let (health, failing) = status.health();
    let (total, errors) = calls.totals();
    let top: Vec<String> = calls
        .syscalls
        .iter()
        .take(5)
        .map(|r| format!("{} {}", r.name, r.calls))
        .collect();
    let mut lines: Vec<(&str, String)> = vec![
        ("ID", status.id.to_string()),
        ("Name", status.name.clone()),
        ("Image", status.image.clone()),
        ("State", state.status.as_str().to_string()),
    ];
    if state.status.is_live() {
        lines.push(("PID", state.pid.to_string()));
        if let Some(d) = since(&state.started_at) {
            lines.push(("Uptime", human_duration(d)));
        }
    } else if state.status != Status::Created {
        let mut code = state.exit_code.to_string();
        if state.oom_killed {
            code.push_str(" (OOM killed)");
        }
        lines.push(("Exit code", code));
        if let Some(d) = since(&state.finished_at) {
            lines.push(("Finished", format!("{} ago", human_duration(d))));
        }
        if !state.error.is_empty() {
            lines.push(("Error", state.error.clone()));
        }
    }
    lines.push(("Restarts", state.restart_count.to_string()));
    lines.push((
        "User namespace",
        match status.userns_range {
            Some((start, size)) => format!(
                "private, host ids {start}-{} as 0-{}",
                u64::from(start) + u64::from(size) - 1,
                size - 1
            ),
            None => "host".to_string(),
        },
    ));
    if let Some(s) = stats {
        lines.push((
            "Memory",
            format!(
                "{} / {}",
                binary_size(s.memory.usage),
                limit_text(s.memory.limit, binary_size)
            ),
        ));
        lines.push((
            "PIDs",
            format!(
                "{} / {}",
                s.pids.current,
                limit_text(s.pids.limit, |l| l.to_string())
            ),
        ));
    }
    lines.push((
        "Syscalls",
        if let Some(cause) = &status.unavailable {
            cause.clone()
        } else if top.is_empty() {
            if !status.counted {
                "not counted (counts are asked for with the label berth.monitor=counts)".to_string()
            } else {
                "none counted".to_string()
            }
        } else {
            format!("{total} calls, {errors} errors ({})", top.join(", "))
        },
    ));
    let n = &calls.network;
    lines.push((
        "Network",
        match &status.unavailable {
            Some(cause) => cause.clone(),
            None => format!(
                "rx {} / {} packets, tx {} / {} packets",
                binary_size(n.rx_bytes),
                n.rx_packets,
                binary_size(n.tx_bytes),
                n.tx_packets
            ),
        },
    ));
    if let Some(s) = stats {
        lines.push((
            "CPU",
            format!(
                "{:.2}s used / {}",
                s.cpu.usage_total_ns as f64 / 1e9,
                match status.cpu_limit {
                    Some(c) => format!("{c} CPUs"),
                    None => "unlimited".into(),
                }
            ),
        ));
    }
    lines.push((
        "Health",
        if failing > 0 {
            format!("{health} (failing streak {failing})")
        } else {
            health
        },
    ));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, val) in lines {
        println!("{:<width$} {val}", format!("{k}:"));
    }
    Ok(0)
}
