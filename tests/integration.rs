//! The shim against the real kernel, as one test binary: a module per area, each test with its
//! own root, run root, image layer and cgroup parent (`berth_tests::TestEnv`). Needs root and
//! `cargo build --workspace` first. Run one area with
//! `cargo test -p berth-tests --test integration -- <module>::`.

mod beside_dockerd;
mod boundary;
mod dns;
mod ipv6;
mod log_modes;
mod net_kernel;
mod network;
mod runtime;
mod userns;
