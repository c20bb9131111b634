//! The `run` and `create` flags for storage and sharing: `--mount`, `--tmpfs`,
//! `--volumes-from`, `--ipc`, `--shm-size`, `--pid`, `--uts` and `--userns`, put into HostConfig as the
//! docker CLI puts them (its `--mount` CSV parser's keys and words).

use super::{CliError, Result};
use crate::engine::sizes::parse_size;
use crate::engine::wire::HostConfig;
use crate::engine::wire::{
    BindOptionsJson, DriverConfigJson, MountJson, TmpfsOptionsJson, VolumeOptionsJson,
};
use crate::engine::EngineError;
use clap::Args;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Args)]
pub struct StorageFlags {
    /// Attach a filesystem mount: type=bind|volume|tmpfs,src=...,dst=...[,readonly]
    /// [,bind-propagation=...][,idmap][,volume-opt=k=v][,volume-label=k=v][,volume-nocopy]
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
    /// User namespace: private (a range of host ids of its own) or host; default: the
    /// engine's (--userns-remap).
    #[arg(long, value_name = "MODE", value_parser = ["private", "host"])]
    pub userns: Option<String>,
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

/// A size flag's bytes as HostConfig's i64. A size past i64::MAX gets the error the decode of
/// the create body gave it when the CLI built that body as JSON.
fn size_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| {
        EngineError::invalid_parameter(format!(
            "invalid create body: invalid value: integer `{n}`, expected i64"
        ))
        .into()
    })
}

