//! A start of the container's process (the first, or a restart by policy): its stdio and
//! cgroup, the clone into its namespaces, its network, and the report it sends before it execs.

use super::*;

impl Supervisor {
    /// Create the container's first process and wait until it has exec'd (or failed to).
    pub(super) fn start_process(&mut self) -> Result<i32, InitFailure> {
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
        // With a user namespace, the socket that carries the idmapped layers to the child.
        let (layers_tx, layers_rx) = if self.spec.namespaces.user.is_some() {
            let (tx, rx) = nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::Stream,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| fail("socketpair", e))?;
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
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
                drop((go_w, err_r, shim_io, layers_tx));
                let fds = InitFds {
                    go: go_r,
                    stdio: child_io,
                    joins: joins.others,
                    layers: layers_rx,
                };
                init::run(&self.spec, &self.cpaths, &self.prepared, fds, err_w)
            }
            sys::Forked::Parent { child } => child,
        };
        drop((go_r, err_w, child_io, joins, layers_rx));
        let placed = self.place(pid).and_then(|()| match &layers_tx {
            Some(tx) => crate::rootfs::send_layers(pid, &self.spec, tx).map_err(|e| InitFailure {
                message: e.to_string(),
                exit_code: 125,
            }),
            None => Ok(()),
        });
        drop(layers_tx);
        if let Err(failure) = placed {
            crate::cleanup::cleanup(
                "killing the container's first process",
                nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL),
            );
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
            crate::cleanup::cleanup(
                "killing the container's first process",
                nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL),
            );
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
            tracing::warn!("receiving the terminal: {e}");
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
                tracing::warn!("stdin: {e}");
            }
        }
        self.stdin = stdin::StdinQueue::default();
        self.io = Some(shim_io);
        self.phase = Phase::Running(Running::new(pid));
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
            tracing::error!("recording the start: {e}");
        }
        tracing::debug!("container started pid={pid}");
        // The shim, not the API, writes `start`: restarts by policy happen with no API alive.
        self.event("start", &[]);
        // What the set-up used goes back to the kernel once the caller has its answer and the
        // container's start is past: the shim now only carries output and requests.
        self.shed_at = Some(Instant::now() + SHED_AFTER);
        Ok(pid)
    }

    /// Whether the container's filter kills calls of other architectures (see
    /// `State::seccomp_native_only`).
    pub(super) fn native_only(&self) -> bool {
        self.prepared.arches.native_only()
    }

    /// Put a new process in its cgroup and, with a user namespace, write its id maps.
    pub(super) fn place(&self, pid: i32) -> Result<(), InitFailure> {
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
            // Its root cannot lower its own OOM score from inside: the shim sets it.
            if let Some(adj) = self.spec.process.oom_score_adj {
                std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
                    .map_err(|e| fail("writing oom_score_adj", e))?;
            }
        }
        Ok(())
    }

    /// Plug the container's endpoints into its new network namespace, before its process runs.
    /// The list is read again from `config.json` at every start: a connect or disconnect while
    /// the container was stopped (or waiting to restart) changed it. `self.attached` is where
    /// the later per-endpoint steps (ports, shaping, counters) find the veths.
    pub(super) fn plug_network(&mut self, pid: i32) -> Result<(), InitFailure> {
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
        // The embedded DNS server, bound before the process runs so that nothing in the
        // container takes 127.0.0.11:53 first.
        self.dns = None;
        if let Some(plan) = &self.dns_plan {
            let server =
                crate::net::dns::Server::bind(pid, &self.root, &self.spec.id, plan.clone())
                    .map_err(|e| fail("starting the embedded DNS server", e))?;
            self.dns = Some(server);
        }
        Ok(())
    }

    /// A start that failed leaves the container created, with Docker's exit code and error.
    pub(super) fn record_start_failure(&mut self, failure: &InitFailure) {
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
}
