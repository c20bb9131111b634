//! The usage counters of one container, as plain data for Docker's stats JSON.

use serde::Serialize;
use std::collections::BTreeMap;

/// Usage counters of one container, in the units Docker's stats use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    pub usage_total_ns: u64,
    pub usage_user_ns: u64,
    pub usage_system_ns: u64,
    /// Per CPU, in CPU order; empty on v2, which does not report it.
    pub per_cpu_ns: Vec<u64>,
    pub throttling: Throttling,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    pub usage: u64,
    pub max_usage: u64,
    /// None when unlimited.
    pub limit: Option<u64>,
    /// Page cache: v1 `total_cache` (or `cache`), v2 `file`.
    pub cache: u64,
    pub swap_usage: u64,
    pub failcnt: u64,
    pub oom_kills: u64,
    /// memory.stat as read.
    pub stat: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    pub current: u64,
    /// None when unlimited.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One line of a blkio counter: v1 ops are "Read", "Write", "Sync", "Async", "Discard",
/// "Total"; v2 ops are "read" and "write", as Docker reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}
