//! Control requests from callers: start, stop, kill, resize, pause and resume.

use super::*;

impl Supervisor {
    pub(super) fn on_control(&mut self) {
        while let Ok((mut stream, _)) = self.control.accept() {
            let Ok(line) = process::read_first_line(&stream) else {
                continue;
            };
            let response = match serde_json::from_slice::<Request>(&line) {
                Ok(req) => match self.handle(req, &mut stream) {
                    Some(r) => r,
                    None => continue,
                },
                Err(e) => error(format!("bad request: {e}"), ErrorKind::Failed),
            };
            let _ = answer(&mut stream, &response);
        }
    }

    /// Carry out one control request; None when the answer is deferred (stop).
    fn handle(&mut self, req: Request, stream: &mut UnixStream) -> Option<Response> {
        let id = self.cpaths.id.clone();
        let not_running = || {
            error(
                format!("Container {id} is not running"),
                ErrorKind::Conflict,
            )
        };
        Some(match req {
            Request::Start => {
                if !matches!(self.phase, Phase::AwaitingStart) {
                    return Some(error(
                        format!("Container {id} is already running"),
                        ErrorKind::Conflict,
                    ));
                }
                match self.start_process() {
                    Ok(pid) => Response::Started { pid },
                    Err(failure) => {
                        self.record_start_failure(&failure);
                        self.phase = Phase::Done;
                        failure.into_response()
                    }
                }
            }
            Request::Stop {
                timeout,
                signal,
                keep,
            } => {
                // dockerd's restart of an auto-removed container keeps it.
                self.manual = self.manual.stopped(keep);
                let _ = state::update(&self.cpaths, |s| s.manually_stopped = true);
                let child = match &mut self.phase {
                    Phase::Restarting { .. } => {
                        self.phase = Phase::Done;
                        let _ = state::update(&self.cpaths, |s| s.status = Status::Exited);
                        return Some(Response::Ok);
                    }
                    Phase::AwaitingStart => {
                        self.phase = Phase::Done;
                        return Some(Response::Ok);
                    }
                    Phase::Done => return Some(Response::Ok),
                    Phase::Running(child) => child,
                };
                let sig = signal.unwrap_or_else(|| {
                    signals::parse(&self.spec.process.stop_signal).unwrap_or(Signal::SIGTERM)
                });
                let timeout = timeout.unwrap_or(self.spec.process.stop_timeout);
                crate::cleanup::cleanup(
                    "the stop signal",
                    nix::sys::signal::kill(Pid::from_raw(child.pid), sig),
                );
                if child.paused {
                    crate::cleanup::cleanup("thawing for the stop", self.cgroup.thaw());
                    child.paused = false;
                }
                // Stops asked while one waits: the earliest SIGKILL wins (each of dockerd's
                // stops runs its own timer), and one sent already stays sent.
                let kill_at = Instant::now() + Duration::from_secs(timeout as u64);
                child.stop = match child.stop {
                    Stop::Signalled { kill_at: earlier } => Stop::Signalled {
                        kill_at: earlier.min(kill_at),
                    },
                    Stop::Killed => Stop::Killed,
                    Stop::NotAsked => Stop::Signalled { kill_at },
                };
                match stream.try_clone() {
                    Ok(s) => self.stop_waiters.push(s),
                    Err(_) => return Some(Response::Ok),
                }
                return None;
            }
            Request::Kill { signal } => {
                let Some(child) = self.phase.running() else {
                    return Some(not_running());
                };
                let (pid, sig, paused) = (child.pid, signal, child.paused);
                if matches!(sig, Signal::SIGKILL | Signal::SIGTERM) {
                    self.manual = self.manual.stopped(false);
                }
                match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
                    // A frozen process takes its SIGKILL only once thawed: thawed at once, as
                    // runc does. Other signals wait for the unpause, as in dockerd.
                    Ok(()) if sig == Signal::SIGKILL && paused => {
                        if let Err(e) = self.cgroup.thaw() {
                            tracing::warn!("thawing {id} for its SIGKILL: {e}");
                        }
                        if let Some(child) = self.phase.running_mut() {
                            child.paused = false;
                        }
                        Response::Ok
                    }
                    Ok(()) => Response::Ok,
                    Err(e) => error(
                        format!("Cannot kill container {id}: {e}"),
                        ErrorKind::Failed,
                    ),
                }
            }
            Request::Resize { rows, cols } => match self.io.as_ref().and_then(|io| io.tty.as_ref())
            {
                Some(tty) => match sys::set_winsize(tty.as_raw_fd(), rows, cols) {
                    Ok(()) => Response::Ok,
                    Err(e) => error(format!("resize: {e}"), ErrorKind::Failed),
                },
                None if self.phase.running().is_none() => not_running(),
                None => Response::Ok,
            },
            Request::Pause => {
                let Some(child) = self.phase.running() else {
                    return Some(not_running());
                };
                if child.paused {
                    return Some(error(
                        format!("Container {id} is already paused"),
                        ErrorKind::Conflict,
                    ));
                }
                match self.cgroup.freeze() {
                    Ok(()) => {
                        if let Some(child) = self.phase.running_mut() {
                            child.paused = true;
                        }
                        let _ = state::update(&self.cpaths, |s| s.status = Status::Paused);
                        Response::Ok
                    }
                    Err(e) => error(
                        format!("Cannot pause container {id}: {e}"),
                        ErrorKind::Failed,
                    ),
                }
            }
            Request::Resume => {
                if !self.phase.is_paused() {
                    return Some(error(
                        format!("Container {id} is not paused"),
                        ErrorKind::Conflict,
                    ));
                }
                match self.cgroup.thaw() {
                    Ok(()) => {
                        if let Some(child) = self.phase.running_mut() {
                            child.paused = false;
                        }
                        let _ = state::update(&self.cpaths, |s| s.status = Status::Running);
                        Response::Ok
                    }
                    Err(e) => error(
                        format!("Cannot unpause container {id}: {e}"),
                        ErrorKind::Failed,
                    ),
                }
            }
        })
    }
}
