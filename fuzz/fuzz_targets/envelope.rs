//! Envelope decoder: bytes in, Ok or a named rejection out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stoop_core::envelope::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode_unverified(data) {
        // Whatever decodes must re-encode to the same bytes (canonical rule).
        assert_eq!(env.to_bytes(), data);
        let _ = env.verify();
    }
});
