//! `berth volume ...` and `berth rm -v`, run as the real binary with no API process, and a
//! volume made on either side seen by the other through `berth serve` and the docker CLI.
//! Needs root and `cargo build --workspace` first, so that `berth-shim` sits next to `berth`.

use crate::cli_support;

use cli_support::{Root, Server};
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn volume_commands_with_no_server() {
    let r = Root::new();
    let out = r
        .berth(&[
            "volume",
            "create",
            "--label",
            "team=a",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "--opt",
            "o=size=1m",
            "scratch",
        ])
        .expect(0, "volume create");
    assert_eq!(out.stdout, "scratch\n");
    let named = r
        .berth(&["volume", "create", "-d", "local"])
        .expect(0, "volume create (no name)")
        .stdout
        .trim()
        .to_string();
    assert!(
        named.len() == 64 && named.bytes().all(|b| b.is_ascii_hexdigit()),
        "a volume without a name gets 64 hex digits: {named:?}"
    );

    let table = r.berth(&["volume", "ls"]).expect(0, "volume ls").stdout;
    assert_eq!(
        table,
        format!("DRIVER    VOLUME NAME\nlocal     {named}\nlocal     scratch\n")
    );
    let quiet = r
        .berth(&["volume", "ls", "-q", "--filter", "label=team=a"])
        .expect(0, "volume ls -q --filter");
    assert_eq!(quiet.stdout, "scratch\n");
    let json: Vec<Value> = r
        .berth(&["volume", "ls", "--format", "json", "-f", "name=scr"])
        .expect(0, "volume ls --format json")
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 1, "{json:?}");
    assert_eq!(json[0]["Name"], "scratch");
    assert_eq!(json[0]["Driver"], "local");
    assert_eq!(json[0]["Labels"], "team=a");
    assert_eq!(json[0]["Scope"], "local");
    let fields = r
        .berth(&[
            "volume",
            "ls",
            "--format",
            "name,driver",
            "-f",
            "dangling=true",
        ])
        .expect(0, "volume ls --format fields");
    assert!(
        fields.stdout.contains("scratch\tlocal\n"),
        "{}",
        fields.stdout
    );
    r.berth(&["volume", "ls", "--filter", "colour=red"])
        .expect(125, "an unknown filter");

    let inspect = r
        .berth(&["volume", "inspect", "scratch"])
        .expect(0, "volume inspect");
    let v: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v[0]["Options"]["o"], "size=1m", "{v}");
    assert_eq!(v[0]["Labels"]["team"], "a", "{v}");
    let mountpoint = r
        .berth(&["volume", "inspect", "--format", "mountpoint", "scratch"])
        .expect(0, "volume inspect --format");
    assert_eq!(
        mountpoint.stdout.trim(),
        r.tmp
            .path()
            .join("root/volumes/scratch/_data")
            .display()
            .to_string()
    );
    for args in [
        &["inspect", "scratch"][..],
        &["inspect", "--type", "volume", "scratch"][..],
    ] {
        let out = r.berth(args).expect(0, "berth inspect of a volume");
        let got: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(got, v, "berth {args:?}");
    }
    let missing = r
        .berth(&["volume", "inspect", "nope"])
        .expect(125, "inspect of a missing volume");
    assert_eq!(missing.stderr, "berth: get nope: no such volume\n");

    let bad = r
        .berth(&["volume", "create", "-d", "nfs", "remote"])
        .expect(125, "an unknown driver");
    assert_eq!(
        bad.stderr,
        "berth: error looking up volume plugin nfs: plugin \"nfs\" not found\n"
    );
    r.berth(&["volume", "create", "-o", "colour=red", "odd"])
        .expect(125, "an unknown option");
    r.berth(&["volume", "create", "--name", "a1", "b1"])
        .expect(125, "two names");
    assert!(
        !r.volumes()
            .iter()
            .any(|v| ["remote", "odd", "a1", "b1"].contains(&v.as_str())),
        "a refused create left a volume: {:?}",
        r.volumes()
    );

    // In use: refused, forced or not; removable once the container is gone.
    let id = r
        .berth(&["create", "-v", "data:/d", "busybox", "true"])
        .expect(0, "create with a named volume")
        .stdout
        .trim()
        .to_string();
    for args in [
        &["volume", "rm", "data"][..],
        &["volume", "rm", "-f", "data"][..],
    ] {
        let out = r.berth(args).expect(125, "rm of a volume in use");
        assert_eq!(
            out.stderr,
            format!("berth: remove data: volume is in use - [{id}]\n")
        );
    }
    r.berth(&["rm", &id]).expect(0, "berth rm");
    let out = r.berth(&["volume", "rm", "data", "scratch", named.as_str()]);
    assert_eq!(
        out.expect(0, "volume rm").stdout,
        format!("data\nscratch\n{named}\n")
    );
    r.berth(&["volume", "rm", "-f", "nope"])
        .expect(0, "a forced rm of a missing volume");
    r.berth(&["volume", "rm", "nope"])
        .expect(125, "rm of a missing volume");
    assert_eq!(r.volumes(), Vec::<String>::new());
}

