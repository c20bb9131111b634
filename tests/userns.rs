//! Containers in a user namespace of their own, on idmapped image layers (issue 23).

use berth_shim::spec::{ContainerSpec, IdMap, UserNamespace};
use berth_tests::TestEnv;
use std::os::unix::fs::MetadataExt;

const BASE: u32 = 100_000;

fn private(spec: &mut ContainerSpec, base: u32) {
    let map = IdMap {
        container_id: 0,
        host_id: base,
        size: 65_536,
    };
    spec.namespaces.user = Some(UserNamespace {
        uid_map: vec![map],
        gid_map: vec![map],
    });
}

#[test]
fn image_files_owned_by_root_are_roots_inside_and_copied_up_as_the_range() {
    let env = TestEnv::new();
    // The layer's files belong to the host's root, as an unpacked image's do.
    let layer_file = env.layer.join("bin/busybox");
    assert_eq!(std::fs::metadata(&layer_file).unwrap().uid(), 0);
    let mut spec = env.spec(&[
        "sh",
        "-c",
        "stat -c '%u:%g' /bin/busybox /etc; echo more >> /etc/passwd && echo appended; \
         touch /bin/new && echo created",
    ]);
    private(&mut spec, BASE);
    let (code, out) = env.run_to_end(&spec);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["0:0", "0:0", "appended", "created"],
        "expected the image's root files to be root's inside and writable by the container's \
         root (exit {code}), got:\n{out}"
    );
    // On the host, what the container wrote belongs to its range, and the layer is untouched.
    let upper = env.container(&spec.id).upper();
    for f in ["etc/passwd", "bin/new"] {
        let m = std::fs::metadata(upper.join(f)).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (BASE, BASE),
            "expected {f} in the upper dir to be owned by the range's first id"
        );
    }
    let m = std::fs::metadata(&layer_file).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "the layer itself was chowned: no layer may be changed"
    );
    let passwd = std::fs::read_to_string(env.layer.join("etc/passwd")).unwrap_or_default();
    assert!(!passwd.contains("more"), "the layer was written through");
}

/// Unmounts its mount point when dropped (the test's overlay on the host).
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH) {
            eprintln!("unmounting {}: {e}", self.0.display());
        }
    }
}

#[test]
fn a_layer_on_a_filesystem_that_cannot_be_idmapped_is_named_with_its_type() {
    let env = TestEnv::new();
    // overlayfs supports idmapped layers under it, but cannot itself be idmapped: a layer that
    // is an overlay mount stands for any such filesystem.
    let (upper, work, merged) = (
        env.tmp.path().join("o-upper"),
        env.tmp.path().join("o-work"),
        env.tmp.path().join("o-merged"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).unwrap();
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        env.layer.display(),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .expect("mounting the test's overlay");
    let _unmount = Unmount(merged.clone());
    let mut spec = env.spec(&["true"]);
    spec.rootfs.layers = vec![merged.clone()];
    private(&mut spec, BASE);
    let err = match env.start(&spec) {
        Ok(started) => panic!("expected the start to fail on the overlay layer, got {started:?}"),
        Err(e) => e.to_string(),
    };
    let want = format!(
        "the filesystem of layer {} (overlay) cannot be idmapped into the container's user namespace",
        merged.display()
    );
    assert!(
        err.contains(&want),
        "expected {want:?} in the error, got {err:?}"
    );
}

#[test]
fn a_private_containers_cgroup_is_delegated_to_its_root() {
    let env = TestEnv::new();
    // Inside, each hierarchy's root is the container's own group (its cgroup namespace).
    let mut spec = env.spec(&[
        "sh",
        "-c",
        "cd /sys/fs/cgroup; stat -c '%n %u:%g' unified unified/cgroup.procs \
         unified/cgroup.subtree_control memory memory/tasks memory/memory.limit_in_bytes; \
         grep -x 1 unified/cgroup.procs",
    ]);
    private(&mut spec, BASE);
    let (code, out) = env.run_to_end(&spec);
    assert_eq!(
        (code, out.lines().collect::<Vec<_>>()),
        (
            0,
            vec![
                "unified 0:0",
                "unified/cgroup.procs 0:0",
                "unified/cgroup.subtree_control 0:0",
                "memory 0:0",
                "memory/tasks 0:0",
                // The limits stay the host root's: nobody inside.
                "memory/memory.limit_in_bytes 65534:65534",
                // Its PID 1, listed in its own group's cgroup.procs.
                "1",
            ]
        ),
        "expected the container's groups and their process files owned by its root, its \
         limits not, and its processes listed in its own cgroup.procs"
    );
}
