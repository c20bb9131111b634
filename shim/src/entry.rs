//! `berth-shim run --root DIR --run-root DIR --id ID [--wait-start]`: detach from the caller
//! (its session and its cgroup), protect the shim binary from the container, then supervise.

use crate::cgroups::ShimGroup;
use crate::paths::Paths;
use crate::spawn::READY_FD;
use crate::supervise::{self, Args};
use crate::sys;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::path::PathBuf;

const SEALED_FLAG: &str = "--sealed";

#[derive(Debug, PartialEq)]
struct Parsed {
    /// "run" (a container) or "exec" (a process in a running container).
    verb: String,
    exec_id: Option<String>,
    root: PathBuf,
    run_root: PathBuf,
    id: String,
    wait_start: bool,
    sealed: bool,
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut it = args.iter();
    let verb = match it.next().map(String::as_str) {
        Some(v @ ("run" | "exec")) => v.to_string(),
        _ => return Err(
            "usage: berth-shim run|exec --root DIR --run-root DIR --id ID [--exec EXEC] [--wait-start]"
                .into(),
        ),
    };
    let mut p = Parsed {
        verb,
        exec_id: None,
        root: PathBuf::from(crate::paths::DEFAULT_ROOT),
        run_root: PathBuf::from(crate::paths::DEFAULT_RUN_ROOT),
        id: String::new(),
        wait_start: false,
        sealed: false,
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--root" => p.root = value()?.into(),
            "--run-root" => p.run_root = value()?.into(),
            "--id" => p.id = value()?,
            "--wait-start" => p.wait_start = true,
            "--exec" => p.exec_id = Some(value()?),
            SEALED_FLAG => p.sealed = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if p.id.is_empty() || !p.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("--id must be a container id".into());
    }
    if p.verb == "exec"
        && !p
            .exec_id
            .as_ref()
            .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err("exec needs --exec with an exec id".into());
    }
    Ok(p)
}

/// The binary's main: returns its exit code.
pub fn main(args: Vec<String>) -> i32 {
    crate::log::init_stderr(crate::log::LogLevel::default());
    // Whatever the caller leaked (a directory fd could become a container's way out) is closed
    // before anything else; only the standard streams and the ready pipe stay.
    // SAFETY: first thing in main: nothing of this process owns a descriptor above 2 yet.
    #[allow(unsafe_code)]
    let closed = unsafe { sys::close_inherited(READY_FD) };
    if let Err(e) = closed {
        tracing::error!("closing inherited descriptors: {e}");
        return 1;
    }
    if args.first().map(String::as_str) == Some(crate::userns_holder::VERB) {
        return crate::userns_holder::hold();
    }
    let parsed = match parse(&args) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    // From the first process on, so that what goes wrong while detaching is in the log too.
    redirect_stderr(&parsed);
    // The host's settings come with the container's spec, not from the caller's environment.
    let settings = crate::Settings::of_container(
        &Paths::new(&parsed.root, &parsed.run_root).container(&parsed.id),
    );
    crate::log::set_level(settings.log_level);
    // Every line the shim logs names its container (and its exec).
    let _span = match parsed.exec_id.as_deref().filter(|_| parsed.verb == "exec") {
        Some(exec) => tracing::info_span!("container", id = %parsed.id, exec).entered(),
        None => tracing::info_span!("container", id = %parsed.id).entered(),
    };
    if !parsed.sealed {
        return detach_and_seal(&parsed, &args, &settings);
    }
    // The caller (spawn::start) put the ready pipe at READY_FD; a shim run by hand has none.
    // SAFETY: close_inherited left READY_FD open only as the inherited pipe. The one file
    // opened since (the log, in redirect_stderr) is closed again, so nothing owns READY_FD;
    // it is taken here once.
    #[allow(unsafe_code)]
    let ready = unsafe { sys::take_fd_if_open(READY_FD) };
    if let Some(exec_id) = parsed.exec_id.filter(|_| parsed.verb == "exec") {
        return crate::exec::run(
            &Paths::new(parsed.root, parsed.run_root),
            &parsed.id,
            &exec_id,
            parsed.wait_start,
            ready,
        );
    }
    supervise::run(Args {
        paths: Paths::new(parsed.root, parsed.run_root),
        id: parsed.id,
        wait_start: parsed.wait_start,
        ready,
    })
}

