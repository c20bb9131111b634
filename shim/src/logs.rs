//! Docker's json-file log driver: the shim writes the container's output here and the API reads
//! it back for `docker logs`.
//!
//! One JSON object per line: `{"log":"...","stream":"stdout","time":"..."}`. Output is split into
//! lines as dockerd's copier does: each complete line (its `\n` included) is one entry, and a line
//! that reaches [`MAX_LINE`] bytes without a newline is cut into entries of that size which carry
//! no newline. With `max_size` set the live file rotates to `<path>.1`, `<path>.2`, ... keeping
//! `max_file` files in all, the live one included.

use crate::spec::LogSpec;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// dockerd's copier buffer: a line longer than this is written in pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;

/// Mode of the log files, as dockerd creates them.
const LOG_FILE_MODE: u32 = 0o640;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log driver {driver:?} is not supported (json-file or none)")]
    UnsupportedDriver { driver: String },
    #[error("opening log file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("writing log file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("rotating log file {from} to {to}: {source}")]
    Rotate {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("reading log file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

pub type Result<T> = std::result::Result<T, LogError>;

/// Which of the container's outputs a line came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// Docker's word for it, as stored in the `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// One stored entry, as written.
#[derive(Serialize)]
struct RawEntry<'a> {
    log: &'a str,
    stream: Stream,
    time: &'a str,
}

/// One stored entry, as read back. Unknown fields (dockerd's `attrs`) are ignored.
#[derive(Deserialize)]
struct OwnedRawEntry {
    log: String,
    stream: Stream,
    time: String,
}

/// One log entry read back from a json-file log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The bytes of the line (its `\n` included unless it was a partial line).
    pub log: Vec<u8>,
    pub stream: Stream,
    /// RFC 3339 with nanoseconds, UTC, exactly as stored.
    pub time: String,
}

/// The open live file and what rotation needs to know about it.
struct Sink {
    path: PathBuf,
    file: File,
    /// Bytes in the live file.
    size: u64,
    /// Rotate before the file would exceed this; 0 never.
    max_size: u64,
    /// Files kept, the live one included (at least 1).
    max_file: u32,
}

/// Writes a container's output in Docker's json-file format. Single-threaded: the shim's event
/// loop owns it.
pub struct JsonFileWriter {
    /// None with the "none" driver: everything is dropped.
    sink: Option<Sink>,
    /// Partial lines waiting for their newline, per stream (indexed by [`Stream::index`]).
    pending: [Vec<u8>; 2],
}

impl JsonFileWriter {
    /// Opens (creating with mode 0640, appending) the log at `path` as `spec` says. The "none"
    /// driver opens nothing and drops every write; an empty driver means json-file.
    pub fn open(path: &Path, spec: &LogSpec) -> Result<Self> {
        let sink = match spec.driver.as_str() {
            "none" => None,
            "json-file" | "" => {
                let file = open_live(path)?;
                let size = file
                    .metadata()
                    .map_err(|source| LogError::Open {
                        path: path.to_path_buf(),
                        source,
                    })?
                    .len();
                Some(Sink {
                    path: path.to_path_buf(),
                    file,
                    size,
                    max_size: spec.max_size,
                    max_file: spec.max_file.max(1),
                })
            }
            other => {
                return Err(LogError::UnsupportedDriver {
                    driver: other.to_string(),
                })
            }
        };
        Ok(JsonFileWriter {
            sink,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Logs `data` read from `stream`: every complete line becomes an entry, a line that reaches
    /// [`MAX_LINE`] bytes is written in pieces, and the rest waits for more data.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        let buf = &mut self.pending[stream.index()];
        buf.extend_from_slice(data);
        let mut start = 0;
        let result = loop {
            let rest = &buf[start..];
            let window = &rest[..rest.len().min(MAX_LINE)];
            let end = match window.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if rest.len() >= MAX_LINE => MAX_LINE,
                None => break Ok(()),
            };
            if let Err(e) = sink.write_entry(stream, &rest[..end]) {
                break Err(e);
            }
            start += end;
        };
        buf.drain(..start);
        result
    }

    /// Writes out the partial lines still waiting for a newline (stdout's first), as entries
    /// without a newline. Called when the container's output ends.
    pub fn flush_partial(&mut self) -> Result<()> {
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = &mut self.pending[stream.index()];
            if !buf.is_empty() {
                sink.write_entry(stream, buf)?;
                buf.clear();
            }
        }
        Ok(())
    }
}

