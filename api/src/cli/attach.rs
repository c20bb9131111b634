//! An attached run, as the docker CLI does it: make the container ready for attach, connect to
//! its shim, copy output (stdout frames to stdout, stderr frames to stderr; raw bytes with a
//! TTY) and stdin, start it, forward signals and terminal sizes, and end with its exit code.

use super::{terminal, CliError, Result};
use crate::engine::containers::attach::{read_frame, AttachHello};
use crate::engine::ids::ContainerId;
use crate::engine::{Engine, ErrorKind};
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
    let hello = AttachHello {
        stdin: opts.stdin,
        stdout: true,
        stderr: true,
        raw: None,
    };
    let sock = engine.attach(id, hello)?;

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
            return Err(super::run::start_failed(engine, id, opts.remove, e));
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

    let code = engine.wait_exit(id);
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
    let mut payload = Vec::new();
    while let Some(stream) = read_frame(&mut sock, &mut payload) {
        let ok = if stream == 2 {
            stderr.write_all(&payload).and_then(|_| stderr.flush())
        } else {
            stdout.write_all(&payload).and_then(|_| stdout.flush())
        };
        if ok.is_err() {
            break;
        }
    }
}
