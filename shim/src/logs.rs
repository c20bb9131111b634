//! Docker's json-file log driver: the shim writes the container's output here and the API reads
//! it back for `docker logs`.
//!
//! One JSON object per line: `{"log":"...","stream":"stdout","time":"..."}`. Output is split into
//! lines as dockerd's copier does: each complete line (its `\n` included) is one entry, and a line
//! that reaches [`MAX_LINE`] bytes without a newline is cut into entries of that size which carry
//! no newline. With `max_size` set the live file rotates to `<path>.1`, `<path>.2`, ... keeping
//! `max_file` files in all, the live one included; with `compress` the rotated files are
//! gzipped (`<path>.1.gz`, ...). The spec's `attrs` go on every line as dockerd's `attrs`
//! object (between `stream` and `time`).

mod ring;

use crate::spec::LogSpec;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
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
    #[error("compressing rotated log file {path}: {source}")]
    Compress { path: PathBuf, source: io::Error },
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

/// One stored entry, as read back.
#[derive(Deserialize)]
struct OwnedRawEntry {
    log: String,
    stream: Stream,
    time: String,
    #[serde(default)]
    attrs: std::collections::BTreeMap<String, String>,
}

/// One log entry read back from a json-file log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The bytes of the line (its `\n` included unless it was a partial line).
    pub log: Vec<u8>,
    pub stream: Stream,
    /// RFC 3339 with nanoseconds, UTC, exactly as stored.
    pub time: String,
    /// dockerd's `attrs` (tag, labels, env), sorted by key.
    pub attrs: std::collections::BTreeMap<String, String>,
}

/// The open live file and what rotation needs to know about it.
pub(crate) struct Sink {
    path: PathBuf,
    file: File,
    /// Bytes in the live file.
    size: u64,
    /// Rotate before the file would exceed this; 0 never.
    max_size: u64,
    /// Files kept, the live one included (at least 1).
    max_file: u32,
    /// Gzip the rotated files.
    compress: bool,
    /// `,"attrs":{...}` as written on every line; empty without attrs.
    attrs: Vec<u8>,
}

/// Writes a container's output in Docker's json-file format. Single-threaded: the shim's event
/// loop owns it.
pub struct JsonFileWriter {
    /// None with the "none" driver: everything is dropped.
    sink: Option<Out>,
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
                let sink = Sink::open(path, spec)?;
                Some(if spec.max_buffer_size > 0 {
                    Out::Ring(ring::Ring::start(sink, spec)?)
                } else {
                    Out::Direct(sink)
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
            if let Err(e) = sink.entry(stream, &rest[..end]) {
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
                sink.entry(stream, buf)?;
                buf.clear();
            }
        }
        Ok(())
    }

    /// With `mode=non-blocking`: waits until every entry given so far is in the file (the
    /// container has ended: its last lines belong in the log before its exit is told).
    /// Nothing to wait for otherwise.
    pub fn sync(&mut self) {
        if let Some(Out::Ring(r)) = &mut self.sink {
            r.sync();
        }
    }

    /// With `mode=non-blocking`: the descriptor to poll for room while entries wait for the
    /// writer, and [`JsonFileWriter::feed`] to call when it has some.
    pub fn wants_room(&self) -> Option<std::os::fd::RawFd> {
        match &self.sink {
            Some(Out::Ring(r)) => r.wants_room(),
            _ => None,
        }
    }

    /// Gives the writer what it has room for (see [`JsonFileWriter::wants_room`]).
    pub fn feed(&mut self) {
        if let Some(Out::Ring(r)) = &mut self.sink {
            r.feed();
        }
    }

    /// With `mode=non-blocking`: the last entries written and the writer process ended (at the
    /// shim's end). Nothing to do otherwise.
    pub fn close(&mut self) {
        if matches!(self.sink, Some(Out::Ring(_))) {
            if let Some(Out::Ring(r)) = self.sink.take() {
                r.close();
            }
        }
    }
}

/// Where entries go: the file, written where they are read (`mode=blocking`), or a writer
/// process of their own behind a bounded buffer (`mode=non-blocking`).
enum Out {
    Direct(Sink),
    Ring(ring::Ring),
}

