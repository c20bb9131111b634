//! Daemonless loading: the first berth process that needs the monitor loads the programs and
//! pins their maps, programs and links under bpffs; everyone after opens the pins. Nothing
//! stays running: the pinned links keep the programs attached after the loader exits.
//!
//! Layout under the bpffs directory (default /sys/fs/bpf/berth):
//!   (the directory itself is flocked while loading: bpffs holds no regular files)
//!   v<ABI>-<object hash>/maps/{watched,counts,rings,ring_of,pending,sensitive,scratch,...}
//!   v<ABI>-<object hash>/slots/<n>/                   (the events rings' pool: see rings.rs)
//!   v<ABI>-<object hash>/links/{exec,fork,exit}
//!   v<ABI>-<object hash>/links/sys_exit               (counts: only while counting/ is not empty)
//!   v<ABI>-<object hash>/links/sys_enter              (syscall policy: only while denying/ is not empty)
//!   v<ABI>-<object hash>/{counting,denying}/<cgroup id>/ (the cgroups that need them)
//!   v<ABI>-<object hash>/cgroups/<cgroup id>/{skb_in,skb_out,connect4,connect6,sendmsg4,sendmsg6,
//!                                             sock_create}
//!   v<ABI>-<object hash>/links/sec_{enter,exit}_<call>   (one per security call this kernel has)
//!   v<ABI>-<object hash>/progs/{...}   (pinned last: progs/sec_exit means "loaded")
//! A build with other programs loads its own and removes the older pins.
//!
//! The security calls are watched with their own tracepoints (syscalls/sys_enter_<call> and
//! sys_exit_<call>), which cost nothing to other calls; their ids are read from tracefs, which
//! is mounted on /sys/kernel/tracing when it is not there yet. A call this kernel was built
//! without (no tracepoint: init_module without module support, kexec_load ...) is skipped:
//! it fails with ENOSYS and is still counted by the syscall counters.

use crate::{MonitorError, Result};
use aya::maps::MapData;
use aya::programs::cgroup_sock::CgroupSockAttachType;
use aya::programs::cgroup_sock_addr::CgroupSockAddrAttachType;
use aya::programs::links::FdLink;
use aya::programs::{
    BtfTracePoint, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSock, CgroupSockAddr,
    RawTracePoint, TracePoint,
};
use aya::{include_bytes_aligned, EbpfLoader};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor.bpf.o"));

/// An all-syscalls hook (a BTF tracepoint), attached only while some cgroup needs it
/// ([`hook_start`]).
pub(crate) struct Hook {
    symbol: &'static str,
    tracepoint: &'static str,
    /// Its program's and link's pin name.
    pin: &'static str,
    /// The directory of the cgroups that need it.
    users: &'static str,
}

/// Counts (calls and errors, on the way out of each call).
pub(crate) const COUNT_HOOK: Hook = Hook {
    symbol: "berth_sys_exit",
    tracepoint: "sys_exit",
    pin: "sys_exit",
    users: "counting",
};

/// The syscall policy (SIGKILL on the way in).
pub(crate) const DENY_HOOK: Hook = Hook {
    symbol: "berth_sys_enter",
    tracepoint: "sys_enter",
    pin: "sys_enter",
    users: "denying",
};

const HOOKS: [&Hook; 2] = [&COUNT_HOOK, &DENY_HOOK];

/// Attached at load: (program symbol, raw tracepoint, pin name).
const PROGRAMS: [(&str, &str, &str); 3] = [
    ("berth_exec", "sched_process_exec", "exec"),
    ("berth_fork", "sched_process_fork", "fork"),
    ("berth_exit", "sched_process_exit", "exit"),
];
pub(crate) const MAPS: [&str; 12] = [
    "watched",
    "counts",
    "rings",
    "ring_of",
    "pending",
    "sensitive",
    "scratch",
    "netstat",
    "deny_calls",
    "deny_connect",
    "deny_raw",
    "lost",
];

