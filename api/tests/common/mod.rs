//! A real `berth serve` in a temporary directory and a hyper 1 client over its unix socket.
//! Needs root (the server chowns its socket and the shims create namespaces) and
//! `cargo build --workspace` first, so that `berth-shim` sits next to `berth`.

pub mod bpf_pins;
pub mod fresh_host;
pub mod registry;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
/// No single request of these tests may take longer.
pub const LIMIT: Duration = Duration::from_secs(30);

/// `berth serve` on `<tmp>/b.sock` with `<tmp>/root` and `<tmp>/run`. On drop every container
/// under the root is removed with `DELETE ?force=1`, then the server is killed.
pub struct Berth {
    tmp: tempfile::TempDir,
    child: Option<Child>,
    /// How servers are started: in which namespace, with what environment.
    options: ServeOptions,
    /// Last: the pins outlive the containers removed on drop.
    _pins: bpf_pins::Pins,
}

/// How a test's servers are started.
#[derive(Default)]
pub struct ServeOptions {
    /// Enter this namespace holder's mount namespace (`FreshHost::command`).
    pub host: Option<std::sync::Arc<fresh_host::FreshHost>>,
    /// Set in the server's environment (over the harness's own, e.g. BERTH_BPF_DIR).
    pub env: Vec<(String, String)>,
    /// Append the server's stderr to this file (else the test's stderr).
    pub stderr: Option<PathBuf>,
}

impl Berth {
    pub fn start() -> Berth {
        Berth::start_with(ServeOptions::default())
    }

    pub fn start_with(options: ServeOptions) -> Berth {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut b = Berth {
            tmp,
            child: None,
            options,
            _pins: bpf_pins::Pins::take(),
        };
        b.serve();
        b
    }

    /// A server started with `options` and an image `busybox:latest` imported through it.
    pub async fn with_busybox_and(options: ServeOptions) -> Berth {
        let b = Berth::start_with(options);
        b.import_busybox().await;
        b
    }

    /// The run root.
    pub fn run_root(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    /// A server started and an image `busybox:latest` imported through it.
    pub async fn with_busybox() -> Berth {
        let b = Berth::start();
        b.import_busybox().await;
        b
    }

    /// Imports `busybox:latest` through the server.
    pub async fn import_busybox(&self) {
        let b = self;
        let r = b
            .call(
                "POST",
                "/images/create?fromSrc=-&repo=busybox&tag=latest",
                busybox_tar(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "importing busybox: {}", r.text());
        let text = r.text();
        let last: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("import answer is not NDJSON ({e}): {text}"));
        assert!(
            last["status"]
                .as_str()
                .is_some_and(|s| s.starts_with("sha256:")),
            "import did not end with the image id: {text}"
        );
    }

    pub fn sock(&self) -> PathBuf {
        self.tmp.path().join("b.sock")
    }

    /// A container's overlay upper dir.
    pub fn paths_upper(&self, id: &str) -> PathBuf {
        self.root().join("containers").join(id).join("upper")
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    /// Where this server's shims pin the eBPF monitor (BERTH_BPF_DIR): the test process's own
    /// directory (see `bpf_pins`), shared by its servers and CLI runs, never by other checkouts.
    pub fn bpf_dir(&self) -> PathBuf {
        let set = self.options.env.iter().find(|(k, _)| k == "BERTH_BPF_DIR");
        set.map_or_else(bpf_pins::dir, |(_, v)| PathBuf::from(v))
    }

    /// Start a server (again) on the same socket and root; return once it answers.
    pub fn serve(&mut self) {
        let base = self.tmp.path();
        let mut cmd = match &self.options.host {
            Some(host) => host.command(BERTH),
            None => Command::new(BERTH),
        };
        cmd.env("BERTH_BPF_DIR", self.bpf_dir());
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        if let Some(path) = &self.options.stderr {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("opening the server's stderr file");
            cmd.stderr(f);
        }
        let mut child = cmd
            .arg("serve")
            .arg("--socket")
            .arg(self.sock())
            .arg("--root")
            .arg(self.root())
            .arg("--run-root")
            .arg(base.join("run"))
            .args(["--idle-timeout", "0"])
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting berth serve");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(self.sock()).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("berth serve exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "berth serve did not listen in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Whether the shim of container `id` still runs (read from the run root: no server needed).
    /// A shim writes a container's last events before it exits.
    pub fn shim_alive(&self, id: &str) -> bool {
        let paths = berth_shim::Paths::new(self.root(), self.run_root());
        berth_shim::state::shim_alive(&paths.container(id))
    }

    /// The serving process's id (to read its /proc/<pid>/status).
    pub fn server_pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// SIGKILL the API process (not its containers) and reap it.
    pub fn kill_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
            child.wait().unwrap();
        }
    }

    /// One request on a connection of its own; the whole body is read.
    pub async fn call(&self, method: &str, path: &str, body: impl Into<Bytes>) -> Reply {
        let what = format!("{method} {path}");
        let fut = async {
            let mut tx = connect(&self.sock()).await;
            let resp = tx.send_request(request(method, path, body.into())).await;
            let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
            let (parts, body) = resp.into_parts();
            let body = body.collect().await;
            let body = body.unwrap_or_else(|e| panic!("{what}: body: {e}"));
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: body.to_bytes(),
            }
        };
        tokio::time::timeout(LIMIT, fut)
            .await
            .unwrap_or_else(|_| panic!("{what}: no complete answer in {LIMIT:?}"))
    }

