//! berth's API-level integration tests as one binary: a module per area, against a real
//! `berth serve` (the harness `common`) or the real command line (`cli_support`). Needs root and
//! `cargo build --workspace` first, so that `berth-shim` sits next to `berth`. Run one area with
//! `cargo test -p berth --test api -- <module>::`.

mod attach_ws;
mod cli_support;
mod common;

mod absent_features;
mod archive;
mod archive_paths;
mod behaviour17;
mod bind_mounts;
mod boundary;
mod bounded;
mod build;
mod build_cli;
mod build_errors;
mod build_support;
mod cli;
mod cli_networks;
mod cli_output;
mod cli_volumes;
mod commit_export;
mod containers_api;
mod create_fields;
mod detach;
mod devices;
mod donor_identity;
mod events;
mod exec17;
mod filters17;
mod fresh_host;
mod hijack;
mod hostile_images;
mod hostile_trees;
mod images;
mod images17;
mod images_prune;
mod images_save;
mod leaked_fds;
mod links;
mod load_limits;
mod logging;
mod login;
mod logopts;
mod monitor_events;
mod netsettings;
mod networks;
mod openapi;
mod ops;
mod orphans;
mod packaging;
mod policy;
mod ports;
mod prune17;
mod registry;
mod seccomp_profile;
mod server;
mod sharing;
mod shim_cgroup;
mod state_modes;
mod stop_waits;
mod syscalls;
mod userns;
mod volumes;
