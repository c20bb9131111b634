//! The classic builder's response stream: `{"stream": ...}` lines with dockerd's texts, the
//! `{"aux":{"ID":...}}` record of the image built, and with `q` only the image id.

use serde_json::{json, Value};

/// Where a build's messages go, line by line as dockerd writes them.
pub struct Output<'a> {
    sink: &'a mut dyn FnMut(Value),
    quiet: bool,
}

/// The 12-hex short form of an id ("sha256:" dropped), as dockerd prints ids in a build.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl<'a> Output<'a> {
    pub fn new(sink: &'a mut dyn FnMut(Value), quiet: bool) -> Output<'a> {
        Output { sink, quiet }
    }

    /// One piece of the stream, as written (dockerd sends "Step 1/2 : FROM x" and "\n" apart).
    pub fn text(&mut self, s: &str) {
        if !self.quiet && !s.is_empty() {
            (self.sink)(json!({ "stream": s }));
        }
    }

    pub fn step(&mut self, n: usize, total: usize, text: &str) {
        self.text(&format!("Step {n}/{total} : {text}"));
        self.text("\n");
    }

    /// ` ---> <id>` after a step.
    pub fn result(&mut self, id: &str) {
        self.text(&format!(" ---> {}\n", short(id)));
    }

    /// Output of a RUN step's container, as it comes (stdout and stderr alike).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.text(&String::from_utf8_lossy(bytes));
    }

    /// The end of a successful build: the aux record, then the texts (or only the id with q).
    pub fn done(&mut self, id: &str, tags: &[String]) {
        (self.sink)(json!({ "aux": { "ID": id } }));
        if self.quiet {
            (self.sink)(json!({ "stream": format!("{id}\n") }));
            return;
        }
        self.text(&format!("Successfully built {}\n", short(id)));
        for t in tags {
            self.text(&format!("Successfully tagged {t}\n"));
        }
    }
}
