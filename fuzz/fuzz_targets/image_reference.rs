//! Image references as clients send them (`busybox`, `host:5000/a/b:tag@sha256:...`), lookups
//! (a reference or an id) and platforms. A reference that parses prints in full as one that
//! parses to the same reference.
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
        let full = r.full();
        let again = Reference::parse(&full)
            .unwrap_or_else(|e| panic!("{s:?} parsed, its print {full:?} did not: {e}"));
        assert_eq!(
            again.full(),
            full,
            "{s:?} printed as {full:?} reads as another"
        );
        // The familiar form may not read back, as dockerd's may not: docker.io/a.b/c prints
        // as a.b/c, another registry, and docker.io/a_b.c/d as a_b.c/d, no reference (moby's
        // FamiliarName). It is printed, not parsed again.
        let _ = r.familiar();
        let _ = r.with_default_tag().familiar();
    }
});
