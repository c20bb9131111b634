//! Health checks, run by the container's shim on their schedule (no daemon is there to do it):
//! each probe is an exec of the check's command whose output the shim reads as an attached
//! client; the result goes into the state's `health` (Docker's State.Health), with a
//! `health_status` event when the status changes.

use crate::control::{self, AttachHello};
use crate::exec::{self, ExecPaths, ExecSpec};
use crate::paths::{ContainerPaths, Paths};
use crate::spec::HealthSpec;
use crate::state::{self, HealthLog, HealthState, HealthStatus};
use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Docker keeps this many results.
const LOG_ENTRIES: usize = 5;
/// And this much of each probe's output.
const MAX_OUTPUT: usize = 4096;

struct Probe {
    exec_id: String,
    stream: UnixStream,
    output: Vec<u8>,
    started: String,
    deadline: Instant,
}

pub struct HealthMonitor {
    spec: HealthSpec,
    paths: Paths,
    cpaths: ContainerPaths,
    /// The binary of the probes' exec helpers (the settings' `shim_binary`).
    shim_binary: Option<std::path::PathBuf>,
    container_started: Instant,
    next_at: Instant,
    probe: Option<Probe>,
    status: HealthStatus,
    failing_streak: u32,
    log: VecDeque<HealthLog>,
}

impl HealthMonitor {
    pub fn new(
        spec: HealthSpec,
        paths: Paths,
        cpaths: ContainerPaths,
        shim_binary: Option<std::path::PathBuf>,
    ) -> HealthMonitor {
        let now = Instant::now();
        let mut monitor = HealthMonitor {
            spec,
            paths,
            cpaths,
            shim_binary,
            container_started: now,
            next_at: now,
            probe: None,
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: VecDeque::new(),
        };
        monitor.next_at = now + monitor.interval();
        monitor
    }

    fn in_start_period(&self) -> bool {
        self.container_started.elapsed() < Duration::from_nanos(self.spec.start_period_ns)
    }

    fn interval(&self) -> Duration {
        if self.in_start_period()
            && self.spec.start_interval_ns > 0
            && self.status == HealthStatus::Starting
        {
            Duration::from_nanos(self.spec.start_interval_ns)
        } else {
            Duration::from_nanos(self.spec.interval_ns)
        }
    }

    /// The container (re)started: as dockerd, the status is `starting` again with no failing
    /// streak (the log is kept) from this moment, and probes resume. The state to record.
    pub fn on_start(&mut self) -> HealthState {
        let now = Instant::now();
        self.container_started = now;
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
        // As dockerd, the first probe comes one interval after the start (the start interval
        // within the start period), not at once.
        self.next_at = now + self.interval();
        self.health_state()
    }

    /// The container stopped: no probe runs until it starts again.
    pub fn cancel(&mut self) {
        if let Some(p) = self.probe.take() {
            self.discard(&p.exec_id);
        }
        self.next_at = Instant::now() + Duration::from_secs(3600 * 24 * 365);
    }

    /// When the loop must wake for us.
    pub fn deadline(&self) -> Instant {
        match &self.probe {
            Some(p) => p.deadline,
            None => self.next_at,
        }
    }

    /// The probe's output stream, while one runs.
    pub fn fd(&self) -> Option<RawFd> {
        self.probe.as_ref().map(|p| p.stream.as_raw_fd())
    }

    /// Timers: start a probe when one is due, give up on one past its timeout.
    pub fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(p) = &self.probe {
            if p.deadline <= now {
                let p = self.probe.take().expect("checked above");
                let ep = ExecPaths::new(&self.cpaths, &p.exec_id);
                let pid = exec::read_state(&ep).pid;
                if pid > 0 {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let timeout = Duration::from_nanos(self.spec.timeout_ns);
                self.record(
                    p.started,
                    -1,
                    format!("Health check exceeded timeout ({timeout:?})"),
                );
                self.discard(&p.exec_id);
            }
            return;
        }
        if self.next_at <= now {
            if let Err(e) = self.start_probe() {
                let started = state::now_rfc3339();
                self.record(started, -1, e);
            }
        }
    }

