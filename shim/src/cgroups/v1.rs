//! cgroup v1: one hierarchy per controller. `dirs` maps a controller name to the container's
//! directory in that controller's hierarchy; controllers that are not mounted are absent.

use super::{
    device_numbers, parse_flat_keyed, read_file, read_opt, read_u64, wait_until, write_file,
    BlkioEntry, CgroupError, Result, Stats, FREEZE_TIMEOUT,
};
use crate::spec::{Resources, ThrottleDevice};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// v1 reports "no limit" as a huge page-aligned number; anything at or above this is unlimited.
const UNLIMITED: u64 = 1 << 62;

/// mkdir -p in every mounted controller, then give new cpuset groups their parent's cpus and
/// mems (a v1 cpuset starts empty and refuses tasks until both are set).
pub(super) fn create(roots: &BTreeMap<String, PathBuf>, rel: &Path) -> Result<()> {
    for root in roots.values() {
        let dir = root.join(rel);
        fs::create_dir_all(&dir).map_err(|source| CgroupError::Create { path: dir, source })?;
    }
    match roots.get("cpuset") {
        Some(root) => inherit_cpuset(root, rel),
        None => Ok(()),
    }
}

/// Give each level of `rel` under the cpuset hierarchy at `root` that has no cpus or mems its
/// parent's.
pub(super) fn inherit_cpuset(root: &Path, rel: &Path) -> Result<()> {
    let mut parent = root.to_path_buf();
    for part in rel.components() {
        let dir = parent.join(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if read_file(&dir.join(file))?.trim().is_empty() {
                let inherited = read_file(&parent.join(file))?;
                write_file(&dir.join(file), inherited.trim())?;
            }
        }
        parent = dir;
    }
    Ok(())
}

pub(super) fn apply(dirs: &BTreeMap<String, PathBuf>, r: &Resources) -> Result<()> {
    let dir = |controller: &'static str| {
        dirs.get(controller)
            .ok_or(CgroupError::NoHierarchy { what: controller })
    };
    if r.memory != 0 || r.memory_swap != 0 || r.memory_reservation != 0 || r.oom_kill_disable {
        apply_memory(dir("memory")?, r)?;
    }
    if let Some(swappiness) = r.memory_swappiness {
        write_file(
            &dir("memory")?.join("memory.swappiness"),
            &swappiness.to_string(),
        )?;
    }
    if r.cpu_shares != 0 || r.cpu_quota != 0 || r.cpu_period != 0 {
        apply_cpu(dir("cpu")?, r)?;
    }
    if !r.cpuset_cpus.is_empty() {
        write_file(&dir("cpuset")?.join("cpuset.cpus"), &r.cpuset_cpus)?;
    }
    if !r.cpuset_mems.is_empty() {
        write_file(&dir("cpuset")?.join("cpuset.mems"), &r.cpuset_mems)?;
    }
    if r.pids_limit != 0 {
        let value = if r.pids_limit < 0 {
            "max".to_string()
        } else {
            r.pids_limit.to_string()
        };
        write_file(&dir("pids")?.join("pids.max"), &value)?;
    }
    let throttles: [(&str, &[ThrottleDevice]); 4] = [
        ("blkio.throttle.read_bps_device", &r.blkio_device_read_bps),
        ("blkio.throttle.write_bps_device", &r.blkio_device_write_bps),
        ("blkio.throttle.read_iops_device", &r.blkio_device_read_iops),
        (
            "blkio.throttle.write_iops_device",
            &r.blkio_device_write_iops,
        ),
    ];
    let weighted = r.blkio_weight != 0 || !r.blkio_weight_device.is_empty();
    if weighted || throttles.iter().any(|(_, list)| !list.is_empty()) {
        let blkio = dir("blkio")?;
        if r.blkio_weight != 0 {
            apply_blkio_weight(blkio, r.blkio_weight)?;
        }
        if !r.blkio_weight_device.is_empty() {
            let file = weight_device_file(blkio).ok_or(CgroupError::Unsupported {
                setting: "blkio weight_device",
                reason: "neither blkio.weight_device nor blkio.bfq.weight_device exists (no CFQ or BFQ scheduler)",
            })?;
            for dev in &r.blkio_weight_device {
                let (major, minor) = device_numbers(&dev.path)?;
                write_file(&file, &format!("{major}:{minor} {}", dev.weight))?;
            }
        }
        for (file, list) in throttles {
            for dev in list {
                let (major, minor) = device_numbers(&dev.path)?;
                write_file(&blkio.join(file), &format!("{major}:{minor} {}", dev.rate))?;
            }
        }
    }
    Ok(())
}