impl Sink {
    fn write_entry(&mut self, stream: Stream, line: &[u8]) -> Result<()> {
        let time = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let log = decode_like_go(line);
        let entry = RawEntry {
            log: &log,
            stream,
            time: &time,
        };
        // Serializing plain strings into a Vec cannot fail.
        let mut out = serde_json::to_vec(&entry).unwrap_or_default();
        out.push(b'\n');
        let len = out.len() as u64;
        if self.max_size > 0 && self.size > 0 && self.size + len > self.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(&out)
            .map_err(|source| LogError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.size += len;
        Ok(())
    }

    /// Shifts `<path>.k` to `<path>.k+1` (the oldest falls off), the live file to `<path>.1`, and
    /// starts a new live file. With one file kept the live file simply starts over.
    fn rotate(&mut self) -> Result<()> {
        if self.max_file > 1 {
            let oldest = rotated_path(&self.path, self.max_file - 1);
            match fs::remove_file(&oldest) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LogError::Rotate {
                        from: oldest.clone(),
                        to: oldest,
                        source,
                    })
                }
            }
            for k in (1..self.max_file - 1).rev() {
                let from = rotated_path(&self.path, k);
                let to = rotated_path(&self.path, k + 1);
                match fs::rename(&from, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(LogError::Rotate { from, to, source }),
                }
            }
            let to = rotated_path(&self.path, 1);
            fs::rename(&self.path, &to).map_err(|source| LogError::Rotate {
                from: self.path.clone(),
                to,
                source,
            })?;
        } else {
            fs::remove_file(&self.path).map_err(|source| LogError::Rotate {
                from: self.path.clone(),
                to: self.path.clone(),
                source,
            })?;
        }
        self.file = open_live(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_live(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_FILE_MODE)
        .open(path)
        .map_err(|source| LogError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// `<path>.k`, the k-th newest rotated file.
fn rotated_path(path: &Path, k: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{k}"));
    PathBuf::from(name)
}

/// Bytes to a string the way Go's encoding/json does: every byte that is not part of a valid
/// UTF-8 sequence becomes one U+FFFD. (`String::from_utf8_lossy` would fold a truncated
/// sequence into a single U+FFFD.)
fn decode_like_go(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // Checked valid just above.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len());
                out.extend(std::iter::repeat_n(char::REPLACEMENT_CHARACTER, bad));
                bytes = &rest[bad..];
            }
        }
    }
}

/// Decodes one stored line (with or without its trailing newline); None when it is not a
/// json-file entry (a half-written or damaged line).
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let raw: OwnedRawEntry = serde_json::from_slice(line).ok()?;
    Some(Entry {
        log: raw.log.into_bytes(),
        stream: raw.stream,
        time: raw.time,
    })
}

