//! Seccomp filters from profiles in Docker's JSON format, dockerd's default profile embedded.
//! Building and loading are separate: the shim builds the filter while it is still root, and
//! loads it either before it drops privileges (without no_new_privs loading needs
//! CAP_SYS_ADMIN) or, with no_new_privs, as the last step before execve.

mod compiled;
mod profile;

pub use self::compiled::{cached, compile, load as load_bpf, Bpf};

pub use self::profile::{ArchMap, Arg, Condition, Profile, SyscallRule};

use self::profile::{
    action, applies, architectures, comparisons, native_go_arch, parse_kernel, Host,
};
use super::caps::CapSet;
use crate::spec::SeccompSpec;
use libseccomp::error::SeccompError as LibError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

/// dockerd's default profile (moby's `profiles/seccomp/default.json`).
pub const DEFAULT_PROFILE: &str = include_str!("../default-seccomp.json");

/// The calls berth's init makes after it loads the filter and before the program's execve
/// (init::become_process: capability bounding set and keepcaps through prctl, setgroups and
/// setresgid/setresuid, capget/capset, close_range, the signal mask and actions, execve; a
/// write and exit_group to report a failed exec). A profile must allow them for the container
/// to start at all; the eBPF monitor, which counts from the execve on, does not see them.
pub const RUNTIME_CALLS: [&str; 12] = [
    "capget",
    "capset",
    "close_range",
    "execve",
    "exit_group",
    "prctl",
    "rt_sigaction",
    "rt_sigprocmask",
    "setgroups",
    "setresgid",
    "setresuid",
    "write",
];

