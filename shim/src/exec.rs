//! `docker exec`: a detached helper (the same binary, sealed the same way as the shim) that runs
//! one process inside a running container and owns it: it joins the container's cgroup and
//! namespaces, keeps the container's security settings, carries stdio to one attached client,
//! and records the exit code before it lets the client go (the docker CLI reads it right after).
//!
//! Files: `<root>/containers/<id>/execs/<exec>/spec.json` (written by the API),
//! `state.json` (written here); `<run>/containers/<id>/execs/<exec>.sock` (attach) and
//! `<exec>.ctl` (resize), `<exec>.lock` (held while the helper lives).

use crate::cgroups::{self, Cgroup};
use crate::control::{AttachHello, Request, Response};
use crate::fsutil::{self, FileLock};
use crate::init::{become_process, Prepared};
use crate::namespaces;
use crate::paths::{ContainerPaths, Paths};
use crate::process::{self, Said};
use crate::process::{fail, InitFailure};
use crate::security::seccomp;
use crate::spec::{ContainerSpec, ProcessSpec};
use crate::state::{self, RootMode, Status};
use crate::stdio::{self, Client};
use crate::sys;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

/// What the API asks for (Docker's exec config).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecSpec {
    pub id: String,
    pub container_id: String,
    pub args: Vec<String>,
    /// Added to the container's environment.
    pub env: Vec<String>,
    /// Empty: the container's user.
    pub user: String,
    /// Empty: the container's working directory.
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    pub console_size: Option<(u16, u16)>,
    /// Docker's `DetachKeys` as given ("" for the default); the API watches the client's stdin
    /// for them, the helper does not read it.
    pub detach_keys: String,
}

/// What the helper records.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecState {
    pub running: bool,
    pub pid: i32,
    /// None until the process has ended (or failed to start).
    pub exit_code: Option<i32>,
}

/// The files of one exec.
#[derive(Debug, Clone)]
pub struct ExecPaths {
    pub dir: PathBuf,
    pub run: PathBuf,
    pub id: String,
}