#[test]
fn rm_v_and_prune_remove_anonymous_volumes() {
    let r = Root::new();
    let anon_of = |id: &str| -> String {
        let out = r.berth(&["inspect", id]).expect(0, "berth inspect");
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v[0]["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["Destination"] == "/anon")
            .and_then(|m| m["Name"].as_str())
            .unwrap_or_else(|| panic!("no anonymous volume: {v}"))
            .to_string()
    };
    let id = r
        .berth(&["create", "-v", "/anon", "busybox", "true"])
        .expect(0, "create -v /anon")
        .stdout
        .trim()
        .to_string();
    let anon = anon_of(&id);
    r.berth(&["rm", "-v", &id]).expect(0, "berth rm -v");
    assert!(
        !r.volumes().contains(&anon),
        "rm -v left the anonymous volume {anon}"
    );

    // Without -v it stays, for prune; a named volume stays unless --all.
    let id = r
        .berth(&[
            "run",
            "-v",
            "/anon",
            "-v",
            "kept:/kept",
            "busybox",
            "sh",
            "-c",
            "echo 12345 > /anon/f",
        ])
        .expect(0, "run -v /anon")
        .stdout;
    assert_eq!(id, "");
    let ids = r
        .berth(&["list", "-aq", "--no-trunc"])
        .expect(0, "list")
        .stdout;
    let id = ids.trim().to_string();
    let anon = anon_of(&id);
    r.berth(&["rm", &id]).expect(0, "berth rm");
    assert!(r.volumes().contains(&anon), "rm without -v removed {anon}");

    let declined = r
        .berth_in(&["volume", "prune"], b"n\n")
        .expect(0, "prune declined");
    assert!(
        declined
            .stderr
            .contains("Are you sure you want to continue? [y/N]"),
        "{}",
        declined.stderr
    );
    assert!(
        r.volumes().contains(&anon),
        "a declined prune removed {anon}"
    );
    let out = r.berth(&["volume", "prune", "-f"]).expect(0, "prune -f");
    assert_eq!(
        out.stdout,
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 6B\n")
    );
    assert_eq!(r.volumes(), vec!["kept".to_string()]);
    let out = r
        .berth_in(&["volume", "prune", "--all"], b"y\n")
        .expect(0, "prune --all");
    assert_eq!(
        out.stdout,
        "Deleted Volumes:\nkept\n\nTotal reclaimed space: 0B\n"
    );
    assert_eq!(r.volumes(), Vec::<String>::new());
}

#[test]
fn volumes_are_one_world_for_the_cli_and_the_docker_cli() {
    let r = Root::new();
    let server = Server::start(&r);
    let docker = |args: &[&str]| server.docker(args);
    r.berth(&["volume", "create", "--label", "made=cli", "mine"])
        .expect(0, "berth volume create");
    let ls =
        docker(&["volume", "ls", "-q", "--filter", "label=made=cli"]).expect(0, "docker volume ls");
    assert_eq!(ls.stdout, "mine\n");
    docker(&["volume", "create", "theirs"]).expect(0, "docker volume create");
    let mut names = r.volumes();
    names.sort();
    assert_eq!(names, ["mine", "theirs"]);
    r.berth(&["volume", "rm", "theirs"])
        .expect(0, "berth volume rm");
    let gone = docker(&["volume", "inspect", "theirs"]);
    assert!(
        gone.code != 0 && gone.stderr.contains("no such volume"),
        "docker still sees a volume berth removed: {}",
        gone.stderr
    );
    docker(&["volume", "rm", "mine"]).expect(0, "docker volume rm");
    assert_eq!(r.volumes(), Vec::<String>::new());
}

#[test]
fn help_and_completion_name_the_volume_commands() {
    let r = Root::new();
    let help = r.berth(&["--help"]).expect(0, "berth --help").stdout;
    assert!(help.contains("volume"), "{help}");
    let help = r
        .berth(&["volume", "--help"])
        .expect(0, "volume --help")
        .stdout;
    for cmd in ["create", "ls", "inspect", "rm", "prune"] {
        assert!(help.contains(cmd), "volume --help lacks {cmd}: {help}");
    }
    let help = r
        .berth(&["volume", "create", "--help"])
        .expect(0, "volume create --help")
        .stdout;
    for flag in ["-d, --driver", "-o, --opt", "--label"] {
        assert!(
            help.contains(flag),
            "volume create --help lacks {flag}: {help}"
        );
    }
    let help = r.berth(&["run", "--help"]).expect(0, "run --help").stdout;
    for flag in [
        "--mount",
        "--tmpfs",
        "--volumes-from",
        "--ipc",
        "--shm-size",
        "--pid",
        "--uts",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}: {help}");
    }
    let help = r.berth(&["rm", "--help"]).expect(0, "rm --help").stdout;
    assert!(help.contains("-v, --volumes"), "{help}");
    let bash = r
        .berth(&["completion", "bash"])
        .expect(0, "completion bash")
        .stdout;
    assert!(
        bash.contains("berth__subcmd__volume,prune)"),
        "the bash completion lacks volume prune"
    );
}

