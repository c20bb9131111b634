//! The Dockerfile parser (`docker build`'s text, with its directives, continuations, heredocs
//! and escapes) and the .dockerignore reader.
#![no_main]

use berth::engine::build::dockerfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = dockerfile::parse(s);
    let _ = dockerfile::parse_instruction(s);
    let ignore = dockerfile::ignore::Ignore::parse(s);
    for path in ["a", "a/b/c", ".git", "Dockerfile", s] {
        let _ = ignore.excludes(path);
    }
});
