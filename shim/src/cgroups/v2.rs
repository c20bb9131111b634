//! cgroup v2: one tree. On a pure v2 machine it holds every limit; on a hybrid machine the
//! container's group there has no controllers and serves as an identity (and, without a v1
//! freezer, as the freezer).

use super::{
    blkio_weight_to_io_weight, device_numbers, parse_flat_keyed, read_file, read_opt, read_u64,
    read_u64_or_max, shares_to_weight, wait_until, write_file, BlkioEntry, CgroupError, Result,
    Stats, FREEZE_TIMEOUT, V2_CONTROLLERS,
};
use crate::spec::{Resources, ThrottleDevice};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Default CFS period, microseconds.
const DEFAULT_PERIOD: u64 = 100_000;

/// mkdir each level under `root`. With `enable`, first turn on in every ancestor's
/// cgroup.subtree_control the controllers of [`V2_CONTROLLERS`] that it offers, so that the
/// container's group gets their files. The group itself enables nothing: it holds the tasks.
pub(super) fn create(root: &Path, rel: &Path, enable: bool) -> Result<()> {
    let mut dir = root.to_path_buf();
    for part in rel.components() {
        if enable {
            enable_controllers(&dir)?;
        }
        dir.push(part);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Create { path: dir, source }),
        }
    }
    Ok(())
}

fn enable_controllers(dir: &Path) -> Result<()> {
    let available = read_file(&dir.join("cgroup.controllers"))?;
    let enabled = read_file(&dir.join("cgroup.subtree_control"))?;
    let missing = controllers_to_enable(&available, &enabled);
    if missing.is_empty() {
        return Ok(());
    }
    write_file(&dir.join("cgroup.subtree_control"), &missing)
}

