//! `docker logs --tail N` read from the end: the live file backwards in blocks, then the rotated
//! files newest first, only as far as N wanted entries need. A plain file is read backwards; a
//! gzipped one is streamed forward keeping its last N wanted entries. Memory is the N entries,
//! one block and one line, whatever the log's size.

use super::logs::{Entry, LogCursor, LogOptions};
use berth_shim::logs;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The last `n` entries `opts` wants of the json-file log at `path` (with `max_file` files in
/// all), oldest first, and a cursor just after them to follow the live file.
pub(super) fn last_entries(
    path: &Path,
    max_file: u32,
    opts: &LogOptions,
    n: usize,
) -> (Vec<Entry>, LogCursor) {
    let (cursor, end) = LogCursor::at_end(path.to_path_buf());
    let mut tail = Tail::new(opts, n);
    if let Some(f) = &cursor.file {
        if let Err(e) = tail.read_backwards(f, end) {
            tracing::warn!(path = %path.display(), error = %e, "reading the log backwards");
        }
    }
    for k in 1..max_file {
        if tail.full() {
            break;
        }
        // Gzipped with compress (a rotation's newest may not be compressed yet).
        let gz = logs::rotated_path(path, k, true);
        let rotated = if gz.exists() {
            gz
        } else {
            logs::rotated_path(path, k, false)
        };
        match tail.read_rotated(&rotated) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %rotated.display(), error = %e, "reading a rotated log")
            }
        }
    }
    (tail.into_entries(), cursor)
}

/// Bytes read at a time, backwards.
const BLOCK: u64 = 64 * 1024;
/// A stored line longer than this is not one the shim wrote (a 16 KiB piece escaped six times
/// over, and its attrs): it is skipped, not held.
const MAX_STORED_LINE: usize = 1 << 20;

/// Lines of `file`'s first `end` bytes, last first, each without its newline. `end` is just
/// after a newline (or 0).
pub(super) struct Backwards<'a> {
    file: &'a File,
    /// `buf` holds the file's bytes from here up to where the lines not yet returned end.
    pos: u64,
    buf: Vec<u8>,
    /// Dropping the bytes of an over-long line until the newline before it is found.
    skipping: bool,
}

impl<'a> Backwards<'a> {
    pub(super) fn new(file: &'a File, end: u64) -> Backwards<'a> {
        Backwards {
            file,
            pos: end,
            buf: Vec::new(),
            skipping: false,
        }
    }

    pub(super) fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            // The newline ending the last line not yet returned is `buf`'s last byte (the line
            // is the bytes after the newline before it).
            let body = self.buf.len().saturating_sub(1);
            if let Some(nl) = self.buf[..body].iter().rposition(|b| *b == b'\n') {
                let line = self.buf[nl + 1..body].to_vec();
                self.buf.truncate(nl + 1);
                if std::mem::take(&mut self.skipping) {
                    continue;
                }
                return Ok(Some(line));
            }
            if self.pos == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = self.buf[..body].to_vec();
                self.buf.clear();
                if std::mem::take(&mut self.skipping) {
                    return Ok(None);
                }
                return Ok(Some(line));
            }
            if self.buf.len() > MAX_STORED_LINE {
                // Keep the newline that ends it: the line before it is found as usual.
                self.skipping = true;
                self.buf.drain(..body);
            }
            let n = BLOCK.min(self.pos);
            let mut block = vec![0u8; n as usize];
            self.file.read_exact_at(&mut block, self.pos - n)?;
            self.pos -= n;
            block.extend_from_slice(&self.buf);
            self.buf = block;
        }
    }
}

/// What the reading back collects: the wanted entries, newest first, up to `want`.
struct Tail<'o> {
    opts: &'o LogOptions,
    want: usize,
    /// Newest first.
    found: Vec<Entry>,
    /// An entry older than `since` was met: everything before it is older still.
    done: bool,
}