/// Belong to no caller: fork (the caller reaps the first process at once), setsid, fork again
/// (never a session leader, so never given a terminal), move to the container's shim cgroup,
/// then re-exec sealed. Still in the caller's mount namespace before the seal, a container's
/// shim makes the monitor's mounts (bpffs, tracefs): there, and not in the shim's own
/// namespace, where they and every pin on them would die with the shim.
fn detach_and_seal(parsed: &Parsed, args: &[String], settings: &crate::Settings) -> i32 {
    match sys::fork() {
        Ok(sys::Forked::Parent { .. }) => return 0,
        Ok(sys::Forked::Child) => {}
        Err(e) => {
            tracing::error!("fork: {e}");
            return 1;
        }
    }
    let _ = nix::unistd::setsid();
    match sys::fork() {
        Ok(sys::Forked::Parent { .. }) => sys::exit_now(0),
        Ok(sys::Forked::Child) => {}
        Err(_) => sys::exit_now(1),
    }
    leave_the_callers_cgroup(&parsed.id, settings);
    if parsed.verb == "run" {
        crate::monitor::prepare_host(settings);
    }
    let err = seal_and_exec(args);
    tracing::error!("sealing the shim: {err}");
    sys::exit_now(1)
}

/// Leave the caller's cgroup (a service's, a login session's), which may be killed or removed
/// with the shim in it, for the container's shim group. A shim that cannot move still runs the
/// container: it says why in its log.
fn leave_the_callers_cgroup(id: &str, settings: &crate::Settings) {
    // Moves are cheap only with favordynmods: turn it on first, as the supervisor would.
    if let Ok(layout) = crate::cgroups::detect() {
        crate::cgroups::favor_dynamic_modifications(&layout, settings);
    }
    let moved = ShimGroup::new(id).and_then(|g| g.enter(std::process::id()));
    if let Err(e) = moved {
        tracing::warn!("moving to its own cgroup: {e}");
    }
}

/// Guard the host binary against a container that reaches it through /proc/<pid>/exe (the runc
/// CVE-2019-5736 class): in a mount namespace of the shim's own, bind the binary read-only over
/// itself and re-exec through that mount. Every process forked from the shim then maps the
/// binary through a read-only mount, so a write through /proc/self/exe fails with EROFS.
fn seal_and_exec(args: &[String]) -> String {
    let exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(e) => return format!("reading /proc/self/exe: {e}"),
    };
    if let Err(e) = nix::sched::unshare(CloneFlags::CLONE_NEWNS) {
        return format!("unshare mount namespace: {e}");
    }
    // The mount holding the binary becomes a slave: host mounts still reach it, the bind below
    // never reaches the host. Only that one: the other mounts stay peers of the host's, so that
    // a container's shared bind (`-v /x:/x:rshared`) can carry mounts back to the host. The shim
    // mounts nothing else in this namespace.
    let holder = match crate::mountinfo::current_mount_of(&exe) {
        Ok(m) => m.mount_point,
        Err(e) => return format!("finding the mount of {}: {e}", exe.display()),
    };
    if let Err(e) = mount(
        None::<&str>,
        &holder,
        None::<&str>,
        MsFlags::MS_SLAVE,
        None::<&str>,
    ) {
        return format!("making {} slave: {e}", holder.display());
    }
    if let Err(e) = mount(
        Some(&exe),
        &exe,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        return format!("binding {}: {e}", exe.display());
    }
    if let Err(e) = mount(
        None::<&str>,
        &exe,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    ) {
        return format!("making {} read-only: {e}", exe.display());
    }
    let mut argv: Vec<CString> = Vec::with_capacity(args.len() + 2);
    argv.push(CString::new("berth-shim").unwrap_or_default());
    for a in args {
        match CString::new(a.as_bytes()) {
            Ok(c) => argv.push(c),
            Err(e) => return format!("argument: {e}"),
        }
    }
    argv.push(CString::new(SEALED_FLAG).unwrap_or_default());
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let path = match CString::new(exe.as_os_str().as_encoded_bytes()) {
        Ok(p) => p,
        Err(e) => return format!("binary path: {e}"),
    };
    sys::execve(&path, &argv, &env).to_string()
}

/// The shim's own diagnostics go to `shim.log` in the container's directory.
fn redirect_stderr(p: &Parsed) {
    let dir = Paths::new(&p.root, &p.run_root).container(&p.id).dir;
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
    {
        use std::os::fd::AsFd;
        let _ = sys::replace_std_stream(f.as_fd(), sys::StdStream::Stderr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_the_spawn_command_line() {
        let p = parse(&s(&[
            "run",
            "--root",
            "/r",
            "--run-root",
            "/rr",
            "--id",
            "abc123",
            "--wait-start",
        ]))
        .unwrap();
        assert_eq!(p.root, PathBuf::from("/r"));
        assert_eq!(p.run_root, PathBuf::from("/rr"));
        assert_eq!(p.id, "abc123");
        assert!(p.wait_start && !p.sealed);
        assert!(parse(&s(&["run", "--id", "../etc"])).is_err());
        assert!(parse(&s(&["nope"])).is_err());
        assert!(parse(&s(&["run", "--bogus"])).is_err());
    }
}