/// The connect policy's programs (connect, and UDP datagrams sent with an address), attached
/// like CGROUP_SKB.
pub(crate) const CGROUP_SOCK_ADDR: [(&str, &str, CgroupSockAddrAttachType); 4] = [
    (
        "berth_connect4",
        "connect4",
        CgroupSockAddrAttachType::Connect4,
    ),
    (
        "berth_connect6",
        "connect6",
        CgroupSockAddrAttachType::Connect6,
    ),
    (
        "berth_sendmsg4",
        "sendmsg4",
        CgroupSockAddrAttachType::UDPSendMsg4,
    ),
    (
        "berth_sendmsg6",
        "sendmsg6",
        CgroupSockAddrAttachType::UDPSendMsg6,
    ),
];

/// The raw-socket refusal of a container with deny-connect rules (cgroup/sock_create), attached
/// like CGROUP_SKB: (program symbol, pin name).
pub(crate) const CGROUP_SOCK_CREATE: (&str, &str) = ("berth_sock_create", "sock_create");

/// Programs attached to each watched container's cgroup2 directory ([`attach_cgroup`]):
/// (program symbol, pin name).
pub(crate) const CGROUP_SKB: [(&str, &str, CgroupSkbAttachType); 2] = [
    ("berth_skb_in", "skb_in", CgroupSkbAttachType::Ingress),
    ("berth_skb_out", "skb_out", CgroupSkbAttachType::Egress),
];

/// The security calls, by the names of their tracepoints (umount2's is `umount`).
const SECURITY_CALLS: [&str; 20] = [
    "ptrace",
    "mount",
    "umount",
    "setns",
    "unshare",
    "bpf",
    "init_module",
    "finit_module",
    "kexec_load",
    "open",
    "openat",
    "openat2",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "kill",
    "tkill",
    "tgkill",
    "connect",
];

/// The paths whose open is an event.
pub const SENSITIVE_PATHS: [&str; 8] = [
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/proc/kcore",
    "/proc/sysrq-trigger",
    "/dev/mem",
    "/dev/kmem",
    "/dev/port",
];

const TRACEFS: &str = "/sys/kernel/tracing";
const TRACEFS_MAGIC: i64 = 0x74726163;

const BPF_FS_MAGIC: i64 = 0xcafe4a11;
/// Where bpffs is mounted.
const BPF_ROOT: &str = "/sys/fs/bpf";

/// The pins of this build's programs: `v<ABI>-<hash of the object>`, so a berth whose programs
/// differ in any way never reads maps written by others.
pub(crate) fn versioned(dir: &Path) -> PathBuf {
    // Hashed once per process: a start opens a dozen pins, and the object is ~70 KiB.
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let name = NAME.get_or_init(|| {
        // FNV-1a: a name, not a defence.
        let hash = OBJECT.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        format!("v{}-{hash:016x}", crate::abi::ABI)
    });
    dir.join(name)
}

