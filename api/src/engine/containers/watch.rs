//! Waking a waiter when a container's files change, instead of polling them: its shim renames a
//! new `state.json` into the container's directory at every change of status, and a removal
//! renames the directory away (then deletes it). `docker run` waits for exactly these.

use super::Engine;
use crate::engine::ids::ContainerId;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::AsFd;
use std::time::Duration;

/// An inotify watch on one container's directory. A change is only a hint: the waiter reads
/// the state again (and still polls now and then, for what leaves no trace there, such as a
/// killed shim).
pub struct ContainerWatch {
    inotify: Inotify,
}

impl ContainerWatch {
    /// Block until something changed in the directory or `timeout` passed; true on a change.
    /// The changes seen are forgotten.
    pub fn wait(&self, timeout: Duration) -> bool {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        let changed = poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) > 0;
        self.drain();
        changed
    }

    /// Forget the changes seen so far.
    fn drain(&self) {
        while matches!(self.inotify.read_events(), Ok(events) if !events.is_empty()) {}
    }
}

impl Engine {
    /// Watch container `id`'s directory for a written state and for its removal. None when
    /// it cannot be watched (gone already, or out of inotify watches): the caller polls.
    pub fn watch_container(&self, id: &ContainerId) -> Option<ContainerWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        inotify
            .add_watch(
                &self.container_paths(id).dir,
                AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_ONLYDIR,
            )
            .ok()?;
        Some(ContainerWatch { inotify })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(w: &ContainerWatch) -> bool {
        w.wait(Duration::ZERO)
    }

    #[test]
    fn a_renamed_state_and_a_removal_wake_the_watch() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::new(berth_shim::Paths::new(
            tmp.path().join("root"),
            tmp.path().join("run"),
        ));
        let id = ContainerId::parse(&"a".repeat(64)).unwrap();
        let dir = engine.container_paths(&id).dir;
        std::fs::create_dir_all(&dir).unwrap();
        let w = engine
            .watch_container(&id)
            .expect("a watch on an existing directory");
        assert!(
            !changed(&w),
            "nothing changed yet, but the watch saw a change"
        );
        std::fs::write(dir.join(".state.json.tmp"), b"{}").unwrap();
        std::fs::rename(dir.join(".state.json.tmp"), dir.join("state.json")).unwrap();
        assert!(
            changed(&w),
            "a state.json renamed in did not wake the watch"
        );
        assert!(!changed(&w), "a change was seen twice");
        let aside = dir.with_file_name(format!(".removing-{id}"));
        std::fs::rename(&dir, &aside).unwrap();
        assert!(
            changed(&w),
            "renaming the directory away did not wake the watch"
        );
        assert!(
            engine
                .watch_container(&ContainerId::parse(&"b".repeat(64)).unwrap())
                .is_none(),
            "a watch on a missing container"
        );
    }
}
