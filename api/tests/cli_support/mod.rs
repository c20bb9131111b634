//! What the CLI test crates share: a temporary root with busybox imported that removes its
//! containers and bridges on drop, the `berth` binary run on it, and `berth serve` on it with
//! the docker CLI and curl pointed at its socket.

use super::common;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
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

pub fn run(mut c: Command, stdin: &[u8], what: &str) -> Out {
    use std::io::Write;
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temporary root with busybox imported; its containers and bridges are removed on drop.
/// Its berth runs pin the eBPF monitor under this test process's own directory.
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
        r.berth(&["import", tar.to_str().unwrap(), "busybox"])
            .expect(0, "berth import");
        r
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.args(args)
            .env("BERTH_ROOT", self.tmp.path().join("root"))
            .env("BERTH_RUN_ROOT", self.tmp.path().join("run"))
            .env_remove("BERTH_SOCKET");
        c
    }

    pub fn berth(&self, args: &[&str]) -> Out {
        self.berth_in(args, b"")
    }

    pub fn berth_in(&self, args: &[&str], stdin: &[u8]) -> Out {
        run(
            self.command(args),
            stdin,
            &format!("berth {}", args.join(" ")),
        )
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
        let out = self.berth(&["list", "-aq", "--no-trunc"]);
        for id in out.stdout.split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
        }
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
