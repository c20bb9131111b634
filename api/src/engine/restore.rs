//! After a reboot: what dockerd does when it comes up, done by the first berth process of the
//! boot (an API request, a CLI run, `berth serve`'s start, or `berth restore` from a boot unit).
//!
//! The boot id (`/proc/sys/kernel/random/boot_id`, or the file the engine settings name) is
//! recorded in the root (`<root>/boot-id`) and in the run root (`<run_root>/boot-id`), both
//! written atomically. A run root whose mark is missing (emptied, as by a reboot) or names
//! another boot means the containers' shims are gone: under `<root>/restore.lock`, so that
//! exactly one process does it, every container whose shim is gone is recorded as exited (255,
//! as dockerd finds containers whose task is gone), and those whose restart policy says so are
//! started again, as dockerd's `restore()` starts them: `always`, `unless-stopped` unless
//! stopped by hand, `on-failure` after a non-zero exit with retries left; only containers that
//! were started before. Their shims record the `start` events. Then the marks are written.

use super::ids::ContainerId;
use super::{Engine, EngineError, Result};
use berth_shim::fsutil::{self, FileLock};
use berth_shim::state::{self, Status, LOST_EXIT_CODE, ZERO_TIME};
use std::path::{Path, PathBuf};

/// Where the kernel tells this boot's id.
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";
/// The boot id's name in the root and in the run root.
const MARK: &str = "boot-id";
const LOCK: &str = "restore.lock";

/// What a restore did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The boot restored for.
    pub boot_id: String,
    /// The boot the root recorded before (None: none recorded).
    pub previous: Option<String>,
    /// False when another process had restored this boot already: nothing was done.
    pub ran: bool,
    /// Containers found with their shim gone, now recorded as exited (id, name).
    pub exited: Vec<(ContainerId, String)>,
    /// Containers started again by their restart policy (id, name).
    pub started: Vec<(ContainerId, String)>,
    /// Containers whose start failed (id, name, why).
    pub failed: Vec<(ContainerId, String, String)>,
}

impl Engine {
    fn boot_id_file(&self) -> PathBuf {
        self.settings
            .boot_id_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(BOOT_ID_FILE))
    }

    /// This boot's id.
    pub fn boot_id(&self) -> Result<String> {
        let path = self.boot_id_file();
        match read_mark(&path)? {
            Some(id) => Ok(id),
            None => Err(EngineError::system_message(format!(
                "{} is empty",
                path.display()
            ))),
        }
    }

    /// Whether this boot still has to be restored: the run root's mark is missing or names
    /// another boot. Two small reads; every request and CLI run asks.
    pub fn restore_pending(&self) -> Result<bool> {
        let mark = read_mark(&self.paths.run_root.join(MARK))?;
        Ok(mark.as_deref() != Some(self.boot_id()?.as_str()))
    }

    /// Restore this boot unless it is done: the check, then [`Engine::restore`].
    pub fn restore_if_pending(&self) -> Result<Option<RestoreReport>> {
        if !self.restore_pending()? {
            return Ok(None);
        }
        self.restore().map(Some)
    }

    /// `berth restore`: restore this boot once; a second call (or one that waited for another
    /// process's restore) does nothing and says so (`ran` false).
    pub fn restore(&self) -> Result<RestoreReport> {
        let boot_id = self.boot_id()?;
        let root = &self.paths.root;
        std::fs::create_dir_all(root).map_err(|e| EngineError::system(root.display(), e))?;
        let lock_path = root.join(LOCK);
        let _lock = FileLock::acquire(&lock_path)
            .map_err(|e| EngineError::system(lock_path.display(), e))?;
        let previous = read_mark(&root.join(MARK))?;
        let mut report = RestoreReport {
            boot_id: boot_id.clone(),
            previous: previous.clone(),
            ..Default::default()
        };
        if !self.restore_pending()? {
            return Ok(report);
        }
        report.ran = true;
        self.secure_roots()?;
        let mut ids = self.container_ids();
        // Oldest first: a container that joins another's namespaces or links to it comes after.
        ids.sort_by_cached_key(|id| self.record(id).map(|r| r.created).unwrap_or_default());
        let mut to_start = Vec::new();
        for id in ids {
            let name = match self.record(&id) {
                Ok(r) => r.name.trim_start_matches('/').to_string(),
                Err(_) => continue, // being created or removed
            };
            match self.record_lost_exit(&id) {
                Ok(true) => report.exited.push((id.clone(), name.clone())),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("recording the exit of {id} after a reboot: {e}");
                    continue;
                }
            }
            if self.restarts_at_boot(&id)? {
                to_start.push((id, name));
            }
        }
        for (id, name) in to_start {
            match self.start(&id) {
                Ok(()) => report.started.push((id, name)),
                // Started meanwhile by someone else: what was wanted.
                Err(e) if e.is(super::ErrorKind::NotModified) => {}
                Err(e) => {
                    tracing::warn!("starting {name} ({id}) after a reboot: {e}");
                    report.failed.push((id, name, e.message().to_string()));
                }
            }
        }
        write_mark(&root.join(MARK), &boot_id)?;
        write_mark(&self.paths.run_root.join(MARK), &boot_id)?;
        let did_something =
            !(report.exited.is_empty() && report.started.is_empty() && report.failed.is_empty());
        if did_something {
            tracing::info!(
                exited = report.exited.len(),
                started = report.started.len(),
                failed = report.failed.len(),
                "restored boot {boot_id}"
            );
        }
        Ok(report)
    }

    /// A container recorded live whose shim is gone is recorded exited, as it reads: 255 unless
    /// an exit code was recorded, finished now. True when it was so.
    fn record_lost_exit(&self, id: &ContainerId) -> Result<bool> {
        let paths = self.container_paths(id);
        if state::shim_alive(&paths) {
            return Ok(false);
        }
        let held = state::lock(&paths)?;
        let raw = state::read_raw(&paths)?;
        if !raw.status.is_live() || state::shim_alive(&paths) {
            return Ok(false);
        }
        state::update_held(&paths, &held, |s| {
            s.status = Status::Exited;
            s.pid = 0;
            s.shim_pid = 0;
            if s.exit_code == 0 {
                s.exit_code = LOST_EXIT_CODE;
            }
            if s.finished_at == ZERO_TIME {
                s.finished_at = state::now_rfc3339();
            }
        })?;
        Ok(true)
    }

    /// Whether dockerd would start the container when it comes up (`ShouldRestart` and
    /// `HasBeenStartedBefore`): `always` even when stopped by hand, `unless-stopped` unless
    /// stopped by hand, `on-failure` after a non-zero exit with retries left.
    fn restarts_at_boot(&self, id: &ContainerId) -> Result<bool> {
        let paths = self.container_paths(id);
        if state::shim_alive(&paths) {
            return Ok(false);
        }
        let st = self.state(id)?;
        let policy = self.record(id)?.host_config.restart_policy;
        Ok(restarts_at_boot(
            &policy.name,
            policy.maximum_retry_count,
            &st,
        ))
    }
}