/// Where the running kernel's release is read ("6.18.44-...").
const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// dockerd's wording.
    #[error("decoding seccomp profile failed: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")]
    ArchitecturesAndArchMap,
    #[error("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'")]
    NameAndNames,
    #[error("invalid seccomp action {0:?}")]
    Action(String),
    #[error("invalid seccomp comparison operator {0:?}")]
    Operator(String),
    #[error("invalid seccomp architecture {0:?}")]
    Architecture(String),
    #[error("seccomp rule for {syscall}: argument index {index} is out of range (0 to 5)")]
    ArgIndex { syscall: String, index: u32 },
    #[error("invalid kernel version {0:?} in seccomp profile")]
    MinKernel(String),
    #[error("reading the kernel version from {OSRELEASE}: {0}")]
    KernelVersion(#[source] std::io::Error),
    #[error("creating the seccomp filter: {0}")]
    Create(#[source] LibError),
    #[error("adding architecture {arch:?} to the seccomp filter: {source}")]
    AddArch {
        arch: ScmpArch,
        #[source]
        source: LibError,
    },
    #[error("adding seccomp rule for {syscall}: {source}")]
    AddRule {
        syscall: String,
        #[source]
        source: LibError,
    },
    #[error("refusing packet sockets under deny-connect rules: the profile's socket rule compares the domain in a way berth cannot narrow")]
    PacketSockets,
    #[error("exporting the seccomp program: {0}")]
    Export(String),
    #[error("loading the seccomp filter: {0}")]
    Load(#[source] LibError),
}

pub type Result<T> = std::result::Result<T, SeccompError>;

/// Which architectures' system calls a filter lets reach its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arches {
    /// Those the profile names (dockerd's default: x86_64 with x86 and x32).
    Profile,
    /// The native one only: a call made through another architecture's entry (i386's
    /// `int 0x80`, x32) kills the process (SECCOMP_RET_KILL_PROCESS, SIGSYS). For containers
    /// with deny rules, which the eBPF monitor matches by native number.
    NativeOnly,
    /// [`Arches::NativeOnly`], and packet sockets (`socket(AF_PACKET, ...)`) refused with
    /// EPERM: for containers with deny-connect rules, since frames written on a packet socket
    /// pass no hook the monitor's connect rules are attached to.
    NativeOnlyNoPacketSockets,
}

impl Arches {
    /// Whether calls of other architectures kill the process.
    pub fn native_only(self) -> bool {
        self != Arches::Profile
    }
}

/// A built filter, ready to load.
#[derive(Debug)]
pub struct Filter {
    ctx: ScmpFilterContext,
}

/// Build the container's filter: None when unconfined and `arches` is the profile's; unconfined
/// with [`Arches::NativeOnly`] is a filter that allows every native call and nothing else.
pub fn build(spec: &SeccompSpec, caps: &CapSet, arches: Arches) -> Result<Option<Filter>> {
    let profile = match spec {
        SeccompSpec::Unconfined if arches == Arches::Profile => return Ok(None),
        SeccompSpec::Unconfined => {
            let mut ctx =
                ScmpFilterContext::new(ScmpAction::Allow).map_err(SeccompError::Create)?;
            native_only(&mut ctx)?;
            if arches == Arches::NativeOnlyNoPacketSockets {
                refuse_packet_sockets(&mut ctx)?;
            }
            return Ok(Some(Filter { ctx }));
        }
        SeccompSpec::Default => Profile::parse(DEFAULT_PROFILE)?,
        SeccompSpec::Profile(json) => Profile::parse(json)?,
    };
    let host = Host {
        caps,
        arch: native_go_arch(),
        kernel: running_kernel()?,
    };
    build_profile(&profile, &host, arches).map(Some)
}

/// Calls of any architecture but the native one kill the process. A new context holds the
/// native architecture alone; libseccomp's filter checks the architecture of every call first
/// (on x86_64 also the x32 bit) and answers a mismatch with the bad-architecture action, which
/// is kill-thread unless set: kill-process takes the whole thread group.
fn native_only(ctx: &mut ScmpFilterContext) -> Result<()> {
    ctx.set_act_badarch(ScmpAction::KillProcess)
        .map_err(SeccompError::Create)?;
    Ok(())
}

/// `socket(AF_PACKET, ...)` fails with EPERM, in a filter whose default action lets it through
/// (an unconfined container's, a permissive profile's). Where the default refuses, the
/// profile's own `socket` rule is narrowed instead ([`narrow_socket_rule`]): libseccomp takes
/// no rule with the default's action, and of two overlapping rules the first added decides.
fn refuse_packet_sockets(ctx: &mut ScmpFilterContext) -> Result<()> {
    let domain = ScmpArgCompare::new(0, ScmpCompareOp::Equal, libc::AF_PACKET as u64);
    ctx.add_rule_conditional(ScmpAction::Errno(libc::EPERM), socket_call()?, &[domain])
        .map(drop)
        .map_err(|source| SeccompError::AddRule {
            syscall: "socket".into(),
            source,
        })
}

fn socket_call() -> Result<ScmpSyscall> {
    ScmpSyscall::from_name("socket").map_err(|source| SeccompError::AddRule {
        syscall: "socket".into(),
        source,
    })
}

/// Socket domains are small numbers (AF_MAX is 46 on 6.18): each below this is allowed by a
/// rule of its own, and all from it on by one more.
const DOMAIN_SCAN: u64 = 64;

/// A profile's rule letting `socket` through, narrowed so that AF_PACKET is not: its comparison
/// on the domain (none, or one `!=`, as dockerd's `socket` rule with `!= AF_VSOCK`) becomes one
/// rule per allowed domain. Any other shape cannot be narrowed this way: the start fails rather
/// than leave packet sockets open under deny-connect rules.
fn narrow_socket_rule(rule: &SyscallRule) -> Result<Vec<Vec<ScmpArgCompare>>> {
    let unsupported = || SeccompError::PacketSockets;
    let on_domain: Vec<&Arg> = rule.args.iter().filter(|a| a.index == 0).collect();
    let excluded = match on_domain.as_slice() {
        [] => None,
        [arg] if arg.op == "SCMP_CMP_NE" && arg.value < DOMAIN_SCAN => Some(arg.value),
        _ => return Err(unsupported()),
    };
    let others: Vec<Arg> = rule.args.iter().filter(|a| a.index != 0).cloned().collect();
    for arg in &others {
        if others.iter().filter(|a| a.index == arg.index).count() > 1 {
            return Err(unsupported());
        }
    }
    let base = comparisons(
        &SyscallRule {
            args: others,
            ..rule.clone()
        },
        &["socket".to_string()],
    )?
    .into_iter()
    .next()
    .unwrap_or_default();
    let with = |c: ScmpArgCompare| {
        let mut group = base.clone();
        group.push(c);
        group
    };
    let mut groups: Vec<Vec<ScmpArgCompare>> = (0..DOMAIN_SCAN)
        .filter(|&d| d != libc::AF_PACKET as u64 && Some(d) != excluded)
        .map(|d| with(ScmpArgCompare::new(0, ScmpCompareOp::Equal, d)))
        .collect();
    groups.push(with(ScmpArgCompare::new(
        0,
        ScmpCompareOp::GreaterEqual,
        DOMAIN_SCAN,
    )));
    Ok(groups)
}

fn build_profile(profile: &Profile, host: &Host, arches: Arches) -> Result<Filter> {
    let default_action = action(&profile.default_action, profile.default_errno_ret)?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(SeccompError::Create)?;
    match arches {
        Arches::Profile => {
            for arch in architectures(profile)? {
                ctx.add_arch(arch)
                    .map_err(|source| SeccompError::AddArch { arch, source })?;
            }
        }
        Arches::NativeOnly | Arches::NativeOnlyNoPacketSockets => {
            // The profile's list is still checked, so that a bad one is refused either way.
            architectures(profile)?;
            native_only(&mut ctx)?;
        }
    }
    let packets = arches == Arches::NativeOnlyNoPacketSockets;
    if packets && matches!(default_action, ScmpAction::Allow | ScmpAction::Log) {
        refuse_packet_sockets(&mut ctx)?;
    }
    for rule in &profile.syscalls {
        if !applies(rule, host)? {
            continue;
        }
        let act = action(&rule.action, rule.errno_ret)?;
        // libseccomp refuses rules that repeat the default action.
        if act == default_action {
            continue;
        }
        let names = if rule.name.is_empty() {
            &rule.names[..]
        } else {
            std::slice::from_ref(&rule.name)
        };
        let conditions = comparisons(rule, names)?;
        let lets_through = matches!(act, ScmpAction::Allow | ScmpAction::Log);
        for name in names {
            let narrowed;
            let conditions = if packets && lets_through && name == "socket" {
                narrowed = narrow_socket_rule(rule)?;
                &narrowed
            } else {
                &conditions
            };
            // A name this libseccomp does not know on this arch: skipped, as Docker does.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            for group in conditions {
                ctx.add_rule_conditional(act, syscall, group)
                    .map_err(|source| SeccompError::AddRule {
                        syscall: name.clone(),
                        source,
                    })?;
            }
        }
    }
    Ok(Filter { ctx })
}