impl<'o> Tail<'o> {
    fn new(opts: &'o LogOptions, want: usize) -> Tail<'o> {
        Tail {
            opts,
            want,
            found: Vec::new(),
            done: want == 0,
        }
    }

    fn full(&self) -> bool {
        self.done || self.found.len() >= self.want
    }

    /// One stored line, met going backwards.
    fn offer(&mut self, line: &[u8]) {
        let Some(e) = logs::parse_line(line) else {
            return;
        };
        if self.opts.before_since(&e) {
            self.done = true;
            return;
        }
        if self.opts.wants(&e) {
            self.found.push(e);
        }
    }

    /// The lines of `file` up to `end`, backwards, until enough are found.
    fn read_backwards(&mut self, file: &File, end: u64) -> io::Result<()> {
        let mut lines = Backwards::new(file, end);
        while !self.full() {
            match lines.next_line()? {
                Some(line) => self.offer(&line),
                None => break,
            }
        }
        Ok(())
    }

    /// A rotated file (older than everything read so far): plain ones backwards, gzipped ones
    /// streamed forward keeping the last entries they need.
    fn read_rotated(&mut self, path: &Path) -> io::Result<()> {
        let file = File::open(path)?;
        if path.extension().is_none_or(|e| e != "gz") {
            let end = file.metadata()?.len();
            return self.read_backwards(&file, end);
        }
        let room = self.want - self.found.len();
        let mut last: VecDeque<Entry> = VecDeque::with_capacity(room.min(4096));
        let mut reader = BufReader::new(flate2::read::GzDecoder::new(file));
        let mut line = Vec::new();
        let mut since_crossed = false;
        loop {
            line.clear();
            let n = (&mut reader)
                .take(MAX_STORED_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                if n > MAX_STORED_LINE {
                    // An over-long line: skip to its end.
                    skip_line(&mut reader)?;
                }
                continue;
            }
            let Some(e) = logs::parse_line(&line[..line.len() - 1]) else {
                continue;
            };
            if self.opts.before_since(&e) {
                // Older than since: so is everything before it, which is dropped.
                since_crossed = true;
                last.clear();
                continue;
            }
            if self.opts.wants(&e) {
                if last.len() == room {
                    last.pop_front();
                }
                last.push_back(e);
            }
        }
        self.found.extend(last.into_iter().rev());
        self.done |= since_crossed;
        Ok(())
    }

    /// The entries found, oldest first.
    fn into_entries(self) -> Vec<Entry> {
        let mut v = self.found;
        v.reverse();
        v
    }
}

fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_backwards(data: &[u8]) -> Vec<String> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        let mut b = Backwards::new(&f, data.len() as u64);
        let mut out = Vec::new();
        while let Some(l) = b.next_line().unwrap() {
            out.push(String::from_utf8(l).unwrap());
        }
        out
    }

    #[test]
    fn lines_come_back_last_first_across_blocks() {
        let mut data = Vec::new();
        let mut want = Vec::new();
        for i in 0..50_000 {
            let l = format!("line {i} {}", "x".repeat(i % 37));
            data.extend_from_slice(l.as_bytes());
            data.push(b'\n');
            want.push(l);
        }
        want.reverse();
        let got = lines_backwards(&data);
        assert!(
            got == want,
            "expected the 50,000 lines last first; got {} lines, first {:?}",
            got.len(),
            got.first()
        );
    }

    #[test]
    fn an_over_long_line_is_skipped_and_the_ones_around_it_kept() {
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(
            b'y',
            MAX_STORED_LINE + BLOCK as usize * 3,
        ));
        data.extend_from_slice(b"\nlast\n");
        assert_eq!(lines_backwards(&data), ["last", "first"]);
    }

    use berth_shim::logs::{JsonFileWriter, Stream};
    use berth_shim::spec::LogSpec;

    fn texts(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.log).into_owned())
            .collect()
    }

    fn opts(since: Option<std::time::SystemTime>) -> LogOptions {
        LogOptions {
            stdout: true,
            since,
            ..LogOptions::default()
        }
    }

    /// 30 lines, "0\n" to "29\n", stdout and (every third) stderr, rotated into five files of
    /// which the older ones are gzipped.
    fn rotated_log(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("c-json.log");
        let spec = LogSpec {
            driver: "json-file".to_string(),
            max_size: 500,
            max_file: 5,
            compress: true,
            ..LogSpec::default()
        };
        let mut w = JsonFileWriter::open(&path, &spec).unwrap();
        for i in 0..30 {
            let stream = if i % 3 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            w.write(stream, format!("{i}\n").as_bytes()).unwrap();
        }
        assert!(
            logs::rotated_path(&path, 2, true).exists(),
            "the log rotated and compressed"
        );
        path
    }

    #[test]
    fn the_tail_spans_rotated_files_newest_first_and_keeps_the_stream_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = rotated_log(dir.path());
        // Every entry the files still hold, read forward, is what the tail must end with.
        let all: Vec<Entry> = logs::read_all(&path, 5)
            .unwrap()
            .into_iter()
            .filter(|e| e.stream == Stream::Stdout)
            .collect();
        for n in [0, 1, 3, 7, 12, all.len(), all.len() + 5] {
            let (got, _) = last_entries(&path, 5, &opts(None), n);
            let want = &all[all.len().saturating_sub(n)..];
            assert_eq!(texts(&got), texts(want), "tail {n}");
        }
    }

    #[test]
    fn since_stops_the_tail_at_the_first_older_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = rotated_log(dir.path());
        let all: Vec<Entry> = logs::read_all(&path, 5)
            .unwrap()
            .into_iter()
            .filter(|e| e.stream == Stream::Stdout)
            .collect();
        let mid = &all[all.len() / 2];
        let since = humantime::parse_rfc3339(&logs::fixed_width_time(&mid.time)).unwrap();
        let o = opts(Some(since));
        let want: Vec<&Entry> = all.iter().filter(|e| o.wants(e)).collect();
        let (got, _) = last_entries(&path, 5, &o, 1000);
        let want: Vec<Entry> = want.into_iter().cloned().collect();
        assert_eq!(texts(&got), texts(&want), "since {mid:?}");
    }

    #[test]
    fn following_after_a_tail_starts_where_the_tail_ended_even_mid_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let line = |s: &str| {
            format!(
                "{{\"log\":\"{s}\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}}\n"
            )
        };
        let (one, two, three) = (line("one"), line("two"), line("three"));
        // "three" is being written: half of it is in the file.
        let (head, rest) = three.split_at(20);
        std::fs::write(&path, format!("{one}{two}{head}")).unwrap();
        let (got, mut cursor) = last_entries(&path, 1, &opts(None), 1);
        assert_eq!(texts(&got), ["two\n"], "the tail is the last complete line");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(format!("{rest}{}", line("four")).as_bytes())
            .unwrap();
        assert_eq!(
            texts(&cursor.read_new()),
            ["three\n", "four\n"],
            "followed after the tail"
        );
    }
}
