//! The container boundary at the API's door (issue 16): references that would walk out of the
//! root, names that are not names, `docker update` keys that update may not change, newlines
//! bound for /etc/hosts, and security options berth cannot honour. Needs root and `cargo build
//! --workspace` first.

use crate::common;

use common::{encode, Berth, ServeOptions};
use serde_json::json;

/// The user namespace the server gives containers that do not choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    /// `--userns-remap auto` (issue 23): a user namespace and a range of each container's own.
    Private,
}

/// Runs each case once per mode: `boundary::host::<case>` and `boundary::userns::<case>`.
macro_rules! in_both_modes {
    ($($case:ident),* $(,)?) => {
        mod host {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $case() { super::$case(super::Mode::Host).await })*
        }
        mod userns {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $case() { super::$case(super::Mode::Private).await })*
        }
    };
}

in_both_modes!(
    a_reference_that_walks_out_of_the_root_is_no_container,
    names_that_are_not_names_are_refused_with_dockerds_texts,
    update_changes_only_what_dockerd_lets_it,
    newlines_bound_for_etc_hosts_are_refused,
    sysctls_of_the_containers_namespaces_are_honoured_and_others_refused,
    security_options_and_namespace_modes_berth_cannot_honour_are_refused,
);

fn options(mode: Mode) -> ServeOptions {
    let env = match mode {
        Mode::Host => vec![],
        Mode::Private => vec![("BERTH_USERNS_REMAP".into(), "auto".into())],
    };
    ServeOptions {
        env,
        ..Default::default()
    }
}

/// A server in `mode`, with busybox imported.
async fn with_busybox(mode: Mode) -> Berth {
    Berth::with_busybox_and(options(mode)).await
}

/// A 64-character reference that, joined to `<root>/containers/`, names `<tmp>/victim`: the
/// harness's root is `<tmp>/root`.
fn walking_reference() -> String {
    let head = "../../";
    let tail = "victim";
    let r = format!("{head}{}{tail}", "/".repeat(64 - head.len() - tail.len()));
    assert_eq!(r.len(), 64, "the reference must look like an id: {r}");
    r
}

async fn a_reference_that_walks_out_of_the_root_is_no_container(mode: Mode) {
    let b = Berth::start_with(options(mode));
    let tmp = b
        .root()
        .parent()
        .expect("the root has a parent")
        .to_path_buf();
    let victim = tmp.join("victim");
    // What a container directory holds, so that nothing but the reference stands in the way.
    std::fs::create_dir_all(victim.join("upper")).unwrap();
    std::fs::write(victim.join("keep"), "mine").unwrap();
    std::fs::write(
        victim.join("state.json"),
        r#"{"version":1,"id":"x","status":"exited","pid":0,"exit_code":0}"#,
    )
    .unwrap();
    let reference = walking_reference();
    // A new root has no containers directory until the first create: make it, as one would.
    std::fs::create_dir_all(b.root().join("containers")).unwrap();
    assert_eq!(
        b.root()
            .join("containers")
            .join(&reference)
            .canonicalize()
            .ok(),
        victim.canonicalize().ok(),
        "the reference must name the victim from the containers directory"
    );
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&victim)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let before = listing();
    let shown = encode(&reference);
    for (method, path) in [
        ("DELETE", format!("/containers/{shown}")),
        ("DELETE", format!("/containers/{shown}?force=1")),
        ("GET", format!("/containers/{shown}/json")),
        ("POST", format!("/containers/{shown}/start")),
        ("POST", format!("/containers/{shown}/stop")),
        ("POST", format!("/containers/{shown}/rename?name=taken")),
    ] {
        let r = b.call(method, &path, "").await;
        assert_eq!(
            listing(),
            before,
            "{method} {path} ({} {}) changed the directory outside the root ({})",
            r.status,
            r.text(),
            victim.display()
        );
        r.assert_error(
            404,
            &format!("No such container: {reference}"),
            &format!("{method} {path}"),
        );
        assert_eq!(
            std::fs::read_to_string(victim.join("keep")).ok().as_deref(),
            Some("mine"),
            "{method} {path} touched the directory outside the root ({})",
            victim.display()
        );
    }
}

