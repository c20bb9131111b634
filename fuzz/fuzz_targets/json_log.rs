//! json-file logs as the API reads them back: a live file and a rotated one holding the input,
//! read whole, read by a cursor, and every entry filtered by time and rendered with timestamps
//! and details.
#![no_main]

use berth::engine::containers::logs::{LogCursor, LogOptions};
use berth_shim::logs;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let live = scratch.path().join("c-json.log");
    std::fs::write(&live, data).expect("the live log");
    std::fs::write(logs::rotated_path(&live, 1, false), data).expect("a rotated log");
    let opts = LogOptions {
        stdout: true,
        stderr: true,
        timestamps: true,
        details: true,
        tail: Some(3),
        since: Some(UNIX_EPOCH + Duration::from_secs(1)),
        until: Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000)),
    };
    let mut entries = logs::read_all(&live, 2).unwrap_or_default();
    entries.extend(LogCursor::at_start(live.clone()).read_new());
    for line in data.split(|b| *b == b'\n') {
        entries.extend(logs::parse_line(line));
    }
    for e in &entries {
        let _ = logs::fixed_width_time(&e.time);
        if opts.wants(e) {
            let _ = opts.render(e);
        }
    }
});