/// The memory limits. memory.memsw.limit_in_bytes (memory plus swap) may never be below
/// memory.limit_in_bytes, so the order of the two writes depends on the direction of change.
fn apply_memory(dir: &Path, r: &Resources) -> Result<()> {
    let limit_file = dir.join("memory.limit_in_bytes");
    let memsw_file = dir.join("memory.memsw.limit_in_bytes");
    // Without swap accounting the memsw file is absent and the swap setting cannot apply.
    let swap = if r.memory_swap != 0 && memsw_file.exists() {
        Some(r.memory_swap)
    } else {
        None
    };
    match (r.memory, swap) {
        (0, None) => {}
        (0, Some(swap)) => write_file(&memsw_file, &swap.to_string())?,
        (memory, None) => write_file(&limit_file, &memory.to_string())?,
        (memory, Some(swap)) => {
            let current_memsw = read_u64(&memsw_file)?;
            let memory_fits_now = memory > 0 && (memory as u64) <= current_memsw;
            if memory_fits_now {
                write_file(&limit_file, &memory.to_string())?;
                write_file(&memsw_file, &swap.to_string())?;
            } else {
                write_file(&memsw_file, &swap.to_string())?;
                write_file(&limit_file, &memory.to_string())?;
            }
        }
    }
    if r.memory_reservation != 0 {
        write_file(
            &dir.join("memory.soft_limit_in_bytes"),
            &r.memory_reservation.to_string(),
        )?;
    }
    if r.oom_kill_disable {
        write_file(&dir.join("memory.oom_control"), "1")?;
    }
    Ok(())
}

fn apply_cpu(dir: &Path, r: &Resources) -> Result<()> {
    if r.cpu_shares != 0 {
        write_file(&dir.join("cpu.shares"), &r.cpu_shares.to_string())?;
    }
    let period_file = dir.join("cpu.cfs_period_us");
    let quota_file = dir.join("cpu.cfs_quota_us");
    if r.cpu_period != 0 {
        // A new period can be refused while the old quota is in force (the group would ask
        // for more than its parent allows): then set the quota first and try again.
        if let Err(first) = write_file(&period_file, &r.cpu_period.to_string()) {
            if r.cpu_quota == 0 {
                return Err(first);
            }
            write_file(&quota_file, &r.cpu_quota.to_string())?;
            write_file(&period_file, &r.cpu_period.to_string())?;
        }
    }
    if r.cpu_quota != 0 {
        write_file(&quota_file, &r.cpu_quota.to_string())?;
    }
    Ok(())
}

/// blkio.weight with CFQ, blkio.bfq.weight with BFQ; with neither a weight cannot be had.
fn apply_blkio_weight(dir: &Path, weight: u16) -> Result<()> {
    for file in ["blkio.weight", "blkio.bfq.weight"] {
        let path = dir.join(file);
        if path.exists() {
            return write_file(&path, &weight.to_string());
        }
    }
    Err(CgroupError::Unsupported {
        setting: "blkio weight",
        reason: "neither blkio.weight nor blkio.bfq.weight exists (no CFQ or BFQ scheduler)",
    })
}

/// The file per-device weights go to in the blkio group `dir`: CFQ's, else BFQ's; None when the
/// kernel has neither scheduler's (dockerd then refuses the setting).
pub(super) fn weight_device_file(dir: &Path) -> Option<PathBuf> {
    ["blkio.weight_device", "blkio.bfq.weight_device"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
}

/// FROZEN or THAWED, then wait until freezer.state says so.
pub(super) fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let state = if frozen { "FROZEN" } else { "THAWED" };
    let file = dir.join("freezer.state");
    write_file(&file, state)?;
    let reached = wait_until(FREEZE_TIMEOUT, || {
        fs::read_to_string(&file).is_ok_and(|s| s.trim() == state)
    });
    if reached {
        return Ok(());
    }
    if frozen {
        // Do not leave the group half frozen.
        crate::cleanup::cleanup(
            "thawing after a freeze that timed out",
            write_file(&file, "THAWED"),
        );
    }
    Err(CgroupError::FreezeTimeout {
        path: file,
        state,
        timeout: FREEZE_TIMEOUT,
    })
}

