//! HostConfig's `Devices` (`--device`) and `DeviceCgroupRules` (`--device-cgroup-rule`) as the
//! shim's spec, checked at create with dockerd's and the docker CLI's words (dockerd finds them
//! wrong only at start; berth refuses them at once with a 400). The shim finds the nodes again
//! at each start, as dockerd does.

use crate::engine::wire::{DeviceMappingJson, HostConfig};
use crate::engine::{EngineError, Result};
use berth_shim::devices::DeviceMapping;

pub use berth_shim::devices::{DeviceAccess, DeviceRule};

/// A mapping completed as the docker CLI completes it: permissions "rwm" when none are given,
/// the host path inside the container when no other is.
pub fn completed(m: &DeviceMappingJson) -> DeviceMappingJson {
    DeviceMappingJson {
        path_on_host: m.path_on_host.clone(),
        path_in_container: if m.path_in_container.is_empty() {
            m.path_on_host.clone()
        } else {
            m.path_in_container.clone()
        },
        cgroup_permissions: if m.cgroup_permissions.is_empty() {
            "rwm".to_string()
        } else {
            m.cgroup_permissions.clone()
        },
    }
}

/// The spec's devices and extra rules; each device must name a device node (or a directory
/// holding some) on the host now.
pub fn translate(h: &HostConfig) -> Result<(Vec<DeviceMapping>, Vec<DeviceRule>)> {
    let mut devices = Vec::new();
    for m in h.devices.iter().flatten().map(completed) {
        let mapping = DeviceMapping {
            access: DeviceAccess::parse_mode(&m.cgroup_permissions)?,
            host_path: m.path_on_host,
            container_path: m.path_in_container,
        };
        mapping.resolve()?;
        devices.push(mapping);
    }
    let rules = h
        .device_cgroup_rules
        .iter()
        .flatten()
        .map(|r| DeviceRule::parse(r).map_err(EngineError::from))
        .collect::<Result<Vec<_>>>()?;
    Ok((devices, rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ErrorKind;

    fn host_config(json: &str) -> HostConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn devices_and_rules_translate() {
        let h = host_config(
            r#"{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"","CgroupPermissions":""}],
                "DeviceCgroupRules":["c 1:3 r"]}"#,
        );
        let (devices, rules) = translate(&h).unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].container_path, "/dev/null");
        assert_eq!(devices[0].access, DeviceAccess::ALL);
        assert_eq!(rules[0].v1_line(), "c 1:3 r");
    }

    #[test]
    fn bad_ones_are_refused_with_dockerds_words() {
        for (json, message) in [
            (
                r#"{"DeviceCgroupRules":["c 1:3"]}"#,
                "invalid device cgroup rule format: 'c 1:3'",
            ),
            (
                r#"{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/n","CgroupPermissions":"rx"}]}"#,
                "bad mode specified: rx",
            ),
            (
                r#"{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"n","CgroupPermissions":"r"}]}"#,
                "n is not an absolute path",
            ),
        ] {
            match translate(&host_config(json)) {
                Err(e) if e.is(ErrorKind::InvalidParameter) => {
                    assert_eq!(e.message(), message, "{json}")
                }
                other => panic!("{json}: expected a 400 ({message}), got {other:?}"),
            }
        }
    }
}