impl ExecPaths {
    pub fn new(container: &ContainerPaths, exec_id: &str) -> ExecPaths {
        ExecPaths {
            dir: container.dir.join("execs").join(exec_id),
            run: container.run.join("execs"),
            id: exec_id.to_string(),
        }
    }
    pub fn spec(&self) -> PathBuf {
        self.dir.join("spec.json")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn attach_socket(&self) -> PathBuf {
        self.run.join(format!("{}.sock", self.id))
    }
    pub fn control_socket(&self) -> PathBuf {
        self.run.join(format!("{}.ctl", self.id))
    }
    pub fn lock(&self) -> PathBuf {
        self.run.join(format!("{}.lock", self.id))
    }
}

/// The exec's state as a client should see it: running only while its helper lives.
pub fn read_state(p: &ExecPaths) -> ExecState {
    let mut s: ExecState = std::fs::read(p.state())
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    if s.running && !fsutil::is_locked(&p.lock()) {
        s.running = false;
        s.exit_code.get_or_insert(state::LOST_EXIT_CODE);
    }
    s
}

fn write_state(p: &ExecPaths, s: &ExecState) {
    if let Ok(data) = serde_json::to_vec(s) {
        let _ = fsutil::write_atomic(&p.state(), &data);
    }
}

/// Resize the exec's terminal (through its helper). Its answer is not checked: a helper
/// without a terminal has nothing to resize.
pub fn resize(p: &ExecPaths, rows: u16, cols: u16) -> Result<(), crate::control::ControlError> {
    crate::control::request_at(&p.control_socket(), &p.id, &Request::Resize { rows, cols })
        .map(drop)
}

/// Attach to an exec's helper (it starts the process on the first attach when it waits).
pub fn attach(p: &ExecPaths, hello: AttachHello) -> std::io::Result<UnixStream> {
    crate::control::attach_at(&p.attach_socket(), hello)
}

/// The helper's main: returns its exit code.
pub fn run(
    paths: &Paths,
    id: &str,
    exec_id: &str,
    wait_attach: bool,
    mut ready: Option<OwnedFd>,
) -> i32 {
    let cpaths = paths.container(id);
    let ep = ExecPaths::new(&cpaths, exec_id);
    match Helper::new(paths, &cpaths, &ep) {
        Ok(mut h) => {
            if wait_attach {
                process::ready(&mut ready, &Response::Ok);
                let Some(client) = h.accept_first_client() else {
                    h.finish(None, 126);
                    return 1;
                };
                h.client = Some(client);
            }
            match h.start() {
                Ok(pid) => process::ready(&mut ready, &Response::Started { pid }),
                Err(f) => {
                    // The client sees why, as dockerd writes it into the stream.
                    let msg = format!("OCI runtime exec failed: exec failed: unable to start container process: {}: unknown\r\n", f.message);
                    let code = f.exit_code;
                    process::ready(&mut ready, &f.into_response());
                    h.finish(Some(msg), code);
                    return 1;
                }
            }
            h.serve();
            0
        }
        Err(f) => {
            process::ready(&mut ready, &f.into_response());
            1
        }
    }
}

/// How long an attached start's helper waits for its client.
const FIRST_ATTACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

struct Helper {
    root: PathBuf,
    container_dir: PathBuf,
    ep: ExecPaths,
    spec: ExecSpec,
    process: ProcessSpec,
    prepared: Prepared,
    cgroup: Cgroup,
    target_pid: i32,
    userns: bool,
    _lock: FileLock,
    attach: UnixListener,
    control: UnixListener,
    sigfd: SignalFd,
    client: Option<Client>,
    io: Option<stdio::ShimIo>,
    pid: i32,
}

impl Helper {
    fn new(paths: &Paths, cpaths: &ContainerPaths, ep: &ExecPaths) -> Result<Helper, InitFailure> {
        crate::paths::secure_dir(&ep.run, crate::paths::PRIVATE_MODE)
            .map_err(|e| fail("exec run directory", e))?;
        let lock = FileLock::try_acquire(&ep.lock())
            .map_err(|e| fail("locking the exec", e))?
            .ok_or_else(|| fail("exec", "this exec has been started already"))?;
        let spec: ExecSpec = read_json(&ep.spec())?;
        let cspec: ContainerSpec = read_json(&cpaths.config())?;
        let st = state::read(cpaths).map_err(|e| fail("container state", e))?;
        if st.status == Status::Paused {
            return Err(fail(
                "exec",
                format!(
                    "container {} is paused, unpause the container before exec",
                    cpaths.id
                ),
            ));
        }
        if st.status != Status::Running || st.pid <= 0 {
            return Err(fail(
                "exec",
                format!("container {} is not running", cpaths.id),
            ));
        }
        // The pid must still be the container's: same start time as recorded.
        if sys::process_start_time(st.pid).ok() != Some(st.pid_start_time) {
            return Err(fail(
                "exec",
                format!("container {} is not running", cpaths.id),
            ));
        }
        let mut process = cspec.process.clone();
        process.args = spec.args.clone();
        for e in &spec.env {
            let key = e.split('=').next().unwrap_or(e);
            process.env.retain(|x| x.split('=').next() != Some(key));
            process.env.push(e.clone());
        }
        if !spec.user.is_empty() {
            process.user = spec.user.clone();
        }
        if !spec.working_dir.is_empty() {
            process.cwd = spec.working_dir.clone();
        }
        process.tty = spec.tty;
        process.open_stdin = spec.attach_stdin;
        process.stdin_once = true;
        process.console_size = spec.console_size;
        process.init = false;
        if spec.privileged {
            process.privileged = true;
        }
        let exec_container = ContainerSpec {
            process: process.clone(),
            ..cspec.clone()
        };
        // The rules in force now decide (an exec must not get past rules set since the start),
        // and native-only at least when the container's own filter is.
        let arches = match crate::monitor::seccomp_arches(&crate::monitor::policy_of(&cpaths.dir)) {
            seccomp::Arches::Profile if st.seccomp_native_only => seccomp::Arches::NativeOnly,
            from_rules => from_rules,
        };
        let prepared = Prepared::new(&exec_container, arches, &paths.root.join("cache/seccomp"))?;
        let layout = cgroups::detect().map_err(|e| fail("finding cgroups", e))?;
        let cgroup = Cgroup::new(&layout, &cspec.cgroup_parent, &cpaths.id)
            .map_err(|e| fail("the container's cgroup", e))?;
        let sigfd = process::signal_fd(&[Signal::SIGCHLD])?;
        let attach =
            crate::control::bind(&ep.attach_socket()).map_err(|e| fail("attach socket", e))?;
        let control =
            crate::control::bind(&ep.control_socket()).map_err(|e| fail("control socket", e))?;
        control
            .set_nonblocking(true)
            .map_err(|e| fail("socket", e))?;
        Ok(Helper {
            root: paths.root.clone(),
            container_dir: cpaths.dir.clone(),
            ep: ep.clone(),
            spec,
            process,
            prepared,
            cgroup,
            target_pid: st.pid,
            userns: cspec.namespaces.user.is_some(),
            _lock: lock,
            attach,
            control,
            sigfd,
            client: None,
            io: None,
            pid: 0,
        })
    }