#[test]
fn run_with_mounts_and_shared_namespaces() {
    let r = Root::new();
    let out = r
        .berth(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=mv,dst=/m",
            "--tmpfs",
            "/t:size=1m",
            "--shm-size",
            "2m",
            "busybox",
            "sh",
            "-c",
            "echo through > /m/f && df -k /t /dev/shm | tail -2 | awk '{print $2}'",
        ])
        .expect(0, "run --mount --tmpfs --shm-size");
    assert_eq!(out.stdout, "1024\n2048\n", "tmpfs and /dev/shm sizes");
    let out = r
        .berth(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=mv,dst=/m,readonly",
            "busybox",
            "sh",
            "-c",
            "cat /m/f; touch /m/x 2>/dev/null && echo WRITABLE; true",
        ])
        .expect(0, "run --mount readonly");
    assert_eq!(out.stdout, "through\n");

    r.berth(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "-v",
        "/shared",
        "busybox",
        "sh",
        "-c",
        "echo s > /dev/shm/f && echo v > /shared/v && sleep 1000",
    ])
    .expect(0, "run -d --ipc shareable");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = r.berth(&["exec", "donor", "test", "-f", "/shared/v"]);
        if out.code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the donor never wrote its files");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Attached (the shim is spawned for the attach before the start).
    let out = r
        .berth(&[
            "run",
            "--rm",
            "--ipc",
            "container:donor",
            "--pid",
            "container:donor",
            "--volumes-from",
            "donor:ro",
            "--uts",
            "host",
            "busybox",
            "sh",
            "-c",
            "cat /dev/shm/f /shared/v; ps -o args | grep -c '^sleep 1000'; hostname",
        ])
        .expect(
            0,
            "run --ipc container: --pid container: --volumes-from --uts host",
        );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(out.stdout, format!("s\nv\n1\n{}", host));
    let bad = r
        .berth(&[
            "run",
            "--rm",
            "--mount",
            "type=bind,src=/tmp",
            "busybox",
            "true",
        ])
        .expect(125, "a --mount without a target");
    assert!(bad.stderr.contains("target is required"), "{}", bad.stderr);
    r.berth(&["rm", "-f", "-v", "donor"]).expect(0, "rm -f -v");
    let left: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m.starts_with(&r.tmp.path().display().to_string()))
        .collect();
    assert!(left.is_empty(), "still mounted: {left:?}");
    assert_eq!(r.volumes(), vec!["mv".to_string()]);
}
