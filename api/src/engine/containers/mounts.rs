//! A container's mounts, from every place a create request can ask for them: `Binds` (`-v
//! src:dst[:opts]`, where a source without '/' names a volume), `Mounts` (`--mount`), `Tmpfs`,
//! `VolumesFrom`, and `Config.Volumes` (the image's VOLUMEs and `-v /path`: an anonymous volume
//! each, unless something else is mounted there). Volumes are created on first use, and an empty
//! one gets the image's content at its path (dockerd's copy-up). The result is the shim's mount
//! list plus Docker's `Mounts` as inspect shows them.

use crate::engine::volumes::{copyup, CreateVolume, Volume, ANONYMOUS_LABEL};
use crate::engine::wire::HostConfig;
use crate::engine::wire::{BindOptionsJson, MountJson};
use crate::engine::{Engine, EngineError, Result};
use berth_shim::spec::mount_options as bind_flags;
use berth_shim::spec::{MountKind, MountSpec, RootPropagation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One of Docker's `Mounts` in inspect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// "bind", "volume" or "tmpfs".
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// The shim's mounts and inspect's.
#[derive(Debug, Default)]
pub struct Resolved {
    pub specs: Vec<MountSpec>,
    pub points: Vec<MountPoint>,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::invalid_parameter(msg.into())
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// "/data/" -> "/data"; relative or "/" is refused.
fn destination(dst: &str, spec: &str) -> Result<String> {
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config: invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    let d = dst.trim_end_matches('/');
    if d.is_empty() {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config: invalid specification: destination can't be '/'"
        )));
    }
    Ok(d.to_string())
}

