//! What berth needs from its host, and what it finds there. Every piece of host state berth
//! relies on is either set up by berth itself (and said so here) or reported: by `berth check`,
//! and, for what is missing or in the way, among `GET /info`'s Warnings. Read at each call from
//! /proc, /sys and $PATH; nothing is changed.

use berth_shim::cgroups::{self, Layout};
use serde::Serialize;
use std::path::Path;

const BPF_FS_MAGIC: i64 = 0xcafe4a11;
const TRACEFS_MAGIC: i64 = 0x74726163;

/// One piece of host state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Requirement {
    pub name: &'static str,
    /// False when berth, or a part of it, cannot work as things stand.
    pub ok: bool,
    /// What was found.
    pub found: String,
    /// What berth does about it.
    pub berth: &'static str,
}

fn fs_is(path: &str, magic: i64) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == magic)
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Is `program` an executable file in $PATH?
fn in_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            std::fs::metadata(d.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

fn mounted(what: bool) -> String {
    if what { "mounted" } else { "not mounted" }.to_string()
}

/// The policy of iptables' FORWARD chain (`ACCEPT`, `DROP`), when iptables is installed.
fn forward_policy() -> Option<String> {
    if !in_path("iptables") {
        return None;
    }
    let out = std::process::Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("-P FORWARD "))
        .map(|p| p.trim().to_string())
}

/// Everything berth relies on, in a fixed order.
pub fn check(settings: &berth_shim::Settings) -> Vec<Requirement> {
    let mut out = Vec::new();
    out.push(Requirement {
        name: "bpffs",
        ok: true,
        found: format!("/sys/fs/bpf {}", mounted(fs_is("/sys/fs/bpf", BPF_FS_MAGIC))),
        berth: "mounts it on /sys/fs/bpf (berth serve at its start, each shim before it enters its own mount namespace), so that the monitor's pins outlive every process",
    });
    let tracefs = fs_is("/sys/kernel/tracing", TRACEFS_MAGIC)
        || Path::new("/sys/kernel/debug/tracing/events").exists();
    out.push(Requirement {
        name: "tracefs",
        ok: true,
        found: format!("/sys/kernel/tracing {}", mounted(tracefs)),
        berth: "mounts it with bpffs: the monitor reads the tracepoints' ids there",
    });
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    out.push(Requirement {
        name: "kernel BTF",
        ok: btf,
        found: if btf { "/sys/kernel/btf/vmlinux" } else { "none (a kernel built without CONFIG_DEBUG_INFO_BTF)" }.into(),
        berth: "reports it: the monitor's programs need it; without it containers run unwatched and the monitor's endpoints answer 503",
    });
    let (ok, found) = match settings.pin_dir() {
        None => (true, "turned off (BERTH_MONITOR=0)".to_string()),
        Some(dir) => match berth_monitor::Monitor::open(&dir) {
            Ok(_) => (true, format!("loaded under {}", dir.display())),
            // Not yet: the next server or shim mounts bpffs there and loads the programs.
            Err(berth_monitor::MonitorError::NotLoaded(_)) => {
                (true, format!("not loaded yet under {}", dir.display()))
            }
            Err(berth_monitor::MonitorError::NotMounted { .. })
                if dir.starts_with("/sys/fs/bpf") =>
            {
                (true, format!("not loaded yet under {}", dir.display()))
            }
            Err(e) => (false, e.to_string()),
        },
    };
    out.push(Requirement {
        name: "eBPF monitor",
        ok,
        found,
        berth: "loads and pins it (berth serve at its start, or the first shim); when it cannot, containers still run and its endpoints answer 503 with the cause",
    });
    let layout = cgroups::detect();
    let (ok, found) = match &layout {
        Ok(Layout::Unified { root }) => (true, format!("cgroup v2 at {}", root.display())),
        Ok(Layout::Hybrid { v2: Some(v2), .. }) => (
            true,
            format!("cgroup v1 controllers, cgroup2 at {}", v2.display()),
        ),
        Ok(Layout::Hybrid { v2: None, .. }) => (
            false,
            "cgroup v1 only: no cgroup2 tree, by whose ids the monitor tells containers apart"
                .into(),
        ),
        Err(e) => (false, e.to_string()),
    };
    out.push(Requirement {
        name: "cgroups",
        ok,
        found,
        berth: "reports the layout; each container gets a group in every hierarchy (limits in v1 on a hybrid host, its identity for eBPF in v2)",
    });
    if let Ok(layout) = &layout {
        if let Some(on) = cgroups::has_favordynmods(layout) {
            out.push(Requirement {
                name: "cgroup2 favordynmods",
                ok: true,
                found: if on { "on" } else { "off" }.into(),
                berth: "turns it on at the first start (a host-wide flag of the cgroup2 mount that makes moving processes between groups cheap); BERTH_CGROUP_FAVORDYNMODS=0 leaves the mount alone",
            });
        }
    }
    let overlay =
        read("/proc/filesystems").is_some_and(|t| t.lines().any(|l| l.ends_with("\toverlay")));
    out.push(Requirement {
        name: "overlayfs",
        ok: true,
        found: if overlay {
            "registered"
        } else {
            "not registered yet (a module the kernel loads at the first mount)"
        }
        .into(),
        berth: "mounts each container's root on it",
    });
    for (program, berth) in [
        ("nft", "runs it for bridge networks, their isolation and masquerade, and published ports (one table per root)"),
        ("tc", "runs it for the bandwidth labels berth.net.egress and berth.net.ingress"),
        ("nsenter", "runs it (util-linux) to shape a container's ingress inside its network namespace"),
    ] {
        let found = in_path(program);
        out.push(Requirement {
            name: program,
            ok: found,
            found: if found { "in PATH" } else { "not in PATH" }.into(),
            berth,
        });
    }
    let forwarding = read("/proc/sys/net/ipv4/ip_forward");
    out.push(Requirement {
        name: "IPv4 forwarding",
        ok: true,
        found: match forwarding.as_deref() {
            Some("1") => "on".into(),
            Some(_) => "off".into(),
            None => "unknown".into(),
        },
        berth: "turns it on (net.ipv4.ip_forward, host-wide) when a bridge network with a way out is first used",
    });
    let bridge_nf = read("/proc/sys/net/bridge/bridge-nf-call-iptables");
    let policy = forward_policy();
    let through_iptables = bridge_nf.as_deref() == Some("1");
    out.push(Requirement {
        name: "br_netfilter",
        ok: true,
        found: match bridge_nf.as_deref() {
            None => "not loaded".into(),
            Some("1") => "loaded, bridge-nf-call-iptables=1: bridged traffic also passes iptables' FORWARD chain".into(),
            Some(_) => "loaded, bridge-nf-call-iptables=0".into(),
        },
        berth: "reports it; berth never loads it (a dockerd on the host does)",
    });
    let dropping = policy.as_deref() == Some("DROP");
    out.push(Requirement {
        name: "iptables FORWARD policy",
        ok: true,
        found: match &policy {
            None => "no iptables command".into(),
            Some(p) if dropping && through_iptables => format!("{p}, with br_netfilter on: bridged traffic passes it too"),
            Some(p) => p.clone(),
        },
        berth: "where FORWARD drops or has rules (a dockerd's), accepts its own bridges' traffic in a chain of its own (BERTH-<hash of the root>) jumped to from the end of FORWARD; changes no chain or rule it did not make",
    });
    out
}
