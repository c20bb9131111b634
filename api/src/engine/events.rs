//! Events: appended to the on-disk log by whoever causes them (see `berth_shim::events`), and
//! read back for `GET /events`: a replay of what the log holds since a time, then the lines
//! that come, read by polling the file (every [`POLL`]) and following it across a rotation.

use super::{Engine, EngineError, Result};
use crate::engine::ids::ContainerId;
use berth_shim::events::{self, Class, EventsPaths};
use berth_shim::fsutil::FileLock;

pub use berth_shim::events::Event;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use super::filters::Filters;

/// How often a follower looks for new lines.
pub const POLL: Duration = Duration::from_millis(100);

/// The filter keys dockerd accepts for `/events`.
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

impl Engine {
    fn events_paths(&self) -> EventsPaths {
        EventsPaths::new(&self.paths.root)
    }

    /// Log an event about a container (its record's name, image and labels, plus `extra`). A
    /// failure to log never fails the operation that caused it.
    pub(crate) fn container_event(&self, id: &ContainerId, action: &str, extra: &[(&str, String)]) {
        let dir = self.container_paths(id).dir;
        if let Err(e) = events::container_event(&self.paths.root, &dir, id, action, extra) {
            tracing::error!("event {action} of {id}: {e}");
        }
    }

    /// Log an event as it is.
    pub(crate) fn log_event(&self, event: Event) {
        if let Err(e) = events::append(&self.events_paths(), event) {
            tracing::error!("event: {e}");
        }
    }

    /// A client attached to a container.
    pub fn attach_event(&self, id: &ContainerId) {
        self.container_event(id, "attach", &[]);
    }

    /// Log an event about an image.
    pub(crate) fn image_event(&self, id: &str, action: &str, name: &str) {
        if let Err(e) = events::append(&self.events_paths(), Event::image(id, action, name)) {
            tracing::error!("event {action} of image {id}: {e}");
        }
    }

    /// A reader of the events log positioned for `since`: None means only events to come.
    pub fn events_reader(&self, since: Option<SystemTime>) -> EventReader {
        EventReader::open(self.events_paths(), since)
    }

    /// Follow the events log (`GET /events`, `berth events`): what it holds since `since`,
    /// then what comes, every [`POLL`], until `until` (for ever without it). Each event that
    /// passes `filters` goes to `on_event`; `on_idle` is told when what was there is read.
    /// Either ends the following by answering false (its client has gone).
    pub fn follow_events(
        &self,
        since: Option<SystemTime>,
        until: Option<SystemTime>,
        filters: &Filters,
        mut on_event: impl FnMut(&Event) -> bool,
        mut on_idle: impl FnMut() -> bool,
    ) {
        // With `until` and no `since`, dockerd answers what it keeps from the start.
        let since = since.or(until.map(|_| SystemTime::UNIX_EPOCH));
        let mut reader = self.events_reader(since);
        loop {
            for ev in reader.read_new() {
                if until.is_some_and(|u| ev.system_time() > u) {
                    return;
                }
                if include(filters, &ev) && !on_event(&ev) {
                    return;
                }
            }
            if reader.has_more() {
                continue;
            }
            if !on_idle() || until.is_some_and(|u| SystemTime::now() > u) {
                return;
            }
            std::thread::sleep(POLL);
        }
    }
}

pub use berth_shim::events::MONITOR_TYPES;

/// Check `filters` keys as dockerd does.
pub fn check_filters(f: &Filters) -> Result<()> {
    for k in f.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(EngineError::invalid_parameter(format!(
                "invalid filter '{k}'"
            )));
        }
    }
    Ok(())
}

/// Does the event pass the filters (moby's `events.Filter.Include`)? Within a key any value may
/// match; every key given must match.
pub fn include(f: &Filters, ev: &Event) -> bool {
    let exact = |key: &str, candidates: &[&str]| match f.get(key) {
        None => true,
        Some(vals) => vals.iter().any(|v| candidates.contains(&v.as_str())),
    };
    // The actor's id (or a prefix of it) or its name, for events of that type only (the eBPF
    // monitor's `process` and `syscall` events are about a container too).
    let fuzzy = |key: &str| match f.get(key) {
        None => true,
        Some(vals) => {
            (ev.kind == key || (key == "container" && MONITOR_TYPES.contains(&ev.kind.as_str())))
                && {
                    let name = ev.actor.attributes.get("name").map(String::as_str);
                    vals.iter()
                        .any(|v| ev.actor.id.starts_with(v.as_str()) || name == Some(v.as_str()))
                }
        }
    };
    let image_name = ev
        .actor
        .attributes
        .get(if ev.kind == "image" { "name" } else { "image" })
        .map(String::as_str)
        .unwrap_or("");
    let labels = match f.get("label") {
        None => true,
        Some(vals) => super::filters::labels_match(&ev.actor.attributes, vals),
    };
    exact("event", &[ev.action.as_str(), strip_exec(&ev.action)])
        && exact("type", &[ev.kind.as_str()])
        && exact("scope", &[ev.scope.as_str()])
        && fuzzy("container")
        && fuzzy("volume")
        && fuzzy("network")
        && exact(
            "image",
            &[
                ev.actor.id.as_str(),
                image_name,
                strip_tag(&ev.actor.id),
                strip_tag(image_name),
            ],
        )
        && labels
}

