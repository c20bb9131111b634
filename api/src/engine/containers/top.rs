//! docker top: the host's `ps` with the client's arguments, keeping the lines of the processes
//! in the container's cgroup, as dockerd does.

use crate::engine::{Engine, EngineError, Result};
use serde::Serialize;

/// `{"Titles": [...], "Processes": [[...]]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// `ps_args` empty means dockerd's default `-ef`.
    pub fn top(&self, reference: &str, ps_args: &str) -> Result<Top> {
        let id = self.lookup(reference)?;
        let state = self.state(&id)?;
        if !state.status.is_live() || state.pid <= 0 {
            return Err(EngineError::conflict(format!(
                "Container {id} is not running"
            )));
        }
        let pids = self.cgroup_of(&id)?.pids();
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| EngineError::system("running ps", e))?;
        if !out.status.success() {
            return Err(EngineError::system_message(format!(
                "Error running ps: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// moby's `parsePSOutput`: titles from the first line, the PID column found by name, lines of
/// `pids` kept (and the thread lines, `-` in the PID column, that follow a kept line); fields
/// past the last title are joined into it (the command and its arguments).
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_index = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::system_message("Couldn't find PID field in ps output".into())
    })?;
    let mut top = Top {
        titles,
        processes: Vec::new(),
    };
    let n = top.titles.len();
    let mut previous_kept = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < n {
            continue;
        }
        let keep = if fields[pid_index] == "-" {
            previous_kept
        } else {
            let pid: i32 = fields[pid_index].parse().map_err(|e| {
                EngineError::system_message(format!("Unexpected pid '{}': {e}", fields[pid_index]))
            })?;
            previous_kept = pids.contains(&pid);
            previous_kept
        };
        if keep {
            let mut proc: Vec<String> = fields[..n - 1].iter().map(|s| s.to_string()).collect();
            proc.push(fields[n - 1..].join(" "));
            top.processes.push(proc);
        }
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_of_the_pids_with_the_command_joined() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n\
                   root         400       1  0 10:01 ?        00:00:00 sleep 1000\n\
                   root         401     400  0 10:01 ?        00:00:00 sh -c echo a b\n";
        let top = parse_ps(out, &[400, 401]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 2);
        assert_eq!(top.processes[0][1], "400");
        assert_eq!(top.processes[0][7], "sleep 1000");
        assert_eq!(top.processes[1][7], "sh -c echo a b");
    }

    #[test]
    fn no_pid_column_is_an_error() {
        assert!(parse_ps("USER CMD\nroot x\n", &[1]).is_err());
    }
}