/// A volume as the shim mounts it: its `_data` bound in, or (local driver options) the tmpfs or
/// device named by `type`, `device` and `o`.
pub fn volume_spec(engine: &Engine, v: &Volume, dst: &str, ro: bool) -> MountSpec {
    let o: Vec<String> = v
        .options
        .get("o")
        .map(|o| {
            o.split(',')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let device = v.options.get("device").cloned().unwrap_or_default();
    let mut spec = match v.options.get("type").map(String::as_str) {
        None | Some("") => MountSpec {
            idmap: true,
            kind: MountKind::Bind,
            subpath: String::new(),
            source: engine.volume_data(&v.name).display().to_string(),
            destination: dst.to_string(),
            options: vec!["rbind".into()],
        },
        Some("tmpfs") => MountSpec {
            idmap: false,
            kind: MountKind::Tmpfs,
            subpath: String::new(),
            source: "tmpfs".into(),
            destination: dst.to_string(),
            options: o,
        },
        Some(_) if o.iter().any(|x| x == "bind" || x == "rbind") => MountSpec {
            idmap: false,
            kind: MountKind::Bind,
            subpath: String::new(),
            source: device,
            destination: dst.to_string(),
            options: o,
        },
        Some(t) => MountSpec {
            idmap: false,
            kind: MountKind::Filesystem(t.to_string()),
            subpath: String::new(),
            source: device,
            destination: dst.to_string(),
            options: o,
        },
    };
    if ro {
        spec.options.push("ro".into());
    }
    spec
}

struct Builder<'a> {
    engine: &'a Engine,
    layers: &'a [PathBuf],
    /// How a read-only bind is made when its request does not say.
    default_ro_mode: Option<&'static str>,
    out: Resolved,
}

impl Builder<'_> {
    fn taken(&self, dst: &str) -> bool {
        self.out.specs.iter().any(|m| m.destination == dst)
    }

    fn claim(&self, dst: &str) -> Result<()> {
        if self.taken(dst) {
            return Err(invalid(format!("Duplicate mount point: {dst}")));
        }
        Ok(())
    }

    /// Mount volume `name` (None: a new anonymous one) at `dst`.
    fn volume(
        &mut self,
        name: Option<&str>,
        dst: &str,
        ro: bool,
        nocopy: bool,
        mode: &str,
    ) -> Result<()> {
        self.volume_with(name, dst, ro, nocopy, mode, CreateVolume::default(), "")
    }

    /// Mount volume `name` (None: a new anonymous one) at `dst`, or its `subpath` (nothing is
    /// copied into a volume mounted by a subpath).
    #[allow(clippy::too_many_arguments)]
    fn volume_with(
        &mut self,
        name: Option<&str>,
        dst: &str,
        ro: bool,
        nocopy: bool,
        mode: &str,
        mut req: CreateVolume,
        subpath: &str,
    ) -> Result<()> {
        self.claim(dst)?;
        match name {
            Some(n) => req.name = n.to_string(),
            None => {
                req.labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(ANONYMOUS_LABEL.into(), String::new());
            }
        }
        let v = self.engine.create_volume(&req)?;
        let data = self.engine.volume_data(&v.name);
        let plain = v.options.get("type").is_none_or(|t| t.is_empty());
        if !subpath.is_empty() && !plain {
            return Err(invalid(format!(
                "VolumeOptions.Subpath: berth does not support it for volume {} (made with driver options type={}); only for plain local volumes",
                v.name,
                v.options.get("type").map(String::as_str).unwrap_or("")
            )));
        }
        if !nocopy && subpath.is_empty() && plain && copyup::is_empty(&data) {
            copyup::copy_up(self.layers, dst, &data).map_err(|e| {
                EngineError::system(format!("copying {dst} into volume {}", v.name), e)
            })?;
        }
        let mut spec = volume_spec(self.engine, &v, dst, ro);
        spec.subpath = subpath.to_string();
        self.out.specs.push(spec);
        self.out.points.push(MountPoint {
            kind: "volume".into(),
            name: v.name.clone(),
            source: data.display().to_string(),
            destination: dst.to_string(),
            driver: v.driver.clone(),
            mode: mode.to_string(),
            rw: !ro,
            propagation: String::new(),
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        src: &str,
        dst: &str,
        ro: bool,
        ro_mode: Option<&'static str>,
        propagation: &str,
        recursive: bool,
        mode: &str,
        idmap: bool,
    ) -> Result<()> {
        self.claim(dst)?;
        let mut options = vec![if recursive { "rbind" } else { "bind" }.to_string()];
        if ro {
            options.push("ro".into());
            options.extend(ro_mode.map(String::from));
        }
        if !propagation.is_empty() {
            options.push(propagation.to_string());
        }
        self.out.specs.push(MountSpec {
            idmap,
            kind: MountKind::Bind,
            subpath: String::new(),
            source: src.to_string(),
            destination: dst.to_string(),
            options,
        });
        self.out.points.push(MountPoint {
            kind: "bind".into(),
            source: src.to_string(),
            destination: dst.to_string(),
            mode: mode.to_string(),
            rw: !ro,
            propagation: if propagation.is_empty() {
                "rprivate"
            } else {
                propagation
            }
            .to_string(),
            ..MountPoint::default()
        });
        Ok(())
    }

    /// `-v src:dst[:opts]`, `-v name:dst[:opts]`, `-v /dst`.
    fn bind_entry(&mut self, b: &str) -> Result<()> {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [d] => ("", *d, ""),
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => return Err(invalid(format!("invalid volume specification: '{b}'"))),
        };
        let dst = destination(dst, b)?;
        let (mut ro, mut propagation, mut nocopy, mut idmap) = (false, "", false, false);
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => ro = true,
                "rw" | "z" | "Z" => {}
                // berth's (and podman's) idmapped bind; a named volume is idmapped anyway.
                "idmap" => idmap = true,
                "nocopy" => nocopy = true,
                p if PROPAGATIONS.contains(&p) => propagation = p,
                _ => return Err(invalid(format!("invalid mode: {o}"))),
            }
        }
        if src.is_empty() || !src.starts_with('/') {
            if !propagation.is_empty() {
                return Err(invalid(format!(
                    "invalid volume specification: '{b}': invalid mount config for type \"volume\": field Propagation must not be specified"
                )));
            }
            let name = (!src.is_empty()).then_some(src);
            return self.volume(name, &dst, ro, nocopy, opts);
        }
        if nocopy {
            return Err(invalid("invalid mode: nocopy"));
        }
        if !std::path::Path::new(src).exists() {
            std::fs::create_dir_all(src).map_err(|e| {
                invalid(format!("invalid mount config: bind source path {src}: {e}"))
            })?;
        }
        check_propagation(src, propagation)?;
        let ro_mode = self.default_ro_mode;
        self.bind(src, &dst, ro, ro_mode, propagation, true, opts, idmap)
    }

    /// One `--mount`.
    fn mount_entry(&mut self, m: &MountJson) -> Result<()> {
        let dst = destination(&m.target, &m.target)?;
        if m.kind != "image" && m.image_options.is_some() {
            return Err(invalid(format!(
                "invalid mount config for type {:?}: field ImageOptions must not be specified",
                m.kind
            )));
        }
        match m.kind.as_str() {
            "bind" => {
                if m.volume_options.is_some() || m.tmpfs_options.is_some() {
                    return Err(invalid(
                        "invalid mount config for type \"bind\": only BindOptions may be set",
                    ));
                }
                if !m.source.starts_with('/') {
                    return Err(invalid(format!("invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute", m.source)));
                }
                let opts = m.bind_options.clone().unwrap_or_default();
                if !std::path::Path::new(&m.source).exists() {
                    if !opts.create_mountpoint {
                        return Err(invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            m.source
                        )));
                    }
                    std::fs::create_dir_all(&m.source)
                        .map_err(|e| EngineError::system(&m.source, e))?;
                }
                if !opts.propagation.is_empty()
                    && !PROPAGATIONS.contains(&opts.propagation.as_str())
                {
                    return Err(invalid(format!(
                        "invalid propagation mode: {}",
                        opts.propagation
                    )));
                }
                check_propagation(&m.source, &opts.propagation)?;
                let ro_mode = read_only_mode(m.read_only, &opts)?.or(self.default_ro_mode);
                self.bind(
                    &m.source,
                    &dst,
                    m.read_only,
                    ro_mode,
                    &opts.propagation,
                    !opts.non_recursive,
                    "",
                    opts.idmap,
                )
            }
            "volume" => {
                if m.bind_options.is_some() || m.tmpfs_options.is_some() {
                    return Err(invalid(
                        "invalid mount config for type \"volume\": only VolumeOptions may be set",
                    ));
                }
                let vo = m.volume_options.clone().unwrap_or_default();
                check_subpath(&vo.subpath)?;
                let driver = vo.driver_config.clone().unwrap_or_default();
                let req = CreateVolume {
                    name: String::new(),
                    driver: driver.name,
                    driver_opts: driver.options,
                    labels: vo.labels,
                };
                let name = (!m.source.is_empty()).then_some(m.source.as_str());
                self.volume_with(name, &dst, m.read_only, vo.no_copy, "", req, &vo.subpath)
            }
            "tmpfs" => {
                if !m.source.is_empty() {
                    return Err(invalid(
                        "invalid mount config for type \"tmpfs\": Source must not be specified",
                    ));
                }
                if m.bind_options.is_some() || m.volume_options.is_some() {
                    return Err(invalid(
                        "invalid mount config for type \"tmpfs\": only TmpfsOptions may be set",
                    ));
                }
                self.claim(&dst)?;
                let t = m.tmpfs_options.clone().unwrap_or_default();
                let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
                options.push(tmpfs_exec(t.options.as_deref().unwrap_or_default())?.into());
                if t.size_bytes > 0 {
                    options.push(format!("size={}k", (t.size_bytes + 1023) / 1024));
                }
                if t.mode != 0 {
                    options.push(format!("mode={:o}", t.mode & 0o7777));
                }
                if m.read_only {
                    options.push("ro".into());
                }
                self.out.specs.push(MountSpec {
                    idmap: false,
                    kind: MountKind::Tmpfs,
                    subpath: String::new(),
                    source: "tmpfs".into(),
                    destination: dst.clone(),
                    options,
                });
                self.out.points.push(MountPoint {
                    kind: "tmpfs".into(),
                    destination: dst,
                    rw: !m.read_only,
                    ..MountPoint::default()
                });
                Ok(())
            }
            "image" => Err(invalid(
                "Mounts: Type \"image\" and its ImageOptions (Subpath): berth does not support it (image mounts)",
            )),
            other => Err(invalid(format!("mount type unknown: {other:?}"))),
        }
    }

    /// `--volumes-from c[:ro|rw]`: the other container's volumes and binds at the same places.
    fn volumes_from(&mut self, entry: &str) -> Result<()> {
        let (reference, mode) = match entry.split_once(':') {
            Some((r, m)) if m == "ro" || m == "rw" => (r, Some(m)),
            Some((_, m)) => return Err(invalid(format!("invalid mode for volumes-from: {m}"))),
            None => (entry, None),
        };
        let id = self.engine.lookup(reference)?;
        let record = self.engine.record(&id)?;
        for p in &record.mount_points {
            if self.taken(&p.destination) || p.kind == "tmpfs" {
                continue;
            }
            let ro = match mode {
                Some(m) => m == "ro",
                None => !p.rw,
            };
            if p.kind == "volume" {
                let v = self.engine.volume(&p.name)?;
                self.out
                    .specs
                    .push(volume_spec(self.engine, &v, &p.destination, ro));
            } else {
                let mut options = vec!["rbind".to_string()];
                if ro {
                    options.push("ro".into());
                }
                self.out.specs.push(MountSpec {
                    idmap: false,
                    kind: MountKind::Bind,
                    subpath: String::new(),
                    source: p.source.clone(),
                    destination: p.destination.clone(),
                    options,
                });
            }
            self.out.points.push(MountPoint {
                rw: !ro,
                ..p.clone()
            });
        }
        Ok(())
    }
}