/// "exec_start: sh" -> "exec_start".
fn strip_exec(action: &str) -> &str {
    action.split_once(": ").map_or(action, |(a, _)| a)
}

/// "busybox:latest" -> "busybox" (a registry port is not a tag).
fn strip_tag(image: &str) -> &str {
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') && !image.starts_with("sha256:") => &image[..i],
        _ => image,
    }
}

/// At most this much of the log is read (and parsed) at once: a replay of a long log is served
/// in batches, so that a reader's memory does not grow with the log. (Each `GET /events?since=`
/// read both files whole; with the soak's 16 clients the API's RSS grew with the log.)
const READ_CHUNK: u64 = 256 * 1024;

/// Reads the log from a position: both classes' files (see `berth_shim::events`), merged in
/// time order, whole lines as events; each class followed across its rotations. A replay is
/// served in batches of at most [`READ_CHUNK`] per class ([`EventReader::has_more`]).
pub struct EventReader {
    lock: std::path::PathBuf,
    classes: Vec<ClassReader>,
    /// Events before this are skipped.
    since: Option<SystemTime>,
    /// Events read but held back: a class with more to read may still hold older ones.
    pending: Vec<Event>,
    /// The last read left lines to read at once.
    more: bool,
}

impl EventReader {
    fn open(paths: EventsPaths, since: Option<SystemTime>) -> EventReader {
        let classes = Class::ALL
            .iter()
            .map(|c| ClassReader::open(paths.current_of(*c), paths.previous_of(*c), since))
            .collect();
        EventReader {
            lock: paths.lock(),
            classes,
            since,
            pending: Vec::new(),
            more: false,
        }
    }

    /// Whether the last [`read_new`](Self::read_new) left lines to read at once.
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// The whole events written since the last call (after `since`), oldest first, read at most
    /// [`READ_CHUNK`] of each class's log at a time ([`has_more`](Self::has_more) then says so).
    pub fn read_new(&mut self) -> Vec<Event> {
        // Under the writers' lock, so that a class read to its end holds every event up to
        // now. (No events directory: nothing written yet.)
        let _lock = self
            .lock
            .parent()
            .is_some_and(|d| d.is_dir())
            .then(|| FileLock::acquire(&self.lock).ok())
            .flatten();
        // Events up to the frontier are final: the earliest point a class with more to read
        // has reached. Later ones wait for the next call.
        let mut frontier = i64::MAX;
        self.more = false;
        for c in &mut self.classes {
            let (events, more) = c.read_new();
            if more {
                self.more = true;
                let reached = events.last().map(|e| e.time_nano).or(c.reached);
                frontier = frontier.min(reached.unwrap_or(i64::MIN));
            }
            if let Some(last) = events.last() {
                c.reached = Some(last.time_nano);
            }
            self.pending.extend(events);
        }
        drop(_lock);
        // Each class is in time order; stable, so equal times keep their class's order.
        self.pending.sort_by_key(|e| e.time_nano);
        let split = self.pending.partition_point(|e| e.time_nano <= frontier);
        let mut out: Vec<Event> = self.pending.drain(..split).collect();
        if let Some(since) = self.since {
            out.retain(|e| e.system_time() >= since);
        }
        out
    }
}

/// Follows one class's files: the current one across rotations (it keeps the old file open
/// until it has read it to the end), and with `since` the previous one first.
struct ClassReader {
    current: std::path::PathBuf,
    file: Option<File>,
    /// A line begun but not yet ended.
    partial: Vec<u8>,
    /// The previous file, replayed first (with its own unended line).
    previous: Option<(File, Vec<u8>)>,
    /// The time of the last event read.
    reached: Option<i64>,
}