impl Out {
    fn entry(&mut self, stream: Stream, line: &[u8]) -> Result<()> {
        match self {
            Out::Direct(sink) => sink.write_entry(stream, line),
            Out::Ring(ring) => {
                let mut out = Vec::with_capacity(line.len() + 64);
                encode_entry(&mut out, line, stream, ring.attrs(), SystemTime::now());
                ring.enqueue(&out);
                Ok(())
            }
        }
    }
}

impl Sink {
    /// Opens (creating with mode 0640, appending) the live file at `path`.
    pub(crate) fn open(path: &Path, spec: &LogSpec) -> Result<Sink> {
        let file = open_live(path)?;
        let size = file
            .metadata()
            .map_err(|source| LogError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        Ok(Sink {
            path: path.to_path_buf(),
            file,
            size,
            max_size: spec.max_size,
            max_file: spec.max_file.max(1),
            compress: spec.compress,
            attrs: encode_attrs(&spec.attrs),
        })
    }

    /// The same sink on a descriptor of its own, for a process that has closed every
    /// descriptor it inherited (the non-blocking writer): the old one is let go of, not
    /// closed, since its number may be another file's by now.
    pub(crate) fn reopened(self) -> Result<Sink> {
        let Sink {
            path,
            file,
            size: _,
            max_size,
            max_file,
            compress,
            attrs,
        } = self;
        std::mem::forget(file);
        let file = open_live(&path)?;
        let size = file
            .metadata()
            .map_err(|source| LogError::Open {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(Sink {
            path,
            file,
            size,
            max_size,
            max_file,
            compress,
            attrs,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `,"attrs":{...}` as written on every line.
    pub(crate) fn attrs(&self) -> &[u8] {
        &self.attrs
    }

    fn write_entry(&mut self, stream: Stream, line: &[u8]) -> Result<()> {
        let mut out = Vec::with_capacity(line.len() + 64);
        encode_entry(&mut out, line, stream, &self.attrs, SystemTime::now());
        self.write_encoded(&out)
    }

    /// Appends one encoded entry (a whole JSON line), rotating first when it would not fit.
    pub(crate) fn write_encoded(&mut self, out: &[u8]) -> Result<()> {
        let len = out.len() as u64;
        if self.max_size > 0 && self.size > 0 && self.size + len > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(out).map_err(|source| LogError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.size += len;
        Ok(())
    }

    /// Shifts `<path>.k` to `<path>.k+1` (the oldest falls off), the live file to `<path>.1`
    /// (gzipped to `<path>.1.gz` with compress), and starts a new live file. With one file kept
    /// the live file simply starts over.
    fn rotate(&mut self) -> Result<()> {
        if self.max_file > 1 {
            let oldest = rotated_path(&self.path, self.max_file - 1, self.compress);
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
                let from = rotated_path(&self.path, k, self.compress);
                let to = rotated_path(&self.path, k + 1, self.compress);
                match fs::rename(&from, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(LogError::Rotate { from, to, source }),
                }
            }
            let to = rotated_path(&self.path, 1, false);
            fs::rename(&self.path, &to).map_err(|source| LogError::Rotate {
                from: self.path.clone(),
                to: to.clone(),
                source,
            })?;
            if self.compress {
                gzip_replace(&to, &rotated_path(&self.path, 1, true))?;
            }
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

/// Gzip `from` into `to` (through a temporary file renamed over it), then remove `from`.
fn gzip_replace(from: &Path, to: &Path) -> Result<()> {
    let fail = |source| LogError::Compress {
        path: from.to_path_buf(),
        source,
    };
    let mut tmp = to.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut input = File::open(from).map_err(fail)?;
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(LOG_FILE_MODE)
        .open(&tmp)
        .map_err(fail)?;
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    io::copy(&mut input, &mut gz).map_err(fail)?;
    gz.finish().map_err(fail)?;
    fs::rename(&tmp, to).map_err(fail)?;
    fs::remove_file(from).map_err(fail)
}

/// The data of a rotated file: gunzipped when its name ends in `.gz`.
pub fn read_rotated(path: &Path) -> io::Result<Vec<u8>> {
    let data = fs::read(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&data[..]), &mut out)?;
        return Ok(out);
    }
    Ok(data)
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

/// `<path>.k`, the k-th newest rotated file (`<path>.k.gz` gzipped).
pub fn rotated_path(path: &Path, k: u32, gzipped: bool) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{k}"));
    if gzipped {
        name.push(".gz");
    }
    PathBuf::from(name)
}

/// `,"attrs":{...}` for `attrs` (keys sorted, as Go marshals a map); empty for none.
fn encode_attrs(attrs: &std::collections::BTreeMap<String, String>) -> Vec<u8> {
    if attrs.is_empty() {
        return Vec::new();
    }
    let mut out = b",\"attrs\":{".to_vec();
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_string(&mut out, k.as_bytes());
        out.push(b':');
        push_json_string(&mut out, v.as_bytes());
    }
    out.push(b'}');
    out
}

/// One entry as dockerd's json-file writer lays it out:
/// `{"log":...,"stream":...[,"attrs":{...}],"time":...}` and a newline.
fn encode_entry(out: &mut Vec<u8>, line: &[u8], stream: Stream, attrs: &[u8], time: SystemTime) {
    out.extend_from_slice(b"{\"log\":");
    push_json_string(out, line);
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.push(b'"');
    out.extend_from_slice(attrs);
    out.extend_from_slice(b",\"time\":\"");
    push_time(out, time);
    out.extend_from_slice(b"\"}\n");
}

/// `bytes` as a JSON string, escaped as dockerd escapes log lines: `"` and `\\` with a
/// backslash, newline and carriage return as `\n` and `\r`, every other control character and
/// `<`, `>`, `&` as `\u00XX`, U+2028 and U+2029 as `\u2028`/`\u2029`, and each byte that is not
/// part of a valid UTF-8 sequence as `\ufffd`. Other text is copied as it is.
fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut copied = 0;
        let mut i = 0;
        while i < valid.len() {
            let b = valid[i];
            let escape: Option<&[u8]> = match b {
                b'"' => Some(b"\\\""),
                b'\\' => Some(b"\\\\"),
                b'\n' => Some(b"\\n"),
                b'\r' => Some(b"\\r"),
                0..0x20 | b'<' | b'>' | b'&' => Some(b""),
                // U+2028 and U+2029: E2 80 A8 and E2 80 A9.
                0xe2 if valid.get(i + 1) == Some(&0x80)
                    && matches!(valid.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    Some(b"")
                }
                _ => None,
            };
            let Some(escape) = escape else {
                i += 1;
                continue;
            };
            out.extend_from_slice(&valid[copied..i]);
            if !escape.is_empty() {
                out.extend_from_slice(escape);
                i += 1;
            } else if b == 0xe2 {
                out.extend_from_slice(b"\\u202");
                out.push(if valid[i + 2] == 0xa8 { b'8' } else { b'9' });
                i += 3;
            } else {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                i += 1;
            }
            copied = i;
        }
        out.extend_from_slice(&valid[copied..]);
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// `time` in UTC as Go's RFC 3339 with nanoseconds writes it, which is what dockerd stores:
/// `2006-01-02T15:04:05.999999999Z`, the fraction's trailing zeros (and a zero fraction) left
/// out.
fn push_time(out: &mut Vec<u8>, time: SystemTime) {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_date(secs / 86_400);
    let of_day = secs % 86_400;
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    push_digits(out, year, 4);
    for (sep, n) in [
        (b'-', month),
        (b'-', day),
        (b'T', hour),
        (b':', minute),
        (b':', second),
    ] {
        out.push(sep);
        push_digits(out, n, 2);
    }
    let mut nanos = u64::from(since.subsec_nanos());
    if nanos > 0 {
        let mut width = 9;
        while nanos % 10 == 0 {
            nanos /= 10;
            width -= 1;
        }
        out.push(b'.');
        push_digits(out, nanos, width);
    }
    out.push(b'Z');
}

/// `n` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut Vec<u8>, n: u64, width: u32) {
    for k in (0..width).rev() {
        out.push(b'0' + (n / 10u64.pow(k) % 10) as u8);
    }
}

/// The proleptic Gregorian (year, month, day) of the `days`-th day after 1970-01-01.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01 so that the leap day ends each 4-, 100- and 400-year cycle.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A stored time as `docker logs --timestamps` prints it: the fraction padded to nine digits
/// (dockerd stores Go's RFC 3339 with trailing zeros left out, and prints them fixed-width).
pub fn fixed_width_time(stored: &str) -> Cow<'_, str> {
    let Some(body) = stored.strip_suffix('Z') else {
        return Cow::Borrowed(stored);
    };
    let digits = body.split_once('.').map_or(0, |(_, f)| f.len());
    if digits >= 9 {
        return Cow::Borrowed(stored);
    }
    let dot = if digits == 0 { "." } else { "" };
    Cow::Owned(format!("{body}{dot}{:0<width$}Z", "", width = 9 - digits))
}

/// Decodes one stored line (with or without its trailing newline); None when it is not a
/// json-file entry (a half-written or damaged line).
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let raw: OwnedRawEntry = serde_json::from_slice(line).ok()?;
    Some(Entry {
        log: raw.log.into_bytes(),
        stream: raw.stream,
        time: raw.time,
        attrs: raw.attrs,
    })
}

/// Reads every entry of the log at `path`, rotated files oldest first then the live one. Missing
/// files are skipped; so is a last line without its newline (a write in progress or cut by a
/// crash) and any line that does not decode. A rotated file is read gzipped when it is (a
/// rotation's `<path>.1` may not be compressed yet).
pub fn read_all(path: &Path, max_file: u32) -> Result<Vec<Entry>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for k in (1..max_file.max(1)).rev() {
        let gz = rotated_path(path, k, true);
        files.push(if gz.exists() {
            gz
        } else {
            rotated_path(path, k, false)
        });
    }
    files.push(path.to_path_buf());
    let mut entries = Vec::new();
    for file in files {
        let data = match read_rotated(&file) {
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
    use std::time::Duration;

    fn json_file(max_size: u64, max_file: u32) -> LogSpec {
        LogSpec {
            driver: "json-file".to_string(),
            max_size,
            max_file,
            ..LogSpec::default()
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
            rotated_path(&path, 1, false).exists(),
            "the existing size counted toward max_size"
        );
    }

    #[test]
    fn time_is_gos_rfc3339_nanos_utc() {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        let before = SystemTime::now();
        w.write(Stream::Stdout, b"tick\n").unwrap();
        let after = SystemTime::now();
        let entry = read_all(&path, 1).unwrap().remove(0);
        assert!(entry.time.ends_with('Z'), "UTC, got {}", entry.time);
        let t = humantime::parse_rfc3339(&fixed_width_time(&entry.time)).expect("parses back");
        assert!(
            before <= t && t <= after,
            "time {} within the write",
            entry.time
        );
    }

    fn time_text(secs: u64, nanos: u32) -> String {
        let mut out = Vec::new();
        push_time(
            &mut out,
            SystemTime::UNIX_EPOCH + Duration::new(secs, nanos),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn time_fraction_drops_trailing_zeros_as_go_does() {
        assert_eq!(time_text(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            time_text(1_234_567_890, 120_000_000),
            "2009-02-13T23:31:30.12Z"
        );
        assert_eq!(
            time_text(1_709_210_096, 1),
            "2024-02-29T12:34:56.000000001Z"
        );
        assert_eq!(
            time_text(1_796_083_199, 999_999_999),
            "2026-11-30T23:59:59.999999999Z"
        );
        assert_eq!(time_text(951_782_400, 5_000), "2000-02-29T00:00:00.000005Z");
        assert_eq!(time_text(4_107_542_400, 0), "2100-03-01T00:00:00Z");
        // Every day of four centuries against the formatter humantime ships.
        for day in (0..146_097u64).step_by(7) {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(day * 86_400 + 3_723);
            let ours = time_text(day * 86_400 + 3_723, 0);
            assert_eq!(ours, humantime::format_rfc3339_seconds(t).to_string());
        }
    }

    #[test]
    fn docker_logs_timestamps_are_fixed_width() {
        assert_eq!(
            fixed_width_time("2009-02-13T23:31:30.12Z"),
            "2009-02-13T23:31:30.120000000Z"
        );
        assert_eq!(
            fixed_width_time("1970-01-01T00:00:00Z"),
            "1970-01-01T00:00:00.000000000Z"
        );
        let full = "2026-11-30T23:59:59.999999999Z";
        assert_eq!(fixed_width_time(full), full);
    }

    fn stored_line(data: &[u8]) -> String {
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        w.write(Stream::Stderr, data).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let (log, _) = text.split_once(",\"stream\"").unwrap();
        log.strip_prefix("{\"log\":").unwrap().to_string()
    }

    #[test]
    fn log_text_is_escaped_as_dockerd_escapes_it() {
        // What dockerd's json-file writer stores for the same bytes.
        assert_eq!(
            stored_line(b"<a href=\"x\">&</a>\ttab\\\r\n"),
            r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e\u0009tab\\\r\n""#
        );
        assert_eq!(
            stored_line("é✓ \u{2028}\u{2029} \u{fffd}\u{7f}\n".as_bytes()),
            "\"é✓ \\u2028\\u2029 \u{fffd}\u{7f}\\n\""
        );
        assert_eq!(stored_line(b"\x01\x1f\n"), r#""\u0001\u001f\n""#);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_chars() {
        // A lone 0xff, then a truncated 3-byte sequence: Go replaces each bad byte.
        assert_eq!(
            stored_line(b"a\xffb\xe2\x82c\n"),
            r#""a\ufffdb\ufffd\ufffdc\n""#
        );
        assert_eq!(stored_line(b"\xf0\x9f\n"), r#""\ufffd\ufffd\n""#);
        let (_dir, path, mut w) = setup(&json_file(0, 1));
        w.write(Stream::Stderr, b"a\xffb\xe2\x82c\n").unwrap();
        let entry = read_all(&path, 1).unwrap().remove(0);
        assert_eq!(
            String::from_utf8(entry.log).unwrap(),
            "a\u{fffd}b\u{fffd}\u{fffd}c\n"
        );
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
                attrs: Default::default(),
            }]
        );
        assert!(parse_line(b"{\"log\":\"cut").is_none());
        assert!(parse_line(good.as_bytes()).is_some());
    }

    #[test]
    fn attrs_go_on_every_line_between_stream_and_time() {
        let spec = LogSpec {
            attrs: [("tag", "web/1"), ("a<b", "x\"y")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..json_file(0, 1)
        };
        let (_dir, path, mut w) = setup(&spec);
        w.write(Stream::Stdout, b"one\n").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(
                r#"{"log":"one\n","stream":"stdout","attrs":{"a\u003cb":"x\"y","tag":"web/1"},"time":""#
            ),
            "dockerd's layout, keys sorted and escaped: {text}"
        );
        let entry = read_all(&path, 1).unwrap().remove(0);
        assert_eq!(entry.attrs, spec.attrs, "attrs read back");
    }

    #[test]
    fn compress_gzips_rotated_files_and_reads_them_back() {
        let spec = LogSpec {
            compress: true,
            ..json_file(200, 3)
        };
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
            vec!["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"],
            "rotated files gzipped, max_file in all"
        );
        let raw = fs::read(dir.path().join("c-json.log.1.gz")).unwrap();
        assert_eq!(&raw[..2], b"\x1f\x8b", "a gzip file");
        let got = logs(&read_all(&path, 3).unwrap());
        let want: Vec<(Stream, String)> = (14..20)
            .map(|i| (Stream::Stdout, format!("line {i:02}\n")))
            .collect();
        assert_eq!(
            got, want,
            "the newest entries read through the gzipped files"
        );
    }
}