/// VolumeOptions.Subpath: a path inside the volume, relative and without `..` (dockerd's
/// rule); symlinks are resolved beneath the volume when it is mounted.
fn check_subpath(subpath: &str) -> Result<()> {
    let p = std::path::Path::new(subpath);
    let outside = p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if outside {
        return Err(invalid(format!(
            "invalid mount config for type \"volume\": subpath must be a relative path within the volume: {subpath:?}"
        )));
    }
    Ok(())
}

/// TmpfsOptions.Options (API 1.46): dockerd allows `exec` and `noexec` (a tmpfs from the
/// API is noexec unless asked); the last one given wins.
fn tmpfs_exec(options: &[Vec<String>]) -> Result<&'static str> {
    let mut exec = "noexec";
    for o in options {
        match o.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["exec"] => exec = "exec",
            ["noexec"] => exec = "noexec",
            other => {
                return Err(invalid(format!(
                    "invalid mount config for type \"tmpfs\": invalid option: {}: berth supports only exec and noexec in TmpfsOptions.Options",
                    other.join("=")
                )))
            }
        }
    }
    Ok(exec)
}

/// BindOptions' read-only knobs as the shim's mount option (None: recursive where the kernel
/// can), refused in dockerd's words when they contradict `ReadOnly` or each other.
fn read_only_mode(read_only: bool, o: &BindOptionsJson) -> Result<Option<&'static str>> {
    let conflict = |what: &str| Err(invalid(format!("mount options conflict: {what}")));
    if !read_only && o.read_only_non_recursive {
        return conflict("!ReadOnly && BindOptions.ReadOnlyNonRecursive");
    }
    if !read_only && o.read_only_force_recursive {
        return conflict("!ReadOnly && BindOptions.ReadOnlyForceRecursive");
    }
    if o.read_only_non_recursive && o.read_only_force_recursive {
        return conflict("ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive");
    }
    Ok(if o.read_only_non_recursive {
        Some(bind_flags::RO_NON_RECURSIVE)
    } else if o.read_only_force_recursive {
        Some(bind_flags::RO_FORCE_RECURSIVE)
    } else {
        None
    })
}