async fn names_that_are_not_names_are_refused_with_dockerds_texts(mode: Mode) {
    let b = with_busybox(mode).await;
    let config = json!({"Image": "busybox", "Cmd": ["true"]});
    for name in ["../x", "a/b", "..", "x\ny"] {
        let r = b
            .post_json(
                &format!("/containers/create?name={}", encode(name)),
                &config,
            )
            .await;
        r.assert_error(
            400,
            &format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
            &format!("create named {name:?}"),
        );
    }
    let id = b.create(Some("door"), &config).await;
    let r = b
        .post(&format!("/containers/{id}/rename?name={}", encode("../up")))
        .await;
    r.assert_error(
        400,
        "Invalid container name (../up), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        "rename to ../up",
    );
    for name in ["../v", "a/b", ".."] {
        let r = b.post_json("/volumes/create", &json!({"Name": name})).await;
        r.assert_error(
            400,
            &format!("create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"),
            &format!("volume create {name:?}"),
        );
        let r = b
            .call("DELETE", &format!("/volumes/{}", encode(name)), "")
            .await;
        r.assert_error(404, &format!("get {name}: no such volume"), "volume rm");
    }
    for name in ["../n", "a/b"] {
        let r = b
            .post_json("/networks/create", &json!({"Name": name}))
            .await;
        r.assert_error(
            400,
            &format!("invalid network name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
            &format!("network create {name:?}"),
        );
    }
    let r = b.get(&format!("/exec/{}/json", encode("../../x"))).await;
    r.assert_error(404, "No such exec instance: ../../x", "exec inspect");
    assert!(
        !b.root().join("names").join("..").join("x").exists(),
        "no name file was written outside the names directory"
    );
}

/// The first line of a container's stdout, after it exits.
async fn first_line(b: &Berth, id: &str) -> String {
    let code = b.wait(id).await;
    let r = b.get(&format!("/containers/{id}/logs?stdout=1")).await;
    let out = common::stream_text(&common::frames(&r.body), 1);
    assert_eq!(code, 0, "container {id} exited {code}: {out}");
    out.lines().next().unwrap_or_default().to_string()
}

async fn update_changes_only_what_dockerd_lets_it(mode: Mode) {
    let b = with_busybox(mode).await;
    // PID 1 of the container's own namespace is its shell; in the host's it is the host's init.
    let config = json!({"Image": "busybox", "Cmd": ["cat", "/proc/1/comm"]});
    let id = b.create(None, &config).await;
    let sent = json!({"PidMode": "host", "NetworkMode": "host", "Privileged": true,
                      "Memory": 64 << 20});
    let r = b
        .post_json(&format!("/containers/{id}/update"), &sent)
        .await;
    assert_eq!(r.status.as_u16(), 200, "update {sent}: {}", r.text());
    let hc = &b.inspect(&id).await["HostConfig"];
    assert_eq!(
        (
            hc["PidMode"].as_str(),
            hc["NetworkMode"].as_str(),
            hc["Privileged"].as_bool(),
            hc["Memory"].as_i64()
        ),
        (Some(""), Some("bridge"), Some(false), Some(64 << 20)),
        "after update {sent}, inspect's HostConfig: {hc}"
    );
    let r = b.post(&format!("/containers/{id}/start")).await;
    assert_eq!(r.status.as_u16(), 204, "start: {}", r.text());
    assert_eq!(
        first_line(&b, &id).await,
        "cat",
        "a start after update {sent} must keep the container's own PID namespace"
    );
    let r = b
        .post_json(
            &format!("/containers/{id}/update"),
            &json!({"KernelMemory": 1 << 30}),
        )
        .await;
    r.assert_error(
        400,
        "KernelMemory cannot be updated: berth does not support it",
        "update KernelMemory",
    );
}

/// The entries of `<root>/containers` (what a create leaves behind).
fn containers(b: &Berth) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(b.root().join("containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn newlines_bound_for_etc_hosts_are_refused(mode: Mode) {
    let b = with_busybox(mode).await;
    let net = b
        .post_json("/networks/create", &json!({"Name": "doornet"}))
        .await;
    assert_eq!(net.status.as_u16(), 201, "network create: {}", net.text());
    let before = containers(&b);
    let cases = [
        (
            json!({"Image": "busybox", "Cmd": ["true"], "Hostname": "web\n6.6.6.6 evil"}),
            "invalid hostname format: web\n6.6.6.6 evil",
        ),
        (
            json!({"Image": "busybox", "Cmd": ["true"], "Domainname": "x\ny"}),
            "invalid hostname format: x\ny",
        ),
        (
            json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"ExtraHosts": ["db:10.0.0.1\n6.6.6.6 evil"]}}),
            "invalid IP address in add-host: \"10.0.0.1\\n6.6.6.6 evil\"",
        ),
        (
            json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"ExtraHosts": ["a\nb:10.0.0.1"]}}),
            "bad format for add-host: \"a\\nb:10.0.0.1\"",
        ),
        (
            json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "doornet"},
                   "NetworkingConfig": {"EndpointsConfig": {"doornet": {"Aliases": ["db\n6.6.6.6 evil"]}}}}),
            "invalid alias \"db\\n6.6.6.6 evil\": an alias is one word",
        ),
    ];
    for (config, text) in cases {
        let r = b.post_json("/containers/create", &config).await;
        r.assert_error(400, text, &format!("create {config}"));
        assert_eq!(containers(&b), before, "create {config} left a container");
    }
    let id = b
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "doornet"}}),
        )
        .await;
    let r = b
        .post_json("/networks/doornet/disconnect", &json!({"Container": id}))
        .await;
    assert_eq!(r.status.as_u16(), 200, "disconnect: {}", r.text());
    let r = b
        .post_json(
            "/networks/doornet/connect",
            &json!({"Container": id, "EndpointConfig": {"Aliases": ["a b"]}}),
        )
        .await;
    r.assert_error(
        400,
        "invalid alias \"a b\": an alias is one word",
        "connect with alias",
    );
}

