//! The devices a container may use: dockerd's default allow list, `--device` (host nodes made
//! in the container's /dev and allowed), `--device-cgroup-rule` (more allow rules) and
//! `--privileged` (everything). What this module decides, [`Policy`], is enforced by the
//! device controller ([`crate::cgroups::Cgroup::set_devices`]): v1's devices.deny and
//! devices.allow, or a cgroup device program on v2. Parsing follows dockerd and the docker
//! CLI, with their error texts.

use nix::sys::stat::{major, minor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("invalid device cgroup rule format: '{0}'")]
    InvalidRule(String),
    #[error("invalid major value in device cgroup rule format: '{0}'")]
    InvalidMajor(String),
    #[error("invalid minor value in device cgroup rule format: '{0}'")]
    InvalidMinor(String),
    #[error("bad mode specified: {0}")]
    InvalidMode(String),
    #[error("{0} is not an absolute path")]
    NotAbsolute(String),
    #[error("error gathering device information while adding custom device \"{path}\": {reason}")]
    Gather { path: String, reason: String },
}

pub type Result<T> = std::result::Result<T, DeviceError>;

/// A device type as the rules name it: `a` (all), `c` or `b`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum DeviceKind {
    #[serde(rename = "a")]
    All,
    #[serde(rename = "c")]
    Char,
    #[serde(rename = "b")]
    Block,
}

impl DeviceKind {
    fn letter(self) -> char {
        match self {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        }
    }
}

/// A set of accesses: read, write, mknod. Written as Docker writes it ("rwm", "r", ...).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceAccess {
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

impl DeviceAccess {
    pub const ALL: DeviceAccess = DeviceAccess {
        read: true,
        write: true,
        mknod: true,
    };

    /// The docker CLI's device mode: one to three of r, w, m, each at most once.
    pub fn parse_mode(mode: &str) -> Result<DeviceAccess> {
        let mut access = DeviceAccess {
            read: false,
            write: false,
            mknod: false,
        };
        for c in mode.chars() {
            let bit = match c {
                'r' => &mut access.read,
                'w' => &mut access.write,
                'm' => &mut access.mknod,
                _ => return Err(DeviceError::InvalidMode(mode.to_string())),
            };
            if *bit {
                return Err(DeviceError::InvalidMode(mode.to_string()));
            }
            *bit = true;
        }
        if mode.is_empty() {
            return Err(DeviceError::InvalidMode(mode.to_string()));
        }
        Ok(access)
    }

    /// The bits of the kernel's bpf_cgroup_dev_ctx (BPF_DEVCG_ACC_*).
    pub fn bpf_bits(self) -> u32 {
        use berth_monitor::abi::{ACC_MKNOD, ACC_READ, ACC_WRITE};
        [
            (self.mknod, ACC_MKNOD),
            (self.read, ACC_READ),
            (self.write, ACC_WRITE),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |bits, (_, bit)| bits | bit)
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.mknod, 'm')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl From<DeviceAccess> for String {
    fn from(a: DeviceAccess) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for DeviceAccess {
    type Error = DeviceError;
    fn try_from(s: String) -> Result<DeviceAccess> {
        DeviceAccess::parse_mode(&s)
    }
}

/// One allow rule of the device controller; a number of `None` is `*`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceRule {
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: DeviceAccess,
}

impl DeviceRule {
    const fn char(major: u32, minor: Option<u32>) -> DeviceRule {
        DeviceRule {
            kind: DeviceKind::Char,
            major: Some(major),
            minor,
            access: DeviceAccess::ALL,
        }
    }

    /// dockerd's `--device-cgroup-rule`: `^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`.
    pub fn parse(rule: &str) -> Result<DeviceRule> {
        let bad = || DeviceError::InvalidRule(rule.to_string());
        let mut parts = rule.split(' ');
        let (Some(kind), Some(numbers), Some(access), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let kind = match kind {
            "a" => DeviceKind::All,
            "c" => DeviceKind::Char,
            "b" => DeviceKind::Block,
            _ => return Err(bad()),
        };
        let (maj, min) = numbers.split_once(':').ok_or_else(bad)?;
        let number = |s: &str, invalid: fn(String) -> DeviceError| -> Result<Option<u32>> {
            if s == "*" {
                return Ok(None);
            }
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map(Some).map_err(|_| invalid(rule.to_string()))
        };
        let major = number(maj, DeviceError::InvalidMajor)?;
        let minor = number(min, DeviceError::InvalidMinor)?;
        // dockerd's pattern allows a letter twice ("rrw"); it means the same as once.
        if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(bad());
        }
        let access = DeviceAccess {
            read: access.contains('r'),
            write: access.contains('w'),
            mknod: access.contains('m'),
        };
        Ok(DeviceRule {
            kind,
            major,
            minor,
            access,
        })
    }