/// Removes the pins of other builds: their links go, so their programs detach once no process
/// holds them (the containers they watched are no longer counted).
fn remove_other_versions(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with('v');
        if ours && path != keep && path.is_dir() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

pub(crate) fn map_pin(dir: &Path, name: &str) -> PathBuf {
    versioned(dir).join("maps").join(name)
}

fn complete(v: &Path) -> bool {
    PROGRAMS
        .iter()
        .all(|(_, _, pin)| v.join("links").join(pin).exists())
        && MAPS.iter().all(|m| v.join("maps").join(m).exists())
        && v.join("progs").join("sec_exit").exists()
}

/// Makes sure the programs are loaded, attached and pinned under `dir`; true when this call
/// loaded them, false when they were already there. `dir` must lie on bpffs: [`prepare_host`]
/// mounts it, and must have run in the host's mount namespace first. This function mounts
/// nothing, so that pins are never made on a bpffs that only a private namespace sees (and that
/// dies with it).
pub fn ensure_loaded(dir: &Path) -> Result<bool> {
    let v = versioned(dir);
    if complete(&v) {
        return Ok(false);
    }
    require_fs(dir, BPF_FS_MAGIC, "bpffs")?;
    std::fs::create_dir_all(dir).map_err(|e| MonitorError::io("creating", dir, e))?;
    let handle = File::open(dir).map_err(|e| MonitorError::io("opening", dir, e))?;
    // Concurrent first users agree: one loads, the others wait here and then find the pins.
    let _lock = Flock::lock(handle, FlockArg::LockExclusive)
        .map_err(|(_, e)| MonitorError::io("locking", dir, e.into()))?;
    if complete(&v) {
        return Ok(false);
    }
    // A loader that died half way left some pins: start over.
    if v.exists() {
        std::fs::remove_dir_all(&v).map_err(|e| MonitorError::io("removing stale", &v, e))?;
    }
    load_and_pin(&v)?;
    remove_other_versions(dir, &v);
    Ok(true)
}

/// Readies the caller's mount namespace for the monitor: bpffs on /sys/fs/bpf (when `dir` lies
/// under it) and tracefs on /sys/kernel/tracing, each mounted unless it is there already.
///
/// Call it in the host's mount namespace, before entering any private one: the pins live as
/// long as the bpffs mount they were made on, and a mount made in a private namespace (where
/// the host's mounts are private, as on a machine without systemd) dies with that namespace,
/// taking every pin with it. berth's shim calls it before it seals itself in a namespace of
/// its own; `berth serve` at its start. It costs two statfs calls once the mounts are there.
pub fn prepare_host(dir: &Path) -> Result<()> {
    let bpf = Path::new(BPF_ROOT);
    if dir.starts_with(bpf) {
        mount_once(bpf, "bpf", BPF_FS_MAGIC)?;
    }
    // Mounted under debugfs instead: aya finds it there.
    if Path::new("/sys/kernel/debug/tracing/events").exists() {
        return Ok(());
    }
    mount_once(Path::new(TRACEFS), "tracefs", TRACEFS_MAGIC)
}

/// Is `path` on a filesystem of type `magic`? Asked of its nearest existing ancestor.
fn on_fs(path: &Path, magic: i64) -> bool {
    path.ancestors()
        .find_map(|p| nix::sys::statfs::statfs(p).ok())
        .is_some_and(|s| s.filesystem_type().0 == magic)
}

/// An error unless `path` lies on a filesystem of type `magic`, named `name`.
fn require_fs(path: &Path, magic: i64, name: &'static str) -> Result<()> {
    if on_fs(path, magic) {
        return Ok(());
    }
    Err(MonitorError::NotMounted {
        fs: name,
        path: path.to_path_buf(),
    })
}

/// Mounts a filesystem of type `fstype` (mode 0700) on `root` unless one is there. Two
/// first users at once must not stack two mounts (the pins made on the lower one would be
/// hidden): the check and the mount are made under a lock on the mount point's directory.
/// A user that opened the directory after the mount holds the new root, finds the mount and
/// does nothing.
fn mount_once(root: &Path, fstype: &str, magic: i64) -> Result<()> {
    let mounted = || nix::sys::statfs::statfs(root).is_ok_and(|s| s.filesystem_type().0 == magic);
    if mounted() {
        return Ok(());
    }
    let handle = File::open(root).map_err(|e| MonitorError::io("opening", root, e))?;
    let _lock = Flock::lock(handle, FlockArg::LockExclusive)
        .map_err(|(_, e)| MonitorError::io("locking", root, e.into()))?;
    if mounted() {
        return Ok(());
    }
    nix::mount::mount(
        Some(fstype),
        root,
        Some(fstype),
        nix::mount::MsFlags::empty(),
        Some("mode=0700"),
    )
    .map_err(|e| MonitorError::Mount {
        fs: fstype.to_string(),
        path: root.to_path_buf(),
        source: e.into(),
    })
}

/// Loads the object, pins its maps and programs, attaches each program and pins its link.
fn load_and_pin(v: &Path) -> Result<()> {
    if !Path::new("/sys/kernel/debug/tracing/events").exists() {
        require_fs(Path::new(TRACEFS), TRACEFS_MAGIC, "tracefs")?;
    }
    for sub in ["maps", "progs", "links"] {
        let d = v.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| MonitorError::io("creating", &d, e))?;
    }
    let mut ebpf = EbpfLoader::new()
        .load(OBJECT)
        .map_err(|e| MonitorError::Load(e.to_string()))?;
    for name in MAPS {
        let map = ebpf
            .map(name)
            .ok_or_else(|| MonitorError::Load(format!("no map {name} in the object")))?;
        map.pin(v.join("maps").join(name))
            .map_err(|e| MonitorError::Pin(name.into(), e.to_string()))?;
    }
    {
        let map = ebpf
            .map_mut("sensitive")
            .ok_or_else(|| MonitorError::Load("no map sensitive in the object".into()))?;
        let mut sensitive: aya::maps::HashMap<_, crate::abi::PathKey, u8> = map
            .try_into()
            .map_err(|e| MonitorError::Map("sensitive", e))?;
        for path in SENSITIVE_PATHS {
            let mut key = crate::abi::PathKey {
                path: [0; crate::abi::PATH_KEY_LEN],
            };
            key.path[..path.len()].copy_from_slice(path.as_bytes());
            sensitive
                .insert(key, 1, 0)
                .map_err(|e| MonitorError::Map("sensitive", e))?;
        }
    }
    let progs = v.join("progs");
    let links = v.join("links");
    let btf =
        aya::Btf::from_sys_fs().map_err(|e| MonitorError::Load(format!("kernel BTF: {e}")))?;
    for &&Hook {
        symbol,
        tracepoint,
        pin,
        ..
    } in &HOOKS
    {
        let prog: &mut BtfTracePoint = ebpf
            .program_mut(symbol)
            .ok_or_else(|| MonitorError::Load(format!("no program {symbol} in the object")))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| MonitorError::Load(e.to_string()))?;
        prog.load(tracepoint, &btf)
            .map_err(|e| MonitorError::Load(format!("{symbol}: {e}")))?;
        pinned(prog.pin(progs.join(pin)), symbol)?;
    }
    for (symbol, tracepoint, pin) in PROGRAMS {
        let prog = loaded!(ebpf, RawTracePoint, symbol);
        pinned(prog.pin(progs.join(pin)), symbol)?;
        let id = prog
            .attach(tracepoint)
            .map_err(|e| MonitorError::Load(format!("attaching {symbol}: {e}")))?;
        pin_link(
            prog.take_link(id).map(FdLink::from),
            symbol,
            &links.join(pin),
        )?;
    }
    // Loaded and pinned, attached later to each container's cgroup (attach_cgroup).
    for (symbol, pin, _) in CGROUP_SKB {
        pinned(
            loaded!(ebpf, CgroupSkb, symbol).pin(progs.join(pin)),
            symbol,
        )?;
    }
    for (symbol, pin, _) in CGROUP_SOCK_ADDR {
        pinned(
            loaded!(ebpf, CgroupSockAddr, symbol).pin(progs.join(pin)),
            symbol,
        )?;
    }
    let (symbol, pin) = CGROUP_SOCK_CREATE;
    pinned(
        loaded!(ebpf, CgroupSock, symbol).pin(progs.join(pin)),
        symbol,
    )?;
    // The security calls: one program for every sys_enter_<call>, one for every sys_exit_<call>;
    // pinned last, sec_exit last of all, which marks the load complete.
    for (symbol, pin, phase) in [
        ("berth_sec_enter", "sec_enter", "enter"),
        ("berth_sec_exit", "sec_exit", "exit"),
    ] {
        let prog = loaded!(ebpf, TracePoint, symbol);
        for call in SECURITY_CALLS {
            let name = format!("sys_{phase}_{call}");
            if !tracepoint_exists(&name) {
                continue;
            }
            let id = prog
                .attach("syscalls", &name)
                .map_err(|e| MonitorError::Load(format!("attaching {symbol} to {name}: {e:?}")))?;
            let at = links.join(format!("sec_{name}"));
            pin_link(fd_link(prog.take_link(id)), &name, &at)?;
        }
        pinned(prog.pin(progs.join(pin)), symbol)?;
    }
    Ok(())
}

