//! Image references as clients send them (`busybox`, `host:5000/a/b:tag@sha256:...`), lookups
//! (a reference or an id) and platforms. A reference that parses prints as one that parses to
//! the same reference.
#![no_main]

use berth::engine::images::platform::Platform;
use berth::engine::images::reference::{self, Lookup, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Lookup::parse(s);
    let _ = reference::parse_id(s);
    let _ = Platform::parse(s);
    if let Ok(r) = Reference::parse(s) {
        let _ = (r.name(), r.familiar_name(), r.key());
        for printed in [r.full(), r.familiar()] {
            let again = Reference::parse(&printed)
                .unwrap_or_else(|e| panic!("{s:?} parsed, its print {printed:?} did not: {e}"));
            assert_eq!(
                again.full(),
                r.full(),
                "{s:?} printed as {printed:?} reads as another reference"
            );
        }
        let _ = r.with_default_tag().familiar();
    }
});
