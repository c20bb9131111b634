//! Bandwidth limits per container, set by the labels `berth.net.egress` and `berth.net.ingress`
//! (rates as tc writes them: `10mbit`, `512kbit`, `1gbit`, `2mbps` for bytes).
//!
//! Both are token buckets (tbf) on the two ends of the container's veth pair, each on the
//! egress side of its end, where a qdisc shapes (queues) rather than polices (drops): what the
//! container receives is shaped on the host's end, what it sends on its own end inside its
//! network namespace. Both go away with the veth pair, so nothing can leak; neither uses the v1
//! net_cls controller (which would break cgroup2 socket matching for the eBPF monitor). A
//! container needs CAP_NET_ADMIN (not in the default set) to change the qdisc on its side.

use crate::spec::Bandwidth;
use std::path::Path;
use std::process::{Command, Stdio};

/// The labels that ask for limits.
pub const EGRESS_LABEL: &str = "berth.net.egress";
pub const INGRESS_LABEL: &str = "berth.net.ingress";

#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    #[error("invalid rate {0:?}: use a number with bit, kbit, mbit, gbit, bps, kbps, mbps or gbps (10mbit)")]
    Rate(String),
    #[error("running {cmd}: {source}")]
    Spawn {
        cmd: &'static str,
        source: std::io::Error,
    },
    #[error("tc on {dev}: {stderr}")]
    Tc { dev: String, stderr: String },
}

pub type Result<T> = std::result::Result<T, ShapeError>;

/// A rate in bits per second, written as tc writes rates. A bare number is bits per second.
pub fn parse_rate(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return Err(ShapeError::Rate(s.to_string())),
    };
    let n: f64 = num.parse().map_err(|_| ShapeError::Rate(s.to_string()))?;
    let bps = n * mult;
    // tbf needs at least a few packets a second; 8 kbit is the least we take.
    if !bps.is_finite() || !(8000.0..=1e13).contains(&bps) {
        return Err(ShapeError::Rate(s.to_string()));
    }
    Ok(bps as u64)
}

/// The limits the labels ask for (labels absent: no limit).
pub fn from_labels<'a>(mut get: impl FnMut(&str) -> Option<&'a str>) -> Result<Bandwidth> {
    let rate = |v: Option<&str>| v.map(parse_rate).transpose().map(Option::unwrap_or_default);
    Ok(Bandwidth {
        egress_bps: rate(get(EGRESS_LABEL))?,
        ingress_bps: rate(get(INGRESS_LABEL))?,
    })
}

/// tc's arguments for a token bucket at `bps`: a bucket of 10 ms of traffic (at least 16 KiB,
/// room for a few full-size packets) and up to 200 ms of queue. With 50 ms a TCP sender whose
/// CPU was busy elsewhere sent bursts the queue could not hold, lost their tails and waited out
/// retransmission timeouts: 84-88% of the limit instead of all of it.
fn tbf_args(dev: &str, bps: u64) -> Vec<String> {
    let burst = (bps / 8 / 100).max(16 * 1024);
    ["qdisc", "replace", "dev", dev, "root", "tbf", "rate"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("{bps}bit"),
            "burst".into(),
            burst.to_string(),
            "latency".into(),
            "200ms".into(),
        ])
        .collect()
}

fn run(mut cmd: Command, cmd_name: &'static str, dev: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| ShapeError::Spawn {
            cmd: cmd_name,
            source,
        })?;
    if !out.status.success() {
        return Err(ShapeError::Tc {
            dev: dev.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Shape the container's traffic: `host_veth` is the host's end of its veth pair, `netns` its
/// network namespace (`/proc/<pid>/ns/net`) and `container_if` its end's name there.
pub fn apply(bw: &Bandwidth, host_veth: &str, netns: &Path, container_if: &str) -> Result<()> {
    if bw.ingress_bps > 0 {
        let mut cmd = Command::new("tc");
        cmd.args(tbf_args(host_veth, bw.ingress_bps));
        run(cmd, "tc", host_veth)?;
    }
    if bw.egress_bps > 0 {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", netns.display()))
            .arg("tc")
            .args(tbf_args(container_if, bw.egress_bps));
        run(cmd, "nsenter", container_if)?;
    }
    Ok(())
}

/// The rate of the token bucket on `dev` (in the current network namespace), in bits per
/// second; None when it has none. For tests and `berth status`.
pub fn current_rate(dev: &str) -> Option<u64> {
    let out = Command::new("tc")
        .args(["-j", "qdisc", "show", "dev", dev, "root"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.as_array()?
        .iter()
        .find(|q| q["kind"] == "tbf")
        .and_then(|q| q["options"]["rate"].as_u64())
        .map(|bytes_per_sec| bytes_per_sec * 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_tc_reads_them() {
        assert_eq!(parse_rate("10mbit").unwrap(), 10_000_000);
        assert_eq!(parse_rate("512kbit").unwrap(), 512_000);
        assert_eq!(parse_rate("1Gbit").unwrap(), 1_000_000_000);
        assert_eq!(parse_rate("2mbps").unwrap(), 16_000_000);
        assert_eq!(parse_rate("1.5mbit").unwrap(), 1_500_000);
        assert_eq!(parse_rate("100000").unwrap(), 100_000);
        for bad in ["", "fast", "10 mbit", "10mb", "-1mbit", "1bit"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn labels_give_the_limits() {
        let bw = from_labels(|k| (k == EGRESS_LABEL).then_some("10mbit")).unwrap();
        assert_eq!(
            bw,
            Bandwidth {
                egress_bps: 10_000_000,
                ingress_bps: 0
            }
        );
        assert!(from_labels(|k| (k == INGRESS_LABEL).then_some("lots")).is_err());
    }

    #[test]
    fn the_bucket_holds_ten_milliseconds_and_at_least_16k() {
        let a = tbf_args("v", 10_000_000);
        assert_eq!(a[a.len() - 3], (16 * 1024).to_string());
        let b = tbf_args("v", 1_000_000_000);
        assert_eq!(b[b.len() - 3], "1250000");
        assert_eq!(b[7], "1000000000bit");
    }
}