/// Program `$symbol` of the loaded object `$ebpf` as a `$ty`, loaded into the kernel.
macro_rules! loaded {
    ($ebpf:expr, $ty:ty, $symbol:expr) => {{
        let symbol: &str = $symbol;
        let prog: &mut $ty = $ebpf
            .program_mut(symbol)
            .ok_or_else(|| MonitorError::Load(format!("no program {symbol} in the object")))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| MonitorError::Load(e.to_string()))?;
        prog.load()
            .map_err(|e| MonitorError::Load(format!("{symbol}: {e}")))?;
        prog
    }};
}
use loaded;

/// A program's pinning, in berth's words.
fn pinned(r: std::result::Result<(), aya::pin::PinError>, symbol: &str) -> Result<()> {
    r.map_err(|e| MonitorError::Pin(symbol.into(), e.to_string()))
}

/// A program's link as an FdLink (the kind that can be pinned).
fn fd_link<L: TryInto<FdLink, Error = aya::programs::links::LinkError>>(
    link: std::result::Result<L, aya::programs::ProgramError>,
) -> std::result::Result<FdLink, String> {
    link.map_err(|e| e.to_string())?
        .try_into()
        .map_err(|e: aya::programs::links::LinkError| e.to_string())
}

/// Pins the link of `what` at `at`: it stays attached with no process holding it.
fn pin_link(
    link: std::result::Result<FdLink, impl std::fmt::Display>,
    what: &str,
    at: &Path,
) -> Result<()> {
    let link = link.map_err(|e| MonitorError::Load(format!("{what}: {e}")))?;
    link.pin(at)
        .map_err(|e| MonitorError::Pin(at.display().to_string(), e.to_string()))?;
    Ok(())
}

