//! The container's first process, from clone to execve: one linear sequence, each step with its
//! own error. It runs in a copy of the single-threaded shim, in the container's new namespaces.
//! Any failure is written to the error pipe as Docker's message and exit code; a successful
//! execve closes the pipe (it is close-on-exec), which is how the shim knows the container runs.

use crate::namespaces;
use crate::paths::ContainerPaths;
use crate::process::{fail, InitFailure};
use crate::rootfs;
use crate::security::{apparmor, caps, rlimits, seccomp, user};
use crate::spec::{ContainerSpec, NsMode, SeccompSpec};
use crate::sys;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What the shim works out before clone, so the child does not repeat it at every start.
pub struct Prepared {
    pub caps: caps::CapSet,
    /// The compiled seccomp program (None: unconfined).
    pub seccomp: Option<seccomp::Bpf>,
    /// The architectures whose calls that program lets through.
    pub arches: seccomp::Arches,
    /// The nodes of `--device`, found on the host.
    pub devices: Vec<crate::devices::DeviceNode>,
}

impl Prepared {
    /// Resolve capabilities and compile (or fetch from `cache_dir`) the seccomp program.
    /// `arches`: [`seccomp::Arches::NativeOnly`] for a container with deny rules, which even an
    /// unconfined one then gets (a filter that allows every native call and kills any other).
    pub fn new(
        spec: &ContainerSpec,
        arches: seccomp::Arches,
        cache_dir: &Path,
    ) -> Result<Prepared, InitFailure> {
        let caps = caps::resolve(
            spec.process.privileged,
            &spec.process.cap_add,
            &spec.process.cap_drop,
        )
        .map_err(|e| fail("capabilities", e))?;
        // dockerd runs privileged containers unconfined unless a profile is given.
        let profile = if spec.process.privileged && spec.process.seccomp == SeccompSpec::Default {
            &SeccompSpec::Unconfined
        } else {
            &spec.process.seccomp
        };
        let seccomp = if let Some(hit) = seccomp::cached(profile, &caps, arches, Some(cache_dir)) {
            hit
        } else {
            // libseccomp's compile grows the heap by a megabyte that glibc keeps: on a cache
            // miss, compile in a child that writes the cache and exits, then read the cache.
            if let Ok(sys::Forked::Child) = sys::fork() {
                let ok = seccomp::compile(profile, &caps, arches, Some(cache_dir)).is_ok();
                sys::exit_now(if ok { 0 } else { 1 });
            }
            let _ = sys::waitpid(-1, 0);
            seccomp::compile(profile, &caps, arches, Some(cache_dir))
                .map_err(|e| fail("seccomp", e))?
        };
        let mut devices = Vec::new();
        for mapping in &spec.devices {
            devices.extend(mapping.resolve().map_err(|e| InitFailure {
                message: e.to_string(),
                exit_code: 125,
            })?);
        }
        Ok(Prepared {
            caps,
            seccomp,
            arches,
            devices,
        })
    }
}

/// The descriptors the first process is handed.
pub struct InitFds {
    /// Read end: a byte from the shim once the process is in its cgroup (and id-mapped), and
    /// another once its network is plugged in.
    pub go: OwnedFd,
    /// Its standard streams (pipes, or a terminal it opens itself).
    pub stdio: crate::stdio::ChildIo,
    /// The namespaces of other containers it joins, opened and checked by the shim.
    pub joins: Vec<namespaces::Joined>,
    /// With a user namespace: the socket on which the shim sends the idmapped image layers,
    /// before the first go byte.
    pub layers: Option<OwnedFd>,
}

/// Run the sequence; never returns. (Called in the child right after clone.)
///
/// `errors` is the write end, close-on-exec, of the pipe that carries a failure before execve.
pub fn run(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    prepared: &Prepared,
    fds: InitFds,
    errors: OwnedFd,
) -> ! {
    // Owned by no one from here: the reaper of `--init` closes it, everyone else execs or exits.
    let errors_fd = errors.into_raw_fd();
    let failure = match prepare_and_exec(spec, paths, prepared, fds, errors_fd) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let code = failure.exit_code;
    crate::process::report_failure(errors_fd, failure);
    sys::exit_now(code)
}