    /// The attached start's client, which the API connects at once; None after
    /// [`FIRST_ATTACH_TIMEOUT`] (the API process died between the spawn and the attach: the
    /// exec never starts, and its helper does not wait forever in the container's groups).
    fn accept_first_client(&mut self) -> Option<Client> {
        self.attach.set_nonblocking(true).ok()?;
        let deadline = std::time::Instant::now() + FIRST_ATTACH_TIMEOUT;
        let stream = loop {
            match self.attach.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        tracing::warn!("no client attached to exec {} in time", self.ep.id);
                        return None;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).ok()?;
        let _ = self.attach.set_nonblocking(false);
        let line = process::read_first_line(&stream).ok()?;
        let hello: AttachHello = serde_json::from_slice(&line).unwrap_or_default();
        let _ = stream.set_read_timeout(None);
        Some(Client::new(stream, hello))
    }

    /// Start the process: a child joins the cgroup and the namespaces, then clones the process
    /// as our own child (CLONE_PARENT) inside the container's pid namespace.
    fn start(&mut self) -> Result<i32, InitFailure> {
        let (shim_io, child_io) = stdio::create(&self.process).map_err(|e| fail("stdio", e))?;
        let (err_r, err_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
        let (pid_r, pid_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
        // Every namespace opened before any is entered.
        let ns = namespaces::open_of_process(self.target_pid, self.userns)
            .map_err(|e| fail("opening the container's namespaces", e))?;
        let intermediate = match sys::fork().map_err(|e| fail("fork", e))? {
            sys::Forked::Child => {
                drop((err_r, pid_r, shim_io));
                // Not readable by the container's processes while this is still our binary.
                let _ = nix::sys::prctl::set_dumpable(false);
                let go = || -> Result<(), InitFailure> {
                    self.cgroup
                        .add_pid(std::process::id() as i32)
                        .map_err(|e| fail("joining the cgroup", e))?;
                    for joined in &ns {
                        joined.setns().map_err(|e| fail("joining a namespace", e))?;
                    }
                    Ok(())
                };
                if let Err(f) = go() {
                    process::report_failure(err_w.as_raw_fd(), f);
                    sys::exit_now(1);
                }
                match sys::clone_with_flags(libc::CLONE_PARENT) {
                    Ok(sys::Forked::Child) => {
                        drop(pid_w);
                        let errors = err_w.into_raw_fd();
                        let r = (|| -> Result<crate::init::Never, InitFailure> {
                            child_io.install().map_err(|e| fail("stdio", e))?;
                            // The mount namespace put us at its root; the mark for the
                            // error pipe's protocol comes first.
                            process::report_root_mode(errors, RootMode::PivotRoot)
                                .map_err(|e| fail("pipe", e))?;
                            become_process(&self.process, &self.prepared, errors)
                        })();
                        // become_process only comes back with a failure.
                        let Err(f) = r;
                        let code = f.exit_code;
                        process::report_failure(errors, f);
                        sys::exit_now(code)
                    }
                    Ok(sys::Forked::Parent { child }) => {
                        let _ = sys::write_all(pid_w.as_raw_fd(), &child.to_ne_bytes());
                        sys::exit_now(0)
                    }
                    Err(e) => {
                        process::report_failure(err_w.as_raw_fd(), fail("clone", e));
                        sys::exit_now(1)
                    }
                }
            }
            sys::Forked::Parent { child } => child,
        };
        drop((err_w, pid_w, child_io, ns));
        let mut shim_io = shim_io;
        let _ = shim_io.receive_terminal();
        let _ = sys::waitpid(intermediate, 0);
        let mut pid_bytes = Vec::new();
        let _ = std::fs::File::from(pid_r).read_to_end(&mut pid_bytes);
        let report = process::read_report(err_r);
        let pid = <[u8; 4]>::try_from(pid_bytes.as_slice())
            .map(i32::from_ne_bytes)
            .unwrap_or(0);
        if report.said != Said::Nothing || pid == 0 {
            if pid > 0 {
                let _ = sys::waitpid(pid, 0);
            }
            // An exec's unknown exit code is 126's.
            return Err(match report.said {
                Said::Failure { message, exit_code } => InitFailure {
                    message,
                    exit_code: exit_code.unwrap_or(126),
                },
                said => fail("exec", said.text()),
            });
        }
        self.pid = pid;
        self.io = Some(shim_io);
        write_state(
            &self.ep,
            &ExecState {
                running: true,
                pid,
                exit_code: None,
            },
        );
        Ok(pid)
    }

    fn serve(&mut self) {
        let mut buf = vec![0u8; 32 * 1024];
        let tty = self.spec.tty;
        let mut status = None;
        while status.is_none() {
            let mut fds = vec![
                libc::pollfd {
                    fd: self.sigfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.control.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let out = self
                .io
                .as_ref()
                .and_then(|io| io.stdout.as_ref())
                .map(|f| f.as_raw_fd())
                .unwrap_or(-1);
            let err = self
                .io
                .as_ref()
                .and_then(|io| io.stderr.as_ref())
                .map(|f| f.as_raw_fd())
                .unwrap_or(-1);
            let stdin_open = self.io.as_ref().is_some_and(|io| io.stdin.is_some());
            let cl = match &self.client {
                Some(c) if stdin_open && !c.stdin_done => c.stream.as_raw_fd(),
                _ => -1,
            };
            for fd in [out, err, cl] {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            if sys::poll(&mut fds, -1).is_err() {
                continue;
            }
            if fds[2].revents != 0 {
                self.forward(1, &mut buf, tty);
            }
            if fds[3].revents != 0 {
                self.forward(2, &mut buf, tty);
            }
            if fds[4].revents != 0 {
                self.client_input(&mut buf);
            }
            if fds[1].revents != 0 {
                self.on_control();
            }
            if fds[0].revents != 0 {
                while let Ok(Some(_)) = self.sigfd.read_signal() {}
                let pid = self.pid;
                process::reap(|p, st| {
                    if p == pid {
                        status = Some(sys::exit_code_of(st));
                    }
                });
            }
        }
        // Output written just before the end still goes out.
        process::drain_output(|stream| self.forward(stream, &mut buf, tty));
        self.finish(None, status.unwrap_or(255));
    }

    /// Record the exit code, then let the client go: it reads the code right after EOF.
    fn finish(&mut self, message: Option<String>, code: i32) {
        if let (Some(msg), Some(c)) = (message, self.client.as_mut()) {
            let _ = c.send(2, msg.as_bytes(), self.spec.tty);
        }
        write_state(
            &self.ep,
            &ExecState {
                running: false,
                pid: self.pid,
                exit_code: Some(code),
            },
        );
        let _ = crate::events::container_event(
            &self.root,
            &self.container_dir,
            &self.spec.container_id,
            "exec_die",
            &[
                ("execID", self.ep.id.clone()),
                ("exitCode", code.to_string()),
            ],
        );
        if let Some(c) = self.client.take() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        for socket in [self.ep.attach_socket(), self.ep.control_socket()] {
            crate::cleanup::cleanup(
                format!("removing {}", socket.display()),
                std::fs::remove_file(&socket),
            );
        }
    }

    fn forward(&mut self, stream: u8, buf: &mut [u8], tty: bool) -> bool {
        let Some(io) = &mut self.io else { return false };
        let slot = if stream == 1 {
            &mut io.stdout
        } else {
            &mut io.stderr
        };
        let Some(fd) = slot else { return false };
        match stdio::read_available(fd, buf) {
            Ok(Some(0)) => false,
            Ok(Some(n)) => {
                if let Some(c) = &mut self.client {
                    if !c.send(stream, &buf[..n], tty) {
                        self.client = None;
                    }
                }
                true
            }
            _ => {
                *slot = None;
                false
            }
        }
    }

    fn client_input(&mut self, buf: &mut [u8]) {
        let Some(c) = &mut self.client else { return };
        let n = c.stream.read(buf).unwrap_or(0);
        let Some(io) = &mut self.io else { return };
        if n == 0 {
            c.stdin_done = true;
            io.stdin = None;
            return;
        }
        if let Some(fd) = &io.stdin {
            if sys::write_all(fd.as_raw_fd(), &buf[..n]).is_err() {
                io.stdin = None;
            }
        }
    }

    fn on_control(&mut self) {
        while let Ok((mut stream, _)) = self.control.accept() {
            let Ok(line) = process::read_first_line(&stream) else {
                continue;
            };
            let response = match serde_json::from_slice::<Request>(&line) {
                Ok(Request::Resize { rows, cols }) => {
                    match self.io.as_ref().and_then(|io| io.tty.as_ref()) {
                        Some(t) => match sys::set_winsize(t.as_raw_fd(), rows, cols) {
                            Ok(()) => Response::Ok,
                            Err(e) => fail("resize", e).into_response(),
                        },
                        None => Response::Ok,
                    }
                }
                _ => fail("exec control", "only resize is supported").into_response(),
            };
            let _ = process::answer(&mut stream, &response);
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, InitFailure> {
    let data = std::fs::read(path).map_err(|e| fail(&format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&data).map_err(|e| fail(&format!("decoding {}", path.display()), e))
}