/// Does this kernel have the tracepoint syscalls/`name`?
fn tracepoint_exists(name: &str) -> bool {
    [TRACEFS, "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| Path::new(t).join("events/syscalls").join(name).exists())
}

/// Detaches everything pinned under `dir` (the links go with their pins once no process holds
/// them) and removes the pins.
pub fn unload(dir: &Path) -> Result<()> {
    let v = versioned(dir);
    if v.exists() {
        std::fs::remove_dir_all(&v).map_err(|e| MonitorError::io("removing", &v, e))?;
    }
    Ok(())
}

/// Takes the bpffs directory's lock (bpffs holds no regular files: the directory itself).
pub(crate) fn lock(dir: &Path) -> Result<Flock<File>> {
    let handle = File::open(dir).map_err(|e| MonitorError::io("opening", dir, e))?;
    Flock::lock(handle, FlockArg::LockExclusive)
        .map_err(|(_, e)| MonitorError::io("locking", dir, e.into()))
}

/// Cgroup `cgroup_id` needs `hook`: marks it under the hook's `users` directory and, if it is
/// the first, attaches the hook (link pinned). Under the directory's lock, so that a first and
/// a last never cross.
pub(crate) fn hook_start(dir: &Path, hook: &Hook, cgroup_id: u64) -> Result<()> {
    let v = versioned(dir);
    let _lock = lock(dir)?;
    let mark = v.join(hook.users).join(cgroup_id.to_string());
    std::fs::create_dir_all(&mark).map_err(|e| MonitorError::io("creating", &mark, e))?;
    let at = v.join("links").join(hook.pin);
    if at.exists() {
        return Ok(());
    }
    let symbol = hook.symbol;
    let mut prog = BtfTracePoint::from_pin(v.join("progs").join(hook.pin))
        .map_err(|e| MonitorError::Load(format!("opening {symbol}: {e}")))?;
    let id = prog
        .attach()
        .map_err(|e| MonitorError::Load(format!("attaching {symbol}: {e}")))?;
    pin_link(prog.take_link(id).map(FdLink::from), symbol, &at)
}

/// Cgroup `cgroup_id` no longer needs `hook`; the last one out detaches it, so that processes
/// outside containers pay nothing.
pub(crate) fn hook_stop(dir: &Path, hook: &Hook, cgroup_id: u64) -> Result<()> {
    let v = versioned(dir);
    let users = v.join(hook.users);
    let mark = users.join(cgroup_id.to_string());
    if !mark.exists() {
        return Ok(());
    }
    let _lock = lock(dir)?;
    match std::fs::remove_dir(&mark) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(MonitorError::io("removing", &mark, e)),
    }
    let others = std::fs::read_dir(&users).map(|d| d.count()).unwrap_or(0);
    if others == 0 {
        let at = v.join("links").join(hook.pin);
        match std::fs::remove_file(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(MonitorError::io("removing", &at, e)),
        }
    }
    Ok(())
}

/// Is the counting hook attached?
pub fn counting(dir: &Path) -> bool {
    versioned(dir).join("links").join(COUNT_HOOK.pin).exists()
}

