//! The json-file log's modes against a disk that stops taking writes: the root on a loop-mounted
//! ext4 that the test freezes (FIFREEZE, as `fsfreeze -f`). With `mode=blocking` the container
//! waits for the log, as under dockerd; with `mode=non-blocking` it runs on, and what does not
//! fit in `max-buffer-size` is dropped.

use berth_shim::state::Status;
use berth_tests::TestEnv;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The test's root on an ext4 of its own, thawed and lazily unmounted on drop (declared after
/// the `TestEnv`, so dropped before it: the shims it then stops keep what they hold open).
struct LoopRoot {
    mount: PathBuf,
    frozen: bool,
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl LoopRoot {
    fn mount(image: &Path, mount: &Path) -> LoopRoot {
        let f = std::fs::File::create(image).unwrap();
        f.set_len(256 << 20).unwrap();
        drop(f);
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        std::fs::create_dir_all(mount).unwrap();
        run(
            "mount",
            &[
                "-o",
                "loop",
                image.to_str().unwrap(),
                mount.to_str().unwrap(),
            ],
        );
        LoopRoot {
            mount: mount.to_path_buf(),
            frozen: false,
        }
    }

    fn freeze(&mut self) {
        run("fsfreeze", &["-f", self.mount.to_str().unwrap()]);
        self.frozen = true;
    }

    fn thaw(&mut self) {
        if self.frozen {
            run("fsfreeze", &["-u", self.mount.to_str().unwrap()]);
            self.frozen = false;
        }
    }
}

impl Drop for LoopRoot {
    fn drop(&mut self) {
        if self.frozen {
            let _ = Command::new("fsfreeze")
                .args(["-u", self.mount.to_str().unwrap()])
                .status();
        }
        // Lazily: the loop device goes with the last shim that holds a file of it.
        let _ = Command::new("umount")
            .args(["-l", self.mount.to_str().unwrap()])
            .status();
    }
}

fn alive(pid: i32) -> bool {
    // A process the shim has reaped is gone from /proc.
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A container that, once told (SIGUSR1), writes 300,000 lines (about 2 MB) and exits.
fn writer_spec(env: &TestEnv, mode_buffer: u64) -> berth_shim::spec::ContainerSpec {
    let mut spec = env.spec(&[
        "sh",
        "-c",
        "trap 'seq 1 300000; exit 0' USR1; echo ready; while :; do sleep 0.05; done",
    ]);
    spec.log.max_buffer_size = mode_buffer;
    spec
}

fn told_to_write_while_frozen(mode_buffer: u64) -> (TestEnv, LoopRoot, String, i32) {
    let env = TestEnv::new();
    let fs = LoopRoot::mount(&env.tmp.path().join("root.ext4"), &env.paths.root);
    let spec = writer_spec(&env, mode_buffer);
    let pid = env.run(&spec);
    env.eventually("the container to be ready", Duration::from_secs(10), || {
        env.log_text(&spec.id).contains("ready")
    });
    let mut fs = fs;
    fs.freeze();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    (env, fs, spec.id.clone(), pid)
}

#[test]
fn a_non_blocking_log_lets_the_container_run_on_while_the_disk_stalls() {
    let (env, mut fs, id, pid) = told_to_write_while_frozen(64 * 1024);
    // It writes its 2 MB and ends though nothing reaches the disk.
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the container (pid {pid}) still runs 30 s into a frozen disk with mode=non-blocking: \
             its output waited for the log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    fs.thaw();
    let s = env.wait_exited(&id, Duration::from_secs(30));
    assert_eq!(s.status, Status::Exited);
    assert_eq!(s.exit_code, 0);
    // What went through is whole entries, in order, from the start; the rest was dropped.
    let entries = berth_shim::logs::read_all(&env.container(&id).log(), 1).unwrap();
    let lines: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.log).trim_end().to_string())
        .collect();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("ready"),
        "{lines:?}"
    );
    assert_eq!(lines.get(1).map(String::as_str), Some("1"));
    let numbers: Vec<u64> = lines[1..].iter().map(|l| l.parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "entries out of order or repeated"
    );
    assert!(
        numbers.len() < 300_000,
        "all 300000 lines were logged: nothing was dropped, so the buffer was not in play"
    );
}

#[test]
fn a_blocking_log_makes_the_container_wait_for_the_disk() {
    let (env, mut fs, id, pid) = told_to_write_while_frozen(0);
    // The contrast that shows the disk really stalls the log: the container waits in its
    // write (2 MB do not fit in the pipe) as long as the disk is frozen.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        alive(pid),
        "the container ended within 3 s of a frozen disk with mode=blocking"
    );
    fs.thaw();
    let s = env.wait_exited(&id, Duration::from_secs(60));
    assert_eq!(s.exit_code, 0);
    let entries = berth_shim::logs::read_all(&env.container(&id).log(), 1).unwrap();
    assert_eq!(entries.len(), 300_001, "blocking mode drops nothing");
}
