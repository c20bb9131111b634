//! docker logs: the json-file log read back with Docker's options, and a cursor that follows the
//! live file (across rotations) for `logs -f` and attach with `logs=1`.

use crate::engine::{Engine, EngineError, Result};
use berth_shim::logs::{self, Entry, Stream};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    /// Last N entries; None for all.
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

/// Docker's `since`/`until`: unix seconds with an optional fraction, or RFC 3339.
pub fn parse_time_arg(s: &str) -> Option<SystemTime> {
    if s.is_empty() {
        return None;
    }
    if let Ok(f) = s.parse::<f64>() {
        if f <= 0.0 {
            return None;
        }
        return Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(f));
    }
    humantime::parse_rfc3339_weak(s).ok()
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
            let t = humantime::parse_rfc3339(&e.time).ok();
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

    /// The bytes a client gets for one entry (before any multiplexing).
    pub fn render(&self, e: &Entry) -> Vec<u8> {
        if self.timestamps {
            let mut v = e.time.as_bytes().to_vec();
            v.push(b' ');
            v.extend_from_slice(&e.log);
            v
        } else {
            e.log.clone()
        }
    }
}

impl Engine {
    /// The log as it is now, filtered; and a cursor at exactly where that read of the live file
    /// ended, to follow it without losing or repeating a line.
    pub fn logs(&self, id: &str, opts: &LogOptions) -> Result<(Vec<Entry>, LogCursor)> {
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::InvalidParameter(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        let rec = self.record(id)?;
        if rec.host_config.log_config.kind == "none" {
            return Err(EngineError::NotImplemented(
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
        // The live file is read through the cursor; rotated files (oldest first) before it.
        let mut cursor = LogCursor::at_start(path.clone());
        let mut entries: Vec<Entry> = Vec::new();
        for k in (1..max_file).rev() {
            let rotated = PathBuf::from(format!("{}.{k}", path.display()));
            if let Ok(data) = std::fs::read(&rotated) {
                entries.extend(data.split(|b| *b == b'\n').filter_map(logs::parse_line));
            }
        }
        entries.extend(cursor.read_new());
        entries.retain(|e| opts.wants(e));
        if let Some(n) = opts.tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        Ok((entries, cursor))
    }
}

/// Reads entries appended to a live json-file log after a point.
pub struct LogCursor {
    path: PathBuf,
    ino: u64,
    offset: u64,
    partial: Vec<u8>,
}

impl LogCursor {
    /// A cursor at the start of the live file.
    pub fn at_start(path: PathBuf) -> LogCursor {
        let ino = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
        LogCursor {
            path,
            ino,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete entries written since the last call. A rotation (a new file) restarts at 0.
    pub fn read_new(&mut self) -> Vec<Entry> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return Vec::new();
        };
        if meta.ino() != self.ino || meta.len() < self.offset {
            self.ino = meta.ino();
            self.offset = 0;
            self.partial.clear();
        }
        if meta.len() == self.offset {
            return Vec::new();
        }
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(nl) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            if let Some(e) = logs::parse_line(&line[..line.len() - 1]) {
                out.push(e);
            }
        }
        out
    }
}
