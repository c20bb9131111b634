//! berth-shim: one detached process per container. It creates the container (namespaces, cgroups,
//! root filesystem, security) and owns it until it is gone: stdio, logs, exit status, restart
//! policy.
//!
//! Its public surface is the contract with the engine (`api/src/engine`), in three groups:
//! - records, on disk, read and written by both sides: [`spec`], [`state`], [`paths`],
//!   [`events`], the log reader [`logs`], and the crash-safe write and lock discipline every
//!   record follows, [`fsutil`];
//! - the client: [`spawn`] starts a shim, [`control`] and [`exec`] talk to a live one;
//! - [`host`]: the few runtime steps the engine runs itself, each one deliberate function.
//!
//! The modules after those are the engine's remaining ways into the runtime (networks, cgroups,
//! the syscall monitor, removal, validation at create); see `docs/` and each module. Everything
//! else is the runtime's own (`pub(crate)`).
#![deny(unsafe_code)]

// Records.
pub mod events;
pub mod fsutil;
pub mod logs;
pub mod paths;
pub mod settings;
pub mod spec;
pub mod state;

// Client.
pub mod control;
pub mod exec;
pub mod spawn;

// berth's one structured log (tracing), which the API and the CLI set up too.
pub mod log;

// Shared by both sides: failed clean-ups logged, random ids.
pub mod cleanup;
pub mod ids;

/// Runtime steps the engine runs itself, outside any shim.
pub mod host {
    /// The mount holding a path, from /proc/self/mountinfo (a bind's propagation check).
    pub use crate::mountinfo::current_mount_of;
    /// The mount holding a path in a mountinfo text.
    pub use crate::mountinfo::mount_of;
    /// A stopped container's root, mounted for `docker cp` in the caller's own namespace.
    pub use crate::rootfs::mount_stopped_root;
    /// A process's start time, which with its pid names it (a pid alone may be reused).
    pub use crate::sys::process_start_time;
}

// The runtime the engine still drives directly: network setup and teardown (`net`), cgroup
// stats and updates (`cgroups`), the syscall monitor's pins and policy (`monitor`), removal
// and orphans (`remove`, `orphans`), /dev/shm sharing (`shm`), and the parsers the engine
// validates a create with (`signals`, `security`, `devices`).
pub mod cgroups;
pub mod devices;
pub mod monitor;
pub mod net;
pub mod orphans;
pub mod remove;
pub mod security;
pub mod shm;
pub mod signals;

/// The binary's main (`berth-shim`).
pub mod entry;

// The runtime's own.
mod acl;
mod bind_flags;
mod health;
mod init;
mod mount_target;
mod mountinfo;
mod namespaces;
mod process;
mod restart;
mod rootfs;
mod stdio;
mod supervise;
#[allow(unsafe_code)]
mod sys;
mod userns_holder;

pub use paths::{ContainerPaths, Paths};
pub use settings::Settings;
pub use spec::ContainerSpec;
pub use state::{State, Status};
