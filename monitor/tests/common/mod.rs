//! What the kernel tests share: children (the test binary run again, in a cgroup, doing a
//! role), cgroups and pins of their own, removed on drop.

use berth_monitor::{ensure_loaded, unload, Monitor};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const ROLE: &str = "BERTH_MONITOR_TEST_ROLE";

/// This binary run again as a child: its `child` entry alone (an ignored test, so that it
/// never counts as one), which does what the child's environment asks (`child_main`).
pub fn child_command() -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "child",
        "--test-threads=1",
        "--quiet",
    ]);
    cmd
}

/// Runs this binary's `child` entry with `env`; its exit status.
pub fn child_status(env: &[(&str, String)]) -> std::process::ExitStatus {
    let mut cmd = child_command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null());
    cmd.status().expect("running the child")
}

/// Runs this binary's `child` entry with `env`; panics unless it succeeds.
pub fn run_child(env: &[(&str, String)]) {
    let mut cmd = child_command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running the child");
    assert!(
        out.status.success(),
        "child {env:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// What a child does: its environment says (join a cgroup, then exec this binary again and do
/// its role).
pub fn child_main() {
    let Ok(role) = std::env::var(ROLE) else {
        return; // run as a plain test: nothing to do
    };
    // Join the cgroup, then exec this binary again: the monitor counts and reports from a
    // cgroup's first execve on, as for a container's program.
    if let Ok(cg) = std::env::var("BERTH_CGROUP") {
        if std::env::var_os("BERTH_JOINED").is_none() {
            std::fs::write(
                Path::new(&cg).join("cgroup.procs"),
                std::process::id().to_string(),
            )
            .expect("joining the cgroup");
            // Before the first exec: not the program's doing, not reported.
            let _ = std::fs::File::open("/etc/shadow");
            use std::os::unix::process::CommandExt;
            let err = child_command().env("BERTH_JOINED", "1").exec();
            panic!("exec: {err}");
        }
    }
    let n: u64 = std::env::var("BERTH_N").map_or(0, |v| v.parse().unwrap());
    match role.as_str() {
        "getppid" => {
            for _ in 0..n {
                std::hint::black_box(nix::unistd::getppid());
            }
        }
        "fail-open" => {
            for _ in 0..n {
                assert!(std::fs::File::open("/nonexistent/berth-monitor").is_err());
            }
        }
        "exec" => {
            for _ in 0..n.max(1) {
                let st = Command::new("/bin/true")
                    .arg("--berth-arg")
                    .status()
                    .expect("running /bin/true");
                assert!(st.success());
            }
        }
        "reopen" => {
            let dir = PathBuf::from(std::env::var("BERTH_DIR").unwrap());
            assert!(
                !ensure_loaded(&dir).unwrap(),
                "a second process loaded again"
            );
            let mut m = Monitor::open(&dir).expect("opening the pins from another process");
            let cg: u64 = std::env::var("BERTH_CGROUP_ID").unwrap().parse().unwrap();
            m.watch(cg, "from-another-process", 0).unwrap();
            m.count(cg).unwrap();
        }
        "load" => {
            let dir = PathBuf::from(std::env::var("BERTH_DIR").unwrap());
            let loaded = ensure_loaded(&dir).expect("loading");
            let out = std::env::var("BERTH_OUT").unwrap();
            std::fs::write(out, if loaded { "loaded" } else { "opened" }).unwrap();
        }
        "security" => security_calls(),
        "hold-ring" => {
            // Takes an events ring, says which slot, and holds it until killed.
            let dir = PathBuf::from(std::env::var("BERTH_DIR").unwrap());
            let mut m = Monitor::open(&dir).unwrap();
            let cg: u64 = std::env::var("BERTH_CGROUP_ID").unwrap().parse().unwrap();
            let ring = m.open_ring(cg).unwrap();
            let out = std::env::var("BERTH_OUT").unwrap();
            std::fs::write(format!("{out}.tmp"), ring.slot().to_string()).unwrap();
            std::fs::rename(format!("{out}.tmp"), out).unwrap();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
        }
        "mkdir" => {
            let d = Path::new(&std::env::var("BERTH_TMP").unwrap())
                .join(format!("d{}", std::process::id()));
            std::fs::create_dir(&d).unwrap();
        }
        "connect" => {
            let port = std::env::var("BERTH_PORT").unwrap();
            match std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => std::process::exit(3),
                Err(e) => panic!("connect: {e}"),
            }
        }
        "send" => {
            use std::io::Write;
            let port = std::env::var("BERTH_PORT").unwrap();
            let mut c = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
            c.write_all(&vec![7u8; n as usize]).unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

pub struct Cgroup(pub PathBuf);

impl Cgroup {
    pub fn new(name: &str) -> Cgroup {
        let p = Path::new("/sys/fs/cgroup/unified").join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
        Cgroup(p)
    }
    pub fn id(&self) -> u64 {
        berth_monitor::cgroup_id(&self.0).unwrap()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

pub struct Pins(pub PathBuf);

impl Pins {
    /// The pins under `dir`, on a bpffs mounted in this process's namespace first (as berth's
    /// own processes do before they load: berth_monitor::prepare_host).
    pub fn new(dir: PathBuf) -> Pins {
        berth_monitor::prepare_host(&dir).expect("mounting bpffs and tracefs");
        Pins(dir)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = unload(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

pub fn count_of(m: &Monitor, cg: u64, name: &str) -> (u64, u64) {
    m.counts(cg)
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .map_or((0, 0), |c| (c.calls, c.errors))
}

/// The calls the security test expects to see, made from a watched cgroup.
fn security_calls() {
    let tmp = std::env::var("BERTH_TMP").unwrap();
    let tmp = Path::new(&tmp);
    // A sensitive path (the open fails or not: the call is the event) and a harmless one.
    let _ = std::fs::File::open("/etc/shadow");
    let _ = std::fs::File::open("/etc/hostname");
    // A setuid mode, and a plain one.
    let f = tmp.join("suid");
    std::fs::write(&f, b"").unwrap();
    let st = Command::new("/usr/bin/chmod")
        .arg("4755")
        .arg(&f)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("/usr/bin/chmod")
        .arg("0644")
        .arg(&f)
        .status()
        .unwrap();
    assert!(st.success());
    // unshare, then a mount and an umount in the new mount namespace.
    let mnt = tmp.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs berth-test-src {0} && umount {0}",
        mnt.display()
    );
    let st = Command::new("/usr/bin/unshare")
        .args(["-m", "--propagation", "private", "/bin/sh", "-c", &script])
        .status()
        .unwrap();
    assert!(st.success(), "unshare and mount: {st}");
    // A kill of another process.
    let mut sleeper = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = sleeper.wait();
    // A refused connect.
    let port = std::env::var("BERTH_PORT").unwrap();
    assert!(std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err());
    // A process that exits with a code.
    let st = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
}
