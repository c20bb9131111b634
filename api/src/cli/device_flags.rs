//! The `run` and `create` flags for devices: `--device` and `--device-cgroup-rule`, checked
//! and put into HostConfig as the docker CLI does (its words for a bad value).

use super::{CliError, Result};
use crate::engine::containers::devices::{DeviceAccess, DeviceRule};
use clap::Args;
use serde_json::{json, Value};

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
pub fn device(value: &str) -> Result<Value> {
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
    Ok(json!({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": mode}))
}

pub fn apply(f: &DeviceFlags, host: &mut Value) -> Result<()> {
    let devices: Vec<Value> = f.device.iter().map(|d| device(d)).collect::<Result<_>>()?;
    host["Devices"] = json!(devices);
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
        host["DeviceCgroupRules"] = json!(f.device_cgroup_rule);
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
            json!({"PathOnHost": "/dev/loop0", "PathInContainer": "/dev/xvdc", "CgroupPermissions": "rw"})
        );
        assert_eq!(d("/dev/loop0")["PathInContainer"], "/dev/loop0");
        assert_eq!(d("/dev/loop0:r")["CgroupPermissions"], "r");
        assert_eq!(d("/dev/loop0:/dev/x")["CgroupPermissions"], "rwm");
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
        let mut host = json!({});
        let f = DeviceFlags {
            device: vec![],
            device_cgroup_rule: vec!["b 7:* rwm".into()],
        };
        apply(&f, &mut host).unwrap();
        assert_eq!(host["DeviceCgroupRules"], json!(["b 7:* rwm"]));
        let f = DeviceFlags {
            device: vec![],
            device_cgroup_rule: vec!["b 7 rwm".into()],
        };
        let e = apply(&f, &mut host).unwrap_err().to_string();
        assert!(e.ends_with("invalid device cgroup format 'b 7 rwm'"), "{e}");
    }
}