impl ClassReader {
    fn open(
        current: std::path::PathBuf,
        previous: std::path::PathBuf,
        since: Option<SystemTime>,
    ) -> ClassReader {
        let mut r = ClassReader {
            current,
            file: None,
            partial: Vec::new(),
            previous: None,
            reached: None,
        };
        // Open the current file first: a rotation right after leaves us on what became the
        // previous file, which `read_new` finishes before switching.
        r.file = File::open(&r.current).ok();
        match since {
            Some(_) => {
                let same = |a: &File, b: &File| matches!((a.metadata(), b.metadata()), (Ok(x), Ok(y)) if x.ino() == y.ino());
                if let Ok(prev) = File::open(&previous) {
                    if !r.file.as_ref().is_some_and(|cur| same(cur, &prev)) {
                        r.previous = Some((prev, Vec::new()));
                    }
                }
            }
            None => {
                if let Some(f) = &mut r.file {
                    if let Err(e) = f.seek(SeekFrom::End(0)) {
                        tracing::warn!(error = %e, "seeking to the events log's end");
                    }
                }
            }
        }
        r
    }

    /// The events read now, and whether the read stopped at [`READ_CHUNK`] with more to read.
    fn read_new(&mut self) -> (Vec<Event>, bool) {
        let mut out = Vec::new();
        if let Some((prev, partial)) = &mut self.previous {
            if read_chunk(prev, partial, &mut out) {
                return (out, true);
            }
            self.previous = None;
        }
        loop {
            if let Some(f) = &mut self.file {
                if read_chunk(f, &mut self.partial, &mut out) {
                    return (out, true);
                }
            }
            // Rotated (or created) since we opened it: finish the old file, then the new one.
            let current = std::fs::metadata(&self.current).ok();
            let ours = self.file.as_ref().and_then(|f| f.metadata().ok());
            let moved = match (&current, &ours) {
                (Some(c), Some(o)) => c.ino() != o.ino() || c.dev() != o.dev(),
                (Some(_), None) => true,
                _ => false,
            };
            if !moved {
                break;
            }
            self.partial.clear();
            self.file = File::open(&self.current).ok();
            if self.file.is_none() {
                break;
            }
        }
        (out, false)
    }
}

/// Read at most [`READ_CHUNK`] of `file` and add its whole lines' events to `out`; true when
/// the chunk was full (more may follow at once).
fn read_chunk(file: &mut File, partial: &mut Vec<u8>, out: &mut Vec<Event>) -> bool {
    let mut data = Vec::new();
    let n = match Read::by_ref(file).take(READ_CHUNK).read_to_end(&mut data) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "reading the events log");
            0
        }
    };
    out.extend(parse_lines(&data, partial));
    n as u64 == READ_CHUNK
}

