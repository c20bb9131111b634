//! The container's end: what the shim releases, and with auto-remove, the container itself.

use super::*;

impl Supervisor {
    /// The container is done: release what it held; with auto-remove, remove it entirely.
    pub(super) fn cleanup(&mut self) {
        // The log writer of mode=non-blocking ends first: it is in the shim's cgroup.
        self.log.close();
        if let Err(e) = self.host_side.release() {
            tracing::warn!("unpublishing ports: {e}");
        }
        for socket in [self.cpaths.control_socket(), self.cpaths.attach_socket()] {
            crate::cleanup::cleanup(
                format!("removing {}", socket.display()),
                std::fs::remove_file(&socket),
            );
        }
        let auto_remove = self.spec.auto_remove && !self.manual.keeps();
        if !auto_remove {
            // (An auto-removed container's run directory goes whole with it, after the
            // rename that its `docker run --rm` waits for.)
            crate::cleanup::cleanup(
                "removing the rootfs mount point",
                std::fs::remove_dir(self.cpaths.rootfs()),
            );
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
                    tracing::warn!("event volume destroy: {e}");
                }
            }
            self.event("destroy", &[]);
            // The addresses go before the files, which a `docker run --rm` waits for: the
            // client may ask for the same address at once.
            if let Err(e) =
                crate::remove::remove_container(&self.root, &self.cpaths, &self.spec.settings)
            {
                tracing::error!("auto-remove: {e}");
            }
        }
        if let Err(e) = self.cgroup.remove() {
            tracing::warn!("removing the cgroup: {e}");
        }
        // Last, the shim's own group, which it must leave first; the next start makes it again.
        let removed = cgroups::ShimGroup::new(&self.cpaths.id).and_then(|g| {
            g.leave(std::process::id())?;
            g.remove()
        });
        if let Err(e) = removed {
            tracing::warn!("removing its own cgroup: {e}");
        }
    }
}