/// One `--mount` value as a HostConfig.Mounts entry (the docker CLI's opts.MountOpt).
pub fn mount(value: &str) -> Result<MountJson> {
    let err = |why: String| bad("--mount", value, why);
    let mut m = MountJson::default();
    let mut target = None;
    let mut kind = "volume".to_string();
    // Each is Some once one of its `<kind>-*` keys is given.
    let mut bind: Option<BindOptionsJson> = None;
    let mut vol: Option<VolumeOptionsJson> = None;
    let mut tmpfs: Option<TmpfsOptionsJson> = None;
    let (mut labels, mut driver_opts) = (BTreeMap::new(), BTreeMap::new());
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
            "source" | "src" => m.source = need()?.to_string(),
            "target" | "dst" | "destination" => target = Some(need()?.to_string()),
            "readonly" | "ro" => m.read_only = flag()?,
            "consistency" => m.consistency = Some(need()?.to_string()),
            "bind-propagation" => bind.get_or_insert_default().propagation = need()?.to_string(),
            "bind-nonrecursive" => bind.get_or_insert_default().non_recursive = flag()?,
            // berth's extension (podman's spelling): an idmapped bind.
            "idmap" => bind.get_or_insert_default().idmap = flag()?,
            "volume-nocopy" => vol.get_or_insert_default().no_copy = flag()?,
            "volume-subpath" => vol.get_or_insert_default().subpath = need()?.to_string(),
            "volume-driver" => {
                vol.get_or_insert_default().driver_config = Some(DriverConfigJson {
                    name: need()?.to_string(),
                    options: None,
                })
            }
            "volume-label" | "volume-opt" => {
                let v = need()?;
                let (k, x) = v.split_once('=').unwrap_or((v, ""));
                let map = if key == "volume-label" {
                    &mut labels
                } else {
                    &mut driver_opts
                };
                map.insert(k.to_string(), x.to_string());
                vol.get_or_insert_default();
            }
            "tmpfs-size" => {
                let v = need()?;
                let n = parse_size(v).ok_or_else(|| err(format!("invalid size: '{v}'")))?;
                tmpfs.get_or_insert_default().size_bytes = size_i64(n)?;
            }
            "tmpfs-mode" => {
                let v = need()?;
                let n = u32::from_str_radix(v, 8)
                    .map_err(|_| err(format!("invalid value for {key}: {v}")))?;
                tmpfs.get_or_insert_default().mode = n;
            }
            _ => return Err(err(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let Some(target) = target else {
        return Err(err("target is required".into()));
    };
    m.target = target;
    if let Some(vol) = &mut vol {
        if !labels.is_empty() {
            vol.labels = Some(labels);
        }
        if !driver_opts.is_empty() {
            vol.driver_config
                .get_or_insert_with(DriverConfigJson::default)
                .options = Some(driver_opts);
        }
    }
    for (name, given) in [
        ("bind", bind.is_some()),
        ("volume", vol.is_some()),
        ("tmpfs", tmpfs.is_some()),
    ] {
        if given && kind != name {
            return Err(err(format!(
                "cannot mix '{name}-*' options with mount type '{kind}'"
            )));
        }
    }
    m.kind = kind;
    m.bind_options = bind;
    m.volume_options = vol;
    m.tmpfs_options = tmpfs;
    Ok(m)
}

/// Put the flags given into `host` (HostConfig as the docker CLI sends it).
pub fn apply(f: &StorageFlags, host: &mut HostConfig) -> Result<()> {
    if !f.mount.is_empty() {
        let mounts = f.mount.iter().map(|m| mount(m)).collect::<Result<_>>()?;
        host.mounts = Some(mounts);
    }
    if !f.tmpfs.is_empty() {
        let tmpfs = f
            .tmpfs
            .iter()
            .map(|t| {
                let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
                (dst.to_string(), opts.to_string())
            })
            .collect();
        host.tmpfs = Some(tmpfs);
    }
    if !f.volumes_from.is_empty() {
        host.volumes_from = Some(f.volumes_from.clone());
    }
    if let Some(size) = &f.shm_size {
        let n = parse_size(size)
            .ok_or_else(|| bad("--shm-size", size, format!("invalid size: '{size}'")))?;
        host.shm_size = size_i64(n)?;
    }
    for (field, value) in [
        (&mut host.ipc_mode, &f.ipc),
        (&mut host.pid_mode, &f.pid),
        (&mut host.uts_mode, &f.uts),
        (&mut host.userns_mode, &f.userns),
    ] {
        if let Some(v) = value {
            field.clone_from(v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_idmapped_bind_is_berths_extension_of_bind_options() {
        assert_eq!(
            mount("type=bind,src=/h,dst=/c,idmap").unwrap(),
            MountJson {
                kind: "bind".into(),
                source: "/h".into(),
                target: "/c".into(),
                bind_options: Some(BindOptionsJson {
                    idmap: true,
                    ..Default::default()
                }),
                ..Default::default()
            }
        );
    }

    #[test]
    fn mounts_as_the_docker_cli_sends_them() {
        assert_eq!(
            mount("type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave").unwrap(),
            MountJson {
                kind: "bind".into(),
                source: "/h".into(),
                target: "/c".into(),
                read_only: true,
                bind_options: Some(BindOptionsJson {
                    propagation: "rslave".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
        );
        assert_eq!(
            mount("src=data,target=/d,volume-opt=type=tmpfs,volume-label=a=1,volume-nocopy")
                .unwrap(),
            MountJson {
                kind: "volume".into(),
                source: "data".into(),
                target: "/d".into(),
                volume_options: Some(VolumeOptionsJson {
                    no_copy: true,
                    labels: Some(map(&[("a", "1")])),
                    driver_config: Some(DriverConfigJson {
                        name: "".into(),
                        options: Some(map(&[("type", "tmpfs")])),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
        );
        assert_eq!(
            mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap(),
            MountJson {
                kind: "tmpfs".into(),
                target: "/t".into(),
                tmpfs_options: Some(TmpfsOptionsJson {
                    size_bytes: 1 << 20,
                    mode: 0o1770,
                    options: None,
                }),
                ..Default::default()
            }
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
            userns: Some("private".into()),
            ..Default::default()
        };
        let mut host = HostConfig::default();
        apply(&f, &mut host).unwrap();
        assert_eq!(
            host,
            HostConfig {
                tmpfs: Some(map(&[("/t", "size=1m,mode=1777"), ("/u", "")])),
                volumes_from: Some(vec!["src:ro".into()]),
                shm_size: 2 << 20,
                ipc_mode: "shareable".into(),
                pid_mode: "host".into(),
                uts_mode: "host".into(),
                userns_mode: "private".into(),
                ..HostConfig::default()
            },
            "the flags given, and nothing else"
        );
        let f = StorageFlags {
            shm_size: Some("big".into()),
            ..Default::default()
        };
        assert!(apply(&f, &mut host).is_err());
    }
}