/// Load the filter into the kernel for this thread. It does not set no_new_privs: the caller
/// decides that, and without it the caller must still hold CAP_SYS_ADMIN (see the order in
/// [`crate::security`]).
pub fn load(filter: Filter) -> Result<()> {
    let mut ctx = filter.ctx;
    ctx.set_ctl_nnp(false).map_err(SeccompError::Load)?;
    ctx.load().map_err(SeccompError::Load)
}

fn running_kernel() -> Result<(u32, u32)> {
    let release = std::fs::read_to_string(OSRELEASE).map_err(SeccompError::KernelVersion)?;
    parse_kernel(&release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::caps::{self, default_set};

    /// The keyring calls are not in the default profile, so the default action answers EPERM;
    /// ordinary calls still work.
    #[test]
    fn default_filter_denies_keyctl_and_allows_getpid() {
        use crate::sys::keyctl_get_keyring_id;
        const KEY_SPEC_SESSION_KEYRING: i32 = -3;
        // Built in the parent: the child only loads it.
        let filter = build(&SeccompSpec::Default, &default_set(), Arches::Profile)
            .unwrap()
            .unwrap();
        crate::sys::in_child(move || {
            if let Err(e) = keyctl_get_keyring_id(KEY_SPEC_SESSION_KEYRING, false) {
                if e.raw_os_error() == Some(libc::EPERM) {
                    return Err(format!("keyctl failed with EPERM before the filter: {e}"));
                }
            }
            load(filter).map_err(|e| e.to_string())?;
            match keyctl_get_keyring_id(KEY_SPEC_SESSION_KEYRING, false) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                other => return Err(format!("keyctl: expected EPERM, got {other:?}")),
            }
            let pid = nix::unistd::getpid();
            if pid.as_raw() <= 1 {
                return Err(format!("getpid: expected our pid, got {pid}"));
            }
            std::fs::read_to_string("/proc/self/status")
                .map_err(|e| format!("reading a file under the filter: {e}"))?;
            // pthread_create: clone3 is answered ENOSYS, glibc falls back to clone, which the
            // MASKED_EQ rule lets through since it asks for no new namespace.
            std::thread::spawn(|| 7)
                .join()
                .map_err(|_| "a thread under the filter panicked".to_string())?;
            Ok(())
        })
        .unwrap();
    }

    /// Without CAP_SYS_ADMIN the default profile does not allow unshare: the default action
    /// answers EPERM, although the process (root here) could otherwise make the namespace.
    #[test]
    fn default_filter_refuses_new_namespaces_without_sys_admin() {
        let caps = caps::resolve(false, &[], &[]).unwrap();
        let filter = build(&SeccompSpec::Default, &caps, Arches::Profile)
            .unwrap()
            .unwrap();
        crate::sys::in_child(move || {
            load(filter).map_err(|e| e.to_string())?;
            match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS) {
                Err(nix::errno::Errno::EPERM) => Ok(()),
                other => Err(format!("unshare: expected EPERM, got {other:?}")),
            }
        })
        .unwrap();
    }

    /// A container with deny-connect rules gets no packet socket (its frames would pass no
    /// hook of the rules), under the default profile (which allows `socket` with CAP_NET_RAW)
    /// and unconfined; other sockets still open.
    #[test]
    fn deny_connect_filters_refuse_packet_sockets() {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        let caps = caps::resolve(false, &["NET_RAW".to_string()], &[]).unwrap();
        for spec in [SeccompSpec::Default, SeccompSpec::Unconfined] {
            for (arches, refused) in [
                (Arches::NativeOnly, false),
                (Arches::NativeOnlyNoPacketSockets, true),
            ] {
                let filter = build(&spec, &caps, arches)
                    .unwrap_or_else(|e| panic!("{spec:?} {arches:?}: {e:?}"))
                    .unwrap();
                crate::sys::in_child(move || {
                    load(filter).map_err(|e| e.to_string())?;
                    let packet = socket(
                        AddressFamily::Packet,
                        SockType::Raw,
                        SockFlag::empty(),
                        None,
                    );
                    match (refused, packet) {
                        (true, Err(nix::errno::Errno::EPERM)) | (false, Ok(_)) => {}
                        (_, other) => {
                            return Err(format!(
                                "{arches:?}: AF_PACKET expected refused={refused}, got {other:?}"
                            ))
                        }
                    }
                    socket(
                        AddressFamily::Inet,
                        SockType::Datagram,
                        SockFlag::empty(),
                        None,
                    )
                    .map(drop)
                    .map_err(|e| format!("{arches:?}: a UDP socket: {e}"))
                })
                .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            }
        }
    }

    #[test]
    fn default_filter_with_sys_admin_allows_unshare() {
        let caps = caps::resolve(false, &["SYS_ADMIN".to_string()], &[]).unwrap();
        let filter = build(&SeccompSpec::Default, &caps, Arches::Profile)
            .unwrap()
            .unwrap();
        crate::sys::in_child(move || {
            load(filter).map_err(|e| e.to_string())?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS)
                .map_err(|e| format!("unshare: expected success, got {e}"))
        })
        .unwrap();
    }
}
