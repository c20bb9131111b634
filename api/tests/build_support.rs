//! Helpers of the build tests: contexts made as tars, builds sent to `POST /build`, the
//! stream's lines read back.

use crate::common::{encode, Berth};
use serde_json::Value;

/// A context tar of (path, content) files, mode 0644 (0755 for names ending in `.sh`).
pub fn context(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(if path.ends_with(".sh") { 0o755 } else { 0o644 });
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A finished build: the HTTP status, the stream's JSON lines (or the error body).
pub struct Built {
    pub status: u16,
    pub lines: Vec<Value>,
    pub body: String,
}

impl Built {
    /// All `stream` texts joined.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .filter_map(|l| l["stream"].as_str())
            .collect()
    }
    /// The aux ID of a successful build.
    pub fn id(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l["aux"]["ID"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no aux ID in the build's stream: {}", self.body))
    }
    /// The error line's errorDetail.
    pub fn error(&self) -> Value {
        self.lines
            .iter()
            .find(|l| l.get("errorDetail").is_some())
            .cloned()
            .unwrap_or_else(|| panic!("no error in the build's stream: {}", self.body))
    }
    pub fn ok(self) -> Built {
        assert_eq!(self.status, 200, "build answered: {}", self.body);
        assert!(
            self.lines.iter().all(|l| l.get("error").is_none()),
            "the build failed: {}",
            self.body
        );
        self
    }
}

/// `POST /build?<query>` with the context `tar`.
pub async fn build(b: &Berth, query: &str, tar: Vec<u8>) -> Built {
    let r = b.call("POST", &format!("/build?{query}"), tar).await;
    let body = r.text();
    let lines = if r.status == 200 {
        body.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    } else {
        vec![r.json()]
    };
    Built {
        status: r.status.as_u16(),
        lines,
        body,
    }
}

/// Build a Dockerfile with a context of `files`, tagged `tag`.
pub async fn build_file(b: &Berth, tag: &str, dockerfile: &str, files: &[(&str, &str)]) -> Built {
    let mut all = vec![("Dockerfile", dockerfile)];
    all.extend_from_slice(files);
    build(b, &format!("t={}", encode(tag)), context(&all)).await
}

/// What `sh -c <script>` prints in a container of `image` (stdout and stderr).
pub async fn sh(b: &Berth, image: &str, script: &str) -> String {
    let (code, out) = b
        .output(&serde_json::json!({"Image": image, "Cmd": ["sh", "-c", script]}))
        .await;
    assert_eq!(code, 0, "sh -c {script:?} in {image}: exit {code}: {out}");
    out
}

/// What the store's temp area holds: nothing once a build is over.
pub fn scratch_left(b: &Berth) -> Vec<String> {
    std::fs::read_dir(b.root().join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
