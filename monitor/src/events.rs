//! What the programs report, in words: a ring-buffer record ([`abi::RawEvent`]) becomes an
//! [`Event`] with a type (`process`, `syscall` or `policy`), an action (`exec`, `fork`,
//! `exit`, the system call's name, or the policy's `kill` and `refuse`) and attributes (pid, tid, comm, ret, args ...), as they appear on
//! `GET /events`. Which events a container emits is chosen by its `berth.monitor` label
//! ([`wants`]).

use crate::abi::{self, RawEvent};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Not an event: the label's word for syscall counts (the all-syscalls hooks, which tax every
/// process of the machine while any container counts).
pub const WANT_COUNTS: u32 = 1 << 31;

/// The label's words and what each turns on.
pub const GROUPS: [(&str, u32); 5] = [
    ("exec", abi::WANT_EXEC),
    ("fork", abi::WANT_FORK),
    ("security", abi::WANT_SECURITY),
    ("net", abi::WANT_NET),
    ("counts", WANT_COUNTS),
];

/// What a container gets when its label does not say: the security calls, which are rare in a
/// well-behaved program (execs, forks and connects of a busy script could fill the events log
/// and rotate the lifecycle events out of it); their hooks fire only for those calls. Counts
/// are asked for: their hook fires on every system call of the machine while any container
/// counts (tens of ns each, for every process), and attaching it costs a container's start
/// some milliseconds.
pub const DEFAULT_WANTS: u32 = abi::WANT_SECURITY;

/// What a `berth.monitor` label value asks for: comma-separated words among `exec`, `fork`,
/// `security`, `net`, `counts`, or `all` / `none`; None (no label) is [`DEFAULT_WANTS`].
pub fn wants(label: Option<&str>) -> Result<u32, String> {
    let Some(label) = label else {
        return Ok(DEFAULT_WANTS);
    };
    let mut bits = 0;
    for word in label.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        bits |= match word {
            "all" => GROUPS.iter().fold(0, |b, (_, g)| b | g),
            "none" => 0,
            w => match GROUPS.iter().find(|(name, _)| *name == w) {
                Some((_, g)) => *g,
                None => {
                    return Err(format!(
                    "invalid berth.monitor value {w:?}: use exec, fork, security, net, counts, all or none"
                ))
                }
            },
        };
    }
    Ok(bits)
}

/// One event seen in a watched cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// CLOCK_BOOTTIME, in nanoseconds.
    pub time_ns: u64,
    /// `process`, `syscall` or `policy`.
    pub kind: &'static str,
    /// `exec`, `fork`, `exit`, or the system call's name.
    pub action: String,
    /// The event's own attributes (pid, tid and comm included).
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    /// Decodes one ring-buffer record.
    pub fn from_bytes(b: &[u8]) -> Option<Event> {
        RawEvent::from_bytes(b).map(|r| Event::from_raw(&r))
    }

    pub fn from_raw(r: &RawEvent) -> Event {
        let mut a = BTreeMap::new();
        a.insert("pid".to_string(), r.pid.to_string());
        a.insert("tid".to_string(), r.tid.to_string());
        a.insert("comm".to_string(), abi::c_str(&r.comm));
        let (kind, action) = match r.kind {
            abi::EVENT_EXEC => {
                a.insert("filename".into(), abi::c_str(&r.filename));
                a.insert("args".into(), r.argv().join(" "));
                ("process", "exec".to_string())
            }
            abi::EVENT_FORK => {
                a.insert("child".into(), r.ret.to_string());
                ("process", "fork".to_string())
            }
            abi::EVENT_EXIT => {
                let status = r.ret as i32;
                if status & 0x7f != 0 {
                    a.insert("signal".into(), (status & 0x7f).to_string());
                } else {
                    a.insert("exitCode".into(), ((status >> 8) & 0xff).to_string());
                }
                ("process", "exit".to_string())
            }
            abi::EVENT_KILLED => {
                a.insert("syscall".into(), crate::syscalls::name(r.nr));
                a.insert("signal".into(), "9".into());
                ("policy", "kill".to_string())
            }
            abi::EVENT_REFUSED => {
                // connect, or sendmsg for a UDP datagram sent with an address (also sendto),
                // or socket for a raw socket (its family, type and protocol in arg).
                let name = crate::syscalls::name(r.nr);
                if name == "socket" {
                    a.insert("family".into(), family_name(r.arg[0]));
                    a.insert("type".into(), socket_type_name(r.arg[1]));
                    a.insert("protocol".into(), r.arg[2].to_string());
                }
                a.insert("syscall".into(), name);
                if let Some((addr, port)) = sockaddr(r.args_bytes()) {
                    a.insert("addr".into(), addr);
                    a.insert("port".into(), port.to_string());
                }
                a.insert("error".into(), "EPERM".into());
                ("policy", "refuse".to_string())
            }
            _ => {
                let name = crate::syscalls::name(r.nr);
                syscall_attributes(&name, r, &mut a);
                a.insert("ret".into(), r.ret.to_string());
                if (-4095..0).contains(&r.ret) {
                    let errno = nix::errno::Errno::from_raw(-r.ret as i32);
                    a.insert("error".into(), format!("{errno:?}"));
                }
                ("syscall", name)
            }
        };
        Event {
            cgroup_id: r.cgroup_id,
            pid: r.pid,
            tid: r.tid,
            comm: abi::c_str(&r.comm),
            time_ns: r.time_ns,
            kind,
            action,
            attributes: a,
        }
    }
}