/// Reads every entry of the log at `path`, rotated files oldest first then the live one. Missing
/// files are skipped; so is a last line without its newline (a write in progress or cut by a
/// crash) and any line that does not decode.
pub fn read_all(path: &Path, max_file: u32) -> Result<Vec<Entry>> {
    let mut files: Vec<PathBuf> = (1..max_file.max(1))
        .rev()
        .map(|k| rotated_path(path, k))
        .collect();
    files.push(path.to_path_buf());
    let mut entries = Vec::new();
    for file in files {
        let data = match fs::read(&file) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(LogError::Read { path: file, source }),
        };
        // split_inclusive leaves an unterminated tail as the last piece.
        entries.extend(
            data.split_inclusive(|&b| b == b'\n')
                .filter(|line| line.ends_with(b"\n"))
                .filter_map(parse_line),
        );
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn json_file(max_size: u64, max_file: u32) -> LogSpec {
        LogSpec {
            driver: "json-file".to_string(),
            max_size,
            max_file,
        }
    }

    fn setup(spec: &LogSpec) -> (tempfile::TempDir, PathBuf, JsonFileWriter) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let writer = JsonFileWriter::open(&path, spec).expect("open log");
        (dir, path, writer)
    }

    fn logs(entries: &[Entry]) -> Vec<(Stream, String)> {
        entries
            .iter()
            .map(|e| (e.stream, String::from_utf8(e.log.clone()).expect("utf-8")))
            .collect()
    }

    #[test]
    fn logs_interleaved_streams_in_order() {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        w.write(Stream::Stdout, b"one\n").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"two\nthree\n").unwrap();
        let got = logs(&read_all(&path, 1).unwrap());
        let want = vec![
            (Stream::Stdout, "one\n".to_string()),
            (Stream::Stderr, "oops\n".to_string()),
            (Stream::Stdout, "two\n".to_string()),
            (Stream::Stdout, "three\n".to_string()),
        ];
        assert_eq!(got, want, "entries in write order with their streams");

        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with(r#"{"log":"one\n","stream":"stdout","time":""#),
            "Docker's field order and escaping, got {first}"
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "log file mode within 0640, got {mode:o}");
    }

    #[test]
    fn holds_partial_line_until_newline() {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        w.write(Stream::Stdout, b"hel").unwrap();
        w.write(Stream::Stderr, b"err").unwrap();
        assert!(
            read_all(&path, 1).unwrap().is_empty(),
            "a partial line is not written"
        );
        w.write(Stream::Stdout, b"lo\nwor").unwrap();
        assert_eq!(
            logs(&read_all(&path, 1).unwrap()),
            vec![(Stream::Stdout, "hello\n".to_string())],
            "the joined line once its newline came, the rest held"
        );
        w.flush_partial().unwrap();
        assert_eq!(
            logs(&read_all(&path, 1).unwrap()),
            vec![
                (Stream::Stdout, "hello\n".to_string()),
                (Stream::Stdout, "wor".to_string()),
                (Stream::Stderr, "err".to_string()),
            ],
            "flush_partial writes each stream's tail without a newline"
        );
        w.flush_partial().unwrap();
        assert_eq!(
            read_all(&path, 1).unwrap().len(),
            3,
            "nothing left to flush"
        );
    }

    #[test]
    fn splits_long_line_at_16k() {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        let line = vec![b'x'; 20 * 1024];
        w.write(Stream::Stdout, &line).unwrap();
        let entries = read_all(&path, 1).unwrap();
        assert_eq!(entries.len(), 1, "one 16 KiB piece written, the rest held");
        assert_eq!(entries[0].log, vec![b'x'; MAX_LINE]);
        w.write(Stream::Stdout, b"\n").unwrap();
        let entries = read_all(&path, 1).unwrap();
        assert_eq!(entries.len(), 2);
        let mut tail = vec![b'x'; 4 * 1024];
        tail.push(b'\n');
        assert_eq!(entries[1].log, tail, "the 4 KiB tail with its newline");

        // A long line arriving with its newline in one write is cut the same way.
        let mut long = vec![b'y'; MAX_LINE];
        long.extend_from_slice(b"z\n");
        w.write(Stream::Stdout, &long).unwrap();
        let entries = read_all(&path, 1).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[2].log, vec![b'y'; MAX_LINE]);
        assert_eq!(entries[3].log, b"z\n");
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        // Each entry is about 80 bytes: two fit in 200, a third rotates.
        let spec = json_file(200, 3);
        let (dir, path, mut w) = setup(&spec);
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["c-json.log", "c-json.log.1", "c-json.log.2"],
            "exactly max_file files"
        );
        for name in &names {
            let size = fs::metadata(dir.path().join(name)).unwrap().len();
            assert!(size <= 200, "{name} is {size} bytes, over max_size");
        }
        let got = logs(&read_all(&path, 3).unwrap());
        assert_eq!(got.len(), 6, "three files of two entries: {got:?}");
        let want: Vec<(Stream, String)> = (14..20)
            .map(|i| (Stream::Stdout, format!("line {i:02}\n")))
            .collect();
        assert_eq!(got, want, "the newest entries, oldest first");
    }

    #[test]
    fn rotation_with_one_file_starts_over() {
        let (dir, path, mut w) = setup(&json_file(200, 1));
        for i in 0..5 {
            w.write(Stream::Stdout, format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no rotated files"
        );
        let got = logs(&read_all(&path, 1).unwrap());
        assert_eq!(got, vec![(Stream::Stdout, "line 04\n".to_string())]);
    }

    #[test]
    fn reopen_appends_and_counts_existing_size() {
        let spec = json_file(200, 2);
        let (_dir, path, mut w) = setup(&spec);
        w.write(Stream::Stdout, b"a\nb\n").unwrap();
        drop(w);
        let mut w = JsonFileWriter::open(&path, &spec).unwrap();
        w.write(Stream::Stdout, b"c\n").unwrap();
        assert_eq!(
            logs(&read_all(&path, 2).unwrap()),
            vec![
                (Stream::Stdout, "a\n".into()),
                (Stream::Stdout, "b\n".into()),
                (Stream::Stdout, "c\n".into())
            ],
        );
        assert!(
            rotated_path(&path, 1).exists(),
            "the existing size counted toward max_size"
        );
    }

    #[test]
    fn time_is_rfc3339_nanos_utc() {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        let before = SystemTime::now();
        w.write(Stream::Stdout, b"tick\n").unwrap();
        let after = SystemTime::now();
        let entry = read_all(&path, 1).unwrap().remove(0);
        let (_, frac) = entry.time.split_once('.').expect("fractional seconds");
        assert_eq!(frac.len(), 10, "9 digits and Z, got {}", entry.time);
        assert!(frac.ends_with('Z'), "UTC, got {}", entry.time);
        let t = humantime::parse_rfc3339(&entry.time).expect("parses back");
        assert!(
            before <= t && t <= after,
            "time {} within the write",
            entry.time
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_chars() {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        // A lone 0xff, then a truncated 3-byte sequence: Go replaces each bad byte.
        w.write(Stream::Stderr, b"a\xffb\xe2\x82c\n").unwrap();
        let entry = read_all(&path, 1).unwrap().remove(0);
        assert_eq!(
            String::from_utf8(entry.log).unwrap(),
            "a\u{fffd}b\u{fffd}\u{fffd}c\n"
        );
        assert_eq!(decode_like_go(b"\xf0\x9f"), "\u{fffd}\u{fffd}");
        assert_eq!(decode_like_go("é✓".as_bytes()), "é✓");
    }

    #[test]
    fn none_driver_writes_nothing() {
        let spec = LogSpec {
            driver: "none".to_string(),
            ..LogSpec::default()
        };
        let (dir, path, mut w) = setup(&spec);
        w.write(Stream::Stdout, b"dropped\npartial").unwrap();
        w.flush_partial().unwrap();
        assert!(!path.exists(), "no log file with driver none");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(read_all(&path, 1).unwrap().is_empty());
    }

    #[test]
    fn unknown_driver_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = LogSpec {
            driver: "syslog".to_string(),
            ..LogSpec::default()
        };
        let err = JsonFileWriter::open(&dir.path().join("log"), &spec).err();
        assert!(
            matches!(err, Some(LogError::UnsupportedDriver { .. })),
            "got {err:?}"
        );
    }

    #[test]
    fn reader_skips_half_written_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let good = r#"{"log":"ok\n","stream":"stdout","time":"2024-01-02T03:04:05.000000006Z","attrs":{}}"#;
        fs::write(&path, format!("{good}\n{{\"log\":\"cut")).unwrap();
        let entries = read_all(&path, 1).unwrap();
        assert_eq!(
            entries,
            vec![Entry {
                log: b"ok\n".to_vec(),
                stream: Stream::Stdout,
                time: "2024-01-02T03:04:05.000000006Z".to_string(),
            }]
        );
        assert!(parse_line(b"{\"log\":\"cut").is_none());
        assert!(parse_line(good.as_bytes()).is_some());
    }
}
