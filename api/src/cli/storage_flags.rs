//! The `run` and `create` flags for storage and sharing: `--mount`, `--tmpfs`,
//! `--volumes-from`, `--ipc`, `--shm-size`, `--pid` and `--uts`, put into HostConfig as the
//! docker CLI puts them (its `--mount` CSV parser's keys and words).

use super::{CliError, Result};
use crate::engine::containers::create::parse_size;
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Default, Args)]
pub struct StorageFlags {
    /// Attach a filesystem mount: type=bind|volume|tmpfs,src=...,dst=...[,readonly]
    /// [,bind-propagation=...][,volume-opt=k=v][,volume-label=k=v][,volume-nocopy]
    /// [,tmpfs-size=...][,tmpfs-mode=...].
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory: DST[:OPTIONS] (size=64m,mode=1777).
    #[arg(long, value_name = "DST[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount the volumes of another container: CONTAINER[:ro|rw].
    #[arg(long, value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// IPC namespace: private, shareable, container:<name|id>, host or none.
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// Size of /dev/shm (64m by default).
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// PID namespace: container:<name|id> or host.
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// UTS namespace: host.
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
}

fn bad(flag: &str, value: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

/// One `--mount` value as a HostConfig.Mounts entry (the docker CLI's opts.MountOpt).
pub fn mount(value: &str) -> Result<Value> {
    let err = |why: String| bad("--mount", value, why);
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let (mut bind, mut vol, mut tmpfs) = (Map::new(), Map::new(), Map::new());
    let (mut labels, mut driver_opts) = (Map::new(), Map::new());
    for field in value.split(',').filter(|f| !f.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need =
            || val.ok_or_else(|| err(format!("invalid field '{field}' must be a key=value pair")));
        let flag = || match val {
            None => Ok(true),
            Some(v) => boolean(v).ok_or_else(|| err(format!("invalid value for {key}: {v}"))),
        };
        match key.as_str() {
            "type" => kind = need()?.to_string(),
            "source" | "src" => {
                m.insert("Source".into(), json!(need()?));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(need()?));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(flag()?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(need()?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(need()?));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(flag()?));
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(flag()?));
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(need()?));
            }
            "volume-driver" => {
                vol.insert("DriverConfig".into(), json!({"Name": need()?}));
            }
            "volume-label" | "volume-opt" => {
                let v = need()?;
                let (k, x) = v.split_once('=').unwrap_or((v, ""));
                let map = if key == "volume-label" {
                    &mut labels
                } else {
                    &mut driver_opts
                };
                map.insert(k.to_string(), json!(x));
            }
            "tmpfs-size" => {
                let v = need()?;
                let n = parse_size(v).ok_or_else(|| err(format!("invalid size: '{v}'")))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let v = need()?;
                let n = u32::from_str_radix(v, 8)
                    .map_err(|_| err(format!("invalid value for {key}: {v}")))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            _ => return Err(err(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    if !m.contains_key("Target") {
        return Err(err("target is required".into()));
    }
    if !labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(labels));
    }
    if !driver_opts.is_empty() {
        let cfg = vol
            .entry("DriverConfig")
            .or_insert_with(|| json!({"Name": ""}));
        cfg["Options"] = Value::Object(driver_opts);
    }
    for (name, opts) in [("bind", &bind), ("volume", &vol), ("tmpfs", &tmpfs)] {
        if !opts.is_empty() && kind != name {
            return Err(err(format!(
                "cannot mix '{name}-*' options with mount type '{kind}'"
            )));
        }
    }
    m.insert("Type".into(), json!(kind));
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !vol.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

/// Put the flags given into `host` (HostConfig as the docker CLI sends it).
pub fn apply(f: &StorageFlags, host: &mut Value) -> Result<()> {
    if !f.mount.is_empty() {
        let mounts: Vec<Value> = f.mount.iter().map(|m| mount(m)).collect::<Result<_>>()?;
        host["Mounts"] = json!(mounts);
    }
    if !f.tmpfs.is_empty() {
        let tmpfs: Map<String, Value> = f
            .tmpfs
            .iter()
            .map(|t| {
                let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
                (dst.to_string(), json!(opts))
            })
            .collect();
        host["Tmpfs"] = Value::Object(tmpfs);
    }
    if !f.volumes_from.is_empty() {
        host["VolumesFrom"] = json!(f.volumes_from);
    }
    if let Some(size) = &f.shm_size {
        let n = parse_size(size)
            .ok_or_else(|| bad("--shm-size", size, format!("invalid size: '{size}'")))?;
        host["ShmSize"] = json!(n);
    }
    for (key, value) in [
        ("IpcMode", &f.ipc),
        ("PidMode", &f.pid),
        ("UTSMode", &f.uts),
    ] {
        if let Some(v) = value {
            host[key] = json!(v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_as_the_docker_cli_sends_them() {
        assert_eq!(
            mount("type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave").unwrap(),
            json!({"Type": "bind", "Source": "/h", "Target": "/c", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rslave"}})
        );
        assert_eq!(
            mount("src=data,target=/d,volume-opt=type=tmpfs,volume-label=a=1,volume-nocopy")
                .unwrap(),
            json!({"Type": "volume", "Source": "data", "Target": "/d",
                   "VolumeOptions": {"NoCopy": true, "Labels": {"a": "1"},
                                     "DriverConfig": {"Name": "", "Options": {"type": "tmpfs"}}}})
        );
        assert_eq!(
            mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap(),
            json!({"Type": "tmpfs", "Target": "/t",
                   "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}})
        );
        for (bad, why) in [
            ("type=bind,src=/h", "target is required"),
            (
                "type=volume,dst=/d,bind-propagation=shared",
                "cannot mix 'bind-*'",
            ),
            ("dst=/d,colour=red", "unexpected key 'colour'"),
            ("type=tmpfs,dst=/t,tmpfs-size=lots", "invalid size: 'lots'"),
            ("dst=/d,readonly=maybe", "invalid value for readonly"),
        ] {
            let e = mount(bad).unwrap_err().to_string();
            assert!(
                e.contains(why)
                    && e.starts_with(&format!("invalid argument \"{bad}\" for \"--mount\" flag")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn sharing_and_tmpfs_flags_fill_host_config() {
        let f = StorageFlags {
            tmpfs: vec!["/t:size=1m,mode=1777".into(), "/u".into()],
            volumes_from: vec!["src:ro".into()],
            ipc: Some("shareable".into()),
            shm_size: Some("2m".into()),
            pid: Some("host".into()),
            uts: Some("host".into()),
            ..Default::default()
        };
        let mut host = json!({});
        apply(&f, &mut host).unwrap();
        assert_eq!(
            host,
            json!({"Tmpfs": {"/t": "size=1m,mode=1777", "/u": ""}, "VolumesFrom": ["src:ro"],
                   "ShmSize": 2 << 20, "IpcMode": "shareable", "PidMode": "host", "UTSMode": "host"})
        );
        let f = StorageFlags {
            shm_size: Some("big".into()),
            ..Default::default()
        };
        assert!(apply(&f, &mut host).is_err());
    }
}
