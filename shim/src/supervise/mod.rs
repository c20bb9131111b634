//! The shim's life: set the container up, start its process, then one single-threaded poll loop
//! that carries its output to the log and to attached clients, answers control requests,
//! records its exit, restarts it when its policy says so, and cleans up when it is done.

mod cleanup;
mod exit;
mod init_report;
mod phase;
mod requests;
mod start;
mod stdin;

use crate::cgroups::{self, Cgroup};
use crate::control::{self, AttachHello, ErrorKind, Request, Response};
use crate::fsutil::FileLock;
use crate::init::{self, InitFds, Prepared};
use crate::logs::{JsonFileWriter, Stream};
use crate::namespaces;
use crate::paths::{ContainerPaths, Paths};
use crate::process::{self, answer};
use crate::process::{fail, InitFailure};
use crate::spec::{ContainerSpec, SPEC_VERSION};
use crate::state::{self, Status};
use crate::stdio::{self, Client, ShimIo};
use crate::{restart, signals, sys};
use init_report::{init_report, InitReport};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use phase::{ManualStop, Phase, Running, Stop};
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
            tracing::error!("{}", failure.message);
            process::ready(&mut args.ready, &failure.into_response());
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
            process::ready(&mut args.ready, &fail("recording state", e).into_response());
            sup.cleanup();
            return 1;
        }
        process::ready(&mut args.ready, &Response::Ok);
        sup.phase = Phase::AwaitingStart;
        sup.shed_at = Some(Instant::now() + SHED_AFTER);
    } else {
        match sup.start_process() {
            Ok(pid) => process::ready(&mut args.ready, &Response::Started { pid }),
            Err(failure) => {
                sup.record_start_failure(&failure);
                process::ready(&mut args.ready, &failure.into_response());
                sup.cleanup();
                return 1;
            }
        }
    }
    sup.serve();
    sup.cleanup();
    0
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
    /// Where the container's life is: its process, a stop, a restart.
    phase: Phase,
    /// The set-up is over: give its heap and code pages back before the first wait after this.
    shed_at: Option<Instant>,
    stop_waiters: Vec<UnixStream>,
    /// A caller stopped it: no restart by policy (and, kept, no auto-remove at its end).
    manual: ManualStop,
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
    /// The embedded DNS server's plan: set on user-defined networks.
    dns_plan: Option<crate::net::dns::Plan>,
    /// The embedded DNS server of the running process's namespace.
    dns: Option<crate::net::dns::Server>,
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
        let spec_health = spec.healthcheck.clone().map(|h| {
            let binary = spec.settings.shim_binary.clone();
            crate::health::HealthMonitor::new(h, args.paths.clone(), cpaths.clone(), binary)
        });
        let restart_count = state::read_raw(&cpaths)
            .map(|s| s.restart_count)
            .unwrap_or(0);
        // SIGCHLD and the termination signals arrive on a descriptor, not as handlers.
        let sigfd = process::signal_fd(&[
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ])?;
        let layout = cgroups::detect().map_err(|e| fail("finding cgroups", e))?;
        cgroups::favor_dynamic_modifications(&layout, &spec.settings);
        let cgroup = Cgroup::new(&layout, &spec.cgroup_parent, &spec.id)
            .map_err(|e| fail("naming the cgroup", e))?;
        cgroup
            .create()
            .map_err(|e| fail("creating the cgroup", e))?;
        if let Err(e) = cgroup.apply(&spec.resources) {
            crate::cleanup::cleanup("removing the cgroup", cgroup.remove());
            return Err(fail("applying resource limits", e));
        }
        // A user-namespaced container's group belongs to its root (cgroups/delegate.rs).
        if let Some(root) = spec.namespaces.user.as_ref().and_then(|u| u.root_ids()) {
            if let Err(e) = cgroup.delegate(root.0, root.1) {
                let _ = cgroup.remove();
                return Err(fail("delegating the cgroup", e));
            }
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
                tracing::warn!("removing the cgroup: {removing}");
            }
            return Err(fail("setting the device rules", e));
        }
        let dns_plan = crate::rootfs::write_network_files(&spec, &cpaths, &args.paths.root)
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
        let watch = crate::monitor::Watch::new(
            &args.id,
            &cpaths.dir,
            wants,
            policy,
            spec.settings.pin_dir(),
        );
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
            phase: Phase::Done,
            shed_at: None,
            stop_waiters: Vec::new(),
            manual: ManualStop::No,
            last_delay: None,
            restart_count,
            oom_base: 0,
            prepared,
            health: spec_health,
            watch,
            attached: Vec::new(),
            host_side,
            dns_plan,
            dns: None,
        })
    }

    fn serve(&mut self) {
        // Capacity only: the kernel fills what each read brings and nothing else is touched.
        let mut buf = Vec::with_capacity(32 * 1024);
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut what: Vec<Source> = Vec::new();
        while !self.phase.is_done() {
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
            if let Some(fd) = self.log.wants_room() {
                add(fd, Source::LogRoom);
            }
            for (i, c) in self.clients.iter().enumerate() {
                if c.wants_write() {
                    add(c.stream.as_raw_fd(), Source::ClientOut(i));
                }
            }
            if let Some(dns) = &self.dns {
                dns.interests(|fd, events, t| {
                    fds.push(libc::pollfd {
                        fd,
                        events,
                        revents: 0,
                    });
                    what.push(Source::Dns(t));
                });
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
                    tracing::error!("poll: {e}");
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
                    Source::LogRoom => self.log.feed(),
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
                    Source::Dns(t) => {
                        if let Some(dns) = &mut self.dns {
                            dns.on_ready(t);
                        }
                        // What the answers used goes back soon after.
                        self.shed_at.get_or_insert(Instant::now() + DNS_SHED_AFTER);
                    }
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
            .filter(|_| self.phase.runs_unpaused())
            .map(|h| h.deadline());
        let dns = self.dns.as_ref().and_then(|d| d.deadline());
        [self.phase.deadline(), health, self.shed_at, dns]
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now).as_millis() as i32 + 1)
            .min()
            .unwrap_or(-1)
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if let Some(dns) = &mut self.dns {
            dns.on_timer(now);
        }
        if self.phase.runs_unpaused() {
            if let Some(h) = &mut self.health {
                h.on_timer();
            }
        }
        if let Some(r) = self.phase.running_mut() {
            if matches!(r.stop, Stop::Signalled { kill_at } if kill_at <= now) {
                r.stop = Stop::Killed;
                crate::cleanup::cleanup(
                    "the stop's SIGKILL",
                    nix::sys::signal::kill(Pid::from_raw(r.pid), Signal::SIGKILL),
                );
                if r.paused {
                    crate::cleanup::cleanup("thawing for the stop", self.cgroup.thaw());
                }
            }
        }
        if matches!(self.phase, Phase::Restarting { at } if at <= now) {
            self.phase = Phase::Done;
            self.restart_count += 1;
            if let Err(failure) = self.start_process() {
                tracing::error!("restart: {}", failure.message);
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
            process::reap(|pid, status| {
                if self.phase.running().is_some_and(|r| r.pid == pid) {
                    self.on_exit(status);
                }
            });
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
            tracing::error!("log: {e}");
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
            // Exactly the hello line: stdin the client sent right behind it stays in the socket.
            let hello: AttachHello = match process::read_first_line(&stream) {
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
            tracing::warn!("event {action}: {e}");
        }
    }
}

/// How long after a start the shim gives back the set-up's memory: not at once, so that the
/// container's own start has both CPUs.
const SHED_AFTER: Duration = Duration::from_millis(100);

/// How long after a DNS answer the shim gives back the memory answering used.
const DNS_SHED_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Copy)]
enum Source {
    Dns(crate::net::dns::Token),
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
    /// The log writer (`mode=non-blocking`) has room for queued entries.
    LogRoom,
}

impl Source {
    /// What to poll it for: room to write for queued input and output, else something to read.
    fn events(self) -> libc::c_short {
        match self {
            Source::Stdin | Source::ClientOut(_) | Source::LogRoom => libc::POLLOUT,
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
