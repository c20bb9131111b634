//! /proc/self/mountinfo as the shim reads it: the input's first line is the path looked for,
//! the rest the table. The mount found holds the path.
#![no_main]

use berth_shim::host::mount_of;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (path, table) = s.split_once('\n').unwrap_or((s, ""));
    if let Some(m) = mount_of(table, Path::new(path)) {
        assert!(
            Path::new(path).starts_with(&m.mount_point),
            "{} does not hold {path:?}",
            m.mount_point.display()
        );
        let _ = (m.shared(), m.slave());
    }
});
