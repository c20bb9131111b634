//! `berth status`: one container's state, pid, uptime or exit code, restarts, and memory and
//! pids in use against their limits (from its cgroup), and what the eBPF monitor counted
//! (system calls, the most called ones, packets), as aligned "Key: value" lines or JSON.

use super::table::binary_size;
use super::{Global, Result};
use crate::engine::containers::list::human_duration;
use berth_shim::state::Status;
use clap::Args;
use serde_json::json;
use std::time::SystemTime;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of lines.
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub format: Option<String>,
    /// The container, by name, id or unique id prefix.
    pub container: String,
}

fn since(rfc3339: &str) -> Option<std::time::Duration> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    SystemTime::now().duration_since(t).ok()
}

fn limit_text(limit: Option<u64>, show: impl Fn(u64) -> String) -> String {
    match limit {
        Some(l) => show(l),
        None => "unlimited".into(),
    }
}

pub fn run(g: &Global, args: StatusArgs) -> Result<i32> {
    let engine = g.engine();
    let id = engine.lookup(&args.container)?;
    let record = engine.record(&id)?;
    let state = engine.state(&id)?;
    let stats = engine.cgroup_stats(&id)?;
    // The monitor's figures, or why there are none (the rest of the status still shows).
    let (calls, unavailable) = match engine.syscalls(&id) {
        Ok(c) => (c, None),
        Err(e) if e.is(crate::engine::ErrorKind::Unavailable) => {
            (Default::default(), Some(e.message().to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    let (total, errors) = calls.totals();
    let top: Vec<String> = calls
        .syscalls
        .iter()
        .take(5)
        .map(|r| format!("{} {}", r.name, r.calls))
        .collect();
    let health = state
        .health
        .as_ref()
        .map(|h| h.status.clone())
        .unwrap_or_else(|| "none".into());
    let failing = state.health.as_ref().map(|h| h.failing_streak).unwrap_or(0);
    let cpu_limit = cpu_limit(
        record.host_config.nano_cpus,
        record.host_config.cpu_quota,
        record.host_config.cpu_period,
    );
    let mut v = json!({
        "ID": id,
        "Name": record.name.trim_start_matches('/'),
        "Image": record.image_ref,
        "State": state.status.as_str(),
        "RestartCount": state.restart_count,
        "Health": health.clone(),
    });
    if state.status.is_live() {
        v["Pid"] = json!(state.pid);
        v["StartedAt"] = json!(state.started_at);
        if let Some(d) = since(&state.started_at) {
            v["UptimeSeconds"] = json!(d.as_secs());
        }
    } else if state.status != Status::Created {
        v["ExitCode"] = json!(state.exit_code);
        v["FinishedAt"] = json!(state.finished_at);
        v["OOMKilled"] = json!(state.oom_killed);
        if !state.error.is_empty() {
            v["Error"] = json!(state.error);
        }
    }
    if let Some(s) = &stats {
        v["Memory"] = json!({"Usage": s.memory.usage, "Limit": s.memory.limit});
        v["Pids"] = json!({"Current": s.pids.current, "Limit": s.pids.limit});
        v["Cpu"] = json!({"UsageNanoseconds": s.cpu.usage_total_ns, "LimitCpus": cpu_limit});
    }
    if state.health.is_some() {
        v["FailingStreak"] = json!(failing);
    }
    if let Some(cause) = &unavailable {
        v["Syscalls"] = json!({"Error": cause});
        v["Network"] = json!({"Error": cause});
    } else {
        v["Syscalls"] = json!({"Calls": total, "Errors": errors, "Top": calls.syscalls.iter().take(5).collect::<Vec<_>>()});
        v["Network"] = json!(calls.network);
        v["DroppedEvents"] = json!(calls.dropped_events);
    }
    if args.format.is_some() {
        println!("{v}");
        return Ok(0);
    }
    let mut lines: Vec<(&str, String)> = vec![
        ("ID", id.to_string()),
        ("Name", record.name.trim_start_matches('/').to_string()),
        ("Image", record.image_ref.clone()),
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
    if let Some(s) = &stats {
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
        if let Some(cause) = &unavailable {
            cause.clone()
        } else if top.is_empty() {
            let label = record.config.labels.as_ref();
            let label = label.and_then(|l| l.get(berth_shim::monitor::LABEL));
            if berth_shim::monitor::wants(label.map(String::as_str))
                & berth_monitor::events::WANT_COUNTS
                == 0
            {
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
        match &unavailable {
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
    if let Some(s) = &stats {
        lines.push((
            "CPU",
            format!(
                "{:.2}s used / {}",
                s.cpu.usage_total_ns as f64 / 1e9,
                match cpu_limit {
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

/// The CPU limit in CPUs: --cpus, else a CFS quota over its period; None when unlimited.
fn cpu_limit(nano_cpus: i64, quota: i64, period: i64) -> Option<f64> {
    if nano_cpus > 0 {
        Some(nano_cpus as f64 / 1e9)
    } else if quota > 0 {
        let period = if period > 0 { period } else { 100_000 };
        Some(quota as f64 / period as f64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limits_in_cpus() {
        assert_eq!(cpu_limit(1_500_000_000, 0, 0), Some(1.5));
        assert_eq!(cpu_limit(0, 50_000, 100_000), Some(0.5));
        assert_eq!(cpu_limit(0, 200_000, 0), Some(2.0));
        assert_eq!(cpu_limit(0, 0, 0), None);
    }
}