async fn sysctls_of_the_containers_namespaces_are_honoured_and_others_refused(mode: Mode) {
    let b = with_busybox(mode).await;
    let config = json!({"Image": "busybox",
        "Cmd": ["cat", "/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
        "HostConfig": {"Sysctls": {"kernel.shmmax": "1048576",
                                   "net.ipv4.ip_unprivileged_port_start": "80"}}});
    let id = b.run(None, &config).await;
    let code = b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    let out = common::stream_text(&common::frames(&r.body), 1)
        + &common::stream_text(&common::frames(&r.body), 2);
    assert_eq!(
        (code, out.as_str()),
        (0, "1048576\n80\n"),
        "the container read back its sysctls"
    );
    let refusals = [
        (json!({"vm.swappiness": "10"}), "", "sysctl \"vm.swappiness\" is not in a separate kernel namespace"),
        (json!({"kernel.hostname": "x"}), "", "sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field"),
        (json!({"net.ipv4.ip_forward": "1"}), "host", "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"),
        (json!({"kernel.shmmax": "1"}), "ipc-host", "sysctl \"kernel.shmmax\" is not allowed in the hosts ipc namespace"),
        (json!({"net.ipv4.conf.all/../../x": "1"}), "", "invalid sysctl key \"net.ipv4.conf.all/../../x\""),
    ];
    for (sysctls, ns, text) in refusals {
        let mut hc = json!({"Sysctls": sysctls});
        match ns {
            "host" => hc["NetworkMode"] = json!("host"),
            "ipc-host" => hc["IpcMode"] = json!("host"),
            _ => {}
        }
        // A private container may not share the host's namespaces at all (api/tests/userns.rs):
        // these cases opt out, so that the sysctl itself is what is refused.
        if mode == Mode::Private && !ns.is_empty() {
            hc["UsernsMode"] = json!("host");
        }
        let config = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": hc});
        let r = b.post_json("/containers/create", &config).await;
        r.assert_error(400, text, &format!("create {config}"));
    }
}

async fn security_options_and_namespace_modes_berth_cannot_honour_are_refused(mode: Mode) {
    let b = with_busybox(mode).await;
    for (hc, text) in [
        (json!({"SecurityOpt": ["label=disable"]}), "invalid --security-opt \"label=disable\": SELinux is not enabled on this host (berth does not apply SELinux labels)"),
        (json!({"SecurityOpt": ["label=type:x"]}), "invalid --security-opt \"label=type:x\": SELinux is not enabled on this host (berth does not apply SELinux labels)"),
        // "private" is honoured now (api/tests/userns.rs); any other mode is refused.
        (json!({"UsernsMode": "keep-id"}), "invalid USER mode: keep-id: berth's modes are \"host\" and \"private\""),
        (json!({"CgroupnsMode": "shared"}), "invalid cgroup namespace mode: shared"),
    ] {
        let config = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": hc});
        let r = b.post_json("/containers/create", &config).await;
        r.assert_error(400, text, &format!("create {config}"));
    }
    // Accepted: apparmor=unconfined (AppArmor is off here), UsernsMode host, and the host's
    // cgroup namespace, in which the container sees its cgroup's full path.
    let config = json!({"Image": "busybox", "Cmd": ["cat", "/proc/self/cgroup"],
        "HostConfig": {"SecurityOpt": ["apparmor=unconfined"], "UsernsMode": "host",
                       "CgroupnsMode": "host"}});
    let id = b.run(None, &config).await;
    let code = b.wait(&id).await;
    let r = b.get(&format!("/containers/{id}/logs?stdout=1")).await;
    let out = common::stream_text(&common::frames(&r.body), 1);
    assert_eq!(code, 0, "{config}: {out}");
    assert!(
        out.lines().any(|l| l.contains(&id)),
        "with CgroupnsMode host the container sees its own cgroup's path (with its id {id}): {out}"
    );
}
