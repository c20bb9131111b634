//! berth-shim: one detached process per container. It creates the container (namespaces, cgroups,
//! root filesystem, security) and owns it until it is gone: stdio, logs, exit status, restart
//! policy. Callers (the API process, the CLI) use [`spawn`] to start a shim and [`control`] to
//! talk to a live one; everything else they need is on disk ([`state`], [`paths`]).
#![deny(unsafe_code)]

pub mod acl;
pub mod bind_flags;
pub mod cgroups;
pub mod cleanup;
pub mod control;
pub mod devices;
pub mod entry;
pub mod events;
pub mod exec;
pub mod fsutil;
pub mod health;
pub mod ids;
mod init;
pub mod logs;
pub mod monitor;
pub mod mount_target;
pub mod mountinfo;
pub mod namespaces;
pub mod net;
pub mod orphans;
pub mod paths;
pub mod remove;
pub mod restart;
mod rootfs;
pub mod security;
pub mod shm;
pub mod signals;
pub mod spawn;
pub mod spec;
pub mod state;
pub mod stdio;
mod supervise;
#[allow(unsafe_code)]
pub mod sys;

pub use paths::{ContainerPaths, Paths};
pub use rootfs::clear_volatile_marker;
pub use spec::ContainerSpec;
pub use state::{State, Status};
