//! A reboot faked: the API and every shim killed with SIGKILL (a power loss), the run root
//! emptied and the boot id changed (`BERTH_BOOT_ID_FILE` points at a file the test writes). The
//! first berth process of the new boot restores it, once: every container reads as exited, and
//! those dockerd starts when it comes up run again (issue 20, part 4).

use crate::common::{Berth, ServeOptions};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

struct Host {
    b: Berth,
    boot_file: PathBuf,
    _boot_dir: tempfile::TempDir,
}

impl Host {
    async fn new() -> Host {
        let boot_dir = tempfile::tempdir().unwrap();
        let boot_file = boot_dir.path().join("boot_id");
        std::fs::write(&boot_file, "boot-one\n").unwrap();
        let env = vec![(
            "BERTH_BOOT_ID_FILE".to_string(),
            boot_file.display().to_string(),
        )];
        let b = Berth::with_busybox_and(ServeOptions {
            env,
            ..Default::default()
        })
        .await;
        Host {
            b,
            boot_file,
            _boot_dir: boot_dir,
        }
    }

    /// `berth <args>` on the server's root, with the same boot id file.
    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(self.b.root())
            .arg("--run-root")
            .arg(self.b.run_root())
            .args(args)
            .env("BERTH_BPF_DIR", self.b.bpf_dir())
            .env("BERTH_BOOT_ID_FILE", &self.boot_file);
        c
    }

    fn state(&self, id: &str) -> berth_shim::State {
        let paths = berth_shim::Paths::new(self.b.root(), self.b.run_root());
        berth_shim::state::read(&paths.container(id)).unwrap()
    }

    /// A power loss and a boot: the API and every shim and container process SIGKILLed (shims
    /// first, so that none records an exit), the run root emptied, another boot id.
    fn power_cycle(&mut self, ids: &[&str], boot: &str) {
        self.b.kill_server();
        let mut pids = Vec::new();
        for id in ids {
            let st = self.state(id);
            if self.b.shim_alive(id) {
                kill(st.shim_pid);
                pids.push(st.pid);
            }
        }
        for id in ids {
            crate::common::eventually(&format!("the shim of {id} to die"), || {
                !self.b.shim_alive(id)
            });
        }
        for pid in pids.into_iter().filter(|p| *p > 0) {
            kill(pid);
            crate::common::eventually(&format!("process {pid} to go"), || {
                !Path::new(&format!("/proc/{pid}")).exists()
            });
        }
        std::fs::remove_dir_all(self.b.run_root()).unwrap();
        std::fs::write(&self.boot_file, format!("{boot}\n")).unwrap();
    }

    async fn starts_of(&self, id: &str) -> usize {
        let until = chrono_now();
        let r = self.b.get(&format!("/events?since=0&until={until}")).await;
        assert_eq!(r.status, StatusCode::OK, "events: {}", r.text());
        r.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["Action"] == "start" && e["Actor"]["ID"] == id)
            .count()
    }
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1
}