pub(super) fn is_frozen(dir: &Path) -> bool {
    fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
}

pub(super) fn oom_kills(dir: &Path) -> u64 {
    fs::read_to_string(dir.join("memory.oom_control"))
        .ok()
        .and_then(|text| parse_flat_keyed(&text).get("oom_kill").copied())
        .unwrap_or(0)
}

/// A memory limit as reported: None when it is v1's "unlimited".
fn limit(value: u64) -> Option<u64> {
    (value < UNLIMITED).then_some(value)
}

pub(super) fn stats(dirs: &BTreeMap<String, PathBuf>) -> Result<Stats> {
    let mut stats = Stats::default();
    if let Some(dir) = dirs.get("cpuacct") {
        let cpu = &mut stats.cpu;
        cpu.usage_total_ns = read_u64(&dir.join("cpuacct.usage"))?;
        if let Some(text) = read_opt(&dir.join("cpuacct.usage_percpu"))? {
            cpu.per_cpu_ns = text
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
        }
        cpu.usage_user_ns = read_u64(&dir.join("cpuacct.usage_user"))?;
        cpu.usage_system_ns = read_u64(&dir.join("cpuacct.usage_sys"))?;
    }
    if let Some(dir) = dirs.get("cpu") {
        if let Some(text) = read_opt(&dir.join("cpu.stat"))? {
            let stat = parse_flat_keyed(&text);
            let t = &mut stats.cpu.throttling;
            t.periods = stat.get("nr_periods").copied().unwrap_or(0);
            t.throttled_periods = stat.get("nr_throttled").copied().unwrap_or(0);
            t.throttled_time_ns = stat.get("throttled_time").copied().unwrap_or(0);
        }
    }
    if let Some(dir) = dirs.get("memory") {
        let mem = &mut stats.memory;
        mem.usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
        mem.max_usage = read_u64(&dir.join("memory.max_usage_in_bytes"))?;
        mem.limit = limit(read_u64(&dir.join("memory.limit_in_bytes"))?);
        mem.failcnt = read_u64(&dir.join("memory.failcnt"))?;
        let memsw = read_u64(&dir.join("memory.memsw.usage_in_bytes"))?;
        mem.swap_usage = memsw.saturating_sub(mem.usage);
        mem.oom_kills = oom_kills(dir);
        if let Some(text) = read_opt(&dir.join("memory.stat"))? {
            mem.stat = parse_flat_keyed(&text);
        }
        mem.cache = mem
            .stat
            .get("total_cache")
            .or_else(|| mem.stat.get("cache"))
            .copied()
            .unwrap_or(0);
    }
    if let Some(dir) = dirs.get("pids") {
        stats.pids.current = read_u64(&dir.join("pids.current"))?;
        stats.pids.limit = super::read_u64_or_max(&dir.join("pids.max"))?;
    }
    if let Some(dir) = dirs.get("blkio") {
        let blkio = &mut stats.blkio;
        blkio.io_service_bytes_recursive = read_blkio(dir, "blkio.throttle.io_service_bytes")?;
        blkio.io_serviced_recursive = read_blkio(dir, "blkio.throttle.io_serviced")?;
    }
    Ok(stats)
}

/// `<name>_recursive` when the kernel has it, else `<name>`.
fn read_blkio(dir: &Path, name: &str) -> Result<Vec<BlkioEntry>> {
    let text = match read_opt(&dir.join(format!("{name}_recursive")))? {
        Some(text) => text,
        None => read_opt(&dir.join(name))?.unwrap_or_default(),
    };
    Ok(parse_blkio(&text))
}

/// Lines such as "254:0 Read 4096"; the closing "Total 4096" line has no device and is skipped.
pub(super) fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            let op = fields.next()?;
            let value = fields.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn blkio_lines_parse() {
        let text =
            "254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 0\n254:0 Total 12288\nTotal 12288\n";
        let entries = parse_blkio(text);
        assert_eq!(
            entries.len(),
            4,
            "the device-less Total line is skipped: {entries:?}"
        );
        assert_eq!(
            entries[1],
            BlkioEntry {
                major: 254,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
    }

    #[test]
    fn unlimited_memory_is_none() {
        assert_eq!(limit(9_223_372_036_854_771_712), None);
        assert_eq!(limit(64 << 20), Some(64 << 20));
    }
}
