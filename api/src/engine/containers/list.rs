//! docker ps: the summaries, filters and dockerd's human status ("Up 5 seconds").

use crate::engine::{Engine, EngineError, Result};
use berth_shim::state::{State, Status};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The fields of `container.json` a listing shows. Decoding only these (no flattened maps of
/// every other field) is what keeps `docker ps -a` over a thousand containers quick.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    pub image_ref: String,
    #[serde(rename = "Image")]
    pub image_id: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ListConfig,
    pub host_config: ListHostConfig,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListConfig {
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Only the keys ("80/tcp"): the values are empty objects.
    #[serde(rename = "ExposedPorts")]
    pub exposed_ports: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListHostConfig {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
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

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

fn unix_secs(s: &str) -> i64 {
    parse_time(s)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// dockerd's (go-units) HumanDuration.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=4_838_399 => format!("{} weeks", s / 604_800),
        4_838_400..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

fn since(rfc3339: &str) -> Duration {
    parse_time(rfc3339)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// `docker ps`'s STATUS column.
pub fn human_status(state: &State) -> String {
    let health = match (&state.health, state.status) {
        (Some(h), Status::Running) if h.status == "starting" => " (health: starting)".to_string(),
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

/// `label` filters: each "key" or "key=value" must hold.
pub fn labels_match(have: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => have.get(k).is_some_and(|x| x == v),
        None => have.contains_key(w.as_str()),
    })
}

impl Engine {
    pub fn list_containers(&self, opts: &ListOptions) -> Result<Vec<Value>> {
        for key in opts.filters.keys() {
            if !FILTERS.contains(&key.as_str()) {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid filter '{key}'"
                )));
            }
        }
        for s in opts.filters.get("status").into_iter().flatten() {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        let mut rows = self.read_all_containers();
        rows.sort_by(|a, b| b.0.created.cmp(&a.0.created));
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
        let mut out = Vec::new();
        for (r, st) in rows {
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
                let name = r.name.trim_start_matches('/');
                if !names
                    .iter()
                    .any(|n| name.contains(n.trim_start_matches('/')))
                {
                    continue;
                }
            }
            if let Some(labels) = f("label") {
                if !labels_match(&r.config.labels.clone().unwrap_or_default(), labels) {
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
                    a == &r.image_ref
                        || r.image_id
                            .trim_start_matches("sha256:")
                            .starts_with(a.trim_start_matches("sha256:"))
                        || self.image(a).map(|i| i.id == r.image_id).unwrap_or(false)
                });
                if !matches {
                    continue;
                }
            }
            if let Some(b) = &before {
                if r.created >= *b {
                    continue;
                }
            }
            if let Some(s) = &since_c {
                if r.created <= *s {
                    continue;
                }
            }
            out.push(self.summary(&r, &st, opts.size));
        }
        if opts.limit > 0 {
            out.truncate(opts.limit as usize);
        }
        Ok(out)
    }

    /// Every container's record and state, read on all CPUs (a thousand containers are two
    /// thousand small files to read and decode).
    fn read_all_containers(&self) -> Vec<(ListRecord, State)> {
        let ids = self.container_ids();
        // Relative opens from the containers directory: no walk of the long prefix per file.
        let dir = std::fs::File::open(self.paths.containers()).ok();
        let dir = &dir;
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(ids.len() / 64 + 1);
        let chunk = ids.len().div_ceil(workers.max(1)).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter_map(|id| self.read_for_list(dir.as_ref(), id))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    /// One container's listing record and state, read relative to the containers directory.
    fn read_for_list(&self, dir: Option<&std::fs::File>, id: &str) -> Option<(ListRecord, State)> {
        use std::os::fd::AsFd;
        let read = |name: &str| -> std::io::Result<Vec<u8>> {
            let Some(dir) = dir else {
                return std::fs::read(self.paths.containers().join(id).join(name));
            };
            let fd = nix::fcntl::openat(
                dir.as_fd(),
                format!("{id}/{name}").as_str(),
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            let mut data = Vec::with_capacity(4096);
            std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut data)?;
            Ok(data)
        };
        let rec: ListRecord = serde_json::from_slice(&read("container.json").ok()?).ok()?;
        let state = match read("state.json") {
            Ok(data) => serde_json::from_slice::<State>(&data).ok()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(_) => return None,
        };
        // A live status needs the liveness check (is its shim there?).
        let state = if state.status.is_live() {
            self.state(id).ok()?
        } else {
            state
        };
        Some((rec, state))
    }

    /// Ports show while the container runs, as dockerd shows them; the published ones are read
    /// (from the shim's `ports.json`) only for a container that exposes some, so most
    /// containers cost nothing more.
    fn summary_ports(&self, r: &ListRecord, st: &State) -> Value {
        let exposed: Vec<String> = r
            .config
            .exposed_ports
            .iter()
            .flat_map(|e| e.keys().cloned())
            .collect();
        if exposed.is_empty() || !st.status.is_live() {
            return json!([]);
        }
        let published = berth_shim::net::ports::read_published(&self.container_paths(&r.id).run);
        super::ports::summary_ports(&exposed, &published)
    }

    fn summary(&self, r: &ListRecord, st: &State, size: bool) -> Value {
        let command = std::iter::once(r.path.clone())
            .chain(r.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut v = json!({
            "Id": r.id,
            "Names": [r.name],
            "Image": r.image_ref,
            "ImageID": r.image_id,
            "Command": command,
            "Created": unix_secs(&r.created),
            "Ports": self.summary_ports(r, st),
            "Labels": r.config.labels.clone().unwrap_or_default(),
            "State": st.status.as_str(),
            "Status": human_status(st),
            "HostConfig": {"NetworkMode": r.host_config.network_mode},
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        });
        if size {
            v["SizeRw"] = json!(super::lifecycle::dir_size(
                &self.container_paths(&r.id).upper()
            ));
            v["SizeRootFs"] = json!(0);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_dockers() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400)), "3 days");
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
