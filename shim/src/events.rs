//! The events log: one append-only file of dockerd event JSON lines under `<root>/events/`,
//! written by whoever causes an event (an API process for create, stop, kill, ...; the shim for
//! start, die, oom and auto-remove, since no API process may be alive then) and read by
//! `GET /events`.
//!
//! Concurrent writers: every append takes an exclusive flock on `events.lock`, checks the size,
//! rotates if needed and writes one whole line with a single `write(2)` on an `O_APPEND`
//! descriptor. The lock (not the size of the write) is what keeps lines whole and in time order:
//! the timestamp is taken under it. Lines are also kept under [`MAX_LINE`] bytes (long attribute
//! values are cut) so that a reader never sees an unreasonable line.
//!
//! Two classes, each with its own files and budget, so that one chatty container's monitor
//! events never rotate away the lifecycle events: the eBPF monitor's ([`MONITOR_TYPES`]) go to
//! `monitor.log`, everything else (container, image, network, volume) to `events.log`. The one
//! lock covers both, so the two files together are in time order and a reader that reads both
//! under it merges them by time.
//!
//! Bounds: when a class's file reaches [`ROTATE_AT`] bytes it is renamed to `<file>.1`
//! (replacing the older one), so at most two files and about 16 MiB a class are kept. Readers
//! hold the file open: a rename never takes a line away from a reader that is in the middle of
//! it.

use crate::fsutil::FileLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current file is rotated once it is this large.
pub const ROTATE_AT: u64 = 8 * 1024 * 1024;
/// The longest line written (bytes, with its newline).
pub const MAX_LINE: usize = 4000;
/// Longest attribute value kept whole.
const MAX_VALUE: usize = 512;

/// The types of the eBPF monitor's events, whose actor is a container.
pub const MONITOR_TYPES: [&str; 3] = ["process", "syscall", "policy"];

/// Which files an event goes to: each class rotates within its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Container, image, network and volume events: what `docker events` is mostly read for.
    Lifecycle,
    /// The eBPF monitor's process, syscall and policy events.
    Monitor,
}

impl Class {
    pub const ALL: [Class; 2] = [Class::Lifecycle, Class::Monitor];

