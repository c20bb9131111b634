//! Volumes with the `local` driver, as dockerd keeps them: `<root>/volumes/<name>/` holds
//! `volume.json` (the record) and `_data` (the content, bind-mounted into containers). A volume
//! appears whole or not at all (a directory built aside and renamed into place) and goes the
//! same way (renamed aside, then deleted). `volumes.lock` serialises the in-use check of a remove
//! or prune against the creates that start using a volume.

pub mod copyup;

use super::filters::Filters;
use super::{Engine, EngineError, ErrorKind, Result};
use berth_shim::cleanup::cleanup;
use berth_shim::fsutil::FileLock;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Schema version of `volume.json`.
pub const VOLUME_VERSION: u32 = 1;
/// The label dockerd puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub version: u32,
    pub name: String,
    pub driver: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's options: `type`, `device`, `o`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What `POST /volumes/create` asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateVolume {
    pub name: String,
    pub driver: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

fn not_found(name: &str) -> EngineError {
    EngineError::not_found(format!("get {name}: no such volume"))
}

/// Docker's rule for volume names.
pub fn valid_name(name: &str) -> bool {
    name.len() >= 2 && super::names::valid(name)
}

impl Engine {
    pub fn volumes_dir(&self) -> PathBuf {
        self.paths.root.join("volumes")
    }

