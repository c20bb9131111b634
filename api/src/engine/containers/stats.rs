//! docker stats: one sample of a container's usage, read from its cgroup (v1 or v2, through
//! `berth_shim::cgroups::Cgroup::stats`), the host's /proc/stat and the container's network
//! namespace (`/proc/<pid>/net/dev`), rendered as dockerd's stats JSON.

use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::cgroups::{self, BlkioEntry, Cgroup, Stats};
use berth_shim::spec::ContainerSpec;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// One reading of a container.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// None for a container that does not run (dockerd's zero time).
    pub read: Option<SystemTime>,
    pub name: String,
    pub id: String,
    pub cgroup: Stats,
    /// All CPUs' time since boot, in ns (/proc/stat).
    pub system_cpu_ns: u64,
    pub online_cpus: u64,
    /// Interface -> counters; None when the container shares the host's network namespace.
    pub networks: Option<BTreeMap<String, NetDev>>,
    pub host_memory: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetDev {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

impl Engine {
    /// The container's cgroup, as its shim made it.
    pub(crate) fn cgroup_of(&self, id: &ContainerId) -> Result<Cgroup> {
        let path = self.container_paths(id).config();
        let data = std::fs::read(&path).map_err(|e| EngineError::system(path.display(), e))?;
        let spec: ContainerSpec =
            serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))?;
        let layout = cgroups::detect().map_err(|e| EngineError::system("finding cgroups", e))?;
        Cgroup::new(&layout, &spec.cgroup_parent, id)
            .map_err(|e| EngineError::system("naming the cgroup", e))
    }

    /// Read a container's usage now. A container that does not run reads as zeros.
    pub fn stats_sample(&self, id: &ContainerId) -> Result<Sample> {
        let record = self.record(id)?;
        let state = self.state(id)?;
        let mut sample = Sample {
            name: record.name.clone(),
            id: id.to_string(),
            ..Default::default()
        };
        if !state.status.is_live() || state.pid <= 0 {
            return Ok(sample);
        }
        let cgroup = self.cgroup_of(id)?;
        sample.cgroup = cgroup
            .stats()
            .map_err(|e| EngineError::system("reading the cgroup's counters", e))?;
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        (sample.system_cpu_ns, sample.online_cpus) = parse_proc_stat(&stat, clock_ticks());
        sample.host_memory = host_memory();
        sample.networks = networks(state.pid);
        sample.read = Some(SystemTime::now());
        Ok(sample)
    }
}

fn clock_ticks() -> u64 {
    // USER_HZ is 100 on every Linux architecture berth runs on; sysconf only confirms it.
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .map_or(100, |t| t as u64)
}