/// dockerd's rule: a shared bind needs a shared source mount, a slave one a shared or slave
/// source mount.
pub fn check_propagation(src: &str, propagation: &str) -> Result<()> {
    let need_shared = matches!(propagation, "shared" | "rshared");
    let need_slave = matches!(propagation, "slave" | "rslave");
    if !need_shared && !need_slave {
        return Ok(());
    }
    let path = std::fs::canonicalize(src).map_err(|e| EngineError::system(src, e))?;
    let m = berth_shim::host::current_mount_of(&path)
        .map_err(|e| EngineError::system("/proc/self/mountinfo", e))?;
    let mount_point = m.mount_point.display();
    if need_shared && !m.shared() {
        return Err(invalid(format!(
            "path {src} is mounted on {mount_point} but it is not a shared mount"
        )));
    }
    if need_slave && !m.shared() && !m.slave() {
        return Err(invalid(format!(
            "path {src} is mounted on {mount_point} but it is not a shared or slave mount"
        )));
    }
    Ok(())
}

/// Every mount of a create request, volumes created as needed.
pub fn resolve(
    engine: &Engine,
    h: &HostConfig,
    config_volumes: Option<&BTreeMap<String, serde_json::Value>>,
    layers: &[PathBuf],
) -> Result<Resolved> {
    let mut b = Builder {
        engine,
        layers,
        default_ro_mode: h
            .read_only_non_recursive_default
            .then_some(bind_flags::RO_NON_RECURSIVE),
        out: Resolved::default(),
    };
    for entry in h.binds.iter().flatten() {
        b.bind_entry(entry)?;
    }
    for m in h.mounts.iter().flatten() {
        b.mount_entry(m)?;
    }
    for (dst, opts) in h.tmpfs.iter().flatten() {
        let dst = destination(dst, dst)?;
        b.claim(&dst)?;
        b.out.specs.push(MountSpec {
            idmap: false,
            kind: MountKind::Tmpfs,
            subpath: String::new(),
            source: "tmpfs".into(),
            destination: dst,
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect(),
        });
    }
    for entry in h.volumes_from.iter().flatten() {
        b.volumes_from(entry)?;
    }
    for dst in config_volumes.into_iter().flatten().map(|(d, _)| d) {
        let dst = destination(dst, dst)?;
        if !b.taken(&dst) {
            b.volume(None, &dst, false, false, "")?;
        }
    }
    Ok(b.out)
}

