//! The device controller of a real `berth serve` (issue 16, item 1): a default container may
//! make device nodes but not open them, so a host block device (a loop device over a scratch
//! file) cannot be written from it, nor from an exec in it; `Devices`, `DeviceCgroupRules` and
//! `Privileged` open what they name, as under dockerd. Needs root, `losetup`, and
//! `cargo build --workspace` first.

use crate::common;

use common::{frames, Berth};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop device over a 4 MiB scratch file of the test's own, detached on drop.
struct Loop {
    _dir: tempfile::TempDir,
    file: PathBuf,
    dev: PathBuf,
    minor: u64,
}

impl Loop {
    fn new() -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk");
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(4 << 20))
            .unwrap_or_else(|e| panic!("making {}: {e}", file.display()));
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .expect("running losetup");
        assert!(
            out.status.success(),
            "losetup -f --show {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let meta = std::fs::metadata(&dev).unwrap();
        assert!(
            meta.file_type().is_block_device(),
            "{} is not a block device",
            dev.display()
        );
        assert_eq!(nix::sys::stat::major(meta.rdev()), 7, "{}", dev.display());
        let minor = nix::sys::stat::minor(meta.rdev());
        Loop {
            _dir: dir,
            file,
            dev,
            minor,
        }
    }

    /// Does the scratch file hold `mark`?
    fn holds(&self, mark: &str) -> bool {
        let data = std::fs::read(&self.file).unwrap();
        data.windows(mark.len()).any(|w| w == mark.as_bytes())
    }

    /// The issue's command: make a node for the loop device and write `mark` through it.
    fn mknod_and_write(&self, mark: &str) -> String {
        format!(
            "mknod /tmp/l b 7 {} && echo {mark} | dd of=/tmp/l conv=notrunc,fsync",
            self.minor
        )
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        match Command::new("losetup").arg("-d").arg(&self.dev).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("cleanup: losetup -d {}: {other:?}", self.dev.display()),
        }
    }
}