    fn start_probe(&mut self) -> Result<(), String> {
        let exec_id = crate::ids::random_id();
        let ep = ExecPaths::new(&self.cpaths, &exec_id);
        let spec = ExecSpec {
            id: exec_id.clone(),
            container_id: self.cpaths.id.clone(),
            args: self.spec.test.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..ExecSpec::default()
        };
        std::fs::create_dir_all(&ep.dir).map_err(|e| e.to_string())?;
        let data = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
        crate::fsutil::write_replace(&ep.spec(), &data).map_err(|e| e.to_string())?;
        let started = state::now_rfc3339();
        let binary = self.shim_binary.clone();
        crate::spawn::start_exec(&self.paths, &self.cpaths.id, &exec_id, true, binary)
            .map_err(|e| e.to_string())?;
        let stream = exec::attach(
            &ep,
            AttachHello {
                stdin: false,
                stdout: true,
                stderr: true,
                raw: None,
            },
        )
        .map_err(|e| e.to_string())?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        self.probe = Some(Probe {
            exec_id,
            stream,
            output: Vec::new(),
            started,
            deadline: Instant::now() + Duration::from_nanos(self.spec.timeout_ns),
        });
        Ok(())
    }

    /// The probe's stream is readable: collect output; at its end, record the result.
    pub fn on_readable(&mut self) {
        let Some(p) = &mut self.probe else { return };
        let mut buf = [0u8; 8192];
        loop {
            match p.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    p.output.extend_from_slice(&buf[..n]);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        let p = self.probe.take().expect("checked above");
        // The helper records the exit code before it closes the stream.
        let code = exec::read_state(&ExecPaths::new(&self.cpaths, &p.exec_id))
            .exit_code
            .unwrap_or(-1);
        let output = demux(&p.output);
        self.record(p.started, code, output);
        self.discard(&p.exec_id);
    }

    fn discard(&self, exec_id: &str) {
        let dir = ExecPaths::new(&self.cpaths, exec_id).dir;
        crate::cleanup::cleanup(
            format!("removing {}", dir.display()),
            std::fs::remove_dir_all(&dir),
        );
    }

    fn record(&mut self, started: String, exit_code: i32, mut output: String) {
        if output.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !output.is_char_boundary(cut) {
                cut -= 1;
            }
            output.truncate(cut);
        }
        self.log.push_back(HealthLog {
            start: started,
            end: state::now_rfc3339(),
            exit_code,
            output,
        });
        while self.log.len() > LOG_ENTRIES {
            self.log.pop_front();
        }
        let before = self.status;
        if exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.in_start_period() && self.status == HealthStatus::Starting) {
            // Failures in the start period do not count (until the first success).
            self.failing_streak += 1;
            if self.failing_streak >= self.spec.retries.max(1) {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.next_at = Instant::now() + self.interval();
        self.write_state();
        if self.status != before {
            let _ = crate::events::container_event(
                &self.paths.root,
                &self.cpaths.dir,
                &self.cpaths.id,
                &format!("health_status: {}", self.status),
                &[],
            );
        }
    }

    fn health_state(&self) -> HealthState {
        HealthState {
            status: self.status,
            failing_streak: self.failing_streak,
            log: self.log.iter().cloned().collect(),
        }
    }

    fn write_state(&self) {
        let health = self.health_state();
        let _ = state::update(&self.cpaths, |s| s.health = Some(health));
    }
}

/// The payload of Docker's multiplexed frames, both streams in order.
fn demux(data: &[u8]) -> String {
    let out: Vec<u8> = control::frames(data)
        .flat_map(|(_, payload)| payload.iter().copied())
        .collect();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_joined() {
        let mut d = control::frame(1, b"ok ");
        d.extend(control::frame(2, b"warn"));
        assert_eq!(demux(&d), "ok warn");
    }

    fn monitor(interval: Duration, start_period: Duration) -> HealthMonitor {
        let spec = HealthSpec {
            interval_ns: interval.as_nanos() as u64,
            start_period_ns: start_period.as_nanos() as u64,
            start_interval_ns: Duration::from_secs(5).as_nanos() as u64,
            ..Default::default()
        };
        let paths = Paths::new("/nonexistent", "/nonexistent/run");
        let cpaths = paths.container("0123");
        HealthMonitor::new(spec, paths, cpaths, None)
    }

    #[test]
    fn the_first_probe_waits_one_interval_after_the_start() {
        for (interval, start_period, want) in [
            (
                Duration::from_secs(30),
                Duration::ZERO,
                Duration::from_secs(30),
            ),
            (
                Duration::from_secs(30),
                Duration::from_secs(60),
                Duration::from_secs(5),
            ),
        ] {
            let mut m = monitor(interval, start_period);
            for moment in ["created", "started"] {
                if moment == "started" {
                    m.on_start();
                }
                let wait = m.deadline().saturating_duration_since(Instant::now());
                assert!(
                    wait > want - Duration::from_secs(1) && wait <= want,
                    "interval {interval:?}, start period {start_period:?}, {moment}: expected the \
                     first probe in {want:?}, it is due in {wait:?}"
                );
            }
        }
    }
}
