//! docker ps: the summaries, filters and dockerd's human status ("Up 5 seconds").

use super::row_json::{LiveParts, RowJson};
use super::summary::{ListEntry, ListRecord, RecordStamp, Summary, RECORD_FILE, SUMMARY_FILE};
use crate::engine::filters::{labels_match, Filters};
use crate::engine::ids::ContainerId;
use crate::engine::time::{self, human_duration};
use crate::engine::{Engine, EngineError, Result};
use berth_shim::state::{State, Status};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STATE_FILE: &str = "state.json";

/// The rows the last listings read, each with the versions of the files it came from. Only a
/// cache: every listing checks each row against its files (two stats) before using it.
#[derive(Debug, Default)]
pub struct ListCache {
    rows: Mutex<HashMap<String, Arc<CachedRow>>>,
}

#[derive(Debug)]
pub(crate) struct CachedRow {
    record: RecordStamp,
    /// None: the container has no state.json yet (never started).
    state_file: Option<RecordStamp>,
    summary: Summary,
    /// The summary's entry, encoded (see `row_json`).
    json: RowJson,
    state: State,
}

/// A row a listing shows: the cached row, and the state read now when the cached one is live
/// (a live status is checked against its shim at every listing).
struct Listed {
    row: Arc<CachedRow>,
    checked: Option<State>,
    /// The names other containers' legacy links give this one (`/web/db`).
    link_names: Vec<String>,
}

impl Listed {
    fn state(&self) -> &State {
        self.checked.as_ref().unwrap_or(&self.row.state)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// Newest N (0 or negative: no limit).
    pub limit: i64,
    pub size: bool,
    pub filters: BTreeMap<String, Vec<String>>,
}

const FILTERS: &[&str] = &[
    "id",
    "name",
    "label",
    "status",
    "ancestor",
    "exited",
    "before",
    "since",
    "network",
    "volume",
    "health",
    "is-task",
    "publish",
    "expose",
    "isolation",
];

fn since(rfc3339: &str) -> Duration {
    time::since(rfc3339).unwrap_or_default()
}

/// `docker ps`'s STATUS column.
pub fn human_status(state: &State) -> String {
    let health = match (&state.health, state.status) {
        (Some(h), Status::Running) if h.status == berth_shim::state::HealthStatus::Starting => {
            " (health: starting)".to_string()
        }
        (Some(h), Status::Running) => format!(" ({})", h.status),
        _ => String::new(),
    };
    let base = match state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", human_duration(since(&state.started_at))),
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&state.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code,
            human_duration(since(&state.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            state.exit_code,
            human_duration(since(&state.finished_at))
        ),
        Status::Dead => "Dead".into(),
    };
    base + &health
}

impl Engine {
    /// `GET /containers/json`'s entries.
    pub fn list_containers(&self, opts: &ListOptions) -> Result<Vec<ListEntry>> {
        Ok(self
            .select(opts)?
            .into_iter()
            .map(|l| {
                let live = self.live_parts(&l, opts.size);
                live.fill(l.row.summary.entry.clone())
            })
            .collect())
    }

    /// The same entries as [`Engine::list_containers`], as the JSON array dockerd answers,
    /// written from each row's pre-encoded parts.
    pub fn list_containers_json(&self, opts: &ListOptions) -> Result<Vec<u8>> {
        let rows = self.select(opts)?;
        let size: usize = rows.iter().map(|l| l.row.json.size_hint() + 1).sum();
        let mut out = Vec::with_capacity(size + 2);
        out.push(b'[');
        for (i, l) in rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let live = self.live_parts(l, opts.size);
            l.row.json.write(&live, &mut out);
        }
        out.push(b']');
        Ok(out)
    }

