//! The `filters` query parameter (JSON) and the times of `since`/`until`, as the listings and
//! the prunes read them, matched against a few labels.
#![no_main]

use berth::engine::filters;
use berth::engine::time;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = time::parse_timestamp(s);
    let _ = time::parse_until(s);
    let _ = time::unix_secs(s);
    let Ok(f) = filters::parse(Some(s)) else {
        return;
    };
    let _ = filters::validate(&f, &["label", "label!", "until", "dangling", "name", "id"]);
    let _ = filters::prune_until(&f);
    let labels: BTreeMap<String, String> =
        [("a".into(), "1".into()), ("com.x".into(), "".into())].into();
    let _ = filters::labels_pass(&f, &labels);
    let _ = filters::prune_labels_pass(&f, &labels);
    for values in f.values() {
        for v in values {
            let _ = filters::glob(v, "some-name_1.2");
            let _ = filters::glob("a*b?c", v);
        }
    }
});
