//! docker logs: the json-file log read back with Docker's options, and a cursor that follows the
//! live file (across rotations) for `logs -f` and attach with `logs=1`.

use super::log_tail::last_entries;
use crate::engine::ids::ContainerId;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::logs;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::SystemTime;

pub use berth_shim::logs::{Entry, Stream};

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    /// Each line after its `attrs` (`k=v,k2=v2 `, keys sorted and query-escaped), as dockerd's
    /// `details`.
    pub details: bool,
    /// Last N entries; None for all.
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl LogOptions {
    pub fn wants(&self, e: &Entry) -> bool {
        let stream_ok = match e.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        if !stream_ok {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let t = humantime::parse_rfc3339(&logs::fixed_width_time(&e.time)).ok();
            if let (Some(since), Some(t)) = (self.since, t) {
                if t < since {
                    return false;
                }
            }
            if let (Some(until), Some(t)) = (self.until, t) {
                if t > until {
                    return false;
                }
            }
        }
        true
    }

    /// Whether `e` was logged before `since` (entries are stored in time order: so was every
    /// entry before it).
    pub(super) fn before_since(&self, e: &Entry) -> bool {
        let Some(since) = self.since else {
            return false;
        };
        humantime::parse_rfc3339(&logs::fixed_width_time(&e.time)).is_ok_and(|t| t < since)
    }

    /// The bytes a client gets for one entry (before any multiplexing): dockerd's order, the
    /// time, then the details, then the line.
    pub fn render(&self, e: &Entry) -> Vec<u8> {
        let mut v = Vec::with_capacity(e.log.len() + 40);
        if self.timestamps {
            v.extend_from_slice(logs::fixed_width_time(&e.time).as_bytes());
            v.push(b' ');
        }
        if self.details {
            for (i, (k, val)) in e.attrs.iter().enumerate() {
                if i > 0 {
                    v.push(b',');
                }
                query_escape(&mut v, k);
                v.push(b'=');
                query_escape(&mut v, val);
            }
            v.push(b' ');
        }
        v.extend_from_slice(&e.log);
        v
    }
}

/// `s` as Go's url.QueryEscape writes it: unreserved bytes as they are, space as `+`, the rest
/// as `%XX`.
fn query_escape(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
}