    /// `<root>/volumes/<name>/_data`
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    /// Held while a container starts using volumes, and while a volume is checked and removed.
    pub(crate) fn volumes_lock(&self) -> Result<FileLock> {
        let dir = self.volumes_dir();
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::system(dir.display(), e))?;
        let path = dir.join("volumes.lock");
        FileLock::acquire(&path).map_err(|e| EngineError::system(path.display(), e))
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(not_found(name));
        }
        let path = self.volumes_dir().join(name).join("volume.json");
        let data = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                not_found(name)
            } else {
                EngineError::system(path.display(), e)
            }
        })?;
        serde_json::from_slice(&data).map_err(|e| EngineError::system(path.display(), e))
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Vec<Volume> {
        let Ok(entries) = std::fs::read_dir(self.volumes_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<Volume> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| self.volume(&n).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// docker volume create. An existing volume of that name is returned as it is (dockerd does
    /// the same); a new one without a name gets 64 hex digits.
    pub fn create_volume(&self, req: &CreateVolume) -> Result<Volume> {
        let driver = if req.driver.is_empty() {
            "local"
        } else {
            req.driver.as_str()
        };
        if driver != "local" {
            return Err(EngineError::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let name = if req.name.is_empty() {
            super::names::new_id()
        } else {
            req.name.clone()
        };
        if !valid_name(&name) {
            return Err(EngineError::invalid_parameter(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let options = req.driver_opts.clone().unwrap_or_default();
        for k in options.keys() {
            if !matches!(k.as_str(), "type" | "device" | "o" | "size") {
                return Err(EngineError::invalid_parameter(format!(
                    "create {name}: invalid option key: {k:?}"
                )));
            }
        }
        if let Ok(v) = self.volume(&name) {
            return Ok(v);
        }
        let volume = Volume {
            version: VOLUME_VERSION,
            name: name.clone(),
            driver: "local".into(),
            created_at: berth_shim::state::now_rfc3339(),
            labels: req.labels.clone().unwrap_or_default(),
            options,
        };
        let dir = self.volumes_dir();
        let tmp = dir.join(format!(".creating-{}", super::names::new_id()));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(tmp.join("_data"))?;
            let rec = serde_json::to_vec_pretty(&volume).map_err(std::io::Error::other)?;
            berth_shim::fsutil::write_atomic(&tmp.join("volume.json"), &rec)?;
            Ok(())
        };
        if let Err(e) = write() {
            cleanup(
                format!("removing {}", tmp.display()),
                std::fs::remove_dir_all(&tmp),
            );
            return Err(EngineError::system("creating the volume", e));
        }
        if let Err(e) = std::fs::rename(&tmp, dir.join(&name)) {
            cleanup(
                format!("removing {}", tmp.display()),
                std::fs::remove_dir_all(&tmp),
            );
            // Another process made it first: theirs stands.
            return self
                .volume(&name)
                .map_err(|_| EngineError::system("creating the volume", e));
        }
        self.volume_event(&name, "create");
        Ok(volume)
    }

    fn volume_event(&self, name: &str, action: &str) {
        self.log_event(berth_shim::events::Event::volume(name, action));
    }

    /// The ids of the containers whose mounts use the volume.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.container_ids()
            .into_iter()
            .filter(|id| {
                self.record(id).is_ok_and(|r| {
                    r.mount_points
                        .iter()
                        .any(|m| m.kind == "volume" && m.name == name)
                })
            })
            .map(String::from)
            .collect()
    }

    /// docker volume rm: 409 while a container uses it, forced or not (dockerd's `force` only
    /// makes a volume that is not there no error).
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let _lock = self.volumes_lock()?;
        let gone = |r: Result<()>| match r {
            Err(e) if force && e.is(ErrorKind::NotFound) => Ok(()),
            r => r,
        };
        if let Err(e) = self.volume(name) {
            return gone(Err(e));
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(EngineError::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        gone(self.delete_volume(name))
    }

    fn delete_volume(&self, name: &str) -> Result<()> {
        let dir = self.volumes_dir();
        let aside = dir.join(format!(".removing-{}", super::names::new_id()));
        std::fs::rename(dir.join(name), &aside).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                not_found(name)
            } else {
                EngineError::system("removing the volume", e)
            }
        })?;
        cleanup(
            format!("removing {}", aside.display()),
            std::fs::remove_dir_all(&aside),
        );
        self.volume_event(name, "destroy");
        Ok(())
    }

    /// Remove the anonymous volumes among `names` that no container uses (docker rm -v).
    pub fn remove_anonymous_volumes(&self, names: &[String]) {
        let Ok(_lock) = self.volumes_lock() else {
            return;
        };
        for n in names {
            if self.volume(n).is_ok_and(|v| v.anonymous()) && self.volume_users(n).is_empty() {
                cleanup(format!("removing volume {n}"), self.delete_volume(n));
            }
        }
    }

    /// docker volume ls with dockerd's filters: dangling, driver, label, name.
    pub fn list_volumes(&self, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<Volume>> {
        for k in filters.keys() {
            if !matches!(k.as_str(), "dangling" | "driver" | "label" | "name") {
                return Err(EngineError::invalid_parameter(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        let dangling = match filters.get("dangling").and_then(|v| v.first()) {
            None => None,
            Some(v) if v == "true" || v == "1" => Some(true),
            Some(v) if v == "false" || v == "0" => Some(false),
            Some(v) => {
                return Err(EngineError::invalid_parameter(format!(
                    "invalid filter 'dangling={v}'"
                )))
            }
        };
        let used = self.used_volumes();
        Ok(self
            .volumes()
            .into_iter()
            .filter(|v| dangling.is_none_or(|d| d != used.contains_key(&v.name)))
            .filter(|v| {
                filters
                    .get("driver")
                    .is_none_or(|ds| ds.contains(&v.driver))
            })
            .filter(|v| {
                filters
                    .get("name")
                    .is_none_or(|ns| ns.iter().any(|n| v.name.contains(n.as_str())))
            })
            .filter(|v| {
                filters
                    .get("label")
                    .is_none_or(|ls| super::filters::labels_match(&v.labels, ls))
            })
            .collect())
    }

    /// Volume name -> the number of containers using it.
    fn used_volumes(&self) -> BTreeMap<String, usize> {
        let mut used = BTreeMap::new();
        for id in self.container_ids() {
            if let Ok(r) = self.record(&id) {
                for m in r.mount_points.iter().filter(|m| m.kind == "volume") {
                    *used.entry(m.name.clone()).or_insert(0) += 1;
                }
            }
        }
        used
    }

    /// docker volume prune: unused anonymous volumes, or every unused volume with `all`; label
    /// filters ("k", "k=v", and "label!"). As dockerd, a volume with driver options (a tmpfs or
    /// a device: nothing on disk to reclaim) is left alone, and one `prune` event says how much
    /// was reclaimed.
    pub fn prune_volumes(&self, all: bool, labels: &Filters) -> Result<(Vec<String>, u64)> {
        let _lock = self.volumes_lock()?;
        let used = self.used_volumes();
        let mut deleted = Vec::new();
        let mut space = 0;
        for v in self.volumes() {
            if used.contains_key(&v.name) || (!all && !v.anonymous()) || !v.options.is_empty() {
                continue;
            }
            if !super::filters::prune_labels_pass(labels, &v.labels) {
                continue;
            }
            let size = super::sizes::dir_size(&self.volume_data(&v.name));
            if self.delete_volume(&v.name).is_ok() {
                space += size;
                deleted.push(v.name);
            }
        }
        let mut event = berth_shim::events::Event::volume("", "prune");
        event.actor.attributes = [("reclaimed".to_string(), space.to_string())].into();
        self.log_event(event);
        Ok((deleted, space))
    }

    /// Docker's volume object.
    pub fn volume_json(&self, v: &Volume) -> Value {
        let map = |m: &BTreeMap<String, String>| {
            if m.is_empty() {
                Value::Null
            } else {
                json!(m)
            }
        };
        // dockerd's CreatedAt is RFC 3339 to the second.
        let created = humantime::parse_rfc3339_weak(&v.created_at)
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_else(|_| v.created_at.clone());
        json!({
            "CreatedAt": created,
            "Driver": v.driver,
            "Labels": map(&v.labels),
            "Mountpoint": self.volume_data(&v.name),
            "Name": v.name,
            "Options": map(&v.options),
            "Scope": "local",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(tmp: &tempfile::TempDir) -> Engine {
        Engine::new(berth_shim::Paths::new(tmp.path(), tmp.path().join("run")))
    }

    #[test]
    fn create_inspect_list_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(&tmp);
        let v = e
            .create_volume(&CreateVolume {
                name: "data".into(),
                labels: Some([("a".to_string(), "1".to_string())].into()),
                ..Default::default()
            })
            .unwrap();
        assert!(e.volume_data("data").is_dir());
        assert_eq!(e.volume("data").unwrap(), v);
        let created = e.volume_json(&v)["CreatedAt"].as_str().unwrap().to_string();
        assert!(
            created.len() == 20 && created.ends_with('Z'),
            "CreatedAt to the second: {created}"
        );
        let again = e
            .create_volume(&CreateVolume {
                name: "data".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(again, v, "a second create returns the first volume");
        let anon = e.create_volume(&CreateVolume::default()).unwrap();
        assert_eq!(anon.name.len(), 64);
        let by_label = e
            .list_volumes(&[("label".to_string(), vec!["a=1".to_string()])].into())
            .unwrap();
        assert_eq!(by_label, vec![v]);
        assert_eq!(e.list_volumes(&BTreeMap::new()).unwrap().len(), 2);
        assert!(e
            .list_volumes(&[("bogus".to_string(), vec![])].into())
            .is_err());
        e.remove_volume("data", false).unwrap();
        assert_eq!(
            e.remove_volume("data", false).unwrap_err(),
            EngineError::not_found("get data: no such volume".into())
        );
        e.remove_volume("data", true)
            .expect("a forced remove of a missing volume is no error");
    }

    #[test]
    fn prune_takes_unused_volumes_without_options() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(&tmp);
        let make = |name: &str, anonymous: bool, opts: &[(&str, &str)]| {
            let labels = anonymous.then(|| [(ANONYMOUS_LABEL.to_string(), String::new())].into());
            let options = opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            e.create_volume(&CreateVolume {
                name: name.into(),
                labels,
                driver_opts: Some(options),
                ..Default::default()
            })
            .unwrap();
        };
        make("anon", true, &[]);
        make("named", false, &[]);
        make("tmpfs", true, &[("type", "tmpfs"), ("device", "tmpfs")]);
        std::fs::write(e.volume_data("anon").join("f"), "12345").unwrap();
        assert_eq!(
            e.prune_volumes(false, &Filters::new()).unwrap(),
            (vec!["anon".to_string()], 5)
        );
        assert_eq!(
            e.prune_volumes(true, &Filters::new()).unwrap(),
            (vec!["named".to_string()], 0)
        );
        assert!(
            e.volume("tmpfs").is_ok(),
            "a volume with options was pruned"
        );
    }

    #[test]
    fn names_and_drivers_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(&tmp);
        let bad = |name: &str, driver: &str| {
            e.create_volume(&CreateVolume {
                name: name.into(),
                driver: driver.into(),
                ..Default::default()
            })
            .is_err()
        };
        assert!(bad("a/b", ""));
        assert!(bad("x", ""), "one character is too short");
        assert!(bad("ok", "nfs-plugin"));
        assert!(!bad("ok", "local"));
    }
}
