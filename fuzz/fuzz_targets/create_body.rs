//! `POST /containers/create`'s body: decoded as the HTTP face decodes it, then checked and
//! merged with an image's config as far as create goes without a host
//! (`translate_offline`: no files, no devices, no networks).
#![no_main]

use berth::engine::containers::create::translate_offline;
use berth::engine::images::ImageConfig;
use berth::engine::wire::CreateBody;
use libfuzzer_sys::fuzz_target;

const IMAGE: &str = r#"{"Cmd": ["sh"], "Env": ["PATH=/bin"], "ExposedPorts": {"80/tcp": {}},
    "Volumes": {"/data": {}}, "Labels": {"x": "y"},
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<CreateBody>(data) else {
        return;
    };
    let image: ImageConfig = serde_json::from_str(IMAGE).expect("the image config");
    let _ = translate_offline(&body, &image);
    let _ = translate_offline(&body, &ImageConfig::default());
});
