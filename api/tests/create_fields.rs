//! No silent ignores in `POST /containers/create` (issue 17): every field of the API's
//! ContainerConfig, HostConfig (Resources included), EndpointSettings and Mount, as
//! `openapi.yaml` lists them (copied from Docker's 1.50 swagger), is in [`TABLE`] as honoured or
//! refused; each refused one gets a 400 naming it; the zeros real clients send pass; and the
//! settings this issue made honoured are checked from inside the container or its cgroups.

use crate::common::Berth;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What create does with a field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum T {
    /// Applied (tested in its area's module, or below).
    Honoured,
    /// Honoured for the values berth has; another (this one) gets a 400.
    Closed(&'static str),
    /// Refused with a 400 naming the field unless zero; the field is set to `value` below.
    Refused,
    /// The endpoint's state (inspect's output): refused when set, as Refused.
    State,
    /// The client's business (the docker CLI writes --cidfile itself), as for dockerd.
    Client,
}
use T::*;

/// Every field, by the schema of `openapi.yaml` it belongs to.
const TABLE: &[(&str, &str, T)] = &[
    ("CreateConfig", "Hostname", Honoured),
    ("CreateConfig", "Domainname", Honoured),
    ("CreateConfig", "User", Honoured),
    ("CreateConfig", "AttachStdin", Honoured),
    ("CreateConfig", "AttachStdout", Honoured),
    ("CreateConfig", "AttachStderr", Honoured),
    ("CreateConfig", "ExposedPorts", Honoured),
    ("CreateConfig", "Tty", Honoured),
    ("CreateConfig", "OpenStdin", Honoured),
    ("CreateConfig", "StdinOnce", Honoured),
    ("CreateConfig", "Env", Honoured),
    ("CreateConfig", "Cmd", Honoured),
    ("CreateConfig", "Healthcheck", Honoured),
    ("CreateConfig", "ArgsEscaped", Refused),
    ("CreateConfig", "Image", Honoured),
    ("CreateConfig", "Volumes", Honoured),
    ("CreateConfig", "WorkingDir", Honoured),
    ("CreateConfig", "Entrypoint", Honoured),
    ("CreateConfig", "NetworkDisabled", Refused),
    ("CreateConfig", "MacAddress", Honoured),
    ("CreateConfig", "OnBuild", Refused),
    ("CreateConfig", "Labels", Honoured),
    ("CreateConfig", "StopSignal", Honoured),
    ("CreateConfig", "StopTimeout", Honoured),
    ("CreateConfig", "Shell", Refused),
    ("CreateHostConfig", "CpuShares", Honoured),
    ("CreateHostConfig", "Memory", Honoured),
    ("CreateHostConfig", "CgroupParent", Honoured),
    ("CreateHostConfig", "BlkioWeight", Honoured),
    ("CreateHostConfig", "BlkioWeightDevice", Honoured),
    ("CreateHostConfig", "BlkioDeviceReadBps", Honoured),
    ("CreateHostConfig", "BlkioDeviceWriteBps", Honoured),
    ("CreateHostConfig", "BlkioDeviceReadIOps", Honoured),
    ("CreateHostConfig", "BlkioDeviceWriteIOps", Honoured),
    ("CreateHostConfig", "CpuPeriod", Honoured),
    ("CreateHostConfig", "CpuQuota", Honoured),
    ("CreateHostConfig", "CpuRealtimePeriod", Refused),
    ("CreateHostConfig", "CpuRealtimeRuntime", Refused),
    ("CreateHostConfig", "CpusetCpus", Honoured),
    ("CreateHostConfig", "CpusetMems", Honoured),
    ("CreateHostConfig", "Devices", Honoured),
    ("CreateHostConfig", "DeviceCgroupRules", Honoured),
    ("CreateHostConfig", "DeviceRequests", Refused),
    ("CreateHostConfig", "KernelMemoryTCP", Refused),
    ("CreateHostConfig", "MemoryReservation", Honoured),
    ("CreateHostConfig", "MemorySwap", Honoured),
    ("CreateHostConfig", "MemorySwappiness", Honoured),
    ("CreateHostConfig", "NanoCpus", Honoured),
    ("CreateHostConfig", "OomKillDisable", Honoured),
    ("CreateHostConfig", "Init", Honoured),
    ("CreateHostConfig", "PidsLimit", Honoured),
    ("CreateHostConfig", "Ulimits", Honoured),
    ("CreateHostConfig", "CpuCount", Refused),
    ("CreateHostConfig", "CpuPercent", Refused),
    ("CreateHostConfig", "IOMaximumIOps", Refused),
    ("CreateHostConfig", "IOMaximumBandwidth", Refused),
    ("CreateHostConfig", "Binds", Honoured),
    ("CreateHostConfig", "ContainerIDFile", Client),
    ("CreateHostConfig", "LogConfig", Honoured),
    ("CreateHostConfig", "NetworkMode", Honoured),
    ("CreateHostConfig", "PortBindings", Honoured),
    ("CreateHostConfig", "RestartPolicy", Honoured),
    ("CreateHostConfig", "AutoRemove", Honoured),
    ("CreateHostConfig", "VolumeDriver", Closed("flocker")),
    ("CreateHostConfig", "VolumesFrom", Honoured),
    ("CreateHostConfig", "Mounts", Honoured),
    ("CreateHostConfig", "ConsoleSize", Honoured),
    ("CreateHostConfig", "Annotations", Refused),
    ("CreateHostConfig", "CapAdd", Honoured),
    ("CreateHostConfig", "CapDrop", Honoured),
    ("CreateHostConfig", "CgroupnsMode", Closed("other")),
    ("CreateHostConfig", "Dns", Honoured),
    ("CreateHostConfig", "DnsOptions", Honoured),
    ("CreateHostConfig", "DnsSearch", Honoured),
    ("CreateHostConfig", "ExtraHosts", Honoured),
    ("CreateHostConfig", "GroupAdd", Honoured),
    ("CreateHostConfig", "IpcMode", Honoured),
    ("CreateHostConfig", "Cgroup", Refused),
    ("CreateHostConfig", "Links", Honoured),
    ("CreateHostConfig", "OomScoreAdj", Honoured),
    ("CreateHostConfig", "PidMode", Honoured),
    ("CreateHostConfig", "Privileged", Honoured),
    ("CreateHostConfig", "PublishAllPorts", Honoured),
    ("CreateHostConfig", "ReadonlyRootfs", Honoured),
    ("CreateHostConfig", "SecurityOpt", Honoured),
    ("CreateHostConfig", "StorageOpt", Refused),
    ("CreateHostConfig", "Tmpfs", Honoured),
    ("CreateHostConfig", "UTSMode", Honoured),
    ("CreateHostConfig", "UsernsMode", Closed("remap")),
    ("CreateHostConfig", "ShmSize", Honoured),
    ("CreateHostConfig", "Sysctls", Honoured),
    ("CreateHostConfig", "Runtime", Closed("kata")),
    ("CreateHostConfig", "Isolation", Closed("hyperv")),
    ("CreateHostConfig", "MaskedPaths", Honoured),
    ("CreateHostConfig", "ReadonlyPaths", Honoured),
    ("CreateEndpointSettings", "IPAMConfig", Honoured),
    ("CreateEndpointSettings", "Links", Honoured),
    ("CreateEndpointSettings", "MacAddress", Honoured),
    ("CreateEndpointSettings", "Aliases", Honoured),
    ("CreateEndpointSettings", "DriverOpts", Honoured),
    ("CreateEndpointSettings", "GwPriority", Refused),
    ("CreateEndpointSettings", "NetworkID", State),
    ("CreateEndpointSettings", "EndpointID", State),
    ("CreateEndpointSettings", "Gateway", State),
    ("CreateEndpointSettings", "IPAddress", State),
    ("CreateEndpointSettings", "IPPrefixLen", State),
    ("CreateEndpointSettings", "IPv6Gateway", State),
    ("CreateEndpointSettings", "GlobalIPv6Address", State),
    ("CreateEndpointSettings", "GlobalIPv6PrefixLen", State),
    ("CreateEndpointSettings", "DNSNames", State),
    ("CreateEndpointIPAMConfig", "IPv4Address", Honoured),
    ("CreateEndpointIPAMConfig", "IPv6Address", Honoured),
    ("CreateEndpointIPAMConfig", "LinkLocalIPs", Honoured),
    ("CreateMount", "Target", Honoured),
    ("CreateMount", "Source", Honoured),
    ("CreateMount", "Type", Closed("image")),
    ("CreateMount", "ReadOnly", Honoured),
    // Docker Desktop's hint; Linux mounts are always fully consistent, which satisfies each.
    ("CreateMount", "Consistency", Honoured),
    ("CreateMount", "BindOptions", Honoured),
    ("CreateMount", "VolumeOptions", Honoured),
    ("CreateMount", "ImageOptions", Refused),
    ("CreateMount", "TmpfsOptions", Honoured),
    ("CreateMountBindOptions", "Propagation", Honoured),
    ("CreateMountBindOptions", "NonRecursive", Honoured),
    ("CreateMountBindOptions", "CreateMountpoint", Honoured),
    ("CreateMountBindOptions", "ReadOnlyNonRecursive", Honoured),
    ("CreateMountBindOptions", "ReadOnlyForceRecursive", Honoured),
    ("CreateMountBindOptions", "IDMap", Honoured),
    ("CreateMountVolumeOptions", "NoCopy", Honoured),
    ("CreateMountVolumeOptions", "Labels", Honoured),
    ("CreateMountVolumeOptions", "DriverConfig", Honoured),
    ("CreateMountVolumeOptions", "Subpath", Honoured),
    ("CreateMountDriverConfig", "Name", Closed("flocker")),
    ("CreateMountDriverConfig", "Options", Honoured),
    ("CreateMountTmpfsOptions", "SizeBytes", Honoured),
    ("CreateMountTmpfsOptions", "Mode", Honoured),
    ("CreateMountTmpfsOptions", "Options", Closed("uid")),
    ("CreateMountImageOptions", "Subpath", Refused),
];

/// The schemas' fields in openapi.yaml.
fn openapi_fields() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    let schemas = &doc["components"]["schemas"];
    let mut out = BTreeSet::new();
    for schema in TABLE.iter().map(|(s, _, _)| *s).collect::<BTreeSet<_>>() {
        let props = schemas[schema]["properties"]
            .as_mapping()
            .unwrap_or_else(|| panic!("openapi.yaml has no properties for schema {schema}"));
        for (k, _) in props {
            out.insert((schema.to_string(), k.as_str().unwrap().to_string()));
        }
    }
    out
}

