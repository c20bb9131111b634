//! The shim's life: set the container up, start its process, then one single-threaded poll loop
//! that carries its output to the log and to attached clients, answers control requests,
//! records its exit, restarts it when its policy says so, and cleans up when it is done.

mod exit;
mod init_report;
mod requests;
mod stdin;

use crate::cgroups::{self, Cgroup};
use crate::control::{self, read_line_exact, AttachHello, ErrorKind, Request, Response};
use crate::fsutil::FileLock;
use crate::init::{self, fail, InitFailure, InitFds, Prepared};
use crate::logs::{JsonFileWriter, Stream};
use crate::namespaces;
use crate::paths::{ContainerPaths, Paths};
use crate::spec::{ContainerSpec, SPEC_VERSION};
use crate::state::{self, Status};
use crate::stdio::{self, Client, ShimIo};
use crate::{restart, signals, sys};
use init_report::{init_report, InitReport};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

pub struct Args {
    pub paths: Paths,
    pub id: String,
    pub wait_start: bool,
    /// Where the one ready report goes (None when nobody waits).
    pub ready: Option<OwnedFd>,
}

/// Run the shim for one container until it is done; returns the shim's exit code.
pub fn run(mut args: Args) -> i32 {
    let cpaths = args.paths.container(&args.id);
    let mut sup = match Supervisor::new(&args, cpaths.clone()) {
        Ok(s) => s,
        Err(failure) => {
            eprintln!("berth-shim {}: {}", args.id, failure.message);
            report(&mut args.ready, &failure.into_response());
            return 1;
        }
    };
    if args.wait_start {
        let native_only = sup.native_only();
        let r = state::update(&cpaths, |s| {
            s.shim_pid = std::process::id() as i32;
            s.status = Status::Created;
            s.seccomp_native_only = native_only;
        });
        if let Err(e) = r {
            report(&mut args.ready, &fail("recording state", e).into_response());
            sup.cleanup();
            return 1;
        }
        report(&mut args.ready, &Response::Ok);
        sup.awaiting_start = true;
        sup.shed_at = Some(Instant::now() + SHED_AFTER);
    } else {
        match sup.start_process() {
            Ok(pid) => report(&mut args.ready, &Response::Started { pid }),
            Err(failure) => {
                sup.record_start_failure(&failure);
                report(&mut args.ready, &failure.into_response());
                sup.cleanup();
                return 1;
            }
        }
    }
    sup.serve();
    sup.cleanup();
    0
}

fn report(ready: &mut Option<OwnedFd>, r: &Response) {
    if let Some(fd) = ready.take() {
        crate::spawn::report(fd, r);
    }
}

impl InitFailure {
    fn into_response(self) -> Response {
        Response::Error {
            message: self.message,
            exit_code: Some(self.exit_code),
            kind: ErrorKind::Failed,
        }
    }
}

struct Child {
    pid: i32,
    started: Instant,
}

struct Supervisor {
    /// The root, for the events log.
    root: std::path::PathBuf,
    cpaths: ContainerPaths,
    spec: ContainerSpec,
    cgroup: Cgroup,
    _lock: FileLock,
    control: UnixListener,
    attach: UnixListener,
    sigfd: SignalFd,
    log: JsonFileWriter,
    io: Option<ShimIo>,
    /// Clients' input the container has not read yet.
    stdin: stdin::StdinQueue,
    clients: Vec<Client>,
    child: Option<Child>,
    paused: bool,
    awaiting_start: bool,
    /// The set-up is over: give its heap and code pages back before the first wait after this.
    shed_at: Option<Instant>,
    kill_at: Option<Instant>,
    stop_waiters: Vec<UnixStream>,
    manual_stop: bool,
    /// Stopped for a restart: this exit does not auto-remove the container.
    keep: bool,
    restart_at: Option<Instant>,
    last_delay: Option<Duration>,
    restart_count: u32,
    oom_base: u64,
    prepared: Prepared,
    health: Option<crate::health::HealthMonitor>,
    /// The eBPF watch of the container's cgroup.
    watch: crate::monitor::Watch,
    /// The endpoints plugged in at the last start.
    attached: Vec<crate::net::Attached>,
    /// Published ports and bandwidth limits.
    host_side: crate::net::host_side::HostSide,
}