    /// The rows `opts` selects, newest first.
    fn select(&self, opts: &ListOptions) -> Result<Vec<Listed>> {
        // A build killed in another process (a `berth build` on the same root) leaves its
        // step containers: they go before anyone sees them. A look at the temp dir when none.
        self.sweep_builds();
        for key in opts.filters.keys() {
            if !FILTERS.contains(&key.as_str()) {
                return Err(EngineError::invalid_parameter(format!(
                    "invalid filter '{key}'"
                )));
            }
        }
        for s in opts.filters.get("status").into_iter().flatten() {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(EngineError::invalid_parameter(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        let mut rows = self.read_all_containers();
        add_link_names(&mut rows);
        rows.sort_by(|a, b| b.row.summary.created.cmp(&a.row.summary.created));
        let created_of = |reference: &str| -> Result<String> {
            let id = self.lookup(reference)?;
            Ok(self.record(&id)?.created)
        };
        let before = match opts.filters.get("before").and_then(|v| v.first()) {
            Some(r) => Some(created_of(r)?),
            None => None,
        };
        let since_c = match opts.filters.get("since").and_then(|v| v.first()) {
            Some(r) => Some(created_of(r)?),
            None => None,
        };
        let status_filter = opts.filters.get("status");
        let publish = port_filter(&opts.filters, "publish")?;
        let expose = port_filter(&opts.filters, "expose")?;
        let mut out = Vec::new();
        for listed in rows {
            let st = listed.state();
            let summary = &listed.row.summary;
            let r = &summary.entry;
            let f = |k: &str| opts.filters.get(k).filter(|v| !v.is_empty());
            let show_all = opts.all
                || status_filter.is_some()
                || f("exited").is_some()
                || before.is_some()
                || since_c.is_some();
            if !show_all && !st.status.is_live() {
                continue;
            }
            if let Some(ids) = f("id") {
                if !ids.iter().any(|p| r.id.starts_with(p.as_str())) {
                    continue;
                }
            }
            if let Some(names) = f("name") {
                let name = r.names.first().map(String::as_str).unwrap_or_default();
                let name = name.trim_start_matches('/');
                if !names
                    .iter()
                    .any(|n| name.contains(n.trim_start_matches('/')))
                {
                    continue;
                }
            }
            if let Some(labels) = f("label") {
                if !labels_match(&r.labels, labels) {
                    continue;
                }
            }
            if let Some(statuses) = status_filter.filter(|v| !v.is_empty()) {
                if !statuses.iter().any(|s| s == st.status.as_str()) {
                    continue;
                }
            }
            if let Some(wanted) = f("health") {
                let have = st
                    .health
                    .as_ref()
                    .map(|h| h.status.as_str())
                    .unwrap_or("none");
                if !wanted.iter().any(|w| w == have) {
                    continue;
                }
            }
            if let Some(codes) = f("exited") {
                if st.status != Status::Exited
                    || !codes
                        .iter()
                        .any(|c| c.parse::<i32>().ok() == Some(st.exit_code))
                {
                    continue;
                }
            }
            if let Some(ancestors) = f("ancestor") {
                let matches = ancestors.iter().any(|a| {
                    a == &r.image
                        || r.image_id
                            .trim_start_matches("sha256:")
                            .starts_with(a.trim_start_matches("sha256:"))
                        || self.image(a).map(|i| i.id == r.image_id).unwrap_or(false)
                });
                if !matches {
                    continue;
                }
            }
            if let Some(nets) = f("network") {
                if !on_network(&r.network_settings.networks, nets) {
                    continue;
                }
            }
            if let Some(wanted) = f("volume") {
                // dockerd's: a mount's destination, or its volume name (its source for a bind).
                let mounted = r.mounts.iter().any(|m| {
                    let name = if m.name.is_empty() {
                        &m.source
                    } else {
                        &m.name
                    };
                    wanted.iter().any(|w| *w == m.destination || w == name)
                });
                if !mounted {
                    continue;
                }
            }
            if !publish.is_empty() || !expose.is_empty() {
                // The ports `docker ps` shows: a published one as "<host port>/<proto>", an
                // exposed one as "<container port>/<proto>".
                let ports = self.live_ports(summary, st);
                let hit = ports.iter().any(|p| {
                    let public = format!("{}/{}", p.public_port.unwrap_or(0), p.kind);
                    let private = format!("{}/{}", p.private_port, p.kind);
                    publish.contains(&public) || expose.contains(&private)
                });
                if !hit {
                    continue;
                }
            }
            if let Some(b) = &before {
                if summary.created >= *b {
                    continue;
                }
            }
            if let Some(s) = &since_c {
                if summary.created <= *s {
                    continue;
                }
            }
            out.push(listed);
            if opts.limit > 0 && out.len() >= opts.limit as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Every container's summary and state, read on all CPUs (a thousand containers are a few
    /// thousand small files to read and decode), and unchanged ones taken from the cache.
    fn read_all_containers(&self) -> Vec<Listed> {
        let ids = self.container_ids();
        // Relative opens from the containers directory: no walk of the long prefix per file.
        let Ok(dir) = std::fs::File::open(self.paths.containers()) else {
            return Vec::new();
        };
        let dir = &dir;
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(ids.len() / 64 + 1);
        let chunk = ids.len().div_ceil(workers.max(1)).max(1);
        let rows: Vec<Listed> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut buf = Vec::with_capacity(8192);
                        part.iter()
                            .filter_map(|id| self.read_for_list(dir, id, &mut buf))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        // Forget removed containers.
        if let Ok(mut cache) = self.list_cache.rows.lock() {
            if cache.len() > rows.len() {
                let listed: std::collections::HashSet<&str> = rows
                    .iter()
                    .map(|l| l.row.summary.entry.id.as_str())
                    .collect();
                cache.retain(|id, _| listed.contains(id.as_str()));
            }
        }
        rows
    }

    /// One container's summary and state, read relative to the containers directory: from the
    /// cache when neither its `container.json` nor its `state.json` changed since, else its
    /// `summary.json` when that still stands for its `container.json`, else the record itself.
    fn read_for_list(
        &self,
        dir: &std::fs::File,
        id: &ContainerId,
        buf: &mut Vec<u8>,
    ) -> Option<Listed> {
        // A directory without its record is a container being removed: not listed.
        let record = stamp_at(dir, id, RECORD_FILE).ok()?;
        let state_file = match stamp_at(dir, id, STATE_FILE) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(_) => return None,
        };
        let cached = self.list_cache.rows.lock().ok().and_then(|c| {
            c.get(id.as_str())
                .filter(|r| r.record == record && r.state_file == state_file)
                .cloned()
        });
        let row = match cached {
            Some(row) => row,
            None => {
                let summary = match read_at(dir, id, SUMMARY_FILE, buf)
                    .ok()
                    .and_then(|_| serde_json::from_slice::<Summary>(buf).ok())
                {
                    Some(s) if s.describes(record) => s,
                    _ => {
                        read_at(dir, id, RECORD_FILE, buf).ok()?;
                        let rec: ListRecord = serde_json::from_slice(buf).ok()?;
                        Summary::new(&rec, record)
                    }
                };
                let state = match state_file {
                    None => State::default(),
                    Some(_) => match read_at(dir, id, STATE_FILE, buf) {
                        Ok(()) => serde_json::from_slice::<State>(buf).ok()?,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
                        Err(_) => return None,
                    },
                };
                // Stamped with what was seen before the reads: a file replaced in between
                // differs from its stamp at the next listing and is read again.
                let row = Arc::new(CachedRow {
                    record,
                    state_file,
                    json: RowJson::new(&summary.entry),
                    summary,
                    state,
                });
                if let Ok(mut c) = self.list_cache.rows.lock() {
                    c.insert(id.to_string(), row.clone());
                }
                row
            }
        };
        // A live status needs the liveness check (is its shim there?) at every listing.
        let checked = if row.state.status.is_live() {
            Some(self.state(id).ok()?)
        } else {
            None
        };
        Some(Listed {
            row,
            checked,
            link_names: Vec::new(),
        })
    }

    /// What the summary's entry lacks: what changes while the container lives. Ports show
    /// while it runs, as dockerd shows them; the published ones are read (from the shim's
    /// `ports.json`) only for a container that exposes some.
    fn live_parts(&self, listed: &Listed, size: bool) -> LiveParts {
        let (summary, st) = (&listed.row.summary, listed.state());
        let mut live = LiveParts {
            state: st.status.as_str(),
            status: human_status(st),
            ports: self.live_ports(summary, st),
            ..LiveParts::default()
        };
        if !listed.link_names.is_empty() {
            let mut names = summary.entry.names.clone();
            names.extend(listed.link_names.iter().cloned());
            live.names = Some(names);
        }
        if size {
            // The summary was written from a record, whose id is checked when it is read.
            if let Some(id) = ContainerId::parse(&summary.entry.id) {
                let (rw, root) = self.container_sizes(&id, &summary.entry.image_id);
                live.size_rw = Some(rw);
                live.size_root_fs = Some(root);
            }
        }
        live
    }

    /// The ports a listing shows: published ones while the container runs, exposed ones.
    fn live_ports(&self, summary: &Summary, st: &State) -> Vec<super::summary::Port> {
        if summary.exposed_ports.is_empty() || !st.status.is_live() {
            return Vec::new();
        }
        let Some(id) = ContainerId::parse(&summary.entry.id) else {
            return Vec::new();
        };
        let published = berth_shim::net::ports::read_published(&self.container_paths(&id).run);
        super::ports::summary_ports(&summary.exposed_ports, &published)
    }
}

/// The names legacy links give: a container linked by `web` as `db` is also `/web/db` in
/// listings, as in dockerd's name index (the record's own name first).
fn add_link_names(rows: &mut [Listed]) {
    let mut given: std::collections::HashMap<String, Vec<String>> = Default::default();
    for l in rows.iter() {
        let summary = &l.row.summary;
        let Some(parent) = summary.entry.names.first() else {
            continue;
        };
        for link in &summary.links {
            given
                .entry(link.child.clone())
                .or_default()
                .push(format!("{parent}/{}", link.alias));
        }
    }
    if given.is_empty() {
        return;
    }
    for l in rows.iter_mut() {
        if let Some(mut names) = given.remove(&l.row.summary.entry.id) {
            names.sort();
            l.link_names = names;
        }
    }
}

/// The `publish` or `expose` filter's ports as "<port>/<proto>", from dockerd's forms
/// "<port>[/<proto>]" and "<first>-<last>[/<proto>]" (tcp when no protocol is given).
fn port_filter(filters: &Filters, key: &str) -> Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    for value in filters.get(key).into_iter().flatten() {
        if value.contains(':') {
            return Err(EngineError::invalid_parameter(format!(
                "filter for '{key}' should not contain ':': {value}"
            )));
        }
        let (range, proto) = value.split_once('/').unwrap_or((value, "tcp"));
        let bad = || {
            EngineError::invalid_parameter(format!(
                "error while looking up for {key} {value}: invalid port range: {range}"
            ))
        };
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let first: u16 = first.parse().map_err(|_| bad())?;
        let last: u16 = last.parse().map_err(|_| bad())?;
        if last < first {
            return Err(bad());
        }
        out.extend((first..=last).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

/// dockerd's `network` filter: a network's name, or a prefix of its id.
fn on_network(networks: &BTreeMap<String, serde_json::Value>, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        networks.contains_key(w)
            || networks.values().any(|n| {
                n["NetworkID"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty() && id.starts_with(w.as_str()))
            })
    })
}

/// What identifies one version of `<id>/<name>` (every write replaces the file).
fn stamp_at(dir: &std::fs::File, id: &str, name: &str) -> std::io::Result<RecordStamp> {
    use std::os::fd::AsFd;
    let st = nix::sys::stat::fstatat(
        dir.as_fd(),
        format!("{id}/{name}").as_str(),
        nix::fcntl::AtFlags::empty(),
    )?;
    Ok(RecordStamp {
        ino: st.st_ino,
        size: st.st_size as u64,
        mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
    })
}

/// Read `<id>/<name>` under the containers directory into `buf`.
fn read_at(dir: &std::fs::File, id: &str, name: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        format!("{id}/{name}").as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    buf.clear();
    let mut file = std::fs::File::from(fd);
    // These files are a few hundred bytes: one read usually holds all of one, and a read of a
    // regular file that returns less than asked has reached its end (saves a read per file).
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(8192);
        }
        let spare = buf.capacity() - buf.len();
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        let n = std::io::Read::read(&mut file, &mut buf[start..]);
        let n = match n {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        };
        buf.truncate(start + n);
        if n < spare {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filters_by_name_or_id_prefix() {
        let mut nets = BTreeMap::new();
        nets.insert(
            "web".to_string(),
            serde_json::json!({"NetworkID": "abc123", "IPAddress": "10.0.0.2"}),
        );
        assert!(on_network(&nets, &["web".into()]));
        assert!(on_network(&nets, &["abc".into()]));
        assert!(on_network(&nets, &["nope".into(), "abc123".into()]));
        assert!(!on_network(&nets, &["we".into()]), "names match whole");
        assert!(!on_network(&nets, &["abd".into()]));
        assert!(!on_network(&BTreeMap::new(), &["web".into()]));
    }

    #[test]
    fn label_filters() {
        let mut have = BTreeMap::new();
        have.insert("a".to_string(), "1".to_string());
        assert!(labels_match(&have, &["a".into()]));
        assert!(labels_match(&have, &["a=1".into()]));
        assert!(!labels_match(&have, &["a=2".into()]));
        assert!(!labels_match(&have, &["b".into()]));
    }
}
