//! A layer tar (plain, gzip or zstd) unpacked into a scratch directory: no panic, and nothing
//! created outside the layer's directory (the scratch's parent is walked afterwards).
#![no_main]

use berth::engine::images::unpack::{unpack_layer, Limits};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};

/// Every path under `dir`, without following symlinks.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let layer = scratch.path().join("layer");
    let beside = scratch.path().join("beside");
    std::fs::create_dir(&layer).expect("the layer directory");
    std::fs::create_dir(&beside).expect("a directory beside it");
    let limits = Limits {
        max_bytes: 64 << 20,
        max_entries: 10_000,
    };
    let _ = unpack_layer(data, &layer, &limits);
    let mut found = Vec::new();
    walk(scratch.path(), &mut found);
    for p in found {
        assert!(
            p == layer || p == beside || p.starts_with(&layer),
            "the unpack created {} outside the layer {}",
            p.display(),
            layer.display()
        );
    }
});