pub(crate) enum Never {}

fn prepare_and_exec(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    prepared: &Prepared,
    fds: InitFds,
    errors: RawFd,
) -> Result<Never, InitFailure> {
    // 1. Wait until the shim has put us in our cgroup (and written id maps).
    let mut go = std::fs::File::from(fds.go);
    wait_for_shim(&mut go)?;
    let idmapped = match &fds.layers {
        Some(socket) => rootfs::receive_layers(socket, rootfs::idmapped_count(spec))
            .map_err(|e| fail("receiving the image layers", e))?,
        None => Vec::new(),
    };
    drop(fds.layers);
    if spec.namespaces.user.is_some() {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .map_err(|e| fail("becoming root in the user namespace", e))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .map_err(|e| fail("becoming root in the user namespace", e))?;
    }
    // 2. Namespaces shared with the host or other containers; a cgroup namespace rooted at our
    //    cgroup.
    for joined in fds.joins {
        joined.enter().map_err(|e| fail("joining namespace", e))?;
    }
    namespaces::unshare_cgroup(&spec.namespaces).map_err(|e| fail("cgroup namespace", e))?;
    // The sysctls of the namespaces just made, through the host's /proc/sys (the container's
    // is read-only once its root is set up).
    crate::security::sysctl::apply(&spec.sysctls).map_err(|e| fail("writing sysctls", e))?;
    // 3. The root filesystem; from here on paths are the container's.
    let root_mode = rootfs::setup(spec, paths, &prepared.devices, &idmapped)
        .map_err(|e| fail("preparing the root", e))?;
    drop(idmapped);
    // Tell the shim how the root was entered: the first byte on the error pipe.
    crate::process::report_root_mode(errors, root_mode)
        .map_err(|e| fail("reporting the root mode", e))?;
    // 4. Names and the loopback interface.
    if spec.namespaces.uts == NsMode::Private {
        let hostname = if spec.hostname.is_empty() {
            spec.id.chars().take(12).collect()
        } else {
            spec.hostname.clone()
        };
        nix::unistd::sethostname(&hostname).map_err(|e| fail("setting the hostname", e))?;
        if !spec.domainname.is_empty() {
            sys::setdomainname(&spec.domainname).map_err(|e| fail("setting the domain", e))?;
        }
    }
    if spec.namespaces.net == NsMode::Private {
        sys::loopback_up().map_err(|e| fail("bringing up lo", e))?;
    }
    // Wait until the shim has plugged in the network and the published ports, which it did
    // while the root was built here.
    wait_for_shim(&mut go)?;
    drop(go);
    // 5. Standard streams and a session of our own.
    fds.stdio
        .install()
        .map_err(|e| fail("setting up stdio", e))?;
    // 6-8. The user, the program and its privileges.
    become_process(&spec.process, prepared, errors)
}

/// One go byte from the shim.
fn wait_for_shim(go: &mut std::fs::File) -> Result<(), InitFailure> {
    let mut byte = [0u8; 1];
    match go.read(&mut byte) {
        Ok(1) => Ok(()),
        _ => Err(fail("waiting for the shim", "the shim went away")),
    }
}