/// The arguments of a security call, by name, and `args`: all of them in one line.
fn syscall_attributes(name: &str, r: &RawEvent, a: &mut BTreeMap<String, String>) {
    let path = abi::c_str(&r.filename);
    let arg = r.arg;
    let mut put = |k: &str, v: String| {
        a.insert(k.to_string(), v);
    };
    let args = match name {
        "open" | "openat" | "openat2" => {
            put("path", path.clone());
            path
        }
        "chmod" | "fchmodat" | "fchmodat2" => {
            let mode = (if name == "chmod" { arg[1] } else { arg[2] }) & 0o7777;
            put("path", path.clone());
            put("mode", format!("{mode:o}"));
            format!("{path} {mode:o}")
        }
        "fchmod" => {
            put("mode", format!("{:o}", arg[1] & 0o7777));
            format!("fd {} {:o}", arg[0] as i32, arg[1] & 0o7777)
        }
        "mount" => {
            let mut strings = r.args_bytes().split(|&c| c == 0);
            let source = String::from_utf8_lossy(strings.next().unwrap_or(b"")).into_owned();
            let fstype = String::from_utf8_lossy(strings.next().unwrap_or(b"")).into_owned();
            put("source", source.clone());
            put("target", path.clone());
            put("fstype", fstype.clone());
            put("flags", format!("{:#x}", arg[3]));
            format!("{source} {path} {fstype} {:#x}", arg[3])
        }
        "umount2" => {
            put("target", path.clone());
            format!("{path} {:#x}", arg[1])
        }
        "connect" => match sockaddr(r.args_bytes()) {
            Some((addr, port)) => {
                put("addr", addr.clone());
                put("port", port.to_string());
                if addr.contains(':') {
                    format!("[{addr}]:{port}")
                } else {
                    format!("{addr}:{port}")
                }
            }
            None => String::new(),
        },
        "kill" | "tkill" => {
            put("target", (arg[0] as i32).to_string());
            put("sig", (arg[1] as i32).to_string());
            format!("{} {}", arg[0] as i32, arg[1] as i32)
        }
        "tgkill" => {
            put("target", (arg[0] as i32).to_string());
            put("sig", (arg[2] as i32).to_string());
            format!("{} {} {}", arg[0] as i32, arg[1] as i32, arg[2] as i32)
        }
        "ptrace" => {
            put("request", arg[0].to_string());
            put("target", (arg[1] as i32).to_string());
            format!("{} {}", arg[0], arg[1] as i32)
        }
        "setns" => format!("fd {} {:#x}", arg[0] as i32, arg[1]),
        "unshare" => format!("{:#x}", arg[0]),
        "bpf" => format!("cmd {}", arg[0]),
        _ => format!("{:#x} {:#x} {:#x}", arg[0], arg[1], arg[2]),
    };
    a.insert("args".into(), args);
}

/// A socket family by its C name (`AF_INET`), or its number.
fn family_name(family: u64) -> String {
    match i32::try_from(family) {
        Ok(libc::AF_INET) => "AF_INET".into(),
        Ok(libc::AF_INET6) => "AF_INET6".into(),
        Ok(libc::AF_PACKET) => "AF_PACKET".into(),
        _ => family.to_string(),
    }
}

/// A socket type by its C name (`SOCK_RAW`), or its number.
fn socket_type_name(kind: u64) -> String {
    match i32::try_from(kind) {
        Ok(libc::SOCK_STREAM) => "SOCK_STREAM".into(),
        Ok(libc::SOCK_DGRAM) => "SOCK_DGRAM".into(),
        Ok(libc::SOCK_RAW) => "SOCK_RAW".into(),
        _ => kind.to_string(),
    }
}

