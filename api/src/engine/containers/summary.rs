//! `summary.json`: one container's line of `docker ps`, kept beside `container.json` so that a
//! listing reads one small file per container instead of decoding the whole record.
//!
//! The summary is a cache of `container.json`, never an authority: it is rewritten (no fsync)
//! after every write of the record, and it names the record it was made from (inode, size and
//! modification time). A summary that is missing, unreadable or names another record (a crash
//! between the two writes, a container made by an older berth) is ignored and the listing
//! falls back to `container.json`, so a kill at any instant never shows a stale line.

use super::mounts::MountPoint;
use super::ContainerRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Schema version of `summary.json`.
pub const SUMMARY_VERSION: u32 = 3;
pub const SUMMARY_FILE: &str = "summary.json";
pub const RECORD_FILE: &str = "container.json";

/// One element of `GET /containers/json`, in dockerd's field order. The on-disk summary holds
/// everything but the parts that change while the container lives (State, Status, sizes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListEntry {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<u64>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    pub host_config: ListHostConfig,
    pub network_settings: ListNetworkSettings,
    pub mounts: Vec<MountPoint>,
}

/// A published or exposed port as dockerd lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListHostConfig {
    pub network_mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListNetworkSettings {
    /// Network name to endpoint, as dockerd lists them.
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// Which `container.json` a summary was made from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStamp {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

impl RecordStamp {
    pub fn of(meta: &std::fs::Metadata) -> RecordStamp {
        RecordStamp {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        }
    }
}

/// The file: the record it stands for, the creation time in full (the listing's order and the
/// before/since filters) and the entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub version: u32,
    pub record: RecordStamp,
    /// RFC 3339 with nanoseconds, as in `container.json`.
    pub created: String,
    pub entry: ListEntry,
    /// Config.ExposedPorts' keys ("80/tcp"): the listing adds the published ones of a running
    /// container to them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    /// The container's legacy links: each gives the linked container a name of its own in
    /// listings (`/<this>/<alias>`), as dockerd's name index does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ListLink>,
}

/// A legacy link as a listing needs it: the linked container and the alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListLink {
    pub child: String,
    pub alias: String,
}