/// Whole lines of `data` (after what `partial` holds) as events; the unended rest goes back to
/// `partial`. Torn or foreign lines are skipped.
fn parse_lines(data: &[u8], partial: &mut Vec<u8>) -> Vec<Event> {
    partial.extend_from_slice(data);
    let Some(end) = partial.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    let rest = partial.split_off(end + 1);
    let whole = std::mem::replace(partial, rest);
    whole
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(events::parse_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ev(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        let attributes: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match kind {
            "image" => Event::image(id, action, attrs[0].1),
            "process" | "syscall" => Event::of_container_process(id, kind, action, attributes),
            _ => Event::container(id, action, attributes),
        }
    }

    fn filters(pairs: &[(&str, &[&str])]) -> Filters {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn filters_follow_moby() {
        let c = ev(
            "container",
            "die",
            "abcdef",
            &[
                ("name", "web"),
                ("image", "busybox:latest"),
                ("env", "prod"),
            ],
        );
        let i = ev("image", "tag", "sha256:123", &[("name", "busybox:1")]);
        let yes = |f: Filters, e: &Event| assert!(include(&f, e), "{f:?} should pass {e:?}");
        let no = |f: Filters, e: &Event| assert!(!include(&f, e), "{f:?} should drop {e:?}");
        yes(filters(&[]), &c);
        yes(filters(&[("type", &["container"])]), &c);
        no(filters(&[("type", &["container"])]), &i);
        yes(filters(&[("container", &["web"])]), &c);
        yes(filters(&[("container", &["abc"])]), &c);
        no(filters(&[("container", &["we"])]), &c);
        no(filters(&[("container", &["web"])]), &i);
        yes(filters(&[("event", &["start", "die"])]), &c);
        no(filters(&[("event", &["start"])]), &c);
        yes(filters(&[("image", &["busybox"])]), &c);
        yes(filters(&[("image", &["busybox:latest"])]), &c);
        yes(filters(&[("image", &["busybox"])]), &i);
        no(filters(&[("image", &["alpine"])]), &c);
        yes(filters(&[("label", &["env"])]), &c);
        yes(filters(&[("label", &["env=prod"])]), &c);
        no(filters(&[("label", &["env=dev"])]), &c);
        no(filters(&[("volume", &["v1"])]), &c);
        no(filters(&[("network", &["bridge"])]), &c);
        // The monitor's events are about a container: its filter, type and event select them.
        let m = ev(
            "syscall",
            "mount",
            "abcdef",
            &[("name", "web"), ("comm", "mount")],
        );
        yes(filters(&[("container", &["web"])]), &m);
        yes(
            filters(&[("container", &["web"]), ("type", &["syscall"])]),
            &m,
        );
        no(
            filters(&[("container", &["web"]), ("type", &["container"])]),
            &m,
        );
        no(filters(&[("container", &["db"])]), &m);
        yes(filters(&[("event", &["mount"])]), &m);
        let p = ev("process", "exec", "abcdef", &[("name", "web")]);
        yes(
            filters(&[("container", &["abc"]), ("event", &["exec"])]),
            &p,
        );
        no(filters(&[("volume", &["web"])]), &p);
        assert!(check_filters(&filters(&[("nope", &["x"])])).is_err());
        assert!(check_filters(&filters(&[("type", &["x"]), ("label", &["a"])])).is_ok());
    }

    #[test]
    fn partial_lines_wait_for_their_end() {
        let mut partial = Vec::new();
        let line = serde_json::to_vec(&ev("container", "start", "a", &[])).unwrap();
        let (a, b) = line.split_at(10);
        assert!(parse_lines(a, &mut partial).is_empty());
        let mut rest = b.to_vec();
        rest.push(b'\n');
        assert_eq!(parse_lines(&rest, &mut partial).len(), 1);
        assert!(partial.is_empty());
    }

    #[test]
    fn a_reader_replays_since_and_follows_across_a_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        events::append(&paths, ev("container", "create", "old", &[])).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let since = SystemTime::now();
        events::append(&paths, ev("container", "start", "a", &[])).unwrap();
        let mut from_start = EventReader::open(paths.clone(), Some(since));
        let mut live = EventReader::open(paths.clone(), None);
        let got: Vec<String> = from_start
            .read_new()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(got, ["start"]);
        assert!(
            live.read_new().is_empty(),
            "a live reader starts at the end"
        );
        // A rotation by hand, with a line written to each side of it.
        events::append(&paths, ev("container", "die", "a", &[])).unwrap();
        std::fs::rename(paths.current(), paths.previous()).unwrap();
        events::append(&paths, ev("container", "destroy", "a", &[])).unwrap();
        for r in [&mut from_start, &mut live] {
            let got: Vec<String> = r.read_new().into_iter().map(|e| e.action).collect();
            assert_eq!(got, ["die", "destroy"]);
        }
        let mut replay = EventReader::open(paths, Some(since));
        let got: Vec<String> = replay.read_new().into_iter().map(|e| e.action).collect();
        assert_eq!(got, ["start", "die", "destroy"], "replay reads both files");
    }

    #[test]
    fn the_two_classes_are_merged_in_time_order() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        let mut live = EventReader::open(paths.clone(), None);
        let mut want = Vec::new();
        for i in 0..20 {
            let e = if i % 3 == 0 {
                ev("container", &format!("start{i}"), "a", &[])
            } else {
                ev("syscall", &format!("mount{i}"), "a", &[])
            };
            events::append(&paths, e).unwrap();
            want.push(if i % 3 == 0 {
                format!("start{i}")
            } else {
                format!("mount{i}")
            });
        }
        assert!(
            paths.current_of(Class::Monitor).exists(),
            "the monitor's file"
        );
        let replay = EventReader::open(paths, Some(SystemTime::UNIX_EPOCH)).read_new();
        let got: Vec<String> = replay.into_iter().map(|e| e.action).collect();
        assert_eq!(got, want, "replayed");
        let got: Vec<String> = live.read_new().into_iter().map(|e| e.action).collect();
        assert_eq!(got, want, "followed");
    }
    /// Found by the soak: a replay read the whole log into memory at once.
    #[test]
    fn a_long_log_is_replayed_in_bounded_batches_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        let per_file = 6000;
        let mut written = Vec::new();
        for file in 0..2 {
            for i in 0..per_file {
                let id = format!("{file}-{i}");
                events::append(&paths, ev("container", "start", &id, &[("name", "x")])).unwrap();
                written.push(id);
            }
            if file == 0 {
                std::fs::rename(paths.current(), paths.previous()).unwrap();
            }
        }
        let mut r = EventReader::open(paths, Some(SystemTime::UNIX_EPOCH));
        let mut got = Vec::new();
        loop {
            let batch = r.read_new();
            if batch.is_empty() {
                break;
            }
            assert!(
                batch.len() < per_file,
                "expected a replay in batches of a bounded size, got {} events at once",
                batch.len()
            );
            got.extend(batch.into_iter().map(|e| e.actor.id));
        }
        assert_eq!(got.len(), written.len(), "expected every event replayed");
        assert!(got == written, "expected the events in the order written");
    }
}