/// The address and port of a `struct sockaddr_in` or `sockaddr_in6`.
fn sockaddr(b: &[u8]) -> Option<(String, u16)> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some((Ipv4Addr::from(ip).to_string(), port))
        }
        libc::AF_INET6 => {
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some((Ipv6Addr::from(ip).to_string(), port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: u32, nr: u32) -> RawEvent {
        RawEvent {
            kind,
            pid: 10,
            tid: 11,
            nr,
            cgroup_id: 5,
            time_ns: 1,
            ret: 0,
            arg: [0; 6],
            argc: 0,
            args_len: 0,
            comm: *b"sh\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            filename: [0; abi::FILENAME_LEN],
            args: [0; abi::ARGS_LEN],
        }
    }

    #[test]
    fn the_label_chooses_the_events() {
        assert_eq!(wants(None), Ok(DEFAULT_WANTS));
        assert_eq!(wants(Some("exec")), Ok(abi::WANT_EXEC));
        assert_eq!(wants(Some("net, exec")), Ok(abi::WANT_EXEC | abi::WANT_NET));
        assert_eq!(
            wants(Some("all")),
            Ok(abi::WANT_EXEC | abi::WANT_FORK | abi::WANT_SECURITY | abi::WANT_NET | WANT_COUNTS)
        );
        assert_eq!(wants(Some("exec,counts")), Ok(abi::WANT_EXEC | WANT_COUNTS));
        assert_eq!(wants(Some("none")), Ok(0));
        assert_eq!(wants(Some("")), Ok(0));
        assert!(wants(Some("executable"))
            .unwrap_err()
            .contains("executable"));
    }

    #[test]
    fn a_connect_reads_as_address_and_port() {
        let mut r = raw(abi::EVENT_SYSCALL, 42);
        let mut sa = vec![];
        sa.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        sa.extend_from_slice(&8080u16.to_be_bytes());
        sa.extend_from_slice(&[10, 0, 0, 1]);
        sa.extend_from_slice(&[0; 8]);
        r.args[..16].copy_from_slice(&sa);
        r.args_len = 16;
        r.ret = -111;
        let e = Event::from_raw(&r);
        assert_eq!((e.kind, e.action.as_str()), ("syscall", "connect"));
        assert_eq!(e.attributes["addr"], "10.0.0.1");
        assert_eq!(e.attributes["port"], "8080");
        assert_eq!(e.attributes["args"], "10.0.0.1:8080");
        assert_eq!(e.attributes["ret"], "-111");
        assert_eq!(e.attributes["error"], "ECONNREFUSED");
        assert_eq!(e.attributes["comm"], "sh");
        assert_eq!(e.attributes["pid"], "10");
    }

    #[test]
    fn a_refused_raw_socket_reads_as_family_and_type() {
        let mut r = raw(abi::EVENT_REFUSED, 41);
        r.arg[..3].copy_from_slice(&[2, 3, 1]);
        r.argc = 3;
        r.ret = -1;
        let e = Event::from_raw(&r);
        let got = (
            e.kind,
            e.action.as_str(),
            e.attributes.get("syscall").map(String::as_str),
            e.attributes.get("family").map(String::as_str),
            e.attributes.get("type").map(String::as_str),
            e.attributes.get("protocol").map(String::as_str),
            e.attributes.get("addr"),
        );
        let want = (
            "policy",
            "refuse",
            Some("socket"),
            Some("AF_INET"),
            Some("SOCK_RAW"),
            Some("1"),
            None,
        );
        assert_eq!(got, want, "expected a raw socket refusal, got {e:?}");
    }

    #[test]
    fn a_mount_reads_as_source_target_and_type() {
        let mut r = raw(abi::EVENT_SYSCALL, 165);
        r.filename[..4].copy_from_slice(b"/mnt");
        r.args[..11].copy_from_slice(b"none\0tmpfs\0");
        r.args_len = 11;
        r.arg[3] = 1;
        r.ret = -1;
        let e = Event::from_raw(&r);
        assert_eq!(e.action, "mount");
        assert_eq!(e.attributes["args"], "none /mnt tmpfs 0x1");
        assert_eq!(e.attributes["error"], "EPERM");
    }

    #[test]
    fn process_events() {
        let mut r = raw(abi::EVENT_EXIT, 0);
        r.ret = 3 << 8;
        let e = Event::from_raw(&r);
        assert_eq!((e.kind, e.action.as_str()), ("process", "exit"));
        assert_eq!(e.attributes["exitCode"], "3");
        r.ret = 9;
        assert_eq!(Event::from_raw(&r).attributes["signal"], "9");
        let mut f = raw(abi::EVENT_FORK, 0);
        f.ret = 77;
        assert_eq!(Event::from_raw(&f).attributes["child"], "77");
    }
}