/// "+cpu +memory ..." for the wanted controllers that are available and not yet enabled.
pub(super) fn controllers_to_enable(available: &str, enabled: &str) -> String {
    let available: Vec<&str> = available.split_whitespace().collect();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    V2_CONTROLLERS
        .iter()
        .filter(|c| available.contains(c) && !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn apply(dir: &Path, r: &Resources) -> Result<()> {
    if r.memory != 0 {
        write_file(&dir.join("memory.max"), &max_or(r.memory))?;
    }
    if r.memory_swap != 0 {
        apply_swap(dir, r)?;
    }
    if r.memory_reservation != 0 {
        write_file(&dir.join("memory.low"), &r.memory_reservation.to_string())?;
    }
    // oom_kill_disable has no v2 counterpart; like runc, it is ignored here.
    if r.cpu_shares != 0 {
        write_file(
            &dir.join("cpu.weight"),
            &shares_to_weight(r.cpu_shares).to_string(),
        )?;
    }
    if r.cpu_quota != 0 || r.cpu_period != 0 {
        let file = dir.join("cpu.max");
        let quota = match r.cpu_quota {
            q if q > 0 => q.to_string(),
            q if q < 0 => "max".to_string(),
            // Only the period changes: keep the quota in force.
            _ => read_file(&file)?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string(),
        };
        let period = if r.cpu_period != 0 {
            r.cpu_period
        } else {
            DEFAULT_PERIOD
        };
        write_file(&file, &format!("{quota} {period}"))?;
    }
    if !r.cpuset_cpus.is_empty() {
        write_file(&dir.join("cpuset.cpus"), &r.cpuset_cpus)?;
    }
    if !r.cpuset_mems.is_empty() {
        write_file(&dir.join("cpuset.mems"), &r.cpuset_mems)?;
    }
    if r.pids_limit != 0 {
        write_file(&dir.join("pids.max"), &max_or(r.pids_limit))?;
    }
    if r.blkio_weight != 0 {
        apply_io_weight(dir, r.blkio_weight)?;
    }
    // memory_swappiness has no v2 counterpart: dockerd ignores it (with a warning at create).
    for dev in &r.blkio_weight_device {
        let (major, minor) = device_numbers(&dev.path)?;
        let (file, weight) = io_weight_device(dir, dev.weight)?;
        write_file(&file, &format!("{major}:{minor} {weight}"))?;
    }
    for line in io_max_lines(r)? {
        write_file(&dir.join("io.max"), &line)?;
    }
    Ok(())
}

/// A negative number is "max".
fn max_or(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

/// Docker's memory_swap is memory plus swap; v2's memory.swap.max is the swap alone.
fn apply_swap(dir: &Path, r: &Resources) -> Result<()> {
    let file = dir.join("memory.swap.max");
    if !file.exists() {
        // No swap accounting: nothing to limit.
        return Ok(());
    }
    let value = match (r.memory_swap, r.memory) {
        (s, _) if s < 0 => "max".to_string(),
        (_, m) if m <= 0 => {
            return Err(CgroupError::InvalidValue {
                setting: "memory_swap",
                reason: "a swap limit needs a memory limit".to_string(),
            })
        }
        (s, m) if s < m => {
            return Err(CgroupError::InvalidValue {
                setting: "memory_swap",
                reason: format!("memory plus swap ({s}) is below the memory limit ({m})"),
            })
        }
        (s, m) => (s - m).to_string(),
    };
    write_file(&file, &value)
}

/// io.weight takes the mapped weight; with BFQ only io.bfq.weight exists and takes Docker's.
fn apply_io_weight(dir: &Path, weight: u16) -> Result<()> {
    let file = dir.join("io.weight");
    if file.exists() {
        return write_file(
            &file,
            &format!("default {}", blkio_weight_to_io_weight(weight)),
        );
    }
    let file = dir.join("io.bfq.weight");
    if file.exists() {
        return write_file(&file, &format!("default {weight}"));
    }
    Err(CgroupError::Unsupported {
        setting: "blkio weight",
        reason: "neither io.weight nor io.bfq.weight exists",
    })
}

/// Where one device's weight goes and in which scale: io.weight (mapped as runc maps it) or,
/// with BFQ alone, io.bfq.weight (Docker's scale).
fn io_weight_device(dir: &Path, weight: u16) -> Result<(PathBuf, u64)> {
    let file = dir.join("io.weight");
    if file.exists() {
        return Ok((file, blkio_weight_to_io_weight(weight)));
    }
    let file = dir.join("io.bfq.weight");
    if file.exists() {
        return Ok((file, u64::from(weight)));
    }
    Err(CgroupError::Unsupported {
        setting: "blkio weight_device",
        reason: "neither io.weight nor io.bfq.weight exists",
    })
}

/// One "maj:min rbps=.. wbps=.. riops=.. wiops=.." line per throttled device; a rate of 0
/// lifts that limit ("max").
fn io_max_lines(r: &Resources) -> Result<Vec<String>> {
    let lists: [(&str, &[ThrottleDevice]); 4] = [
        ("rbps", &r.blkio_device_read_bps),
        ("wbps", &r.blkio_device_write_bps),
        ("riops", &r.blkio_device_read_iops),
        ("wiops", &r.blkio_device_write_iops),
    ];
    let mut by_device: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    for (key, list) in lists {
        for dev in list {
            let numbers = device_numbers(&dev.path)?;
            let rate = if dev.rate == 0 {
                "max".to_string()
            } else {
                dev.rate.to_string()
            };
            by_device
                .entry(numbers)
                .or_default()
                .push(format!("{key}={rate}"));
        }
    }
    Ok(by_device
        .into_iter()
        .map(|((major, minor), settings)| format!("{major}:{minor} {}", settings.join(" ")))
        .collect())
}

/// Write cgroup.freeze and wait until cgroup.events reports the new state.
pub(super) fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let file = dir.join("cgroup.freeze");
    write_file(&file, if frozen { "1" } else { "0" })?;
    let want = u64::from(frozen);
    let reached = wait_until(FREEZE_TIMEOUT, || events_frozen(dir) == Some(want));
    if reached {
        return Ok(());
    }
    if frozen {
        crate::cleanup::cleanup(
            "thawing after a freeze that timed out",
            write_file(&file, "0"),
        );
    }
    Err(CgroupError::FreezeTimeout {
        path: dir.join("cgroup.events"),
        state: if frozen { "frozen 1" } else { "frozen 0" },
        timeout: FREEZE_TIMEOUT,
    })
}

fn events_frozen(dir: &Path) -> Option<u64> {
    let text = fs::read_to_string(dir.join("cgroup.events")).ok()?;
    parse_flat_keyed(&text).get("frozen").copied()
}

pub(super) fn is_frozen(dir: &Path) -> bool {
    events_frozen(dir) == Some(1)
}

pub(super) fn oom_kills(dir: &Path) -> u64 {
    fs::read_to_string(dir.join("memory.events"))
        .ok()
        .and_then(|text| parse_flat_keyed(&text).get("oom_kill").copied())
        .unwrap_or(0)
}

pub(super) fn stats(dir: &Path) -> Result<Stats> {
    let mut stats = Stats::default();
    if let Some(text) = read_opt(&dir.join("cpu.stat"))? {
        let stat = parse_flat_keyed(&text);
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        let cpu = &mut stats.cpu;
        cpu.usage_total_ns = get("usage_usec") * 1000;
        cpu.usage_user_ns = get("user_usec") * 1000;
        cpu.usage_system_ns = get("system_usec") * 1000;
        cpu.throttling.periods = get("nr_periods");
        cpu.throttling.throttled_periods = get("nr_throttled");
        cpu.throttling.throttled_time_ns = get("throttled_usec") * 1000;
    }
    let mem = &mut stats.memory;
    mem.usage = read_u64(&dir.join("memory.current"))?;
    mem.max_usage = read_u64(&dir.join("memory.peak"))?;
    mem.limit = read_u64_or_max(&dir.join("memory.max"))?;
    mem.swap_usage = read_u64(&dir.join("memory.swap.current"))?;
    if let Some(text) = read_opt(&dir.join("memory.events"))? {
        let events = parse_flat_keyed(&text);
        mem.failcnt = events.get("max").copied().unwrap_or(0);
        mem.oom_kills = events.get("oom_kill").copied().unwrap_or(0);
    }
    if let Some(text) = read_opt(&dir.join("memory.stat"))? {
        mem.stat = parse_flat_keyed(&text);
    }
    mem.cache = mem.stat.get("file").copied().unwrap_or(0);
    stats.pids.current = read_u64(&dir.join("pids.current"))?;
    stats.pids.limit = read_u64_or_max(&dir.join("pids.max"))?;
    if let Some(text) = read_opt(&dir.join("io.stat"))? {
        let (bytes, ios) = parse_io_stat(&text);
        stats.blkio.io_service_bytes_recursive = bytes;
        stats.blkio.io_serviced_recursive = ios;
    }
    Ok(stats)
}

/// io.stat lines ("254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0") as Docker's
/// (bytes, operations) entries with ops "read" and "write".
pub(super) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else {
                continue;
            };
            let (list, op) = match key {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn only_missing_available_controllers_are_enabled() {
        assert_eq!(
            controllers_to_enable("cpuset cpu io memory hugetlb pids rdma", "cpu"),
            "+memory +pids +io +cpuset"
        );
        assert_eq!(controllers_to_enable("hugetlb", ""), "");
        assert_eq!(
            controllers_to_enable("cpu memory pids io cpuset", "cpu memory pids io cpuset"),
            ""
        );
    }

    #[test]
    fn io_stat_parses() {
        let text = "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n\
                    253:0 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n";
        let (bytes, ios) = parse_io_stat(text);
        assert_eq!(bytes.len(), 4);
        assert_eq!(
            bytes[1],
            BlkioEntry {
                major: 254,
                minor: 0,
                op: "write".into(),
                value: 8192
            }
        );
        assert_eq!(ios[0].value, 1);
        assert_eq!(ios[2].major, 253);
    }

    #[test]
    fn io_max_groups_settings_by_device() {
        let dev = |rate| {
            vec![ThrottleDevice {
                path: "/dev/null".into(),
                rate,
            }]
        };
        // /dev/null is a character device: refused.
        let r = Resources {
            blkio_device_read_bps: dev(1),
            ..Resources::default()
        };
        assert!(matches!(
            io_max_lines(&r),
            Err(CgroupError::NotBlockDevice { .. })
        ));
        assert!(io_max_lines(&Resources::default()).unwrap().is_empty());
    }

    #[test]
    fn swap_needs_memory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("memory.swap.max"), "max").unwrap();
        let r = Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Resources::default()
        };
        apply_swap(dir.path(), &r).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("memory.swap.max")).unwrap(),
            (64u64 << 20).to_string()
        );
        let r = Resources {
            memory: 64 << 20,
            memory_swap: 32 << 20,
            ..Resources::default()
        };
        assert!(apply_swap(dir.path(), &r).is_err());
        let r = Resources {
            memory: 64 << 20,
            memory_swap: -1,
            ..Resources::default()
        };
        apply_swap(dir.path(), &r).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("memory.swap.max")).unwrap(),
            "max"
        );
    }
}