/// The fields of `container.json` a listing shows. Decoding only these (no flattened maps of
/// every other field) keeps the fall-back path quick.
#[derive(Debug, Clone, Default, Deserialize)]
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
    pub mount_points: Vec<MountPoint>,
    pub networks: BTreeMap<String, serde_json::Value>,
    pub links: Vec<ListLink>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListConfig {
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Only the keys ("80/tcp"): the values are empty objects.
    #[serde(rename = "ExposedPorts")]
    pub exposed_ports: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

impl From<&ContainerRecord> for ListRecord {
    fn from(r: &ContainerRecord) -> ListRecord {
        ListRecord {
            id: r.id.to_string(),
            name: r.name.clone(),
            created: r.created.clone(),
            image_ref: r.image_ref.clone(),
            image_id: r.image_id.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            config: ListConfig {
                labels: r.config.labels.clone(),
                exposed_ports: r.config.exposed_ports.as_ref().map(|e| {
                    e.keys()
                        .map(|k| (k.clone(), serde::de::IgnoredAny))
                        .collect()
                }),
            },
            host_config: ListHostConfig {
                network_mode: r.host_config.network_mode.clone(),
            },
            mount_points: r.mount_points.clone(),
            networks: r.networks.clone(),
            links: r
                .links
                .iter()
                .map(|l| ListLink {
                    child: l.child.to_string(),
                    alias: l.alias.clone(),
                })
                .collect(),
        }
    }
}

impl Summary {
    pub fn new(r: &ListRecord, record: RecordStamp) -> Summary {
        let command = std::iter::once(r.path.as_str())
            .chain(r.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        Summary {
            version: SUMMARY_VERSION,
            record,
            created: r.created.clone(),
            entry: ListEntry {
                id: r.id.clone(),
                names: vec![r.name.clone()],
                image: r.image_ref.clone(),
                image_id: r.image_id.clone(),
                command,
                created: crate::engine::time::unix_secs(&r.created),
                labels: r.config.labels.clone().unwrap_or_default(),
                host_config: r.host_config.clone(),
                mounts: r.mount_points.clone(),
                network_settings: ListNetworkSettings {
                    networks: r.networks.clone(),
                },
                ..ListEntry::default()
            },
            exposed_ports: r
                .config
                .exposed_ports
                .iter()
                .flat_map(|e| e.keys().cloned())
                .collect(),
            links: r.links.clone(),
        }
    }

    /// True when this summary stands for the record whose metadata is `meta`.
    pub fn describes(&self, meta: RecordStamp) -> bool {
        self.version == SUMMARY_VERSION && self.record == meta
    }
}

/// Write the summary of the record just written to `dir/container.json`. Without fsync: a lost
/// or torn summary no longer matches its record and is ignored.
pub fn write(dir: &Path, record: &ContainerRecord) -> std::io::Result<()> {
    let meta = std::fs::metadata(dir.join(RECORD_FILE))?;
    let summary = Summary::new(&ListRecord::from(record), RecordStamp::of(&meta));
    let data = serde_json::to_vec(&summary).map_err(std::io::Error::other)?;
    berth_shim::fsutil::write_replace(&dir.join(SUMMARY_FILE), &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ListRecord {
        ListRecord {
            id: "ab".repeat(32),
            name: "/web".into(),
            created: "2026-11-29T09:04:15.249332199Z".into(),
            image_ref: "busybox".into(),
            image_id: "sha256:00".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "sleep 1".into()],
            config: ListConfig {
                labels: Some([("a".to_string(), "1".to_string())].into()),
                exposed_ports: Some([("80/tcp".to_string(), serde::de::IgnoredAny)].into()),
            },
            host_config: ListHostConfig {
                network_mode: "bridge".into(),
            },
            mount_points: Vec::new(),
            networks: BTreeMap::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn an_entry_serialises_as_dockerds_list_element() {
        let mut e = Summary::new(&record(), RecordStamp::default()).entry;
        e.state = "running".into();
        e.status = "Up 2 seconds".into();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Id"], "ab".repeat(32));
        assert_eq!(v["Names"], serde_json::json!(["/web"]));
        assert_eq!(v["Command"], "sh -c sleep 1");
        assert_eq!(v["Created"], 1795943055);
        assert_eq!(v["Labels"], serde_json::json!({"a": "1"}));
        assert_eq!(
            v["HostConfig"],
            serde_json::json!({"NetworkMode": "bridge"})
        );
        assert_eq!(v["NetworkSettings"], serde_json::json!({"Networks": {}}));
        assert_eq!(v["Ports"], serde_json::json!([]));
        assert_eq!(v["Mounts"], serde_json::json!([]));
        assert!(v.get("SizeRw").is_none(), "sizes only when asked: {v}");
        let port = Port {
            private_port: 80,
            kind: "tcp".into(),
            ..Port::default()
        };
        assert_eq!(
            serde_json::to_value(&port).unwrap(),
            serde_json::json!({"PrivatePort": 80, "Type": "tcp"})
        );
    }

    #[test]
    fn the_records_networks_are_listed() {
        let mut r = record();
        r.networks.insert(
            "web".into(),
            serde_json::json!({"NetworkID": "n1", "IPAddress": "10.9.0.2"}),
        );
        let v = serde_json::to_value(Summary::new(&r, RecordStamp::default()).entry).unwrap();
        assert_eq!(
            v["NetworkSettings"]["Networks"]["web"]["IPAddress"],
            "10.9.0.2"
        );
        // The record's own field, as container.json holds it, decodes into the listing's.
        let back: ListRecord =
            serde_json::from_value(serde_json::json!({"networks": {"web": {"NetworkID": "n1"}}}))
                .unwrap();
        assert_eq!(back.networks["web"]["NetworkID"], "n1");
    }

    #[test]
    fn a_summary_stands_only_for_the_record_it_was_made_from() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = tmp.path().join(RECORD_FILE);
        std::fs::write(&rec, "{}").unwrap();
        let stamp = RecordStamp::of(&std::fs::metadata(&rec).unwrap());
        let s = Summary::new(&record(), stamp);
        let back: Summary = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert!(back.describes(stamp));
        assert_eq!(back.entry, s.entry);
        assert_eq!(
            back.exposed_ports,
            ["80/tcp"],
            "kept for the Ports of a running container"
        );
        // The record replaced (write-temp and rename): the summary no longer stands for it.
        berth_shim::fsutil::write_atomic(&rec, b"{ }").unwrap();
        let now = RecordStamp::of(&std::fs::metadata(&rec).unwrap());
        assert!(!back.describes(now));
    }
}