/// Is the syscall policy's hook attached?
pub fn denying(dir: &Path) -> bool {
    versioned(dir).join("links").join(DENY_HOOK.pin).exists()
}

/// Where the links of cgroup `cgroup_id`'s programs are pinned.
fn cgroup_pins(dir: &Path, cgroup_id: u64) -> PathBuf {
    versioned(dir).join("cgroups").join(cgroup_id.to_string())
}

/// Attaches the per-cgroup programs (packet counters, connect policy, raw-socket refusal) to the
/// cgroup2 directory `cgroup_dir`
/// and pins their links, so that they stay attached with no berth process alive; a cgroup
/// already attached is left as it is. The kernel detaches them when the cgroup is removed;
/// [`detach_cgroup`] removes the pins.
pub(crate) fn attach_cgroup(dir: &Path, cgroup_dir: &Path, cgroup_id: u64) -> Result<()> {
    let pins = cgroup_pins(dir, cgroup_id);
    std::fs::create_dir_all(&pins).map_err(|e| MonitorError::io("creating", &pins, e))?;
    let cgroup = File::open(cgroup_dir).map_err(|e| MonitorError::io("opening", cgroup_dir, e))?;
    let progs = versioned(dir).join("progs");
    for (symbol, pin, attach_type) in CGROUP_SKB {
        let at = pins.join(pin);
        if at.exists() {
            continue;
        }
        let mut prog = CgroupSkb::from_pin(progs.join(pin), attach_type)
            .map_err(|e| MonitorError::Load(format!("opening {symbol}: {e}")))?;
        let id = prog
            // A link never displaces others (links are always "multi"); the flag must be 0.
            .attach(&cgroup, attach_type, CgroupAttachMode::Single)
            .map_err(|e| MonitorError::Load(format!("attaching {symbol}: {e:?}")))?;
        pin_link(fd_link(prog.take_link(id)), symbol, &at)?;
    }
    for (symbol, pin, attach_type) in CGROUP_SOCK_ADDR {
        let at = pins.join(pin);
        if at.exists() {
            continue;
        }
        let mut prog = CgroupSockAddr::from_pin(progs.join(pin), attach_type)
            .map_err(|e| MonitorError::Load(format!("opening {symbol}: {e}")))?;
        let id = prog
            .attach(&cgroup, CgroupAttachMode::Single)
            .map_err(|e| MonitorError::Load(format!("attaching {symbol}: {e:?}")))?;
        pin_link(fd_link(prog.take_link(id)), symbol, &at)?;
    }
    let (symbol, pin) = CGROUP_SOCK_CREATE;
    let at = pins.join(pin);
    if !at.exists() {
        let mut prog = CgroupSock::from_pin(progs.join(pin), CgroupSockAttachType::SockCreate)
            .map_err(|e| MonitorError::Load(format!("opening {symbol}: {e}")))?;
        let id = prog
            .attach(&cgroup, CgroupAttachMode::Single)
            .map_err(|e| MonitorError::Load(format!("attaching {symbol}: {e:?}")))?;
        pin_link(fd_link(prog.take_link(id)), symbol, &at)?;
    }
    Ok(())
}

/// Detaches the per-cgroup programs of `cgroup_id` (removes their pinned links).
pub(crate) fn detach_cgroup(dir: &Path, cgroup_id: u64) -> Result<()> {
    let pins = cgroup_pins(dir, cgroup_id);
    match std::fs::remove_dir_all(&pins) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MonitorError::io("removing", &pins, e)),
    }
}

pub(crate) fn open_map(dir: &Path, name: &str) -> Result<aya::maps::Map> {
    let path = map_pin(dir, name);
    if !path.exists() {
        // Say why nothing is there: no bpffs in this namespace, or nothing loaded yet.
        require_fs(dir, BPF_FS_MAGIC, "bpffs")?;
        return Err(MonitorError::NotLoaded(dir.to_path_buf()));
    }
    let data =
        MapData::from_pin(&path).map_err(|e| MonitorError::Open(path.clone(), e.to_string()))?;
    aya::maps::Map::from_map_data(data).map_err(|e| MonitorError::Open(path, e.to_string()))
}