/// Turn the current process, already inside the container's namespaces and cgroup, into
/// `p`: the user, working directory and program as the container sees them, then limits,
/// seccomp, capabilities, and execve. Shared by a container's first process and by exec.
pub(crate) fn become_process(
    p: &crate::spec::ProcessSpec,
    prepared: &Prepared,
    errors: RawFd,
) -> Result<Never, InitFailure> {
    // 6. Only the error pipe and the standard streams stay open (an inherited directory fd
    //    would be a way out through /proc/self/fd); then the user, the working directory and
    //    the program, as the container sees them.
    // SAFETY: this process only execs or exits from here on, and the owners of the descriptors
    // it closes (`prepared`'s, the shim's) are never used or dropped: execve or _exit ends it.
    #[allow(unsafe_code)]
    let closed = unsafe { sys::close_all_but(errors) };
    closed.map_err(|e| fail("closing descriptors", e))?;
    let u =
        user::resolve(Path::new("/"), &p.user, &p.additional_groups).map_err(|e| InitFailure {
            message: e.to_string(),
            exit_code: 127,
        })?;
    let cwd = if p.cwd.is_empty() {
        "/"
    } else {
        p.cwd.as_str()
    };
    if !Path::new(cwd).is_dir() {
        std::fs::create_dir_all(cwd).map_err(|e| InitFailure {
            message: format!("mkdir {cwd}: {}", go_error_text(&e)),
            exit_code: 127,
        })?;
        let _ = nix::unistd::chown(cwd, Some(u.uid.into()), Some(u.gid.into()));
    }
    std::env::set_current_dir(cwd).map_err(|e| InitFailure {
        message: format!("chdir to cwd (\"{cwd}\") set in config.json failed: {e}"),
        exit_code: 127,
    })?;
    check_cwd_inside_root()?;
    let mut env = p.full_env();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", u.home));
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let args = &p.args;
    let Some(arg0) = args.first() else {
        return Err(InitFailure {
            message: "no command specified".to_string(),
            exit_code: 127,
        });
    };
    let program = look_path(arg0, &path_var)?;
    // 7. Privileges: the AppArmor exec label, limits, then seccomp (before the capabilities it
    //    needs are gone, unless no_new_privs lets an unprivileged process load it), then user
    //    and capabilities.
    if let Some(profile) = &p.apparmor_profile {
        let files = apparmor::ATTR_FILES.map(Path::new);
        // runc's words: "apparmor failed to apply profile: write <file>: <errno>".
        apparmor::change_onexec(profile, &files).map_err(|e| InitFailure {
            message: e.to_string(),
            exit_code: 127,
        })?;
    }
    let capset = &prepared.caps;
    let filter = prepared.seccomp.as_ref();
    rlimits::apply(&p.rlimits).map_err(|e| fail("rlimits", e))?;
    // The OOM score, while lowering it is still allowed (CAP_SYS_RESOURCE), as runc does.
    // In a user namespace the shim wrote it from the host's side (lowering it needs
    // CAP_SYS_RESOURCE of the host's namespace): nothing to write when it is already so.
    if let Some(adj) = p.oom_score_adj {
        let now = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
        if now.trim() != adj.to_string() {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .map_err(|e| fail("writing /proc/self/oom_score_adj", e))?;
        }
    }
    let mut filter = filter;
    if p.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| fail("no_new_privileges", e))?;
    } else if let Some(f) = filter.take() {
        seccomp::load_bpf(f).map_err(|e| fail("loading seccomp", e))?;
    }
    caps::drop_bounding(capset).map_err(|e| fail("capability bounding set", e))?;
    nix::sys::prctl::set_keepcaps(true).map_err(|e| fail("keepcaps", e))?;
    user::apply(&u).map_err(|e| fail("setting the user", e))?;
    caps::apply(capset).map_err(|e| fail("capabilities", e))?;
    if let Some(f) = filter.take() {
        seccomp::load_bpf(f).map_err(|e| fail("loading seccomp", e))?;
    }
    // 8. Nothing inherited survives exec, and signals are as a new process expects.
    sys::cloexec_from(3).map_err(|e| fail("closing descriptors", e))?;
    reset_signals();
    let cargs = cstrings(args)?;
    let cenv = cstrings(&env)?;
    let cprog = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|e| fail("program path", e))?;
    if p.init {
        return reaper::run(&cprog, &cargs, &cenv, errors);
    }
    let err = sys::execve(&cprog, &cargs, &cenv);
    Err(exec_failure(arg0, err))
}

/// An errno as Go words it ("no such file or directory"): the docker CLI picks `docker run`'s
/// exit code (127, 126) from these words.
fn go_error_text(e: &std::io::Error) -> String {
    let Some(errno) = e.raw_os_error() else {
        return e.to_string();
    };
    let desc = nix::errno::Errno::from_raw(errno).desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => e.to_string(),
    }
}

