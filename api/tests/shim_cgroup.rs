//! A shim leaves the cgroup of whoever spawned it (a service, a login session) for a group of
//! its own under `berth.slice`, so that its container outlives that cgroup being emptied and
//! removed. Needs root and `cargo build --workspace` first, so that `berth-shim` sits next to
//! `berth`.

use crate::cli_support;

use berth_shim::cgroups::ShimGroup;
use berth_shim::state::{self, Status};
use cli_support::Root;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A cgroup of the test's own in the v2 tree and in the `name=systemd` hierarchy (those a
/// service manager or a login session puts its processes in), emptied and removed on drop.
struct Spawner {
    dirs: Vec<PathBuf>,
}

impl Spawner {
    fn new() -> Spawner {
        let name = format!("berth-test-spawner-{}", std::process::id());
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dirs: Vec<PathBuf> = mountinfo
            .lines()
            .filter_map(|line| {
                let (pre, post) = line.split_once(" - ")?;
                let mount_point = pre.split(' ').nth(4)?;
                let mut post = post.split(' ');
                let (fstype, options) = (post.next()?, post.nth(1)?);
                let wanted = fstype == "cgroup2"
                    || (fstype == "cgroup" && options.split(',').any(|o| o == "name=systemd"));
                wanted.then(|| Path::new(mount_point).join(&name))
            })
            .collect();
        assert!(
            !dirs.is_empty(),
            "neither a v2 tree nor name=systemd is mounted"
        );
        for dir in &dirs {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        Spawner { dirs }
    }

    /// Kill what is in each directory (cgroup.kill on v2), wait until it is empty, remove it.
    fn remove(&self) -> Result<(), String> {
        for dir in self.dirs.iter().filter(|d| d.exists()) {
            let kill = dir.join("cgroup.kill");
            if kill.exists() {
                std::fs::write(&kill, "1").map_err(|e| format!("{}: {e}", kill.display()))?;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let left = pids(dir);
                if left.is_empty() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("{} still holds {left:?}", dir.display()));
                }
                for pid in left {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            std::fs::remove_dir(dir).map_err(|e| format!("rmdir {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("cleanup: the spawner cgroup: {e}");
        }
    }
}

fn pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn shim_state(r: &Root, id: &str) -> state::State {
    let paths = berth_shim::Paths::new(r.tmp.path().join("root"), r.tmp.path().join("run"));
    state::read_raw(&paths.container(id)).expect("the container's state")
}

/// Run `berth` with `args` from a shell that first moved itself into the spawner's cgroups.
fn berth_from(r: &Root, spawner: &Spawner, args: &[&str]) -> cli_support::Out {
    let join = "for d in $SPAWNER; do echo $$ > \"$d/cgroup.procs\" || exit 99; done; exec \"$@\"";
    let dirs: Vec<String> = spawner
        .dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let mut c = Command::new("sh");
    c.args(["-c", join, "sh", cli_support::BERTH])
        .args(args)
        .env("SPAWNER", dirs.join(" "))
        .env("BERTH_ROOT", r.tmp.path().join("root"))
        .env("BERTH_RUN_ROOT", r.tmp.path().join("run"))
        .env_remove("BERTH_SOCKET");
    cli_support::run(
        c,
        b"",
        &format!("berth {} from the spawner", args.join(" ")),
    )
}

#[test]
fn a_container_outlives_the_cgroup_of_its_caller() {
    let r = Root::new();
    let spawner = Spawner::new();
    let out = berth_from(&r, &spawner, &["run", "-d", "busybox", "sleep", "1000"])
        .expect(0, "berth run -d");
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "run -d printed {:?}, not an id", out.stdout);
    let shim = shim_state(&r, &id).shim_pid;
    assert!(shim > 0, "no shim pid recorded");

    // The CLI is gone; the shim and the container must not be left in its cgroups.
    for dir in &spawner.dirs {
        let left = pids(dir);
        assert!(
            left.is_empty(),
            "{} still holds {left:?} after the CLI exited (the shim is {shim})",
            dir.display()
        );
    }
    // What a service stop or a session end does: kill what is in the cgroup and remove it.
    spawner
        .remove()
        .expect("emptying and removing the spawner's cgroups");

    // The shim is in its own group in every hierarchy.
    for dir in ShimGroup::new(&id).unwrap().dirs() {
        assert!(
            pids(&dir).contains(&shim),
            "shim {shim} is not in {}: {:?}",
            dir.display(),
            pids(&dir)
        );
    }
    let out = r.berth(&["inspect", &id]).expect(0, "berth inspect");
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect is not JSON ({e}): {}", out.stdout));
    assert_eq!(v[0]["State"]["Running"], true, "{}", v[0]["State"]);

    // The shim lives: it is the one that sees the exit and records it.
    r.berth(&["stop", "-t", "1", &id]).expect(0, "berth stop");
    let st = shim_state(&r, &id);
    assert!(
        st.status == Status::Exited && st.exit_code == 137 && !st.finished_at.is_empty(),
        "the shim did not record the exit: {st:?}"
    );

    // A second start makes the group again; the removal takes it away.
    r.berth(&["start", &id]).expect(0, "berth start");
    let shim = shim_state(&r, &id).shim_pid;
    let dirs = ShimGroup::new(&id).unwrap().dirs();
    for dir in &dirs {
        assert!(
            pids(dir).contains(&shim),
            "after a re-start, shim {shim} is not in {}",
            dir.display()
        );
    }
    r.berth(&["rm", "-f", &id]).expect(0, "berth rm -f");
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "the shim's cgroup is left: {left:?}");
}