/// Whether any mount asks for shared or slave propagation: the container's root then becomes
/// rslave so that mounts can propagate (dockerd's root propagation rule).
pub fn root_propagation(specs: &[MountSpec]) -> Option<RootPropagation> {
    let wants = |p: &[&str]| {
        specs
            .iter()
            .any(|m| m.options.iter().any(|o| p.contains(&o.as_str())))
    };
    if wants(&["shared", "rshared"]) {
        Some(RootPropagation::Shared)
    } else if wants(&["slave", "rslave"]) {
        Some(RootPropagation::Slave)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(tmp: &tempfile::TempDir) -> Engine {
        Engine::new(berth_shim::Paths::new(tmp.path(), tmp.path().join("run")))
    }

    #[test]
    fn binds_volumes_and_anonymous_volumes() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(&tmp);
        let src = tmp.path().join("src");
        let h = HostConfig {
            binds: Some(vec![
                format!("{}:/host:ro", src.display()),
                "data:/data".into(),
            ]),
            ..Default::default()
        };
        let vols: BTreeMap<String, serde_json::Value> = [
            ("/anon".to_string(), serde_json::json!({})),
            ("/data".to_string(), serde_json::json!({})),
        ]
        .into();
        let r = resolve(&e, &h, Some(&vols), &[]).unwrap();
        let kinds: Vec<(&str, &str, bool)> = r
            .points
            .iter()
            .map(|p| (p.kind.as_str(), p.destination.as_str(), p.rw))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("bind", "/host", false),
                ("volume", "/data", true),
                ("volume", "/anon", true)
            ]
        );
        assert!(src.is_dir(), "a missing bind source is created");
        assert_eq!(r.points[1].name, "data");
        assert!(e.volume(&r.points[2].name).unwrap().anonymous());
        assert_eq!(
            r.specs[1].source,
            e.volume_data("data").display().to_string()
        );
    }

    #[test]
    fn duplicates_and_bad_specs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(&tmp);
        let h = |binds: &[&str]| HostConfig {
            binds: Some(binds.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let err = |binds: &[&str]| resolve(&e, &h(binds), None, &[]).unwrap_err().to_string();
        assert_eq!(err(&["a1:/x", "a2:/x/"]), "Duplicate mount point: /x");
        assert!(err(&["a1:rel"]).contains("must be absolute"));
        assert!(err(&["a1:/x:bogus"]).contains("invalid mode: bogus"));
        assert!(err(&["a1:/x:rshared"]).contains("Propagation must not be specified"));
    }

    #[test]
    fn read_only_knobs_become_the_shims_option_and_contradictions_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(&tmp);
        let src = tmp.path().display().to_string();
        let resolve_one = |read_only: bool, non_rec: bool, force: bool| {
            let h = HostConfig {
                mounts: Some(vec![MountJson {
                    kind: "bind".into(),
                    source: src.clone(),
                    target: "/host".into(),
                    read_only,
                    bind_options: Some(BindOptionsJson {
                        read_only_non_recursive: non_rec,
                        read_only_force_recursive: force,
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            };
            resolve(&e, &h, None, &[]).map(|r| r.specs[0].options.clone())
        };
        assert_eq!(resolve_one(true, false, false).unwrap(), ["rbind", "ro"]);
        assert_eq!(
            resolve_one(true, true, false).unwrap(),
            ["rbind", "ro", bind_flags::RO_NON_RECURSIVE]
        );
        assert_eq!(
            resolve_one(true, false, true).unwrap(),
            ["rbind", "ro", bind_flags::RO_FORCE_RECURSIVE]
        );
        let legacy = HostConfig {
            read_only_non_recursive_default: true,
            binds: Some(vec![format!("{src}:/old:ro")]),
            ..Default::default()
        };
        assert_eq!(
            resolve(&e, &legacy, None, &[]).unwrap().specs[0].options,
            ["rbind", "ro", bind_flags::RO_NON_RECURSIVE],
            "a client before API 1.44: ro on the top mount only"
        );
        for (ro, non_rec, force, want) in [
            (
                false,
                true,
                false,
                "!ReadOnly && BindOptions.ReadOnlyNonRecursive",
            ),
            (
                false,
                false,
                true,
                "!ReadOnly && BindOptions.ReadOnlyForceRecursive",
            ),
            (
                true,
                true,
                true,
                "ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive",
            ),
        ] {
            let got = resolve_one(ro, non_rec, force).unwrap_err().to_string();
            assert_eq!(got, format!("mount options conflict: {want}"));
        }
    }
}