    /// A bodiless request with extra headers (`X-Registry-Auth`), on a connection of its own.
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let what = format!("{method} {path}");
        let fut = async {
            let mut tx = connect(&self.sock()).await;
            let mut req = request(method, path, Bytes::new());
            for (k, v) in headers {
                req.headers_mut().insert(
                    hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    hyper::header::HeaderValue::from_str(v).unwrap(),
                );
            }
            let resp = tx.send_request(req).await;
            let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
            let (parts, body) = resp.into_parts();
            let body = body.collect().await;
            let body = body.unwrap_or_else(|e| panic!("{what}: body: {e}"));
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: body.to_bytes(),
            }
        };
        tokio::time::timeout(LIMIT, fut)
            .await
            .unwrap_or_else(|_| panic!("{what}: no complete answer in {LIMIT:?}"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, Bytes::new()).await
    }

    pub async fn post(&self, path: &str) -> Reply {
        self.call("POST", path, Bytes::new()).await
    }

    pub async fn post_json(&self, path: &str, v: &Value) -> Reply {
        self.call("POST", path, v.to_string()).await
    }

    /// Create a container (named when `name` is given) and return its id.
    pub async fn create(&self, name: Option<&str>, config: &Value) -> String {
        let path = match name {
            Some(n) => format!("/containers/create?name={n}"),
            None => "/containers/create".into(),
        };
        let r = self.post_json(&path, config).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "POST {path} {config}: {}",
            r.text()
        );
        r.json()["Id"].as_str().expect("no Id").to_string()
    }

    /// Create and start; return the id.
    pub async fn run(&self, name: Option<&str>, config: &Value) -> String {
        let id = self.create(name, config).await;
        let r = self.post(&format!("/containers/{id}/start")).await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "start {config}: {}",
            r.text()
        );
        id
    }

    /// Start the created container `id` and wait for its removal as `docker run --rm` does:
    /// the wait (condition=removed) is asked for first, so that a container gone at once is
    /// still seen going. The wait's answer.
    pub async fn start_and_wait_removed(&self, id: &str) -> Reply {
        let path = format!("/containers/{id}/wait?condition=removed");
        let mut tx = connect(&self.sock()).await;
        let resp = tx.send_request(request("POST", &path, Bytes::new()));
        // The server sends the wait's headers at once: from then on it watches.
        let resp = tokio::time::timeout(LIMIT, resp)
            .await
            .unwrap_or_else(|_| panic!("POST {path}: no headers in {LIMIT:?}"))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let r = self.post(&format!("/containers/{id}/start")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "start {id}: {}", r.text());
        let (parts, body) = resp.into_parts();
        let body = tokio::time::timeout(LIMIT, body.collect())
            .await
            .unwrap_or_else(|_| panic!("POST {path}: no end in {LIMIT:?}"))
            .unwrap_or_else(|e| panic!("POST {path}: body: {e}"));
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.to_bytes(),
        }
    }

    /// Reads a live `GET path` (`/events...`: one JSON object a line) until `done` holds for
    /// the events read so far; those events. Panics when none comes for LIMIT.
    pub async fn follow_events(
        &self,
        path: &str,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut tx = connect(&self.sock()).await;
        let resp = tx
            .send_request(request("GET", path, Bytes::new()))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        loop {
            let frame = tokio::time::timeout(LIMIT, body.frame())
                .await
                .unwrap_or_else(|_| panic!("GET {path}: no event within {LIMIT:?}"))
                .expect("the stream ended")
                .expect("body");
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
            }
            let evs: Vec<Value> = String::from_utf8_lossy(&buf)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if done(&evs) {
                return evs;
            }
        }
    }

    pub async fn inspect(&self, reference: &str) -> Value {
        let r = self.get(&format!("/containers/{reference}/json")).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "inspect {reference}: {}",
            r.text()
        );
        r.json()
    }

    /// `POST wait` (condition not-running) to the end; the exit code.
    pub async fn wait(&self, id: &str) -> i64 {
        let r = self.post(&format!("/containers/{id}/wait")).await;
        assert_eq!(r.status, StatusCode::OK, "wait {id}: {}", r.text());
        r.json()["StatusCode"].as_i64().expect("no StatusCode")
    }

    /// Run a container to its end and remove it: its exit code and output (stdout, stderr).
    pub async fn output(&self, config: &Value) -> (i64, String) {
        let id = self.run(None, config).await;
        let code = self.wait(&id).await;
        let r = self
            .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
            .await;
        let out = stream_text(&frames(&r.body), 1) + &stream_text(&frames(&r.body), 2);
        let r = self.call("DELETE", &format!("/containers/{id}"), "").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "rm {id}: {}", r.text());
        (code, out)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = std::fs::read_dir(self.root().join("containers"))
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default();
            for id in ids {
                let path = format!("/containers/{}?force=1", id.to_string_lossy());
                if let Err(e) = raw_request(&self.sock(), "DELETE", &path) {
                    eprintln!("cleanup: DELETE {path}: {e}");
                }
            }
        }
        if let Some(mut child) = self.child.take() {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
        // The root's bridges and firewall table (the default bridge is made on first use).
        if let Err(e) = berth_shim::net::teardown(&self.root()) {
            eprintln!("cleanup: network teardown: {e}");
        }
    }
}

