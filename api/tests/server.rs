//! The real `berth serve` against real clients: curl, a raw socket and the docker CLI (28, at
//! /usr/local/bin/docker); idle exit; systemd socket activation through
//! `systemd-socket-activate`. Needs root (the server chowns and chmods its socket).

use crate::common::bpf_pins;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const DOCKER: &str = "/usr/local/bin/docker";

/// A process we started, in its own process group; the whole group is killed on drop.
struct Started {
    child: Child,
}

impl Started {
    fn spawn(cmd: &mut Command) -> Started {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Started { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Its exit status if it exits within `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.pid());
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

struct Dirs {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    _pins: bpf_pins::Pins,
}

impl Drop for Dirs {
    fn drop(&mut self) {
        // The root's bridges and firewall table, if a container made the default bridge.
        if let Err(e) = berth_shim::net::teardown(&self.base.join("root")) {
            eprintln!("cleanup: network teardown: {e}");
        }
    }
}

impl Dirs {
    fn new() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        Dirs {
            _tmp: tmp,
            base,
            _pins: bpf_pins::Pins::take(),
        }
    }
    fn sock(&self) -> PathBuf {
        self.base.join("b.sock")
    }
    fn serve_args(&self, idle: u64) -> Vec<String> {
        vec![
            "serve".into(),
            "--root".into(),
            self.base.join("root").display().to_string(),
            "--run-root".into(),
            self.base.join("run").display().to_string(),
            "--idle-timeout".into(),
            idle.to_string(),
        ]
    }
}

/// `berth serve` on `<tmp>/b.sock`, once the socket answers.
fn serve(dirs: &Dirs, idle: u64) -> Started {
    let mut server = Started::spawn(
        Command::new(BERTH)
            .args(dirs.serve_args(idle))
            .arg("--socket")
            .arg(dirs.sock()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(dirs.sock()).is_err() {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("berth serve exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "berth serve did not listen in 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// A parsed HTTP response from `curl -si`.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

fn curl(sock: &Path, method: &str, path: &str) -> Reply {
    let out = Command::new("curl")
        .args(["-si", "--max-time", "10", "-X", method, "--unix-socket"])
        .arg(sock)
        .arg(format!("http://docker{path}"))
        .output()
        .expect("running curl");
    assert!(out.status.success(), "curl {method} {path}: {out:?}");
    parse_reply(&String::from_utf8_lossy(&out.stdout))
}

fn parse_reply(text: &str) -> Reply {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn docker(sock: &Path, args: &[&str]) -> Output {
    Command::new(DOCKER)
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env(
            "DOCKER_CONFIG",
            sock.parent().unwrap().join("docker-config"),
        )
        .output()
        .expect("running docker")
}

#[test]
fn ping_answers_with_the_negotiation_headers() {
    let dirs = Dirs::new();
    let _server = serve(&dirs, 0);
    let r = curl(&dirs.sock(), "GET", "/_ping");
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    for (name, want) in [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Api-Version", "1.50"),
        ("Ostype", "linux"),
        ("Docker-Experimental", "false"),
        ("Builder-Version", "1"),
        ("Swarm", "inactive"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        assert_eq!(r.header(name), Some(want), "GET /_ping header {name}");
    }
    assert!(r.header("Server").is_some(), "no Server header");
    let v = curl(&dirs.sock(), "GET", "/v1.47/_ping");
    assert_eq!((v.status, v.body.as_str()), (200, "OK"));

    // HEAD, read off a raw socket: headers, Content-Length 0, and nothing after them.
    let mut s = UnixStream::connect(dirs.sock()).unwrap();
    s.write_all(b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let head = parse_reply(&raw);
    assert_eq!(head.status, 200, "HEAD /_ping: {raw:?}");
    assert_eq!(head.header("Content-Length"), Some("0"), "{raw:?}");
    assert_eq!(head.header("Api-Version"), Some("1.50"), "{raw:?}");
    assert_eq!(head.body, "", "HEAD /_ping has a body: {raw:?}");
}

#[test]
fn versions_paths_and_methods() {
    let dirs = Dirs::new();
    let _server = serve(&dirs, 0);
    let sock = dirs.sock();
    for path in [
        "/version",
        "/v1.50/version",
        "/v1.48/version",
        "/v1.47/version",
        "/v1.24/version",
    ] {
        let r = curl(&sock, "GET", path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        let v = r.json();
        assert_eq!(v["ApiVersion"], "1.50", "{path}: {v}");
        assert_eq!(v["MinAPIVersion"], "1.24", "{path}: {v}");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Components"][0]["Name"], "Engine");
        assert!(v["KernelVersion"].as_str().is_some_and(|k| !k.is_empty()));
    }

    let cases = [
        (
            "GET",
            "/v1.99/version",
            400,
            "client version 1.99 is too new. Maximum supported API version is 1.50",
        ),
        (
            "GET",
            "/v1.12/version",
            400,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please \
             upgrade your client to a newer version",
        ),
        ("GET", "/no/such/thing", 404, "page not found"),
        ("GET", "/v1.47/no/such/thing", 404, "page not found"),
        ("POST", "/_ping", 404, "page not found"),
        ("DELETE", "/v1.47/version", 404, "page not found"),
    ];
    for (method, path, status, message) in cases {
        let r = curl(&sock, method, path);
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json"),
            "{method} {path}"
        );
        assert_eq!(r.json()["message"], message, "{method} {path}");
        assert_eq!(r.header("Api-Version"), Some("1.50"), "{method} {path}");
    }

    let info = curl(&sock, "GET", "/info").json();
    assert_eq!(info["Containers"], 0, "{info}");
    assert_eq!(info["Images"], 0, "{info}");
    assert_eq!(info["OSType"], "linux");
    assert_eq!(
        info["DockerRootDir"],
        dirs.base.join("root").display().to_string()
    );
    assert!(info["NCPU"].as_u64().is_some_and(|n| n > 0), "{info}");
    assert!(info["MemTotal"].as_u64().is_some_and(|n| n > 0), "{info}");
}

#[test]
fn docker_cli_version_and_info() {
    let dirs = Dirs::new();
    let _server = serve(&dirs, 0);
    let out = docker(&dirs.sock(), &["version"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docker version failed: {out:?}");
    let server_part = stdout.split("Server").nth(1).unwrap_or_default();
    assert!(
        server_part.contains("API version:      1.50"),
        "docker version does not show the server's API 1.50:\n{stdout}"
    );

    let out = docker(&dirs.sock(), &["info"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docker info failed: {out:?}");
    for want in [
        "Containers: 0",
        "Storage Driver: overlay2",
        // The one runtime berth has, named as containers' HostConfig.Runtime names it, so that
        // a client that sends the default back is not refused (issue 17).
        "Default Runtime: runc",
    ] {
        assert!(
            stdout.contains(want),
            "docker info lacks {want:?}:\n{stdout}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.to_lowercase().contains("error"),
        "docker info printed errors:\n{stderr}"
    );
}

#[test]
fn exits_when_idle_and_not_before() {
    // No connection: exit 0 about a second after the startup probe closed.
    let dirs = Dirs::new();
    let mut server = serve(&dirs, 1);
    let status = server
        .exit_within(Duration::from_secs(5))
        .expect("berth serve --idle-timeout 1 still running after 5 s with no connection");
    assert!(status.success(), "idle exit status {status}");
    assert!(!dirs.sock().exists(), "the socket outlived the server");

    // A connection held open keeps it running; closing it lets it go.
    let dirs = Dirs::new();
    let mut server = serve(&dirs, 1);
    let held = UnixStream::connect(dirs.sock()).unwrap();
    assert!(
        server.exit_within(Duration::from_secs(3)).is_none(),
        "berth exited while a connection was open"
    );
    drop(held);
    let status = server
        .exit_within(Duration::from_secs(5))
        .expect("berth still running 5 s after the last connection closed");
    assert!(status.success(), "idle exit status {status}");
}

/// The socket's bounds through the real binary: half a head is closed after
/// BERTH_HEADER_TIMEOUT_MS (2 s here), and a kept-alive connection with no request in flight does not keep
/// an `--idle-timeout 1` server running.
#[test]
fn header_timeout_and_idle_kept_alive_connections() {
    let dirs = Dirs::new();
    let mut server = Started::spawn(
        Command::new(BERTH)
            .args(dirs.serve_args(1))
            .arg("--socket")
            .arg(dirs.sock())
            .env("BERTH_HEADER_TIMEOUT_MS", "2000"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut half = loop {
        if let Ok(s) = UnixStream::connect(dirs.sock()) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "berth serve did not listen in 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    half.write_all(b"GET /_ping HTTP/1.1\r\nHo").unwrap();
    half.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = half.read_to_end(&mut rest);
    assert!(
        read.is_ok() && started.elapsed() < Duration::from_secs(4),
        "expected half a head closed after 2 s; got {read:?} after {:?}",
        started.elapsed()
    );

    let mut kept = UnixStream::connect(dirs.sock()).unwrap();
    kept.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    while !reply.ends_with(b"OK") {
        let mut buf = [0u8; 512];
        let n = kept.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the ping's answer: {:?}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend_from_slice(&buf[..n]);
    }
    // The header timeout would close `kept` after 2 s anyway: the idle exit must come first.
    let status = server
        .exit_within(Duration::from_millis(1700))
        .expect("expected berth serve --idle-timeout 1 to exit ~1 s after the answer while the kept-alive connection sat idle");
    assert!(status.success(), "idle exit status {status}");
    drop(kept);
}

/// The pid of `parent`'s only child, if any.
fn child_of(parent: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// GET /_ping, retrying refused connections (the activator may be between two runs).
fn ping_until_ok(sock: &Path) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("curl")
            .args(["-si", "--max-time", "10", "--unix-socket"])
            .arg(sock)
            .arg("http://docker/_ping")
            .output()
            .unwrap();
        if out.status.success() {
            return parse_reply(&String::from_utf8_lossy(&out.stdout));
        }
        assert!(Instant::now() < deadline, "no answer on {sock:?}: {out:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn socket_activation_starts_it_on_demand_again_and_again() {
    let dirs = Dirs::new();
    let act = dirs.base.join("act.sock");
    let unused = dirs.base.join("unused.sock");
    let log = dirs.base.join("exits");
    // systemd-socket-activate execs berth on the first connection; the loop plays systemd's part
    // of listening again once berth has gone.
    let script = format!(
        "while :; do systemd-socket-activate -l '{act}' '{BERTH}' {args} --socket '{unused}'; \
         echo $? >> '{log}'; done",
        act = act.display(),
        args = dirs.serve_args(1).join(" "),
        unused = unused.display(),
        log = log.display(),
    );
    let activator = Started::spawn(
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    let first = ping_until_ok(&act);
    assert_eq!((first.status, first.body.as_str()), (200, "OK"));
    let berth_pid = child_of(activator.pid()).expect("no berth under the activator");
    assert!(
        cmdline(berth_pid).contains(" serve "),
        "the activator's child is not berth: {}",
        cmdline(berth_pid)
    );
    assert!(
        !unused.exists(),
        "berth bound its own socket despite LISTEN_FDS"
    );

    // Idle: berth exits 0 and the loop listens again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{berth_pid}")).exists() {
        assert!(Instant::now() < deadline, "berth did not exit when idle");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let exits = loop {
        let exits = std::fs::read_to_string(&log).unwrap_or_default();
        if !exits.is_empty() {
            break exits;
        }
        assert!(Instant::now() < deadline, "no exit status recorded");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exits.trim(), "0", "idle exit status");

    // The next connection starts a new berth.
    let again = ping_until_ok(&act);
    assert_eq!((again.status, again.body.as_str()), (200, "OK"));
    let second = child_of(activator.pid()).expect("no berth under the activator");
    assert_ne!(second, berth_pid, "the same berth answered after exiting");
    assert!(cmdline(second).contains(" serve "), "{}", cmdline(second));
}
