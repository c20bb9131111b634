//! The device filter (`bpf/devices.bpf.c`): a cgroup device program with one container's
//! allow rules baked into its read-only globals, so that each container's copy needs no map
//! and no lookup. This module loads a copy; attaching it is the caller's (the shim attaches it
//! to the container's cgroup v2 directory so that it stays there with the cgroup, with no
//! descriptor or pin left to hold).

use crate::abi::{DevRule, DEV_RULES_MAX};
use aya::programs::CgroupDevice;
use aya::{include_bytes_aligned, Ebpf, EbpfLoader};
use std::os::fd::{AsFd, BorrowedFd};

static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/devices.bpf.o"));
const PROGRAM: &str = "berth_devices";

#[derive(Debug, thiserror::Error)]
pub enum DeviceFilterError {
    #[error("{count} device rules are more than the device filter holds ({DEV_RULES_MAX})")]
    TooManyRules { count: usize },
    #[error("loading the device filter: {0}")]
    Load(String),
}

pub type Result<T> = std::result::Result<T, DeviceFilterError>;

/// A loaded copy of the filter. Dropping it closes the program's descriptor: a program the
/// caller attached stays, held by the cgroup.
pub struct DeviceFilter {
    ebpf: Ebpf,
}

impl DeviceFilter {
    /// Loads a copy that allows what `rules` allow and refuses everything else.
    pub fn load(rules: &[DevRule]) -> Result<DeviceFilter> {
        if rules.len() > DEV_RULES_MAX {
            return Err(DeviceFilterError::TooManyRules { count: rules.len() });
        }
        let mut table = [DevRule::default(); DEV_RULES_MAX];
        table[..rules.len()].copy_from_slice(rules);
        let count = rules.len() as u32;
        let mut ebpf = EbpfLoader::new()
            .override_global("berth_dev_nrules", &count, true)
            .override_global("berth_dev_rules", &table[..], true)
            .load(OBJECT)
            .map_err(|e| DeviceFilterError::Load(e.to_string()))?;
        let program: &mut CgroupDevice = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| DeviceFilterError::Load(format!("no program {PROGRAM}")))?
            .try_into()
            .map_err(|e| DeviceFilterError::Load(format!("{PROGRAM}: {e}")))?;
        program
            .load()
            .map_err(|e| DeviceFilterError::Load(format!("{PROGRAM}: {e:?}")))?;
        Ok(DeviceFilter { ebpf })
    }

    /// The loaded program's descriptor, for BPF_PROG_ATTACH.
    pub fn program_fd(&self) -> Result<BorrowedFd<'_>> {
        let program: &CgroupDevice = self
            .ebpf
            .program(PROGRAM)
            .ok_or_else(|| DeviceFilterError::Load(format!("no program {PROGRAM}")))?
            .try_into()
            .map_err(|e| DeviceFilterError::Load(format!("{PROGRAM}: {e}")))?;
        let fd = program
            .fd()
            .map_err(|e| DeviceFilterError::Load(format!("{PROGRAM}: {e}")))?;
        Ok(fd.as_fd())
    }
}