/// (sum of the `cpu` line's user..softirq, in ns; the number of `cpuN` lines), as dockerd
/// computes `system_cpu_usage` and `online_cpus`.
pub fn parse_proc_stat(text: &str, ticks: u64) -> (u64, u64) {
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {
                let t: u64 = f.take(7).filter_map(|v| v.parse::<u64>().ok()).sum();
                total = t * (1_000_000_000 / ticks.max(1));
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The counters of the container's interfaces (but `lo`), or None when it shares the host's
/// network namespace (dockerd reports no networks then).
fn networks(pid: i32) -> Option<BTreeMap<String, NetDev>> {
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    if std::fs::read_link("/proc/self/ns/net").ok()? == ns {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(parse_net_dev(&text))
}

/// `/proc/net/dev`: two header lines, then `name: rx(8 fields) tx(8 fields)`.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetDev> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetDev {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

fn time_of(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_nanos(t).to_string())
        .unwrap_or_else(|| berth_shim::state::ZERO_TIME.to_string())
}

fn cpu_json(s: &Sample) -> Value {
    let c = &s.cgroup.cpu;
    let mut usage = json!({
        "total_usage": c.usage_total_ns,
        "usage_in_kernelmode": c.usage_system_ns,
        "usage_in_usermode": c.usage_user_ns,
    });
    if !c.per_cpu_ns.is_empty() {
        usage["percpu_usage"] = json!(c.per_cpu_ns);
    }
    let mut v = json!({
        "cpu_usage": usage,
        "throttling_data": {
            "periods": c.throttling.periods,
            "throttled_periods": c.throttling.throttled_periods,
            "throttled_time": c.throttling.throttled_time_ns,
        },
    });
    if s.read.is_some() {
        v["system_cpu_usage"] = json!(s.system_cpu_ns);
        v["online_cpus"] = json!(s.online_cpus);
    }
    v
}

fn blkio_json(entries: &[BlkioEntry]) -> Value {
    if entries.is_empty() {
        return Value::Null;
    }
    entries
        .iter()
        .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
        .collect()
}

/// dockerd's stats JSON for `s`, with `pre` (the reading before, if any) as precpu_stats.
pub fn render(s: &Sample, pre: Option<&Sample>) -> Value {
    let zero = Sample::default();
    let pre = pre.unwrap_or(&zero);
    let m = &s.cgroup.memory;
    let memory = if s.read.is_some() {
        json!({
            "usage": m.usage,
            "max_usage": m.max_usage,
            "stats": m.stat,
            "failcnt": m.failcnt,
            "limit": m.limit.unwrap_or(s.host_memory).min(s.host_memory.max(1)),
        })
    } else {
        json!({})
    };
    let mut pids = json!({"current": s.cgroup.pids.current});
    if let Some(l) = s.cgroup.pids.limit {
        pids["limit"] = json!(l);
    }
    let b = &s.cgroup.blkio;
    let mut v = Map::new();
    v.insert("read".into(), json!(time_of(s.read)));
    v.insert("preread".into(), json!(time_of(pre.read)));
    v.insert("pids_stats".into(), pids);
    v.insert(
        "blkio_stats".into(),
        json!({
            "io_service_bytes_recursive": blkio_json(&b.io_service_bytes_recursive),
            "io_serviced_recursive": blkio_json(&b.io_serviced_recursive),
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        }),
    );
    v.insert("num_procs".into(), json!(0));
    v.insert("storage_stats".into(), json!({}));
    v.insert("cpu_stats".into(), cpu_json(s));
    v.insert("precpu_stats".into(), cpu_json(pre));
    v.insert("memory_stats".into(), memory);
    v.insert("name".into(), json!(s.name));
    v.insert("id".into(), json!(s.id));
    if let Some(nets) = &s.networks {
        let nets: Map<String, Value> = nets
            .iter()
            .map(|(k, n)| {
                (
                    k.clone(),
                    json!({
                        "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets,
                        "rx_errors": n.rx_errors, "rx_dropped": n.rx_dropped,
                        "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                        "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped,
                    }),
                )
            })
            .collect();
        v.insert("networks".into(), Value::Object(nets));
    }
    Value::Object(v)
}

impl Engine {
    /// The counters of the container's cgroup (what `berth status` shows); None when no process
    /// of it is alive.
    pub fn cgroup_stats(&self, reference: &str) -> Result<Option<berth_shim::cgroups::Stats>> {
        let id = self.lookup(reference)?;
        if !self.state(&id)?.status.is_live() {
            return Ok(None);
        }
        let path = self.container_paths(&id).config();
        let data = std::fs::read(&path).map_err(|e| EngineError::system(path.display(), e))?;
        let spec: berth_shim::spec::ContainerSpec =
            serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))?;
        let layout =
            berth_shim::cgroups::detect().map_err(|e| EngineError::system("finding cgroups", e))?;
        let cg = berth_shim::cgroups::Cgroup::new(&layout, &spec.cgroup_parent, &id)
            .map_err(|e| EngineError::system("cgroup", e))?;
        cg.stats()
            .map(Some)
            .map_err(|e| EngineError::system(format!("reading the cgroup of {id}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_gives_dockers_system_usage_and_cpus() {
        let text = "cpu  100 1 50 1000 9 2 3 7 0 0\ncpu0 50 0 25 500 4 1 1 3 0 0\n\
                    cpu1 50 1 25 500 5 1 2 4 0 0\nintr 1 2 3\n";
        // user..softirq = 1165 ticks of 10 ms (steal is left out, as dockerd does).
        assert_eq!(parse_proc_stat(text, 100), (11_650_000_000, 2));
    }

    #[test]
    fn net_dev_skips_lo_and_reads_rx_and_tx() {
        let text = "Inter-|   Receive    |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1500 12 1 2 0 0 0 0 900 8 3 4 0 0 0 0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.keys().collect::<Vec<_>>(), ["eth0"]);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (1500, 12, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (900, 8, 3, 4)
        );
    }

    #[test]
    fn render_has_dockers_keys_and_the_host_limit_when_unlimited() {
        let mut s = Sample {
            read: Some(SystemTime::now()),
            name: "/c".into(),
            id: "abc".into(),
            host_memory: 1 << 30,
            online_cpus: 2,
            ..Default::default()
        };
        s.cgroup.memory.usage = 1000;
        s.cgroup.memory.stat.insert("inactive_file".into(), 10);
        let v = render(&s, None);
        assert_eq!(v["memory_stats"]["limit"], 1u64 << 30, "{v}");
        assert_eq!(v["memory_stats"]["stats"]["inactive_file"], 10, "{v}");
        assert_eq!(v["preread"], berth_shim::state::ZERO_TIME, "{v}");
        assert_eq!(v["cpu_stats"]["online_cpus"], 2, "{v}");
        assert!(
            v["precpu_stats"]["cpu_usage"]["total_usage"].is_u64(),
            "{v}"
        );
        assert!(v.get("networks").is_none(), "{v}");
        assert_eq!(v["name"], "/c");
    }
}