#[test]
fn every_create_field_is_honoured_or_refused() {
    let documented = openapi_fields();
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(s, f, _)| (s.to_string(), f.to_string()))
        .collect();
    assert_eq!(table.len(), TABLE.len(), "a field is twice in the table");
    let missing: Vec<_> = documented.difference(&table).collect();
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "expected the table to match openapi.yaml's create schemas; not in the table: {missing:?}; not in openapi.yaml: {stale:?}"
    );
}

/// A create body with `field` of `schema` set to a value berth refuses (`bad` for Closed).
fn body_with(schema: &str, field: &str, t: T) -> Value {
    let value = match (field, t) {
        (_, Closed(bad)) => json!(bad),
        ("ArgsEscaped" | "NetworkDisabled", _) => json!(true),
        ("OnBuild" | "Shell" | "Links" | "DNSNames", _) => json!(["x"]),
        ("DeviceRequests", _) => json!([{"Driver": "nvidia", "Count": -1}]),
        ("Annotations" | "StorageOpt", _) => json!({"size": "10G"}),
        ("IPAMConfig", _) => json!({"IPv6Address": "2001:db8::3"}),
        ("IPv6Address" | "GlobalIPv6Address" | "IPv6Gateway", _) => json!("2001:db8::3"),
        ("Gateway" | "IPAddress", _) => json!("10.0.0.7"),
        ("NetworkID" | "EndpointID", _) => json!("abc"),
        ("Cgroup", _) => json!("container:x"),
        ("Subpath", _) => json!("sub"),
        _ => json!(7),
    };
    let mut b = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {}});
    match schema {
        "CreateConfig" => b[field] = value,
        "CreateHostConfig" => b["HostConfig"][field] = value,
        "CreateEndpointSettings" => {
            b["NetworkingConfig"] = json!({"EndpointsConfig": {"bridge": {field: value}}})
        }
        "CreateEndpointIPAMConfig" => {
            b["NetworkingConfig"] =
                json!({"EndpointsConfig": {"bridge": {"IPAMConfig": {field: value}}}})
        }
        "CreateMount" if field == "Type" => {
            b["HostConfig"]["Mounts"] =
                json!([{"Type": value, "Source": "busybox", "Target": "/m"}])
        }
        "CreateMount" => {
            b["HostConfig"]["Mounts"] = json!([{"Type": "image", "Source": "busybox", "Target": "/m", field: {"Subpath": "x"}}])
        }
        "CreateMountImageOptions" => {
            b["HostConfig"]["Mounts"] = json!([{"Type": "image", "Source": "busybox", "Target": "/m", "ImageOptions": {field: value}}])
        }
        "CreateMountDriverConfig" => {
            b["HostConfig"]["Mounts"] = json!([{"Type": "volume", "Target": "/m",
                "VolumeOptions": {"DriverConfig": {field: value}}}])
        }
        "CreateMountTmpfsOptions" => {
            b["HostConfig"]["Mounts"] = json!([{"Type": "tmpfs", "Target": "/m",
                "TmpfsOptions": {field: [[value]]}}])
        }
        other => panic!("no body for {other}.{field}"),
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_field_gets_a_400_naming_it() {
    let b = Berth::with_busybox().await;
    for &(schema, field, t) in TABLE {
        if !matches!(t, Refused | State | Closed(_)) {
            continue;
        }
        let body = body_with(schema, field, t);
        let r = b.post_json("/containers/create", &body).await;
        let msg = if r.status.is_client_error() {
            r.json()["message"].as_str().unwrap_or_default().to_string()
        } else {
            String::new()
        };
        let named = match t {
            // dockerd's own words for the closed sets, which name the value (an unknown
            // volume driver is dockerd's 404 "plugin not found").
            Closed(bad) => msg.contains(bad) && r.status != StatusCode::INTERNAL_SERVER_ERROR,
            _ => msg.contains(field) && msg.contains("berth does not support"),
        };
        let status_ok = match t {
            Closed(_) => r.status.is_client_error(),
            _ => r.status == StatusCode::BAD_REQUEST,
        };
        assert!(
            status_ok && named,
            "{schema}.{field} = {body}: expected a 400 naming it, got {} {}",
            r.status,
            r.text()
        );
    }
    let r = b.get("/containers/json?all=1").await;
    assert_eq!(r.json(), json!([]), "a refused create left a container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zeros_clients_send_are_not_settings() {
    let b = Berth::with_busybox().await;
    // docker CLI 28 (`docker run --rm busybox true`) plus fields an older client sends at zero.
    let mut body: Value = serde_json::from_str(CLI_BODY).unwrap();
    for (k, v) in [
        ("KernelMemory", json!(0)),
        ("KernelMemoryTCP", json!(0)),
        ("Annotations", json!({})),
        ("StorageOpt", json!(null)),
        ("Sysctls", json!({})),
        ("Runtime", json!("")),
        ("MemorySwappiness", json!(null)),
    ] {
        body["HostConfig"][k] = v;
    }
    body["HostConfig"]["AutoRemove"] = json!(false);
    body["NetworkingConfig"] = json!({"EndpointsConfig": {"default": {
        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
        "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": null}}});
    let (code, out) = b.output(&body).await;
    assert_eq!(code, 0, "expected the CLI's body to run, got {code}: {out}");
    let id = b.create(None, &run_sh("true", json!({}))).await;
    let h = &b.inspect(&id).await["HostConfig"];
    assert_eq!(h["Runtime"], "runc", "inspect's runtime: {h}");
}

/// What the docker CLI 28 sends for `docker run --rm busybox true`.
const CLI_BODY: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,
"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,
"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,
"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"",
"LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},
"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"",
"VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"",
"Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"",
"Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,
"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"",
"UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,
"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],
"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,
"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",
"Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],
"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,
"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#;

fn run_sh(cmd: &str, host: Value) -> Value {
    json!({"Image": "busybox", "Cmd": ["sh", "-c", cmd], "HostConfig": host})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_score_adj_runtime_masks_and_log_files() {
    let b = Berth::with_busybox().await;
    let (code, out) = b
        .output(&run_sh(
            "cat /proc/self/oom_score_adj",
            json!({"OomScoreAdj": 500}),
        ))
        .await;
    assert_eq!(
        (code, out.trim()),
        (0, "500"),
        "expected OomScoreAdj 500 inside"
    );
    b.post_json(
        "/containers/create",
        &run_sh("true", json!({"OomScoreAdj": -1001})),
    )
    .await
    .assert_error(
        400,
        "Invalid value -1001, range for oom score adj is [-1000, 1000]",
        "OomScoreAdj",
    );
    // Lowering a process's OOM score takes CAP_SYS_RESOURCE. Where the host's bounding set
    // holds it, a negative score is set; where it does not (this CI machine), the create is
    // refused, rather than accepted and failing at every start.
    let can_lower = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap() & (1 << 24) != 0)
        .unwrap();
    let negative = run_sh("cat /proc/self/oom_score_adj", json!({"OomScoreAdj": -300}));
    if can_lower {
        let (code, out) = b.output(&negative).await;
        assert_eq!(
            (code, out.trim()),
            (0, "-300"),
            "expected OomScoreAdj -300 inside"
        );
    } else {
        b.post_json("/containers/create", &negative)
            .await
            .assert_error(
                400,
                "OomScoreAdj -300: a negative OOM score needs CAP_SYS_RESOURCE, which is not in this host's capability bounding set",
                "a negative OomScoreAdj without CAP_SYS_RESOURCE",
            );
    }
    let (code, out) = b
        .output(&run_sh(
            "wc -c < /proc/cpuinfo",
            json!({"MaskedPaths": ["/proc/cpuinfo"]}),
        ))
        .await;
    assert_eq!(
        (code, out.trim()),
        (0, "0"),
        "expected /proc/cpuinfo masked"
    );
    let id = b
        .create(None, &run_sh("true", json!({"Runtime": "runc"})))
        .await;
    assert_eq!(b.inspect(&id).await["HostConfig"]["Runtime"], "runc");
    b.post_json(
        "/containers/create",
        &run_sh("true", json!({"Runtime": "kata"})),
    )
    .await
    .assert_error(400, "unknown or invalid runtime name: kata", "Runtime");
    // dockerd accepts max-file without max-size (it has nothing to rotate then).
    let (code, _) = b
        .output(&run_sh(
            "echo hi",
            json!({"LogConfig": {"Type": "json-file", "Config": {"max-file": "3"}}}),
        ))
        .await;
    assert_eq!(code, 0, "expected max-file alone to be accepted");
}

/// The container's cgroup directory in the v1 `controller` hierarchy, from its first process.
fn v1_cgroup_of(pid: i64, controller: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctls.split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("{controller} not in /proc/{pid}/cgroup: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroup_parent_swappiness_and_weight_devices() {
    let b = Berth::with_busybox().await;
    let parent = format!("berth-test-cgparent-{}", std::process::id());
    let host = json!({"CgroupParent": format!("/{parent}"), "MemorySwappiness": 13});
    let id = b.run(None, &run_sh("sleep 30", host)).await;
    let pid = b.inspect(&id).await["State"]["Pid"].as_i64().unwrap();
    let path = v1_cgroup_of(pid, "memory");
    assert_eq!(
        path,
        format!("/{parent}/{id}"),
        "expected the container under the parent"
    );
    let swappiness =
        std::fs::read_to_string(format!("/sys/fs/cgroup/memory{path}/memory.swappiness")).unwrap();
    assert_eq!(swappiness.trim(), "13", "expected memory.swappiness 13");
    let r = b
        .call("DELETE", &format!("/containers/{id}?force=1"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "rm: {}", r.text());
    for root in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dir = root.path().join(&parent);
        if dir.exists() {
            std::fs::remove_dir(&dir).unwrap_or_else(|e| panic!("removing {dir:?}: {e}"));
        }
    }
    b.post_json(
        "/containers/create",
        &run_sh("true", json!({"CgroupParent": "a/../.."})),
    )
    .await
    .assert_error(
        400,
        "invalid CgroupParent \"a/../..\": a cgroup parent may not contain . or ..",
        "CgroupParent ..",
    );
    b.post_json(
        "/containers/create",
        &run_sh("true", json!({"MemorySwappiness": 101})),
    )
    .await
    .assert_error(
        400,
        "Invalid value: 101, valid memory swappiness range is 0-100",
        "swappiness",
    );
    let dev = json!({"BlkioWeightDevice": [{"Path": "/dev/vda", "Weight": 300}]});
    let r = b
        .post_json("/containers/create", &run_sh("true", dev))
        .await;
    let cfq = ["blkio.weight_device", "blkio.bfq.weight_device"]
        .iter()
        .any(|f| {
            std::path::Path::new("/sys/fs/cgroup/blkio")
                .join(f)
                .exists()
        });
    if cfq {
        assert_eq!(r.status, StatusCode::CREATED, "weight device: {}", r.text());
    } else {
        assert!(
            r.status == StatusCode::BAD_REQUEST && r.text().contains("BlkioWeightDevice"),
            "expected a 400 naming BlkioWeightDevice without CFQ/BFQ, got {} {}",
            r.status,
            r.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_subpath_and_tmpfs_exec() {
    let b = Berth::with_busybox().await;
    let prep = json!({"Image": "busybox", "Cmd": ["sh", "-c",
        "mkdir /v/sub && echo inside > /v/sub/f && echo top > /v/top && ln -s /etc /v/abs && ln -s ../.. /v/up && ln -s sub /v/rel"],
        "HostConfig": {"Binds": ["subvol:/v"]}});
    let (code, out) = b.output(&prep).await;
    assert_eq!(code, 0, "preparing the volume: {out}");
    let mount = |sub: &str| {
        json!([{"Type": "volume", "Source": "subvol", "Target": "/m",
                "VolumeOptions": {"Subpath": sub}}])
    };
    for sub in ["sub", "rel"] {
        let (code, out) = b
            .output(&run_sh("ls /m; cat /m/f", json!({"Mounts": mount(sub)})))
            .await;
        assert_eq!(
            (code, out.as_str()),
            (0, "f\ninside\n"),
            "subpath {sub}: expected sub's content alone"
        );
    }
    let r = b
        .post_json(
            "/containers/create",
            &run_sh("true", json!({"Mounts": mount("../x")})),
        )
        .await;
    assert!(
        r.status == StatusCode::BAD_REQUEST && r.text().contains("subpath must be a relative path"),
        "expected .. refused, got {} {}",
        r.status,
        r.text()
    );
    for escape in ["abs", "up", "missing"] {
        let id = b
            .create(None, &run_sh("true", json!({"Mounts": mount(escape)})))
            .await;
        let r = b.post(&format!("/containers/{id}/start")).await;
        assert!(
            r.status.is_server_error() && r.text().contains("subpath"),
            "subpath {escape}: expected the start refused, got {} {}",
            r.status,
            r.text()
        );
    }
    let tmpfs = |opts: Value| json!({"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": opts}}]});
    let cmd = "grep ' /t ' /proc/self/mountinfo | cut -d' ' -f6";
    for (opts, want) in [
        (json!([["exec"]]), false),
        (json!(null), true),
        (json!([["noexec"]]), true),
    ] {
        let (code, out) = b.output(&run_sh(cmd, tmpfs(opts.clone()))).await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            out.contains("noexec"),
            want,
            "TmpfsOptions.Options {opts}: expected noexec {want}, mount options {out}"
        );
    }
    let r = b
        .post_json(
            "/containers/create",
            &run_sh("true", tmpfs(json!([["uid", "1000"]]))),
        )
        .await;
    assert!(
        r.status == StatusCode::BAD_REQUEST && r.text().contains("invalid option: uid"),
        "expected uid refused, got {} {}",
        r.status,
        r.text()
    );
}
