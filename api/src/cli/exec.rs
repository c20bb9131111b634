//! `berth exec` and `berth events`: a process in a running container, and the events log.

use super::{attach, terminal, CliError, Global, Result};
use crate::engine::containers::attach::AttachHello;
use crate::engine::exec::ExecConfig;
use crate::engine::EngineError;
use clap::Args;
use nix::sys::signal::{SigSet, Signal};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run in the background; print nothing.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open and send it to the process.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the process a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables (KEY=VALUE), added to the container's.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// User name or uid[:gid] to run as (default: the container's).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Give the process every capability in the bounding set.
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, required = true)]
    pub command: Vec<String>,
}

/// Run a command in a running container; its exit code is ours.
pub fn exec(g: &Global, a: ExecArgs) -> Result<i32> {
    let engine = g.engine();
    let console_size = if a.tty {
        terminal::local_size().map(|(r, c)| vec![r, c])
    } else {
        None
    };
    let cfg = ExecConfig {
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        tty: a.tty,
        env: Some(a.env.clone()),
        cmd: Some(a.command.clone()),
        privileged: a.privileged,
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        console_size,
        ..Default::default()
    };
    let exec_id = engine.exec_create(&a.container, cfg)?;
    if a.detach {
        engine.exec_start(&exec_id, false)?;
        return Ok(0);
    }
    let hello = AttachHello {
        stdin: a.interactive,
        stdout: true,
        stderr: true,
        raw: None,
    };
    let sock = engine.exec_start_attached(&exec_id, hello)?;
    let mut mask = SigSet::empty();
    if a.tty {
        mask.add(Signal::SIGWINCH);
        mask.thread_block()
            .map_err(|e| CliError::io("blocking signals", e.into()))?;
    }
    let raw = if a.tty && a.interactive {
        terminal::RawMode::enter()
    } else {
        None
    };
    if a.interactive {
        let mut sock = sock
            .try_clone()
            .map_err(|e| CliError::io("exec socket", e))?;
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 8192];
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || sock.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = sock.shutdown(Shutdown::Write);
        });
    }
    if a.tty {
        let (engine, id) = (engine.clone(), exec_id.clone());
        let size = move || {
            if let Some((rows, cols)) = terminal::local_size() {
                let _ = engine.exec_resize(&id, rows, cols);
            }
        };
        size();
        std::thread::spawn(move || loop {
            if mask.wait().is_err() {
                return;
            }
            size();
        });
    }
    attach::copy_output(sock, a.tty);
    drop(raw);
    let _ = std::io::stdout().flush();
    // The helper records the exit code before it closes the stream.
    for _ in 0..100 {
        let v = engine.exec_inspect(&exec_id)?;
        if let Some(code) = v["ExitCode"].as_i64() {
            return Ok(code as i32);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(EngineError::system_message(format!("exec {exec_id} ended without an exit code")).into())
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events since this time (unix seconds or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (unix seconds or RFC 3339); without it, follow.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: type=, container=, image=, event=, label=, ... (repeatable).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// `json` for one JSON object per line.
    #[arg(long)]
    pub format: Option<String>,
}

/// Print the events log (and follow it until --until).
pub fn events(g: &Global, a: EventsArgs) -> Result<i32> {
    use crate::engine::events::{check_filters, Event};
    let engine = g.engine();
    let since = crate::engine::time::parse_timestamp(a.since.as_deref().unwrap_or(""))?;
    let until = crate::engine::time::parse_timestamp(a.until.as_deref().unwrap_or(""))?;
    let filters = crate::engine::filters::parse_pairs(&a.filter)
        .map_err(|m| CliError::from(EngineError::invalid_parameter(m)))?;
    check_filters(&filters)?;
    let json = a.format.as_deref() == Some("json");
    let line = |ev: &Event| {
        if json {
            return serde_json::to_string(ev).unwrap_or_default();
        }
        let time = humantime::format_rfc3339_nanos(ev.system_time()).to_string();
        let attrs: Vec<String> = ev
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{time} {} {} {} ({})",
            ev.kind,
            ev.action,
            ev.actor.id,
            attrs.join(", ")
        )
    };
    let out = std::cell::RefCell::new(std::io::stdout().lock());
    engine.follow_events(
        since,
        until,
        &filters,
        |ev| writeln!(out.borrow_mut(), "{}", line(ev)).is_ok(),
        || {
            let _ = out.borrow_mut().flush();
            true
        },
    );
    Ok(0)
}
