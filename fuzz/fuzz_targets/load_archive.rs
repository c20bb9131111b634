//! `docker load`: an archive (docker save's manifest.json or an OCI layout's index.json, their
//! configs and layers) loaded into an engine over a scratch root, then every image listed,
//! inspected and its history read, as `docker images` would.
#![no_main]

use berth::engine::filters::Filters;
use berth::engine::images::views;
use berth::engine::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let engine = Engine::at(scratch.path().join("root"), scratch.path().join("run"));
    if engine.load(data).is_err() {
        return;
    }
    let _ = engine.images_json(&Filters::new(), true, true);
    for img in engine.images().expect("the images just loaded") {
        let _ = views::summary(&img);
        let _ = views::inspect(&img);
        let _ = views::history(&img);
        let _ = engine.image(&img.id);
    }
});