/// A blocking request for `Drop`, where no runtime may be entered: the status line.
fn raw_request(sock: &std::path::Path, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(LIMIT))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.lines().next().unwrap_or_default().to_string())
}

/// An HTTP/1.1 connection to the socket, upgrades allowed.
pub async fn connect(sock: &std::path::Path) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::UnixStream::connect(sock)
        .await
        .unwrap_or_else(|e| panic!("connecting to {sock:?}: {e}"));
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn.with_upgrades());
    tx
}

/// A request with `Host: docker` and, when there is a body, `Content-Type: application/json`.
pub fn request(method: &str, path: &str, body: Bytes) -> hyper::Request<Full<Bytes>> {
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", "docker");
    if !body.is_empty() {
        b = b.header("Content-Type", "application/json");
    }
    b.body(Full::new(body)).unwrap()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
    /// Assert a Docker error: this status, `Content-Type: application/json`, this message.
    pub fn assert_error(&self, status: u16, message: &str, what: &str) {
        assert_eq!(self.status.as_u16(), status, "{what}: {}", self.text());
        assert_eq!(
            self.header("Content-Type"),
            Some("application/json"),
            "{what}: error Content-Type"
        );
        assert_eq!(self.json()["message"], message, "{what}");
    }
}

/// Split a multiplexed stream into (stream byte, payload) frames; panics on a torn frame.
pub fn frames(mut raw: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        assert!(raw.len() >= 8, "torn frame header: {raw:?}");
        assert_eq!(raw[1..4], [0, 0, 0], "bad frame header: {:?}", &raw[..8]);
        let n = u32::from_be_bytes(raw[4..8].try_into().unwrap()) as usize;
        assert!(
            raw.len() >= 8 + n,
            "torn frame: want {n} bytes, have {}",
            raw.len() - 8
        );
        out.push((raw[0], raw[8..8 + n].to_vec()));
        raw = &raw[8 + n..];
    }
    out
}

/// Payloads of one stream, concatenated.
pub fn stream_text(frames: &[(u8, Vec<u8>)], stream: u8) -> String {
    let bytes: Vec<u8> = frames
        .iter()
        .filter(|(s, _)| *s == stream)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Poll `f` until it holds or 20 s pass.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Percent-encode a query value (the `filters` JSON).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn entry(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h
}

/// `tests/<name>.c` built static (gcc) into `dir`; the program's path.
pub fn static_helper(name: &str, dir: &std::path::Path) -> PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests")
        .join(format!("{name}.c"));
    let out = dir.join(name);
    let st = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc (scripts/install-deps.sh installs it)");
    assert!(st.success(), "gcc -static {}: {st}", src.display());
    out
}

/// A busybox root filesystem: the static /bin/busybox (Debian busybox-static), a symlink per
/// applet, /etc/passwd, /etc/group and a 1777 /tmp.
pub fn busybox_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (dir, mode) in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)] {
        let mut h = entry(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, dir, &[][..]).unwrap();
    }
    b.append_path_with_name("/bin/busybox", "bin/busybox")
        .expect("the static busybox at /bin/busybox (Debian busybox-static)");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    assert!(list.status.success(), "busybox --list: {list:?}");
    for applet in String::from_utf8(list.stdout).unwrap().split_whitespace() {
        if applet == "busybox" {
            continue;
        }
        let mut h = entry(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let files: [(&str, &[u8]); 2] = [
        (
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ];
    for (name, data) in files {
        let mut h = entry(tar::EntryType::Regular, 0o644, data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A tar of regular files (mode 0644), as tests build image layers and archives.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}