/// Runs a container of `config` to its end; its exit code and its stdout and stderr.
async fn run_to_end(b: &Berth, config: &Value) -> (i64, String) {
    let id = b.run(None, config).await;
    let code = b.wait(&id).await;
    let r = b
        .get(&format!("/containers/{id}/logs?stdout=1&stderr=1"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "logs: {}", r.text());
    let out: Vec<u8> = frames(&r.body).into_iter().flat_map(|(_, p)| p).collect();
    (code, String::from_utf8_lossy(&out).into_owned())
}

fn sh(script: &str) -> Value {
    json!({"Image": "busybox", "Cmd": ["sh", "-c", script]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_container_cannot_write_a_host_block_device() {
    let disk = Loop::new();
    let b = Berth::with_busybox().await;
    let (code, out) = run_to_end(&b, &sh(&disk.mknod_and_write("MARK"))).await;
    assert!(
        !disk.holds("MARK"),
        "a default container wrote the host's {} (exit {code}, output {out:?})",
        disk.dev.display()
    );
    assert_ne!(code, 0, "the write should fail; output {out:?}");
    assert!(
        out.contains("Operation not permitted"),
        "expected the open to fail with EPERM (mknod itself allowed), got exit {code}: {out:?}"
    );
    // The default nodes still work.
    let (code, out) = run_to_end(
        &b,
        &sh(
            "head -c 4 /dev/urandom >/dev/null && echo x >/dev/null && head -c 1 /dev/zero | wc -c",
        ),
    )
    .await;
    assert_eq!((code, out.trim()), (0, "1"), "the default devices: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_cannot_write_a_host_block_device() {
    let disk = Loop::new();
    let b = Berth::with_busybox().await;
    let id = b
        .run(None, &json!({"Image": "busybox", "Cmd": ["sleep", "300"]}))
        .await;
    let script = disk.mknod_and_write("EXECMARK");
    let r = b
        .post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": ["sh", "-c", script], "AttachStdout": true, "AttachStderr": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let r = b
        .post_json(&format!("/exec/{exec_id}/start"), &json!({"Detach": false}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let out: Vec<u8> = frames(&r.body).into_iter().flat_map(|(_, p)| p).collect();
    let out = String::from_utf8_lossy(&out);
    let v = b.get(&format!("/exec/{exec_id}/json")).await.json();
    assert!(
        !disk.holds("EXECMARK"),
        "an exec wrote the host's {} ({v}, output {out:?})",
        disk.dev.display()
    );
    assert_ne!(v["ExitCode"], 0, "the exec's write should fail: {out:?}");
    assert!(
        out.contains("Operation not permitted"),
        "expected EPERM from the exec, got {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_rules_and_privileged_open_the_device() {
    let disk = Loop::new();
    let b = Berth::with_busybox().await;
    let host = disk.dev.to_str().unwrap();

    // --device /dev/loopN:/dev/xvdc (permissions default to rwm).
    let mut config = sh("echo DEVMARK | dd of=/dev/xvdc conv=notrunc,fsync && ls -l /dev/xvdc");
    config["HostConfig"] = json!({"Devices": [
        {"PathOnHost": host, "PathInContainer": "/dev/xvdc", "CgroupPermissions": "rwm"}
    ]});
    let (code, out) = run_to_end(&b, &config).await;
    assert_eq!(code, 0, "--device: {out:?}");
    assert!(
        disk.holds("DEVMARK"),
        "--device did not reach the file: {out:?}"
    );
    assert!(
        out.contains(&format!("7, {:>3}", disk.minor))
            || out.contains(&format!("7, {}", disk.minor)),
        "the node is the host's block device 7:{}: {out:?}",
        disk.minor
    );

    // --device with read-only permissions: reads work, writes are refused.
    let mut config =
        sh("head -c 512 /dev/xvdc | wc -c; echo ROMARK | dd of=/dev/xvdc conv=notrunc,fsync");
    config["HostConfig"] = json!({"Devices": [
        {"PathOnHost": host, "PathInContainer": "/dev/xvdc", "CgroupPermissions": "r"}
    ]});
    let (code, out) = run_to_end(&b, &config).await;
    assert!(
        !disk.holds("ROMARK"),
        "a read-only device was written: {out:?}"
    );
    assert_ne!(code, 0, "the write should fail: {out:?}");
    assert!(
        out.starts_with("512") && out.contains("Operation not permitted"),
        "expected 512 bytes read, then EPERM: {out:?}"
    );

    // --device-cgroup-rule 'b 7:* rwm'.
    let mut config = sh(&disk.mknod_and_write("RULEMARK"));
    config["HostConfig"] = json!({"DeviceCgroupRules": ["b 7:* rwm"]});
    let (code, out) = run_to_end(&b, &config).await;
    assert_eq!(code, 0, "--device-cgroup-rule: {out:?}");
    assert!(
        disk.holds("RULEMARK"),
        "the rule did not open the device: {out:?}"
    );

    // --privileged.
    let mut config = sh(&disk.mknod_and_write("PRIVMARK"));
    config["HostConfig"] = json!({"Privileged": true});
    let (code, out) = run_to_end(&b, &config).await;
    assert_eq!(code, 0, "--privileged: {out:?}");
    assert!(
        disk.holds("PRIVMARK"),
        "--privileged could not write: {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_shows_the_devices_and_rules_applied() {
    let disk = Loop::new();
    let b = Berth::with_busybox().await;
    let host = disk.dev.to_str().unwrap();
    let mut config = sh("true");
    config["HostConfig"] = json!({
        "Devices": [{"PathOnHost": host, "PathInContainer": "/dev/xvdc", "CgroupPermissions": ""}],
        "DeviceCgroupRules": ["c 42:* rmw"],
    });
    let id = b.create(None, &config).await;
    let v = b.inspect(&id).await;
    assert_eq!(
        v["HostConfig"]["Devices"],
        json!([{"PathOnHost": host, "PathInContainer": "/dev/xvdc", "CgroupPermissions": "rwm"}]),
        "{}",
        v["HostConfig"]
    );
    assert_eq!(
        v["HostConfig"]["DeviceCgroupRules"],
        json!(["c 42:* rmw"]),
        "{}",
        v["HostConfig"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_devices_and_rules_are_refused_with_dockerds_words() {
    let b = Berth::with_busybox().await;
    for (host_config, message) in [
        (
            json!({"DeviceCgroupRules": ["b 7:*"]}),
            "invalid device cgroup rule format: 'b 7:*'",
        ),
        (
            json!({"DeviceCgroupRules": ["x 1:2 rwm"]}),
            "invalid device cgroup rule format: 'x 1:2 rwm'",
        ),
        (
            json!({"Devices": [{"PathOnHost": "/dev/berth-no-such-device", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]}),
            "error gathering device information while adding custom device \"/dev/berth-no-such-device\": no such file or directory",
        ),
        (
            json!({"Devices": [{"PathOnHost": "/etc/hostname", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]}),
            "error gathering device information while adding custom device \"/etc/hostname\": not a device node",
        ),
        (
            json!({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "rwx"}]}),
            "bad mode specified: rwx",
        ),
        (
            json!({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "dev/x", "CgroupPermissions": "rwm"}]}),
            "dev/x is not an absolute path",
        ),
    ] {
        let mut config = sh("true");
        config["HostConfig"] = host_config.clone();
        let r = b.post_json("/containers/create", &config).await;
        r.assert_error(400, message, &host_config.to_string());
    }
    assert!(
        Path::new("/dev/null").exists(),
        "the host's /dev/null is still there"
    );
}