    pub fn of(event: &Event) -> Class {
        if MONITOR_TYPES.contains(&event.kind.as_str()) {
            Class::Monitor
        } else {
            Class::Lifecycle
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Lifecycle => 0,
            Class::Monitor => 1,
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Class::Lifecycle => "events.log",
            Class::Monitor => "monitor.log",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("creating {path}: {source}")]
    Dir { path: PathBuf, source: io::Error },
    #[error("locking {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("rotating {path}: {source}")]
    Rotate { path: PathBuf, source: io::Error },
    #[error("appending to {path}: {source}")]
    Append { path: PathBuf, source: io::Error },
    #[error("encoding an event: {0}")]
    Encode(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, EventsError>;

/// Where the events of one root live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsPaths {
    pub dir: PathBuf,
}

impl EventsPaths {
    pub fn new(root: &Path) -> EventsPaths {
        EventsPaths {
            dir: root.join("events"),
        }
    }
    /// The lifecycle events' file appended to.
    pub fn current(&self) -> PathBuf {
        self.current_of(Class::Lifecycle)
    }
    /// The file before it (older events), if any.
    pub fn previous(&self) -> PathBuf {
        self.previous_of(Class::Lifecycle)
    }
    /// The file a class appends to.
    pub fn current_of(&self, class: Class) -> PathBuf {
        self.dir.join(class.file_name())
    }
    /// The file before it.
    pub fn previous_of(&self, class: Class) -> PathBuf {
        self.dir.join(format!("{}.1", class.file_name()))
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("events.lock")
    }
}

/// `Actor` of an event: what it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event as dockerd writes it to `/events`. `status`, `id` and `from` are the legacy
/// fields that docker-compose and old clients read; dockerd fills them for containers (all
/// three) and images (`status` and `id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event about a container; `attributes` are the container's (see
    /// [`container_attributes`]) plus any of the action's own (exitCode, signal, ...).
    pub fn container(id: &str, action: &str, attributes: BTreeMap<String, String>) -> Event {
        let from = attributes.get("image").cloned().unwrap_or_default();
        Event {
            status: action.to_string(),
            id: id.to_string(),
            from,
            kind: "container".into(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    /// An event the eBPF monitor saw in a container (type `process` or `syscall`): Actor.ID is
    /// the container's id. No legacy `status`/`id`/`from`: those are for container and image
    /// events (docker-compose v1 skips events without a status).
    pub fn of_container_process(
        id: &str,
        kind: &str,
        action: &str,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        Event {
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    /// An event about an image: `id` is the image id or the reference acted on, `name` the
    /// reference.
    pub fn image(id: &str, action: &str, name: &str) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), name.to_string());
        Event {
            status: action.to_string(),
            id: id.to_string(),
            kind: "image".into(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    /// An event about a network (create, connect, disconnect, destroy), as dockerd logs it:
    /// the network's name and driver, and the container for connect and disconnect.
    pub fn network(
        id: &str,
        action: &str,
        name: &str,
        driver: &str,
        container: Option<&str>,
    ) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), name.to_string());
        attributes.insert("type".to_string(), driver.to_string());
        if let Some(c) = container {
            attributes.insert("container".to_string(), c.to_string());
        }
        Event {
            kind: "network".into(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    /// An event about a volume of the local driver (`create`, `destroy`).
    pub fn volume(name: &str, action: &str) -> Event {
        Event {
            kind: "volume".into(),
            action: action.to_string(),
            actor: Actor {
                id: name.to_string(),
                attributes: [("driver".to_string(), "local".to_string())].into(),
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    /// The event's time as a `SystemTime`.
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_nanos(self.time_nano.max(0) as u64)
    }

    /// One JSON line, cut to [`MAX_LINE`] by shortening long attribute values.
    fn line(&self) -> Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self)?;
        if line.len() + 1 > MAX_LINE {
            let mut short = self.clone();
            for v in short.actor.attributes.values_mut() {
                if v.len() > MAX_VALUE {
                    let mut end = MAX_VALUE;
                    while !v.is_char_boundary(end) {
                        end -= 1;
                    }
                    v.truncate(end);
                }
            }
            // Still too long (a great many labels): keep what identifies the actor.
            if serde_json::to_vec(&short)?.len() + 1 > MAX_LINE {
                short
                    .actor
                    .attributes
                    .retain(|k, _| matches!(k.as_str(), "name" | "image" | "exitCode" | "signal"));
            }
            line = serde_json::to_vec(&short)?;
        }
        line.push(b'\n');
        Ok(line)
    }
}

/// The attributes dockerd puts on every container event: the container's labels, its image
/// (as the client named it) and its name, read from the engine's record `container.json` in the
/// container's directory (keys `name`, `config.Image`, `config.Labels`). Empty when the record
/// cannot be read.
pub fn container_attributes(container_dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(data) = std::fs::read(container_dir.join("container.json")) else {
        return out;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return out;
    };
    if let Some(labels) = v["config"]["Labels"].as_object() {
        for (k, val) in labels {
            if let Some(s) = val.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    if let Some(image) = v["config"]["Image"].as_str() {
        out.insert("image".into(), image.to_string());
    }
    if let Some(name) = v["name"].as_str() {
        out.insert("name".into(), name.trim_start_matches('/').to_string());
    }
    out
}

/// Append one event, stamped now (under the lock, so that the file is in time order).
pub fn append(paths: &EventsPaths, event: Event) -> Result<()> {
    append_all(paths, vec![event])
}

/// Append events in their order under one taking of the lock, each stamped now, in writes of
/// whole lines.
pub fn append_all(paths: &EventsPaths, events: Vec<Event>) -> Result<()> {
    std::fs::create_dir_all(&paths.dir).map_err(|source| EventsError::Dir {
        path: paths.dir.clone(),
        source,
    })?;
    let lock_path = paths.lock();
    let _lock = FileLock::acquire(&lock_path).map_err(|source| EventsError::Lock {
        path: lock_path,
        source,
    })?;
    // Per class: its file (opened at its first event) and its size.
    let mut files: [Option<File>; 2] = [None, None];
    let mut sizes: [Option<u64>; 2] = [None, None];
    for mut event in events {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        event.time = now.as_secs() as i64;
        event.time_nano = now.as_nanos() as i64;
        let line = event.line()?;
        let class = Class::of(&event);
        let current = paths.current_of(class);
        let (file, size) = (&mut files[class.index()], &mut sizes[class.index()]);
        let size = size.get_or_insert_with(|| std::fs::metadata(&current).map_or(0, |m| m.len()));
        if *size > 0 && *size + line.len() as u64 > ROTATE_AT {
            std::fs::rename(&current, paths.previous_of(class)).map_err(|source| {
                EventsError::Rotate {
                    path: current.clone(),
                    source,
                }
            })?;
            *file = None;
            *size = 0;
        }
        if file.is_none() {
            *file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&current)
                    .map_err(|source| EventsError::Append {
                        path: current.clone(),
                        source,
                    })?,
            );
        }
        // One write of the whole line: O_APPEND puts it at the end in one piece.
        if let Some(f) = file.as_mut() {
            f.write_all(&line).map_err(|source| EventsError::Append {
                path: current.clone(),
                source,
            })?;
        }
        *size += line.len() as u64;
    }
    Ok(())
}

/// Append an event about a container, with its record's attributes plus `extra`.
pub fn container_event(
    root: &Path,
    container_dir: &Path,
    id: &str,
    action: &str,
    extra: &[(&str, String)],
) -> Result<()> {
    let mut attributes = container_attributes(container_dir);
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.clone());
    }
    append(
        &EventsPaths::new(root),
        Event::container(id, action, attributes),
    )
}

/// Parse one line of the log; None for a torn or foreign line.
pub fn parse_line(line: &[u8]) -> Option<Event> {
    serde_json::from_slice(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn read_all(paths: &EventsPaths) -> Vec<Event> {
        let mut out = Vec::new();
        for p in [paths.previous(), paths.current()] {
            let Ok(f) = File::open(&p) else { continue };
            for line in io::BufReader::new(f).lines() {
                let line = line.unwrap();
                out.push(parse_line(line.as_bytes()).unwrap_or_else(|| {
                    panic!("a line of {} is not an event: {line:?}", p.display())
                }));
            }
        }
        out
    }

    #[test]
    fn container_events_carry_dockers_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        let mut attrs = BTreeMap::new();
        attrs.insert("image".to_string(), "busybox".to_string());
        attrs.insert("name".to_string(), "web".to_string());
        attrs.insert("exitCode".to_string(), "3".to_string());
        append(&paths, Event::container("abc", "die", attrs)).unwrap();
        let text = std::fs::read_to_string(paths.current()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        for key in [
            "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano",
        ] {
            assert!(v.get(key).is_some(), "no {key} in {v}");
        }
        assert_eq!(v["status"], "die");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        assert_eq!(v["scope"], "local");
        assert_eq!(
            v["time"].as_i64().unwrap(),
            v["timeNano"].as_i64().unwrap() / 1_000_000_000
        );
    }

    #[test]
    fn image_events_have_no_from() {
        let v = serde_json::to_value(Event::image("sha256:1", "tag", "busybox:latest")).unwrap();
        assert!(v.get("from").is_none(), "{v}");
        assert_eq!(v["Actor"]["Attributes"]["name"], "busybox:latest");
    }

    #[test]
    fn long_lines_are_cut_below_the_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        let mut attrs = BTreeMap::new();
        for i in 0..100 {
            attrs.insert(format!("label{i}"), "x".repeat(1000));
        }
        attrs.insert("name".into(), "n".into());
        append(&paths, Event::container("abc", "create", attrs)).unwrap();
        let text = std::fs::read_to_string(paths.current()).unwrap();
        assert!(text.len() <= MAX_LINE, "line of {} bytes", text.len());
        assert_eq!(read_all(&paths)[0].actor.attributes["name"], "n");
    }

    #[test]
    fn concurrent_writers_leave_whole_lines_in_time_order() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let paths = paths.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let mut attrs = BTreeMap::new();
                        attrs.insert("pad".into(), "p".repeat(300 + i));
                        append(
                            &paths,
                            Event::container(&format!("{t}-{i}"), "start", attrs),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let events = read_all(&paths);
        assert_eq!(events.len(), 1600, "every append is one whole line");
        assert!(
            events.windows(2).all(|w| w[0].time_nano <= w[1].time_nano),
            "the file is in time order"
        );
    }

    #[test]
    fn rotation_keeps_two_files() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = EventsPaths::new(tmp.path());
        let mut attrs = BTreeMap::new();
        attrs.insert("pad".into(), "p".repeat(500));
        let line_len = Event::container("x", "start", attrs.clone())
            .line()
            .unwrap()
            .len() as u64;
        let per_file = ROTATE_AT / line_len;
        for _ in 0..(per_file * 2 + 10) {
            append(&paths, Event::container("x", "start", attrs.clone())).unwrap();
        }
        let files = std::fs::read_dir(&paths.dir).unwrap().count();
        assert_eq!(files, 3, "events.log, events.log.1 and the lock");
        // The monitor's events have files of their own: a flood of them leaves these alone.
        let before = read_all(&paths);
        let mut flood = Vec::new();
        for i in 0..(per_file * 3) {
            flood.push(Event::of_container_process(
                "x",
                "syscall",
                "mount",
                attrs.clone(),
            ));
            if i % 1000 == 999 {
                append_all(&paths, std::mem::take(&mut flood)).unwrap();
            }
        }
        append_all(&paths, flood).unwrap();
        assert_eq!(
            read_all(&paths),
            before,
            "the lifecycle files after a flood of monitor events"
        );
        let monitor = std::fs::metadata(paths.previous_of(Class::Monitor))
            .unwrap()
            .len();
        assert!(
            monitor <= ROTATE_AT,
            "the monitor's files rotate within their own budget"
        );
        for p in [paths.current(), paths.previous()] {
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len <= ROTATE_AT, "{} is {len} bytes", p.display());
        }
        let prev = std::fs::metadata(paths.previous()).unwrap().len();
        assert!(
            prev > ROTATE_AT - 2 * line_len,
            "the previous file was rotated when full, not at {prev} bytes"
        );
    }
}