impl Engine {
    /// The log as it is now, filtered; and a cursor at exactly where that read of the live file
    /// ended, to follow it without losing or repeating a line.
    pub fn logs(&self, id: &ContainerId, opts: &LogOptions) -> Result<(Vec<Entry>, LogCursor)> {
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::invalid_parameter(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        let rec = self.record(id)?;
        if rec.host_config.log_config.kind == "none" {
            return Err(EngineError::not_implemented(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = self.container_paths(id).log();
        let max_file: u32 = rec
            .host_config
            .log_config
            .config
            .get("max-file")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let rotated = |k: u32| {
            // Gzipped with compress (a rotation's newest may not be compressed yet).
            let gz = logs::rotated_path(&path, k, true);
            if gz.exists() {
                gz
            } else {
                logs::rotated_path(&path, k, false)
            }
        };
        if let Some(n) = opts.tail {
            return Ok(last_entries(&path, max_file, opts, n));
        }
        // The live file is read through the cursor; rotated files (oldest first) before it.
        let mut cursor = LogCursor::at_start(path.clone());
        let mut entries: Vec<Entry> = Vec::new();
        for k in (1..max_file).rev() {
            if let Ok(data) = logs::read_rotated(&rotated(k)) {
                entries.extend(data.split(|b| *b == b'\n').filter_map(logs::parse_line));
            }
        }
        entries.extend(cursor.read_new());
        entries.retain(|e| opts.wants(e));
        Ok((entries, cursor))
    }
}

/// Reads entries appended to a live json-file log after a point.
///
/// The cursor holds the live file open, as dockerd's log readers do: what the container wrote
/// stays readable after the file is rotated away or the container is removed (docker-py's
/// `run(remove=True)` removes the container before it reads the followed logs).
pub struct LogCursor {
    path: PathBuf,
    /// The live file as it was opened (None until it exists).
    pub(super) file: Option<File>,
    pub(super) partial: Vec<u8>,
}

impl LogCursor {
    /// A cursor at the start of the live file.
    pub fn at_start(path: PathBuf) -> LogCursor {
        let file = File::open(&path).ok();
        LogCursor {
            path,
            file,
            partial: Vec::new(),
        }
    }

    /// A cursor at the live file's end as it is now, and where its complete lines end (what
    /// comes after is a line being written: the cursor holds it until its newline).
    pub fn at_end(path: PathBuf) -> (LogCursor, u64) {
        let mut cursor = LogCursor::at_start(path);
        let Some(f) = &mut cursor.file else {
            return (cursor, 0);
        };
        let Ok(size) = f.seek(SeekFrom::End(0)) else {
            return (cursor, 0);
        };
        // The bytes after the last newline, read back by blocks from the end.
        let mut end = size;
        let mut tail_bytes: Vec<u8> = Vec::new();
        while end > 0 {
            let n = 4096.min(end);
            let mut block = vec![0u8; n as usize];
            if f.read_exact_at(&mut block, end - n).is_err() {
                break;
            }
            if let Some(nl) = block.iter().rposition(|b| *b == b'\n') {
                block.drain(..=nl);
                block.extend_from_slice(&tail_bytes);
                tail_bytes = block;
                end = end - n + nl as u64 + 1;
                break;
            }
            block.extend_from_slice(&tail_bytes);
            tail_bytes = block;
            end -= n;
            if tail_bytes.len() > 1 << 20 {
                // Not a line being written: read back (and skipped) as an over-long line.
                tail_bytes.clear();
                end = size;
                break;
            }
        }
        cursor.partial = tail_bytes;
        (cursor, end)
    }

    /// Complete entries written since the last call. A rotation (a new live file) is followed
    /// once the old file is read to its end.
    pub fn read_new(&mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        loop {
            if self.file.is_none() {
                self.file = File::open(&self.path).ok();
            }
            let Some(f) = &mut self.file else {
                return out;
            };
            let mut buf = Vec::new();
            // What the file holds now, up to its end; the position stays where this read ended.
            let _ = f.read_to_end(&mut buf);
            self.partial.extend_from_slice(&buf);
            while let Some(nl) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=nl).collect();
                if let Some(e) = logs::parse_line(&line[..line.len() - 1]) {
                    out.push(e);
                }
            }
            // Rotated since it was opened: the entries go on in the new live file. (Gone with
            // the container: there is nothing more to read.)
            let held = f.metadata().map(|m| m.ino()).ok();
            match std::fs::metadata(&self.path) {
                Ok(m) if Some(m.ino()) != held => {
                    self.file = None;
                    self.partial.clear();
                }
                _ => return out,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_shim::logs::JsonFileWriter;
    use berth_shim::spec::LogSpec;

    fn writer(path: &std::path::Path, max_size: u64, max_file: u32) -> JsonFileWriter {
        let spec = LogSpec {
            driver: "json-file".to_string(),
            max_size,
            max_file,
            ..LogSpec::default()
        };
        JsonFileWriter::open(path, &spec).unwrap()
    }

    fn texts(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.log).into_owned())
            .collect()
    }

    #[test]
    fn what_was_written_stays_readable_after_the_container_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = writer(&path, 0, 1);
        let mut cursor = LogCursor::at_start(path.clone());
        assert!(cursor.read_new().is_empty(), "nothing written yet");
        w.write(Stream::Stdout, b"hello from py\n").unwrap();
        // The container exits and is removed before the follower reads again.
        drop(w);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(texts(&cursor.read_new()), ["hello from py\n"]);
        assert!(cursor.read_new().is_empty(), "nothing twice");
    }

    #[test]
    fn a_rotation_is_followed_after_the_old_file_is_read_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        // An entry is about 80 bytes: each file holds two.
        let mut w = writer(&path, 200, 3);
        w.write(Stream::Stdout, b"one\n").unwrap();
        let mut cursor = LogCursor::at_start(path.clone());
        assert_eq!(texts(&cursor.read_new()), ["one\n"]);
        // "two" fills the file held open; "three" rotates it to `.1` and starts a new one.
        for line in ["two\n", "three\n", "four\n"] {
            w.write(Stream::Stdout, line.as_bytes()).unwrap();
        }
        assert!(
            std::path::Path::new(&format!("{}.1", path.display())).exists(),
            "the log rotated"
        );
        assert_eq!(texts(&cursor.read_new()), ["two\n", "three\n", "four\n"]);
        assert!(cursor.read_new().is_empty(), "nothing twice");
    }
}