impl Supervisor {
    fn new(args: &Args, cpaths: ContainerPaths) -> Result<Self, InitFailure> {
        args.paths
            .secure()
            .and_then(|()| crate::paths::secure_dir(&cpaths.run, crate::paths::PRIVATE_MODE))
            .map_err(|e| fail("creating the run directory", e))?;
        let lock = FileLock::try_acquire(&cpaths.shim_lock())
            .map_err(|e| fail("locking the container", e))?
            .ok_or_else(|| InitFailure {
                message: format!("container {} is already running", args.id),
                exit_code: 125,
            })?;
        let data = std::fs::read(cpaths.config()).map_err(|e| InitFailure {
            message: format!("No such container: {} ({e})", args.id),
            exit_code: 125,
        })?;
        let spec: ContainerSpec =
            serde_json::from_slice(&data).map_err(|e| fail("decoding config.json", e))?;
        if spec.version != SPEC_VERSION {
            return Err(fail(
                "config.json",
                format!("version {} (this shim reads {SPEC_VERSION})", spec.version),
            ));
        }
        // The deny rules at this start decide the filter's architectures for the shim's life.
        let policy = crate::monitor::policy_of(&cpaths.dir);
        let prepared = Prepared::new(
            &spec,
            crate::monitor::seccomp_arches(&policy),
            &args.paths.root.join("cache/seccomp"),
        )?;
        let spec_health = spec
            .healthcheck
            .clone()
            .map(|h| crate::health::HealthMonitor::new(h, args.paths.clone(), cpaths.clone()));
        let restart_count = state::read_raw(&cpaths)
            .map(|s| s.restart_count)
            .unwrap_or(0);
        // SIGCHLD and the termination signals arrive on a descriptor, not as handlers.
        let mut mask = SigSet::empty();
        for s in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ] {
            mask.add(s);
        }
        mask.thread_block()
            .map_err(|e| fail("blocking signals", e))?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| fail("signalfd", e))?;
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let layout = cgroups::detect().map_err(|e| fail("finding cgroups", e))?;
        cgroups::favor_dynamic_modifications(&layout);
        let cgroup = Cgroup::new(&layout, &spec.cgroup_parent, &spec.id)
            .map_err(|e| fail("naming the cgroup", e))?;
        cgroup
            .create()
            .map_err(|e| fail("creating the cgroup", e))?;
        if let Err(e) = cgroup.apply(&spec.resources) {
            let _ = cgroup.remove();
            return Err(fail("applying resource limits", e));
        }
        // The devices the container may use, before any of its processes (or exec's helpers)
        // joins the group.
        let devices = crate::devices::policy(
            spec.process.privileged,
            &prepared.devices,
            &spec.device_cgroup_rules,
        );
        if let Err(e) = cgroup.set_devices(&devices) {
            if let Err(removing) = cgroup.remove() {
                eprintln!("berth-shim {}: removing the cgroup: {removing}", args.id);
            }
            return Err(fail("setting the device rules", e));
        }
        crate::rootfs::write_network_files(&spec, &cpaths, &args.paths.root)
            .map_err(|e| fail("writing /etc files", e))?;
        let log = JsonFileWriter::open(&cpaths.log(), &spec.log)
            .map_err(|e| fail("opening the log", e))?;
        let control =
            control::bind(&cpaths.control_socket()).map_err(|e| fail("control socket", e))?;
        let attach =
            control::bind(&cpaths.attach_socket()).map_err(|e| fail("attach socket", e))?;
        for l in [&control, &attach] {
            l.set_nonblocking(true).map_err(|e| fail("socket", e))?;
        }
        let wants = crate::monitor::wants(
            crate::events::container_attributes(&cpaths.dir)
                .get(crate::monitor::LABEL)
                .map(String::as_str),
        );
        let watch = crate::monitor::Watch::new(&args.id, &cpaths.dir, wants, policy);
        let host_side = crate::net::host_side::HostSide::new(&args.paths.root, &cpaths.run, &spec);
        Ok(Supervisor {
            root: args.paths.root.clone(),
            cpaths,
            spec,
            cgroup,
            _lock: lock,
            control,
            attach,
            sigfd,
            log,
            io: None,
            stdin: stdin::StdinQueue::default(),
            clients: Vec::new(),
            child: None,
            paused: false,
            awaiting_start: false,
            shed_at: None,
            kill_at: None,
            stop_waiters: Vec::new(),
            manual_stop: false,
            keep: false,
            restart_at: None,
            last_delay: None,
            restart_count,
            oom_base: 0,
            prepared,
            health: spec_health,
            watch,
            attached: Vec::new(),
            host_side,
        })
    }

    /// Create the container's first process and wait until it has exec'd (or failed to).
    fn start_process(&mut self) -> Result<i32, InitFailure> {
        self.host_side
            .reserve(&self.spec)
            .map_err(|message| InitFailure {
                message,
                exit_code: 128,
            })?;
        let (shim_io, child_io) =
            stdio::create(&self.spec.process).map_err(|e| fail("creating stdio", e))?;
        let (go_r, go_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
        let (err_r, err_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
        std::fs::create_dir_all(self.cpaths.rootfs()).map_err(|e| fail("rootfs dir", e))?;
        crate::rootfs::prepare_for_userns(&self.spec, &self.cpaths)
            .map_err(|e| fail("preparing the root for the user namespace", e))?;
        self.oom_base = self.cgroup.oom_kills();
        let flags = namespaces::clone_flags(&self.spec.namespaces);
        // Other containers' namespaces, opened here and checked to be theirs still (at a
        // restart by policy too, when nothing else has looked).
        let joins = namespaces::open_joins(&self.spec.namespaces).map_err(|e| InitFailure {
            message: e.to_string(),
            exit_code: 128,
        })?;
        let own_pid_ns = namespaces::enter_pid_for_children(joins.pid.as_ref())
            .map_err(|e| fail("joining the pid namespace", e))?;
        let forked = sys::clone_with_flags(flags.bits());
        let _ = namespaces::leave_pid_for_children(own_pid_ns);
        let pid = match forked.map_err(|e| fail("clone", e))? {
            sys::Forked::Child => {
                drop((go_w, err_r, shim_io));
                let fds = InitFds {
                    go: go_r,
                    stdio: child_io,
                    joins: joins.others,
                };
                init::run(&self.spec, &self.cpaths, &self.prepared, fds, err_w)
            }
            sys::Forked::Parent { child } => child,
        };
        drop((go_r, err_w, child_io, joins));
        if let Err(failure) = self.place(pid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            return Err(failure);
        }
        // Two go bytes: the first once the process is in its cgroup, so that it builds its
        // root while the network is plugged in and the monitor starts to watch the cgroup
        // here; the second once the network and the published ports are in place, which it
        // waits for before it execs (the monitor counts and reports from a cgroup's first
        // exec on, so that exec is seen).
        let mut go = std::fs::File::from(go_w);
        let _ = go.write_all(b"1");
        let watched = self.watch.start(self.cgroup.v2_path().as_deref());
        let plugged = watched.map_err(|message| InitFailure {
            message,
            exit_code: 128,
        });
        let plugged = plugged
            .and_then(|()| self.plug_network(pid))
            .and_then(|()| {
                let r = self.host_side.connect(&self.spec, &self.attached);
                r.map_err(|message| InitFailure {
                    message,
                    exit_code: 128,
                })
            });
        if let Err(failure) = plugged {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            drop(go);
            self.watch.stop();
            let _ = sys::waitpid(pid, 0);
            // A process that failed on its own first (its root), and said so, is why the
            // plugging failed; one killed here while it waited says nothing.
            return Err(match init_report(err_r) {
                InitReport::Failed(own) => own,
                InitReport::Execed(_) | InitReport::Died(_) => failure,
            });
        }
        let _ = go.write_all(b"2");
        drop(go);
        let mut shim_io = shim_io;
        // With a terminal, the process sends the master of the one it opened (before exec).
        if let Err(e) = shim_io.receive_terminal() {
            eprintln!("berth-shim {}: receiving the terminal: {e}", self.cpaths.id);
        }
        let root_mode = match init_report(err_r) {
            InitReport::Execed(mode) => mode,
            InitReport::Failed(failure) | InitReport::Died(failure) => {
                self.watch.stop();
                let _ = sys::waitpid(pid, 0);
                return Err(failure);
            }
        };
        // Written without blocking: see `stdin`.
        if let Some(fd) = &shim_io.stdin {
            if let Err(e) = sys::set_nonblocking(fd.as_raw_fd()) {
                eprintln!("berth-shim {}: stdin: {e}", self.cpaths.id);
            }
        }
        self.stdin = stdin::StdinQueue::default();
        self.io = Some(shim_io);
        self.child = Some(Child {
            pid,
            started: Instant::now(),
        });
        self.paused = false;
        self.awaiting_start = false;
        let start_time = sys::process_start_time(pid).unwrap_or(0);
        let cgroup_id = self.cgroup.cgroup_id().unwrap_or(0);
        let restart_count = self.restart_count;
        let native_only = self.native_only();
        let health = self.health.as_mut().map(|h| h.on_start());
        let r = state::update(&self.cpaths, |s| {
            s.status = Status::Running;
            if let Some(h) = &health {
                s.health = Some(h.clone());
            }
            s.pid = pid;
            s.pid_start_time = start_time;
            s.shim_pid = std::process::id() as i32;
            s.started_at = state::now_rfc3339();
            s.exit_code = 0;
            s.oom_killed = false;
            s.error.clear();
            s.restart_count = restart_count;
            s.manually_stopped = false;
            s.cgroup_id = cgroup_id;
            s.root_mode = root_mode;
            s.seccomp_native_only = native_only;
        });
        if let Err(e) = r {
            eprintln!("berth-shim {}: recording the start: {e}", self.cpaths.id);
        }
        // The shim, not the API, writes `start`: restarts by policy happen with no API alive.
        self.event("start", &[]);
        // What the set-up used goes back to the kernel once the caller has its answer and the
        // container's start is past: the shim now only carries output and requests.
        self.shed_at = Some(Instant::now() + SHED_AFTER);
        Ok(pid)
    }

    /// Whether the container's filter kills calls of other architectures (see
    /// `State::seccomp_native_only`).
    fn native_only(&self) -> bool {
        self.prepared.arches == crate::security::seccomp::Arches::NativeOnly
    }

    /// Put a new process in its cgroup and, with a user namespace, write its id maps.
    fn place(&self, pid: i32) -> Result<(), InitFailure> {
        self.cgroup
            .add_pid(pid)
            .map_err(|e| fail("joining the cgroup", e))?;
        if let Some(userns) = &self.spec.namespaces.user {
            let map = |m: &[crate::spec::IdMap]| {
                m.iter()
                    .map(|e| format!("{} {} {}\n", e.container_id, e.host_id, e.size))
                    .collect::<String>()
            };
            // The maps are written by a privileged process, so setgroups stays allowed: the
            // container's user switch sets supplementary groups.
            std::fs::write(format!("/proc/{pid}/uid_map"), map(&userns.uid_map))
                .map_err(|e| fail("writing uid_map", e))?;
            std::fs::write(format!("/proc/{pid}/gid_map"), map(&userns.gid_map))
                .map_err(|e| fail("writing gid_map", e))?;
        }
        Ok(())
    }

    /// Plug the container's endpoints into its new network namespace, before its process runs.
    /// The list is read again from `config.json` at every start: a connect or disconnect while
    /// the container was stopped (or waiting to restart) changed it. `self.attached` is where
    /// the later per-endpoint steps (ports, shaping, counters) find the veths.
    fn plug_network(&mut self, pid: i32) -> Result<(), InitFailure> {
        self.attached.clear();
        if self.spec.namespaces.net != crate::spec::NsMode::Private {
            return Ok(());
        }
        if let Ok(data) = std::fs::read(self.cpaths.config()) {
            if let Ok(now) = serde_json::from_slice::<ContainerSpec>(&data) {
                self.spec.endpoints = now.endpoints;
            }
        }
        self.attached =
            crate::net::attach_all(&self.root, &self.spec.id, pid, &self.spec.endpoints)
                .map_err(|e| fail("connecting the container to its networks", e))?;
        Ok(())
    }

    /// A start that failed leaves the container created, with Docker's exit code and error.
    fn record_start_failure(&mut self, failure: &InitFailure) {
        let (code, msg) = (failure.exit_code, failure.message.clone());
        let _ = state::update(&self.cpaths, |s| {
            s.status = if s.status == Status::Restarting {
                Status::Exited
            } else {
                Status::Created
            };
            s.pid = 0;
            s.exit_code = code;
            s.error = msg;
        });
    }

    fn done(&self) -> bool {
        self.child.is_none() && self.restart_at.is_none() && !self.awaiting_start
    }

    fn serve(&mut self) {
        // Capacity only: the kernel fills what each read brings and nothing else is touched.
        let mut buf = Vec::with_capacity(32 * 1024);
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut what: Vec<Source> = Vec::new();
        while !self.done() {
            let timeout = self.next_timeout();
            fds.clear();
            what.clear();
            let mut add = |fd: RawFd, s: Source| {
                fds.push(libc::pollfd {
                    fd,
                    events: s.events(),
                    revents: 0,
                });
                what.push(s);
            };
            add(self.sigfd.as_raw_fd(), Source::Signal);
            add(self.control.as_raw_fd(), Source::Control);
            add(self.attach.as_raw_fd(), Source::Attach);
            if let Some(io) = &self.io {
                if let Some(fd) = &io.stdout {
                    add(fd.as_raw_fd(), Source::Output(1));
                }
                if let Some(fd) = &io.stderr {
                    add(fd.as_raw_fd(), Source::Output(2));
                }
            }
            if let Some(fd) = self.health.as_ref().and_then(|h| h.fd()) {
                add(fd, Source::Health);
            }
            if let Some(fd) = self.watch.ring_fd() {
                add(fd, Source::Execs);
            }
            // Clients' input only while the container's stdin has room for it; their output
            // while some of it waits for them.
            let stdin_room = self.stdin_has_room();
            for (i, c) in self.clients.iter().enumerate() {
                if stdin_room && !c.stdin_done {
                    add(c.stream.as_raw_fd(), Source::Client(i));
                }
            }
            if let Some(fd) = self.stdin_to_flush() {
                add(fd, Source::Stdin);
            }
            for (i, c) in self.clients.iter().enumerate() {
                if c.wants_write() {
                    add(c.stream.as_raw_fd(), Source::ClientOut(i));
                }
            }
            if self.shed_at.is_some_and(|t| t <= Instant::now()) {
                self.shed_at = None;
                // Last before the wait, so that little but the wait itself is faulted back in;
                // the heap after the pages, whose list is read into memory freed here.
                sys::release_file_pages();
                sys::release_free_heap();
            }
            match sys::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("berth-shim {}: poll: {e}", self.cpaths.id);
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            for (pfd, &src) in fds.iter().zip(&what) {
                if pfd.revents == 0 {
                    continue;
                }
                match src {
                    Source::Signal => self.on_signal(),
                    Source::Control => self.on_control(),
                    Source::Attach => self.on_attach(),
                    Source::Output(stream) => {
                        self.on_output(stream, &mut buf);
                    }
                    Source::Client(i) => self.on_client_input(i, &mut buf),
                    Source::Stdin => self.flush_stdin(),
                    Source::ClientOut(i) => {
                        if let Some(c) = self.clients.get_mut(i) {
                            c.flush();
                        }
                    }
                    Source::Health => {
                        if let Some(h) = &mut self.health {
                            h.on_readable();
                        }
                    }
                    Source::Execs => self.on_execs(),
                }
            }
            self.clients
                .retain(|c| !c.gone() && (!c.hello.stdin || c.stream.peer_addr().is_ok()));
            self.on_timers();
        }
    }

    fn next_timeout(&self) -> i32 {
        let now = Instant::now();
        let health = self
            .health
            .as_ref()
            .filter(|_| self.child.is_some() && !self.paused)
            .map(|h| h.deadline());
        [self.kill_at, self.restart_at, health, self.shed_at]
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now).as_millis() as i32 + 1)
            .min()
            .unwrap_or(-1)
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if self.child.is_some() && !self.paused {
            if let Some(h) = &mut self.health {
                h.on_timer();
            }
        }
        if self.kill_at.is_some_and(|t| t <= now) {
            self.kill_at = None;
            if let Some(c) = &self.child {
                let _ = nix::sys::signal::kill(Pid::from_raw(c.pid), Signal::SIGKILL);
                if self.paused {
                    let _ = self.cgroup.thaw();
                }
            }
        }
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            self.restart_count += 1;
            if let Err(failure) = self.start_process() {
                eprintln!(
                    "berth-shim {}: restart: {}",
                    self.cpaths.id, failure.message
                );
                self.record_start_failure(&failure);
            }
        }
    }

    fn on_signal(&mut self) {
        while let Ok(Some(info)) = self.sigfd.read_signal() {
            if info.ssi_signo as i32 != libc::SIGCHLD {
                // The shim outlives its callers' signals; it ends only when the container does.
                continue;
            }
            while let Ok(Some((pid, status))) = sys::waitpid(-1, libc::WNOHANG) {
                if self.child.as_ref().is_some_and(|c| c.pid == pid) {
                    self.on_exit(status);
                }
            }
        }
    }

    /// Carry one read of output to the log and the clients; false when nothing was read.
    fn on_output(&mut self, stream: u8, buf: &mut Vec<u8>) -> bool {
        let Some(io) = &mut self.io else { return false };
        let slot = if stream == 1 {
            &mut io.stdout
        } else {
            &mut io.stderr
        };
        let Some(fd) = slot else { return false };
        let n = match stdio::read_available_to_spare(fd, buf) {
            Ok(Some(0)) => return false,
            Ok(Some(n)) => n,
            Ok(None) | Err(_) => {
                *slot = None;
                return false;
            }
        };
        let data = &buf[..n];
        let log_stream = if stream == 1 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        if let Err(e) = self.log.write(log_stream, data) {
            eprintln!("berth-shim {}: log: {e}", self.cpaths.id);
        }
        let tty = self.spec.process.tty;
        self.clients.retain_mut(|c| c.send(stream, data, tty));
        true
    }

    fn on_client_input(&mut self, i: usize, buf: &mut Vec<u8>) {
        let Some(client) = self.clients.get_mut(i) else {
            return;
        };
        let n = match sys::read_to_spare(client.stream.as_raw_fd(), buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            Err(_) => 0,
        };
        if self.io.is_none() {
            return;
        }
        if n == 0 {
            client.stdin_done = true;
            if self.spec.process.stdin_once {
                self.close_stdin_when_flushed();
            }
            return;
        }
        self.feed_stdin(&buf[..n]);
    }

    fn on_attach(&mut self) {
        while let Ok((stream, _)) = self.attach.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            // Exactly the hello line: stdin the client sent right behind it stays in the socket.
            let hello: AttachHello = match read_line_exact(&stream) {
                Ok(line) => serde_json::from_slice(&line).unwrap_or_default(),
                Err(_) => continue,
            };
            let _ = stream.set_read_timeout(None);
            // Never waited for: what a slow client does not take yet waits in its buffer.
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client::new(stream, hello));
        }
    }

    /// The container's events from the eBPF monitor, into the events log.
    fn on_execs(&mut self) {
        crate::monitor::log_events(&mut self.watch, &self.root, &self.cpaths);
    }

    /// Append a container event to the events log; a failure is logged, never fatal.
    fn event(&self, action: &str, extra: &[(&str, String)]) {
        let r = crate::events::container_event(
            &self.root,
            &self.cpaths.dir,
            &self.cpaths.id,
            action,
            extra,
        );
        if let Err(e) = r {
            eprintln!("berth-shim {}: event {action}: {e}", self.cpaths.id);
        }
    }

    /// The container is done: release what it held; with auto-remove, remove it entirely.
    fn cleanup(&mut self) {
        if let Err(e) = self.host_side.release() {
            eprintln!("berth-shim {}: unpublishing ports: {e}", self.cpaths.id);
        }
        let _ = std::fs::remove_file(self.cpaths.control_socket());
        let _ = std::fs::remove_file(self.cpaths.attach_socket());
        let auto_remove = self.spec.auto_remove && !self.keep;
        if !auto_remove {
            // (An auto-removed container's run directory goes whole with it, after the
            // rename that its `docker run --rm` waits for.)
            let _ = std::fs::remove_dir(self.cpaths.rootfs());
        }
        // The removal a client may be waiting for (`docker run --rm`) comes first; the empty
        // cgroup goes after, where nobody waits on it.
        if auto_remove {
            // A `wait?condition=removed` learns the exit code from here once the container's
            // directory is gone.
            if let Ok(st) = state::read_raw(&self.cpaths) {
                crate::remove::record_last_exit(&self.cpaths, st.exit_code);
            }
            // dockerd's order: the volumes' `destroy`, then the container's.
            let removed =
                crate::remove::remove_anonymous_volumes(&self.cpaths, &self.spec.anonymous_volumes);
            let events = crate::events::EventsPaths::new(&self.root);
            for name in removed {
                if let Err(e) =
                    crate::events::append(&events, crate::events::Event::volume(&name, "destroy"))
                {
                    eprintln!("berth-shim {}: event volume destroy: {e}", self.cpaths.id);
                }
            }
            self.event("destroy", &[]);
            // The addresses go before the files, which a `docker run --rm` waits for: the
            // client may ask for the same address at once.
            if let Err(e) = crate::remove::remove_container(&self.root, &self.cpaths) {
                eprintln!("berth-shim {}: auto-remove: {e}", self.cpaths.id);
            }
        }
        if let Err(e) = self.cgroup.remove() {
            eprintln!("berth-shim {}: removing the cgroup: {e}", self.cpaths.id);
        }
        // Last, the shim's own group, which it must leave first; the next start makes it again.
        let removed = cgroups::ShimGroup::new(&self.cpaths.id).and_then(|g| {
            g.leave(std::process::id())?;
            g.remove()
        });
        if let Err(e) = removed {
            eprintln!(
                "berth-shim {}: removing its own cgroup: {e}",
                self.cpaths.id
            );
        }
    }
}

/// How long after a start the shim gives back the set-up's memory: not at once, so that the
/// container's own start has both CPUs.
const SHED_AFTER: Duration = Duration::from_millis(100);

#[derive(Clone, Copy)]
enum Source {
    Execs,
    Signal,
    Control,
    Attach,
    Output(u8),
    Client(usize),
    /// The container's stdin has room for queued input.
    Stdin,
    /// A client can take more of its queued output.
    ClientOut(usize),
    Health,
}

impl Source {
    /// What to poll it for: room to write for queued input and output, else something to read.
    fn events(self) -> libc::c_short {
        match self {
            Source::Stdin | Source::ClientOut(_) => libc::POLLOUT,
            _ => libc::POLLIN,
        }
    }
}

fn error(message: String, kind: ErrorKind) -> Response {
    Response::Error {
        message,
        exit_code: None,
        kind,
    }
}

fn answer(stream: &mut UnixStream, r: &Response) -> std::io::Result<()> {
    let mut data = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    data.push(b'\n');
    stream.write_all(&data)
}