fn sleeper(policy: &str) -> Value {
    json!({"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"RestartPolicy": {"Name": policy}}})
}

/// `docker ps -a`'s State of each container, by name.
async fn states(b: &Berth) -> std::collections::BTreeMap<String, String> {
    let r = b.get("/containers/json?all=1").await;
    assert_eq!(r.status, StatusCode::OK, "ps -a: {}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Names"][0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string(),
                c["State"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reboot_the_restart_policies_start_what_dockerd_starts() {
    let mut h = Host::new().await;
    let b = &h.b;
    let always = b.run(Some("always"), &sleeper("always")).await;
    let unless = b.run(Some("unless"), &sleeper("unless-stopped")).await;
    let by_hand = b.run(Some("by-hand"), &sleeper("unless-stopped")).await;
    let no = b.run(Some("no"), &sleeper("no")).await;
    let failing = b.run(Some("failing"), &sleeper("on-failure")).await;
    let never = b.create(Some("never"), &sleeper("always")).await;
    let r = b.post("/containers/by-hand/stop?t=0").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "stop: {}", r.text());
    let ids = [always.as_str(), &unless, &by_hand, &no, &failing, &never];
    h.power_cycle(&ids, "boot-two");
    // Before any berth process of the new boot: each reads as exited (255), as dockerd shows
    // containers whose task a reboot ended; the one never started stays created.
    for id in [&always, &unless, &no, &failing] {
        let st = h.state(id);
        assert_eq!(
            (st.status.as_str(), st.exit_code),
            ("exited", 255),
            "expected {id} to read as exited (255) after the reboot, got {st:?}"
        );
    }
    assert_eq!(h.state(&never).status.as_str(), "created", "never started");
    h.b.serve();
    let got = states(&h.b).await;
    let want: std::collections::BTreeMap<String, String> = [
        ("always", "running"),
        ("unless", "running"),
        ("failing", "running"),
        ("by-hand", "exited"),
        ("no", "exited"),
        ("never", "created"),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s.to_string()))
    .collect();
    assert_eq!(got, want, "docker ps -a after the reboot's first request");
    let no_state = h.b.inspect("no").await;
    assert_eq!(
        no_state["State"]["ExitCode"], 255,
        "expected the `no` container to keep exit 255: {}",
        no_state["State"]
    );
    for (id, want) in [(&always, 2), (&unless, 2), (&by_hand, 1), (&no, 1)] {
        let n = h.starts_of(id).await;
        assert_eq!(n, want, "start events of {id}: expected {want}, got {n}");
    }
    // The recorded boot id is the new one, in the root.
    let recorded = std::fs::read_to_string(h.b.root().join("boot-id")).unwrap();
    assert_eq!(recorded.trim(), "boot-two", "the root's boot id");
    // What runs again is whole: it answers an exec.
    let r =
        h.b.post_json(
            "/containers/always/exec",
            &json!({"Cmd": ["true"], "AttachStdout": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "exec create: {}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_restore_and_concurrent_first_processes_restore_once() {
    let mut h = Host::new().await;
    let always = h.b.run(Some("always"), &sleeper("always")).await;
    h.power_cycle(&[&always], "boot-two");
    // `berth restore`, as the boot unit runs it: says what it did; a second one does nothing.
    let out = h.cli(&["restore"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("started always") && text.contains("1 started"),
        "expected the first berth restore to start `always`, got {:?}: {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = h.cli(&["restore"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("restored already"),
        "expected the second berth restore to do nothing, got {:?}: {text}",
        out.status
    );
    // Another boot, and two `berth restore` at once as its first berth processes: one
    // restores, the other waits for it and finds the boot restored.
    h.power_cycle(&[&always], "boot-three");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut c = h.cli(&["restore"]);
            c.stdout(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs: Vec<String> = runs
        .into_iter()
        .map(|r| {
            let out = r.wait_with_output().unwrap();
            assert!(out.status.success(), "berth restore failed: {out:?}");
            String::from_utf8_lossy(&out.stdout).to_string()
        })
        .collect();
    let ran = outs
        .iter()
        .filter(|o| o.contains("restoring boot boot-three"))
        .count();
    let waited = outs
        .iter()
        .filter(|o| o.contains("restored already"))
        .count();
    assert_eq!(
        (ran, waited),
        (1, 1),
        "expected one of two concurrent restores to run and the other to find it done: {outs:?}"
    );
    // A CLI run after them restores nothing more.
    let out = h.cli(&["ps", "-a"]).output().unwrap();
    assert!(out.status.success(), "berth ps -a: {out:?}");
    h.b.serve();
    let st = h.b.inspect("always").await;
    assert_eq!(
        st["State"]["Status"], "running",
        "expected `always` running: {}",
        st["State"]
    );
    // One start at create, one per boot: no boot started it twice.
    let n = h.starts_of(&always).await;
    assert_eq!(n, 3, "start events of `always`: expected 3, got {n}");
}
