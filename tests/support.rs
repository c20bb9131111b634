//! Support for berth's integration tests: a busybox image made from the `busybox-static` package,
//! a private root and run root per test, and cleanup of every shim, container and cgroup a test
//! started. Tests run as root against the real kernel; nothing here is faked.

// The api crate's tests use the same pin directory helper.
#[path = "../api/tests/common/bpf_pins.rs"]
pub mod bpf_pins;

use berth_shim::cgroups::ShimGroup;
use berth_shim::control::{self, Request, Response};
use berth_shim::spawn::{self, SpawnError, StartOptions, Started};
use berth_shim::spec::ContainerSpec;
use berth_shim::state::{self, State, Status};
use berth_shim::{ContainerPaths, Paths};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the static busybox comes from (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Make a minimal busybox root filesystem in `dir`: the binary, a link per applet, and
/// /etc/passwd and /etc/group with a few users for the user tests.
pub fn make_busybox_layer(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: install the busybox-static package (scripts/install-deps)"
    );
    std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    let list = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    for d in ["etc", "tmp", "root", "home/tester", "proc", "sys", "dev"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         tester:x:1000:1000:tester:/home/tester:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntester:x:1000:\nextra:x:2000:tester\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/hello.txt"), "from the image\n").unwrap();
}

/// One test's world: its own root, run root and image layer, removed on drop together with every
/// container it started.
pub struct TestEnv {
    pub tmp: tempfile::TempDir,
    pub paths: Paths,
    pub layer: PathBuf,
    pub cgroup_parent: String,
    ids: std::cell::RefCell<Vec<String>>,
    /// Last: the eBPF pins outlive the shims stopped on drop.
    _pins: bpf_pins::Pins,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        assert!(
            nix::unistd::geteuid().is_root(),
            "berth's integration tests run as root (namespaces, cgroups, mounts)"
        );
        let tmp = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .unwrap();
        // As /var/lib/berth: traversable by the unprivileged ids of user-namespaced containers.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
        let layer = tmp.path().join("layer");
        make_busybox_layer(&layer);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        TestEnv {
            cgroup_parent: format!("berth-test-{}-{n}", std::process::id()),
            tmp,
            paths,
            layer,
            ids: Default::default(),
            _pins: bpf_pins::Pins::take(),
        }
    }

    /// A container spec running `args` on the busybox layer, with a fresh id.
    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        let id = random_id();
        ContainerSpec {
            name: format!("t{}", &id[..8]),
            hostname: "testbox".to_string(),
            id,
            process: berth_shim::spec::ProcessSpec {
                args: args.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            rootfs: berth_shim::spec::RootfsSpec {
                layers: vec![self.layer.clone()],
                readonly: false,
            },
            cgroup_parent: self.cgroup_parent.clone(),
            // The shim takes its settings from the spec: the monitor pins under this test
            // process's own directory, never the host's default.
            settings: berth_shim::Settings {
                bpf_dir: Some(bpf_pins::dir()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    pub fn container(&self, id: &str) -> ContainerPaths {
        self.paths.container(id)
    }

    /// Write the container's config, as the API's create does.
    pub fn create(&self, spec: &ContainerSpec) -> ContainerPaths {
        let c = self.container(&spec.id);
        std::fs::create_dir_all(&c.dir).unwrap();
        std::fs::write(c.config(), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
        self.ids.borrow_mut().push(spec.id.clone());
        c
    }

    pub fn start(&self, spec: &ContainerSpec) -> Result<Started, SpawnError> {
        self.create(spec);
        spawn::start(&self.paths, &spec.id, &StartOptions::default())
    }

    pub fn start_waiting(&self, spec: &ContainerSpec) -> Result<Started, SpawnError> {
        self.create(spec);
        spawn::start(
            &self.paths,
            &spec.id,
            &StartOptions {
                wait_start: true,
                ..Default::default()
            },
        )
    }

    /// Start and expect success; returns the container's pid.
    pub fn run(&self, spec: &ContainerSpec) -> i32 {
        match self.start(spec) {
            Ok(Started::Running { pid }) => pid,
            other => panic!("expected {:?} to start, got {other:?}", spec.process.args),
        }
    }

    pub fn state(&self, id: &str) -> State {
        state::read(&self.container(id)).unwrap()
    }

    /// Wait until the container is exited (and its shim gone).
    pub fn wait_exited(&self, id: &str, timeout: Duration) -> State {
        let c = self.container(id);
        let deadline = Instant::now() + timeout;
        loop {
            let s = state::read(&c).unwrap();
            if s.status == Status::Exited && !state::shim_alive(&c) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} did not exit within {timeout:?}: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run to completion and return (exit code, stdout+stderr as logged).
    pub fn run_to_end(&self, spec: &ContainerSpec) -> (i32, String) {
        self.run(spec);
        let s = self.wait_exited(&spec.id, Duration::from_secs(30));
        (s.exit_code, self.log_text(&spec.id))
    }

    /// All logged output, both streams, in order.
    pub fn log_text(&self, id: &str) -> String {
        let c = self.container(id);
        let entries = berth_shim::logs::read_all(&c.log(), 1).unwrap_or_default();
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.log).into_owned())
            .collect()
    }

    pub fn control(&self, id: &str, req: Request) -> Response {
        control::request(&self.container(id), &req).unwrap()
    }

    /// Poll `f` until it is true or the timeout passes.
    pub fn eventually(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let c = self.paths.container(id);
            if state::shim_alive(&c) {
                let _ = control::request(
                    &c,
                    &Request::Stop {
                        timeout: Some(0),
                        signal: Some(nix::sys::signal::Signal::SIGKILL),
                        keep: false,
                    },
                );
                let deadline = Instant::now() + Duration::from_secs(10);
                while state::shim_alive(&c) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        for id in self.ids.borrow().iter() {
            remove_cgroup_leaf(&self.cgroup_parent, id);
            // A shim that ended removed its own group; one a test killed could not.
            if let Err(e) = ShimGroup::new(id).and_then(|g| g.remove()) {
                eprintln!("cleanup: the shim group of {id}: {e}");
            }
        }
        remove_cgroup_parent(&self.cgroup_parent);
    }
}

/// Remove a test's cgroup parent from every hierarchy (the shims removed their own cgroups).
pub fn remove_cgroup_parent(parent: &str) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup").join(parent)];
    for e in entries.flatten() {
        dirs.push(e.path().join(parent));
    }
    for d in dirs {
        if d.is_dir() {
            let _ = std::fs::remove_dir(&d);
        }
    }
}

/// Remove one container's cgroup from every hierarchy (for tests that kill a shim by hand).
pub fn remove_cgroup_leaf(parent: &str, id: &str) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for e in entries.flatten() {
        let d = e.path().join(parent).join(id);
        // A killed process leaves its cgroup a moment later: retry while it is busy.
        for _ in 0..200 {
            match std::fs::remove_dir(&d) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// 64 hex digits from the kernel's random source.
pub fn random_id() -> String {
    let mut buf = [0u8; 32];
    let f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut &f, &mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cgroup v1 directory of a container for one controller.
pub fn v1_cgroup(controller: &str, parent: &str, id: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join(parent)
        .join(id)
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Whether the peer of `stream` has read all that was sent on it: its send queue in `ss`
/// (iproute2) is empty. How a test knows that a shim has taken an attach hello, which it
/// answers nothing to.
pub fn read_by_peer(stream: &std::os::unix::net::UnixStream) -> bool {
    let inode = nix::sys::stat::fstat(stream).unwrap().st_ino.to_string();
    let out = std::process::Command::new("ss")
        .arg("-xnH")
        .output()
        .expect("ss (iproute2)");
    // Netid State Recv-Q Send-Q Local Port Peer Port: this end is `* <inode>`.
    let out = String::from_utf8_lossy(&out.stdout);
    let line = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[5] == inode)
        .unwrap_or_else(|| panic!("socket {inode} is not in ss -x: {out}"));
    line[3] == "0"
}