/// The working directory must be inside the container's root: a magic link (`/proc/1/cwd` of a
/// shared pid namespace, a `/proc/self/fd/N`) may lead out of it, and getcwd then names no path
/// under "/" (the kernel's "(unreachable)" prefix, which glibc turns into ENOENT). runc's check
/// and wording.
fn check_cwd_inside_root() -> Result<(), InitFailure> {
    let outside = || InitFailure {
        message: "current working directory is outside of container mount namespace root -- \
                  possible container breakout detected"
            .to_string(),
        exit_code: 127,
    };
    match std::env::current_dir() {
        Ok(dir) if dir.is_absolute() => Ok(()),
        _ => Err(outside()),
    }
}

fn cstrings(v: &[String]) -> Result<Vec<CString>, InitFailure> {
    v.iter()
        .map(|s| CString::new(s.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|e| fail("argument with a NUL byte", e))
}

/// execve's failure, in runc's words as dockerd shows them.
fn exec_failure(arg0: &str, err: std::io::Error) -> InitFailure {
    let code = match err.raw_os_error() {
        Some(libc::ENOENT) => 127,
        _ => 126,
    };
    let reason = match err.raw_os_error() {
        Some(libc::EACCES) => "permission denied".to_string(),
        Some(libc::ENOEXEC) => "exec format error".to_string(),
        Some(libc::ENOENT) => "no such file or directory".to_string(),
        _ => err.to_string(),
    };
    InitFailure {
        message: format!("exec: \"{arg0}\": {reason}"),
        exit_code: code,
    }
}

/// Find the program as Go's exec.LookPath does inside the container: a name with a slash is
/// used as it is; a bare name is searched in PATH for an executable regular file.
fn look_path(arg0: &str, path_var: &str) -> Result<PathBuf, InitFailure> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Err(e) => Err(InitFailure {
                message: format!(
                    "exec: \"{arg0}\": stat {arg0}: {}",
                    if e.kind() == std::io::ErrorKind::NotFound {
                        "no such file or directory".to_string()
                    } else {
                        e.to_string()
                    }
                ),
                exit_code: 127,
            }),
            Ok(m) if m.is_dir() || m.permissions().mode() & 0o111 == 0 => Err(InitFailure {
                message: format!("exec: \"{arg0}\": permission denied"),
                exit_code: 126,
            }),
            Ok(_) => Ok(p),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(arg0);
        if is_exec(&candidate) {
            return Ok(candidate);
        }
    }
    Err(InitFailure {
        message: format!("exec: \"{arg0}\": executable file not found in $PATH"),
        exit_code: 127,
    })
}

/// The shim blocks and ignores signals for itself; the container starts with the defaults.
fn reset_signals() {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        let _ = crate::sys::default_signal(sig);
    }
}

/// `--init`: a minimal pid 1 that starts the command, forwards signals to it, reaps every
/// orphan, and exits with the command's status.
mod reaper {
    use super::*;

    pub fn run(
        prog: &CString,
        args: &[CString],
        env: &[CString],
        errors: RawFd,
    ) -> Result<Never, InitFailure> {
        let all = SigSet::all();
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None);
        let child = match sys::fork().map_err(|e| fail("starting the command", e))? {
            sys::Forked::Child => {
                let _ = nix::sys::signal::sigprocmask(
                    SigmaskHow::SIG_SETMASK,
                    Some(&SigSet::empty()),
                    None,
                );
                let err = sys::execve(prog, args, env);
                return Err(exec_failure(&prog.to_string_lossy(), err));
            }
            sys::Forked::Parent { child } => child,
        };
        // Only the command reports exec errors; pid 1 lets go of the pipe (and of everything
        // else inherited from the shim) so that the command's successful exec closes it.
        let _ = errors;
        // SAFETY: pid 1 only reaps and exits from here on: the loop below never returns, so no
        // owner of a descriptor above 2 is used or dropped again.
        #[allow(unsafe_code)]
        let _ = unsafe { sys::close_from(3) };
        loop {
            let Ok(sig) = all.wait() else { continue };
            if sig == Signal::SIGCHLD {
                while let Ok(Some((pid, status))) = sys::waitpid(-1, libc::WNOHANG) {
                    if pid == child {
                        sys::exit_now(sys::exit_code_of(status));
                    }
                }
            } else {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), sig);
            }
        }
    }
}
