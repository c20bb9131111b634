//! The shim's control protocol: request and response lines, the attach hello, and the
//! multiplexed frames of an attach stream. A message that decodes encodes to the same message.
#![no_main]

use berth_shim::control::{self, AttachHello, Request, Response};
use libfuzzer_sys::fuzz_target;

fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(m) = serde_json::from_slice::<T>(data) {
        let line = serde_json::to_vec(&m).expect("a decoded message encodes");
        let again: T = serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("{m:?} encoded as {line:?} does not decode: {e}"));
        assert_eq!(again, m, "{m:?} changed through its encoding");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => round_trip::<Request>(rest),
        1 => round_trip::<Response>(rest),
        2 => round_trip::<AttachHello>(rest),
        _ => {
            let whole: usize = control::frames(rest).map(|(_, p)| p.len()).sum();
            assert!(whole <= rest.len(), "frames gave more bytes than there are");
            let mut r = std::io::Cursor::new(rest);
            let mut payload = Vec::new();
            while control::read_frame(&mut r, &mut payload).is_some() {
                assert!(
                    payload.len() <= rest.len(),
                    "a frame longer than its stream"
                );
            }
        }
    }
});
