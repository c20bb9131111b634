//! The `run` and `create` flags for devices: `--device` and `--device-cgroup-rule`, checked
//! and put into HostConfig as the docker CLI does (its words for a bad value).

use super::{CliError, Result};
use crate::engine::containers::devices::{DeviceAccess, DeviceRule};
use crate::engine::wire::DeviceMappingJson;
use crate::engine::wire::HostConfig;
use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct DeviceFlags {
    /// Add a host device to the container: HOST[:CONTAINER][:PERMISSIONS] (rwm by default).
    #[arg(long, value_name = "HOST[:CONTAINER][:rwm]")]
    pub device: Vec<String>,
    /// Add a rule to the device allow list: 'TYPE MAJOR:MINOR ACCESS' ('b 7:* rwm').
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
}

fn bad(flag: &str, value: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
}

fn is_mode(s: &str) -> bool {
    DeviceAccess::parse_mode(s).is_ok()
}

/// One `--device` as a HostConfig.Devices entry (the docker CLI's validateLinuxPath, then
/// parseLinuxDevice).
pub fn device(value: &str) -> Result<DeviceMappingJson> {
    let err = |why: String| bad("--device", value, why);
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() > 3 || parts[0].is_empty() {
        return Err(err(format!("bad format for path: {value}")));
    }
    let (host, inside, mode) = match parts[..] {
        [host] => (host, host, "rwm"),
        [host, mode] if is_mode(mode) => (host, host, mode),
        [host, inside] => (host, inside, "rwm"),
        [host, inside, mode] => {
            if !is_mode(mode) {
                return Err(err(format!("bad mode specified: {mode}")));
            }
            (host, inside, mode)
        }
        _ => return Err(err(format!("bad format for path: {value}"))),
    };
    if !inside.starts_with('/') {
        return Err(err(format!("{inside} is not an absolute path")));
    }
    Ok(DeviceMappingJson {
        path_on_host: host.to_string(),
        path_in_container: inside.to_string(),
        cgroup_permissions: mode.to_string(),
    })
}

/// Put the flags into `host`: Devices always (the docker CLI sends `[]` for none), the rules
/// when given.
pub fn apply(f: &DeviceFlags, host: &mut HostConfig) -> Result<()> {
    let devices = f.device.iter().map(|d| device(d)).collect::<Result<_>>()?;
    host.devices = Some(devices);
    for rule in &f.device_cgroup_rule {
        DeviceRule::parse(rule).map_err(|_| {
            bad(
                "--device-cgroup-rule",
                rule,
                format!("invalid device cgroup format '{rule}'"),
            )
        })?;
    }
    if !f.device_cgroup_rule.is_empty() {
        host.device_cgroup_rules = Some(f.device_cgroup_rule.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_as_the_docker_cli_parses_them() {
        let d = |v: &str| device(v).unwrap();
        assert_eq!(
            d("/dev/loop0:/dev/xvdc:rw"),
            DeviceMappingJson {
                path_on_host: "/dev/loop0".into(),
                path_in_container: "/dev/xvdc".into(),
                cgroup_permissions: "rw".into(),
            }
        );
        assert_eq!(d("/dev/loop0").path_in_container, "/dev/loop0");
        assert_eq!(d("/dev/loop0:r").cgroup_permissions, "r");
        assert_eq!(d("/dev/loop0:/dev/x").cgroup_permissions, "rwm");
        for (bad, why) in [
            ("/dev/a:/dev/b:rwx", "bad mode specified: rwx"),
            ("/dev/a:b", "b is not an absolute path"),
            (":/dev/b", "bad format for path: :/dev/b"),
            ("/a:/b:r:x", "bad format for path: /a:/b:r:x"),
        ] {
            let e = device(bad).unwrap_err().to_string();
            assert!(e.ends_with(why), "{bad}: expected {why:?}, got {e:?}");
        }
    }

    #[test]
    fn rules_are_checked() {
        let mut host = HostConfig::default();
        let f = DeviceFlags {
            device: vec![],
            device_cgroup_rule: vec!["b 7:* rwm".into()],
        };
        apply(&f, &mut host).unwrap();
        assert_eq!(
            host.device_cgroup_rules,
            Some(vec!["b 7:* rwm".to_string()])
        );
        assert_eq!(host.devices, Some(vec![]), "no --device is an empty list");
        let f = DeviceFlags {
            device: vec![],
            device_cgroup_rule: vec!["b 7 rwm".into()],
        };
        let e = apply(&f, &mut host).unwrap_err().to_string();
        assert!(e.ends_with("invalid device cgroup format 'b 7 rwm'"), "{e}");
    }
}