    /// The rule as v1's devices.allow takes it: "c 1:3 rwm", "b *:* m".
    pub fn v1_line(&self) -> String {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.v1_line())
    }
}

/// The devices every unprivileged container may use: dockerd's default spec (null, zero, full,
/// random, urandom, tty, console) with what runc adds to it (mknod of any node, ptmx, the
/// pts, and tun, which runc 1.2 keeps allowed for compatibility).
pub const DEFAULT_RULES: &[DeviceRule] = &[
    DeviceRule {
        kind: DeviceKind::Char,
        major: None,
        minor: None,
        access: DeviceAccess {
            read: false,
            write: false,
            mknod: true,
        },
    },
    DeviceRule {
        kind: DeviceKind::Block,
        major: None,
        minor: None,
        access: DeviceAccess {
            read: false,
            write: false,
            mknod: true,
        },
    },
    DeviceRule::char(1, Some(3)),    // null
    DeviceRule::char(1, Some(5)),    // zero
    DeviceRule::char(1, Some(7)),    // full
    DeviceRule::char(1, Some(8)),    // random
    DeviceRule::char(1, Some(9)),    // urandom
    DeviceRule::char(5, Some(0)),    // tty
    DeviceRule::char(5, Some(1)),    // console
    DeviceRule::char(5, Some(2)),    // ptmx
    DeviceRule::char(136, None),     // pts
    DeviceRule::char(10, Some(200)), // net/tun
];

/// `--device`: a host node (or every node under a host directory) made at `container_path`
/// in the container, with the host node's type and numbers, and allowed with `access`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host_path: String,
    pub container_path: String,
    pub access: DeviceAccess,
}

/// A device node to make in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute, inside the container.
    pub path: PathBuf,
    /// The node on the host (bound instead where a user namespace cannot make nodes).
    pub host_path: PathBuf,
    pub kind: DeviceKind,
    pub major: u32,
    pub minor: u32,
    /// The host node's permission bits, owner and group.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub access: DeviceAccess,
}

impl DeviceNode {
    pub fn rule(&self) -> DeviceRule {
        DeviceRule {
            kind: self.kind,
            major: Some(self.major),
            minor: Some(self.minor),
            access: self.access,
        }
    }
}

impl DeviceMapping {
    /// Check the mapping as the docker CLI does, then find its nodes as dockerd does: the host
    /// path (a symlink followed) is a device node, or a directory whose device nodes are all
    /// taken (anything else under it skipped); nothing found is an error.
    pub fn resolve(&self) -> Result<Vec<DeviceNode>> {
        if !self.container_path.starts_with('/') {
            return Err(DeviceError::NotAbsolute(self.container_path.clone()));
        }
        let gather = |e: &io::Error| DeviceError::Gather {
            path: self.host_path.clone(),
            reason: go_errno_text(e),
        };
        let host = Path::new(&self.host_path);
        let meta = std::fs::metadata(host).map_err(|e| gather(&e))?;
        let inside = PathBuf::from(&self.container_path);
        if let Some(node) = node_of(&meta, host, inside, self.access) {
            return Ok(vec![node]);
        }
        let mut nodes = Vec::new();
        if meta.is_dir() {
            walk(
                host,
                Path::new(&self.container_path),
                self.access,
                &mut nodes,
            );
        }
        if nodes.is_empty() {
            return Err(DeviceError::Gather {
                path: self.host_path.clone(),
                reason: "not a device node".to_string(),
            });
        }
        Ok(nodes)
    }
}

fn node_of(
    meta: &std::fs::Metadata,
    host_path: &Path,
    path: PathBuf,
    access: DeviceAccess,
) -> Option<DeviceNode> {
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        DeviceKind::Char
    } else if ft.is_block_device() {
        DeviceKind::Block
    } else {
        return None;
    };
    Some(DeviceNode {
        path,
        host_path: host_path.to_path_buf(),
        kind,
        major: major(meta.rdev()) as u32,
        minor: minor(meta.rdev()) as u32,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        access,
    })
}

/// Every device node under `dir` (symlinks not followed), at the same place under `inside`.
fn walk(dir: &Path, inside: &Path, access: DeviceAccess, out: &mut Vec<DeviceNode>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let path = inside.join(entry.file_name());
        if meta.is_dir() {
            walk(&entry.path(), &path, access, out);
        } else if let Some(node) = node_of(&meta, &entry.path(), path, access) {
            out.push(node);
        }
    }
}

/// An errno's text as Go prints it ("no such file or directory").
fn go_errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = nix::errno::Errno::from_raw(code).desc();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// What the device controller lets a container use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Every device (`--privileged`, or a rule of type `a`, which v1 reads as everything).
    AllowAll,
    /// Nothing but what these rules allow.
    AllowOnly(Vec<DeviceRule>),
}

