//! What the CLI tests share: a temporary root with busybox imported that removes its
//! containers and bridges on drop, the `berth` binary run on it, and `berth serve` on it with
//! the docker CLI and curl pointed at its socket.

use super::common;
use common::eventually;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");
/// No single command of these tests may take longer.
pub const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panic with everything the command said unless it exited with `code`.
    pub fn expect(self, code: i32, what: &str) -> Out {
        assert_eq!(
            self.code, code,
            "{what}: want exit {code}, got {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// A failure as the docker CLI gives one: 125 and one line on stderr containing `text`.
    pub fn fails_with(self, text: &str, what: &str) {
        let out = self.expect(125, what);
        assert_eq!(
            out.stderr.trim_end().lines().count(),
            1,
            "{what}: not one line: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(text),
            "{what}: want {text:?} in {}",
            out.stderr
        );
    }
}

/// Run `c` to its end with `stdin` written to it on a pipe (then closed).
pub fn run(mut c: Command, stdin: &[u8], what: &str) -> Out {
    c.stdin(Stdio::piped());
    output(c, Some(stdin), what)
}

/// Run a command to its end within LIMIT; stdin is written from a thread and then closed.
pub fn output(mut c: Command, stdin: Option<&[u8]>, what: &str) -> Out {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(LIMIT) {
        Ok(r) => r.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{what}: no exit in {LIMIT:?}");
        }
    };
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temporary root with busybox imported; every container under it and its bridges are
/// removed on drop. Its berth runs pin the eBPF monitor under this test process's own directory.
pub struct Root {
    pub tmp: tempfile::TempDir,
    /// Last: the eBPF pins outlive the containers removed on drop.
    _pins: common::bpf_pins::Pins,
}

impl Root {
    pub fn new() -> Root {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = Root {
            tmp,
            _pins: common::bpf_pins::Pins::take(),
        };
        let tar = r.tmp.path().join("busybox.tar");
        std::fs::write(&tar, common::busybox_tar()).unwrap();
        let out = r
            .berth(&["import", tar.to_str().unwrap(), "busybox"])
            .expect(0, "berth import");
        assert!(
            out.stdout.trim().starts_with("sha256:"),
            "import printed {:?}, not the image id",
            out.stdout
        );
        r
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.args(args)
            .env("BERTH_ROOT", self.root())
            .env("BERTH_RUN_ROOT", self.tmp.path().join("run"))
            .env_remove("BERTH_SOCKET");
        c
    }

    /// Run berth with no stdin.
    pub fn berth(&self, args: &[&str]) -> Out {
        self.berth_with(args, None)
    }

    /// Run berth with `stdin` written to it (then closed).
    pub fn berth_in(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.berth_with(args, Some(stdin))
    }

    /// Run berth with `stdin` written to it (then closed), or with no stdin at all.
    pub fn berth_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Out {
        let mut c = self.command(args);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        output(c, stdin, &format!("berth {}", args.join(" ")))
    }

    /// The container directories under the root, once any removal in progress (a shim's
    /// auto-remove may still be deleting its tombstone when the command returns) has finished.
    pub fn containers(&self) -> Vec<String> {
        let list = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(self.root().join("containers"))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        eventually("removals in progress to finish", || {
            !list().iter().any(|n| n.starts_with('.'))
        });
        list()
    }

    /// `berth status`'s value for `key`.
    pub fn status(&self, container: &str, key: &str) -> String {
        let out = self.berth(&["status", container]).expect(0, "berth status");
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("berth status has no {key}: {}", out.stdout))
    }

    pub fn inspect_network(&self, name: &str) -> Value {
        let out = self
            .berth(&["network", "inspect", name])
            .expect(0, "network inspect");
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("network inspect: {e}: {}", out.stdout));
        v[0].clone()
    }

    /// `berth volume ls -q`.
    pub fn volumes(&self) -> Vec<String> {
        let out = self
            .berth(&["volume", "ls", "-q"])
            .expect(0, "volume ls -q");
        out.stdout.lines().map(String::from).collect()
    }

    pub fn network_names(&self) -> BTreeSet<String> {
        let out = self
            .berth(&["network", "ls", "--format", "name"])
            .expect(0, "network ls --format name");
        out.stdout.lines().map(String::from).collect()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        for id in self.containers() {
            if id.len() == 64 {
                let out = self.berth(&["rm", "-f", &id]);
                if out.code != 0 {
                    eprintln!("cleanup: berth rm -f {id}: {}", out.stderr);
                }
            }
        }
        // The root's bridges and firewall table (the default bridge is made on first use).
        let out = self.berth(&["network", "teardown"]);
        if out.code != 0 {
            eprintln!("cleanup: berth network teardown: {}", out.stderr);
        }
    }
}

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `berth serve` on the root, killed however the test ends.
pub struct Server {
    child: std::process::Child,
    sock: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(r: &Root) -> Server {
        let sock = r.tmp.path().join("api.sock");
        let child = r
            .command(&[
                "serve",
                "--socket",
                sock.to_str().unwrap(),
                "--idle-timeout",
                "0",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("starting berth serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(Instant::now() < deadline, "berth serve does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, sock }
    }

    pub fn docker(&self, args: &[&str]) -> Out {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()));
        run(c, b"", &format!("docker {}", args.join(" ")))
    }

    /// `GET /containers/json` as curl gets it.
    pub fn list(&self) -> Vec<Value> {
        let mut c = Command::new("curl");
        c.args(["-sf", "--unix-socket"])
            .arg(&self.sock)
            .arg("http://localhost/v1.47/containers/json");
        let out = run(c, b"", "curl /containers/json").expect(0, "curl /containers/json");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("/containers/json: {e}: {}", out.stdout))
    }

    /// `docker ps` with a filter and a format, as a set of lines.
    pub fn ps(&self, filter: Option<&str>, format: &str) -> BTreeSet<String> {
        let mut args = vec!["ps", "--format", format];
        if let Some(f) = filter {
            args.extend(["--filter", f]);
        }
        let out = self.docker(&args).expect(0, "docker ps");
        out.stdout.lines().map(String::from).collect()
    }
}
