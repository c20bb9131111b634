//! An attached run, as the docker CLI does it: make the container ready for attach, connect to
//! its shim, copy output (stdout frames to stdout, stderr frames to stderr; raw bytes with a
//! TTY) and stdin, start it, forward signals and terminal sizes, and end with its exit code.

use super::{terminal, CliError, Result};
use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, ErrorKind};
use berth_shim::control::{self, AttachHello};
use berth_shim::state::Status;
use nix::sys::signal::{SigSet, Signal};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// Attach stdin (half-closed on local EOF).
    pub stdin: bool,
    /// The container has a TTY: raw output, the local terminal in raw mode, sizes sent.
    pub tty: bool,
    /// Remove the container once it has exited and its output is printed (--rm).
    pub remove: bool,
}

/// Signals the docker CLI forwards to an attached container (its sig-proxy).
const PROXIED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Attach to the container `id`, start it (unless it runs already) and wait for its exit.
pub fn run(engine: &Engine, id: &ContainerId, opts: &Options) -> Result<i32> {
    // The shim is spawned here, before any signal is blocked in this process.
    engine.prepare_attach(id)?;
    let hello = AttachHello {
        stdin: opts.stdin,
        stdout: true,
        stderr: true,
    };
    let sock = control::attach(&engine.container_paths(id), hello)
        .map_err(|e| EngineError::conflict(format!("cannot attach to container {id}: {e}")))?;

    // Every thread made from here on inherits the mask: the signals arrive only at `sigwait`.
    let mut mask = SigSet::empty();
    for s in PROXIED {
        mask.add(s);
    }
    if opts.tty {
        mask.add(Signal::SIGWINCH);
    }
    mask.thread_block()
        .map_err(|e| CliError::io("blocking signals", e.into()))?;

    let raw = if opts.tty && opts.stdin {
        terminal::RawMode::enter()
    } else {
        None
    };
    let output = {
        let sock = sock
            .try_clone()
            .map_err(|e| CliError::io("attach socket", e))?;
        let tty = opts.tty;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            copy_output(sock, tty);
            let _ = tx.send(());
        });
        rx
    };
    if opts.stdin {
        let mut sock = sock
            .try_clone()
            .map_err(|e| CliError::io("attach socket", e))?;
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 8192];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if sock.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sock.shutdown(Shutdown::Write);
        });
    }

    match engine.start(id) {
        Ok(()) => {}
        Err(e) if e.is(ErrorKind::NotModified) => {}
        Err(e) => {
            drop(raw);
            return Err(super::create::start_failed(engine, id, opts.remove, e));
        }
    }
    if opts.tty {
        send_size(engine, id);
    }
    {
        let (engine, id, tty) = (engine.clone(), id.to_string(), opts.tty);
        std::thread::spawn(move || loop {
            let Ok(sig) = mask.wait() else { return };
            if sig == Signal::SIGWINCH {
                if tty {
                    send_size(&engine, &id);
                }
            } else {
                let _ = engine.kill(&id, Some(sig.as_str().to_string()));
            }
        });
    }

    let code = wait_exit(engine, id);
    // The shim ends the output when the container's output ends; a grandchild holding it open
    // must not hold the command forever.
    let _ = output.recv_timeout(Duration::from_secs(5));
    drop(raw);
    let _ = std::io::stdout().flush();
    if opts.remove {
        engine.wait_shim_gone(id, Duration::from_secs(10));
        match engine.remove(id, true) {
            Ok(()) => {}
            Err(e) if e.is(ErrorKind::NotFound) => {}
            Err(e) => eprintln!("berth: {e}"),
        }
    }
    Ok(code)
}

fn send_size(engine: &Engine, id: &str) {
    if let Some((rows, cols)) = terminal::local_size() {
        let _ = engine.resize(id, rows, cols);
    }
}

/// Poll the container until it has stopped; its exit code (the auto-removed container's, kept
/// by its shim, once it is gone).
pub fn wait_exit(engine: &Engine, id: &ContainerId) -> i32 {
    let paths = engine.container_paths(id);
    let mut delay = Duration::from_millis(2);
    let mut last = 0;
    loop {
        match engine.state(id) {
            Ok(st) => {
                last = st.exit_code;
                let waiting_for_start =
                    st.status == Status::Created && berth_shim::state::shim_alive(&paths);
                if !st.status.is_live() && !waiting_for_start {
                    return st.exit_code;
                }
            }
            Err(_) => {
                // Gone: removed by its shim (AutoRemove), which left the exit code behind.
                return berth_shim::remove::last_exit(&paths).unwrap_or(last);
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// Copy the shim's output to stdout and stderr until it ends.
pub(super) fn copy_output(mut sock: UnixStream, tty: bool) {
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    if tty {
        let mut buf = [0u8; 8192];
        while let Ok(n) = sock.read(&mut buf) {
            if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = stdout.flush();
        }
        return;
    }
    let mut header = [0u8; 8];
    let mut payload = Vec::new();
    while sock.read_exact(&mut header).is_ok() {
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        payload.resize(len, 0);
        if sock.read_exact(&mut payload).is_err() {
            break;
        }
        let ok = if header[0] == 2 {
            stderr.write_all(&payload).and_then(|_| stderr.flush())
        } else {
            stdout.write_all(&payload).and_then(|_| stdout.flush())
        };
        if ok.is_err() {
            break;
        }
    }
}
