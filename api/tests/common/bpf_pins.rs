//! The eBPF monitor's pins of one test process: a bpffs directory of its own
//! (`/sys/fs/bpf/berth-test-<pid>`), given as `BERTH_BPF_DIR` to every server, CLI run and shim
//! the process starts, so that tests of other checkouts running at the same time never replace
//! its pins (nor it theirs). The directory goes when the last harness using it is dropped.

use std::path::PathBuf;
use std::sync::Mutex;

/// Live harnesses of this process that use the directory.
static USERS: Mutex<usize> = Mutex::new(0);

/// This process's pin directory.
pub fn dir() -> PathBuf {
    PathBuf::from(format!("/sys/fs/bpf/berth-test-{}", std::process::id()))
}

/// Held by a harness for as long as what it started may use the pins.
pub struct Pins(());

impl Pins {
    pub fn take() -> Pins {
        let mut users = USERS.lock().unwrap_or_else(|e| e.into_inner());
        if *users == 0 {
            // Set under the lock, before this harness starts anything: children inherit it.
            std::env::set_var("BERTH_BPF_DIR", dir());
        }
        *users += 1;
        Pins(())
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let mut users = USERS.lock().unwrap_or_else(|e| e.into_inner());
        *users -= 1;
        if *users == 0 {
            let _ = std::fs::remove_dir_all(dir());
        }
    }
}

/// A pin directory of one test's own (`<dir()>-<name>`), for a test that looks at what the
/// monitor attaches for a whole directory (the all-syscalls hooks) while the process's other
/// tests use the shared one. Unpinned and removed on drop: drop it after the harness using it.
pub struct Own(PathBuf);

impl Own {
    pub fn new(name: &str) -> Own {
        Own(PathBuf::from(format!("{}-{name}", dir().display())))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