/// dockerd's choice at its start for a container that is not running.
fn restarts_at_boot(policy: &str, max_retries: i64, st: &state::State) -> bool {
    if st.status.is_live() || st.started_at == ZERO_TIME {
        return false;
    }
    match policy {
        "always" => true,
        "unless-stopped" => !st.manually_stopped,
        "on-failure" => {
            st.exit_code != 0 && (max_retries <= 0 || i64::from(st.restart_count) < max_retries)
        }
        _ => false,
    }
}

/// A mark's content without surrounding whitespace; None when missing or empty.
fn read_mark(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::system(path.display(), e)),
    }
}

fn write_mark(path: &Path, boot_id: &str) -> Result<()> {
    fsutil::write_atomic(path, format!("{boot_id}\n").as_bytes())
        .map_err(|e| EngineError::system(path.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32, manual: bool, restarts: u32) -> state::State {
        state::State {
            status: Status::Exited,
            exit_code: code,
            manually_stopped: manual,
            restart_count: restarts,
            started_at: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_policies_at_boot_are_dockerds() {
        for (policy, max, st, want) in [
            ("always", 0, exited(0, true, 0), true),
            ("unless-stopped", 0, exited(255, false, 0), true),
            ("unless-stopped", 0, exited(137, true, 0), false),
            ("on-failure", 0, exited(255, false, 0), true),
            ("on-failure", 0, exited(0, false, 0), false),
            ("on-failure", 2, exited(1, false, 2), false),
            ("on-failure", 2, exited(1, false, 1), true),
            ("no", 0, exited(255, false, 0), false),
            ("", 0, exited(255, false, 0), false),
            // Never started: left created.
            ("always", 0, state::State::default(), false),
        ] {
            assert_eq!(
                restarts_at_boot(policy, max, &st),
                want,
                "policy {policy:?} (max {max}) after exit {} (stopped by hand: {}, restarts {}): expected {want}",
                st.exit_code,
                st.manually_stopped,
                st.restart_count
            );
        }
    }

    #[test]
    fn a_restore_runs_once_per_boot() {
        let tmp = tempfile::tempdir().unwrap();
        let boot = tmp.path().join("boot_id");
        std::fs::write(&boot, "one\n").unwrap();
        let settings = crate::config::EngineSettings {
            boot_id_file: Some(boot.clone()),
            ..Default::default()
        };
        let e = Engine::at_with(tmp.path().join("root"), tmp.path().join("run"), settings);
        assert!(e.restore_pending().unwrap(), "a fresh root is pending");
        let first = e.restore().unwrap();
        assert!(first.ran && first.previous.is_none(), "first: {first:?}");
        let again = e.restore_if_pending().unwrap();
        assert_eq!(again, None, "expected nothing pending after the restore");
        assert!(!e.restore().unwrap().ran, "a second restore ran");
        // A reboot: another boot id, or the run root emptied.
        std::fs::write(&boot, "two\n").unwrap();
        let second = e
            .restore_if_pending()
            .unwrap()
            .expect("pending after a reboot");
        assert_eq!(second.previous.as_deref(), Some("one"), "{second:?}");
        std::fs::remove_dir_all(tmp.path().join("run")).unwrap();
        assert!(
            e.restore_pending().unwrap(),
            "an emptied run root is pending"
        );
        let third = e.restore().unwrap();
        assert!(third.ran, "{third:?}");
        let recorded = std::fs::read_to_string(tmp.path().join("root").join(MARK)).unwrap();
        assert_eq!(recorded, "two\n", "the root's record");
    }
}
