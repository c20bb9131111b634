//! A container's process has ended: its last output, its exit record, and the restart policy's
//! decision.

use super::*;

/// How long, at the container's exit, a slow client is given to take its last output.
const CLIENT_DRAIN: Duration = Duration::from_secs(5);

impl Supervisor {
    pub(super) fn on_exit(&mut self, status: i32) {
        let Phase::Running(child) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return;
        };
        if let Some(h) = &mut self.health {
            h.cancel();
        }
        // Whatever the process wrote before it died still belongs in the log.
        let mut buf = vec![0u8; 32 * 1024];
        process::drain_output(|stream| self.on_output(stream, &mut buf));
        if let Err(e) = self.log.flush_partial() {
            tracing::error!("log: {e}");
        }
        // With mode=non-blocking, the last lines are in the file before the exit is told.
        self.log.sync();
        self.io = None;
        self.stdin = stdin::StdinQueue::default();
        // Its namespace is gone with it; a restart binds the server in the new one.
        self.dns = None;
        // Anything left in the cgroup (a shared pid namespace) dies with the container.
        crate::cleanup::cleanup(
            "killing what is left in the cgroup",
            self.cgroup.kill_all(Signal::SIGKILL),
        );
        if child.paused {
            crate::cleanup::cleanup("thawing the ended container", self.cgroup.thaw());
        }
        self.on_execs();
        self.watch.stop();
        let exit_code = sys::exit_code_of(status);
        let oom = self.cgroup.oom_kills() > self.oom_base;
        // `docker update` may have changed the policy while the container ran.
        if let Ok(spec) = std::fs::read(self.cpaths.config())
            .map_err(|_| ())
            .and_then(|d| serde_json::from_slice::<ContainerSpec>(&d).map_err(|_| ()))
        {
            self.spec.restart = spec.restart;
        }
        let restart = restart::should_restart(
            &self.spec.restart,
            exit_code,
            self.restart_count,
            self.manual.is_manual(),
        );
        let delay = restart.then(|| {
            let d = restart::next_delay(self.last_delay, child.started.elapsed());
            self.last_delay = Some(d);
            d
        });
        // As dockerd records the exit and logs `die` under the container's lock, both happen
        // under the state lock: an inspect after the event finds the container stopped, and a
        // rename (which takes the lock too) falls wholly before or after them, so that `die`
        // carries the name the container had when it died.
        let manual = self.manual.is_manual();
        let held = state::lock(&self.cpaths).and_then(|held| {
            state::update_held(&self.cpaths, &held, |s| {
                s.status = if restart {
                    Status::Restarting
                } else {
                    Status::Exited
                };
                s.pid = 0;
                s.exit_code = exit_code;
                s.oom_killed = oom;
                s.finished_at = state::now_rfc3339();
                s.manually_stopped = manual;
            })?;
            Ok(held)
        });
        if let Err(e) = &held {
            tracing::error!("recording the exit: {e}");
        }
        if oom {
            self.event("oom", &[]);
        }
        let ran_for = format!("{}", child.started.elapsed().as_secs());
        self.event(
            "die",
            &[
                ("exitCode", exit_code.to_string()),
                ("execDuration", ran_for),
            ],
        );
        drop(held);
        // After the record, so that no reader finds the container running with its process
        // gone while these take their time: the veths would go with the namespace, but the
        // kernel frees a namespace later, from a work queue: the host ends are deleted now
        // (which deletes each pair), so that a stop or removal that has returned leaves none
        // behind (stop waiters are answered below).
        for a in &self.attached {
            if let Err(e) = crate::net::detach(&self.spec.id, &a.network_id) {
                tracing::debug!("deleting {}: {e}", a.host_veth);
            }
        }
        // The end of the output still reaches clients that read slowly, within a bound.
        for c in &mut self.clients {
            c.drain(CLIENT_DRAIN);
        }
        self.clients.clear();
        if let Some(d) = delay {
            self.phase = Phase::Restarting {
                at: Instant::now() + d,
            };
        }
        if !restart {
            for mut w in self.stop_waiters.drain(..) {
                let _ = answer(&mut w, &Response::Ok);
            }
        }
    }
}
