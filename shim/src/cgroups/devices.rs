//! The device controller: a container's [`Policy`] written to v1's devices.deny and
//! devices.allow, or, where no v1 devices hierarchy is mounted, a cgroup device program
//! (monitor/bpf/devices.bpf.c) attached to the group's v2 directory. The kernel consults
//! both where both exist, so the v2 program works on a hybrid machine too.

use super::{write_file, CgroupError, Result};
use crate::devices::{DeviceKind, DeviceRule, Policy};
use berth_monitor::abi::{DevRule, DEV_ANY, DEV_BLOCK, DEV_CHAR};
use berth_monitor::devices::DeviceFilter;
use std::os::fd::AsFd;
use std::path::Path;

/// v1: deny everything, then allow each rule; or allow everything.
pub(super) fn set_v1(dir: &Path, policy: &Policy) -> Result<()> {
    match policy {
        Policy::AllowAll => write_file(&dir.join("devices.allow"), "a"),
        Policy::AllowOnly(rules) => {
            write_file(&dir.join("devices.deny"), "a")?;
            for rule in rules {
                write_file(&dir.join("devices.allow"), &rule.v1_line())?;
            }
            Ok(())
        }
    }
}

/// v2: load a filter with the rules and attach it to `dir` with no flags, so that nothing can
/// be attached below it (a container cannot add a filter of its own) and a later attach here
/// replaces it. Allowing everything attaches nothing.
pub fn attach_filter(dir: &Path, policy: &Policy) -> Result<()> {
    let Policy::AllowOnly(rules) = policy else {
        return Ok(());
    };
    let filter_error = |source| CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        source,
    };
    // 1. Load a copy of the program with the rules baked in.
    let bpf: Vec<DevRule> = rules.iter().filter_map(bpf_rule).collect();
    let filter = DeviceFilter::load(&bpf).map_err(filter_error)?;
    // 2. Open the cgroup directory.
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    // 3. Attach: from here the cgroup holds the program; the loaded copy can go.
    let prog = filter.program_fd().map_err(filter_error)?;
    crate::sys::bpf_prog_attach(cgroup.as_fd(), prog, crate::sys::BPF_CGROUP_DEVICE).map_err(
        |source| CgroupError::DeviceAttach {
            path: dir.to_path_buf(),
            source,
        },
    )
}

/// A rule as the filter holds it; `a` rules never reach here (they make [`Policy::AllowAll`]).
fn bpf_rule(rule: &DeviceRule) -> Option<DevRule> {
    let kind = match rule.kind {
        DeviceKind::Block => DEV_BLOCK,
        DeviceKind::Char => DEV_CHAR,
        DeviceKind::All => return None,
    };
    Some(DevRule {
        kind,
        major: rule.major.unwrap_or(DEV_ANY),
        minor: rule.minor.unwrap_or(DEV_ANY),
        access: rule.access.bpf_bits(),
    })
}