/// The policy of a container: everything when privileged; else dockerd's defaults, then the
/// rules of its `--device` nodes, then its `--device-cgroup-rule`s.
pub fn policy(privileged: bool, nodes: &[DeviceNode], extra: &[DeviceRule]) -> Policy {
    if privileged || extra.iter().any(|r| r.kind == DeviceKind::All) {
        return Policy::AllowAll;
    }
    let rules = DEFAULT_RULES
        .iter()
        .copied()
        .chain(nodes.iter().map(DeviceNode::rule))
        .chain(extra.iter().copied())
        .collect();
    Policy::AllowOnly(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_as_dockerd_parses_them() {
        let r = DeviceRule::parse("b 7:* rwm").unwrap();
        assert_eq!(
            r,
            DeviceRule {
                kind: DeviceKind::Block,
                major: Some(7),
                minor: None,
                access: DeviceAccess::ALL
            }
        );
        assert_eq!(r.v1_line(), "b 7:* rwm");
        assert_eq!(DeviceRule::parse("c *:* m").unwrap().v1_line(), "c *:* m");
        assert_eq!(
            DeviceRule::parse("c 42:1 mr").unwrap().v1_line(),
            "c 42:1 rm"
        );
        for bad in [
            "b 7:*",
            "x 1:2 rwm",
            "c 1:2 rwx",
            "c 1:2  rw",
            "c 1 rw",
            "c -1:2 r",
            "",
        ] {
            assert_eq!(
                DeviceRule::parse(bad),
                Err(DeviceError::InvalidRule(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(
            DeviceRule::parse("c 99999999999:1 r"),
            Err(DeviceError::InvalidMajor("c 99999999999:1 r".into()))
        );
    }

    #[test]
    fn modes_are_the_clis() {
        assert_eq!(DeviceAccess::parse_mode("mrw").unwrap(), DeviceAccess::ALL);
        assert_eq!(DeviceAccess::parse_mode("r").unwrap().to_string(), "r");
        for bad in ["", "rr", "rwx", "rwmm"] {
            assert_eq!(
                DeviceAccess::parse_mode(bad),
                Err(DeviceError::InvalidMode(bad.to_string())),
                "{bad:?}"
            );
        }
        let json = serde_json::to_string(&DeviceAccess::ALL).unwrap();
        assert_eq!(json, "\"rwm\"");
        assert!(serde_json::from_str::<DeviceAccess>("\"rwz\"").is_err());
    }

    #[test]
    fn the_default_list_is_dockerds() {
        let lines: Vec<String> = DEFAULT_RULES.iter().map(DeviceRule::v1_line).collect();
        assert_eq!(
            lines,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:1 rwm",
                "c 5:2 rwm",
                "c 136:* rwm",
                "c 10:200 rwm"
            ]
        );
    }

    #[test]
    fn privileged_and_type_a_allow_everything() {
        assert_eq!(policy(true, &[], &[]), Policy::AllowAll);
        let a = DeviceRule::parse("a 7:* r").unwrap();
        assert_eq!(policy(false, &[], &[a]), Policy::AllowAll);
        let b = DeviceRule::parse("b 7:* rwm").unwrap();
        match policy(false, &[], &[b]) {
            Policy::AllowOnly(rules) => {
                assert_eq!(rules.len(), DEFAULT_RULES.len() + 1);
                assert_eq!(rules.last(), Some(&b));
            }
            other => panic!("expected the defaults and b 7:* rwm, got {other:?}"),
        }
    }

    #[test]
    fn mappings_resolve_nodes_and_refuse_the_rest() {
        let map = |host: &str, inside: &str| DeviceMapping {
            host_path: host.into(),
            container_path: inside.into(),
            access: DeviceAccess::ALL,
        };
        let nodes = map("/dev/null", "/dev/mynull").resolve().unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].path, Path::new("/dev/mynull"));
        assert_eq!(
            (nodes[0].kind, nodes[0].major, nodes[0].minor),
            (DeviceKind::Char, 1, 3)
        );
        assert_eq!(nodes[0].rule().v1_line(), "c 1:3 rwm");
        assert_eq!(
            map("/dev/null", "dev/x").resolve(),
            Err(DeviceError::NotAbsolute("dev/x".into()))
        );
        assert_eq!(
            map("/nonexistent-device", "/dev/x")
                .resolve()
                .unwrap_err()
                .to_string(),
            "error gathering device information while adding custom device \"/nonexistent-device\": no such file or directory"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = map(dir.path().to_str().unwrap(), "/dev/x")
            .resolve()
            .unwrap_err();
        assert!(
            err.to_string().ends_with(": not a device node"),
            "an empty directory has no devices: {err}"
        );
    }
}
