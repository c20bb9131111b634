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
