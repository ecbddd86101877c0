//! Every payload decoder, through an envelope of each kind signed with a
//! fixed key: bytes in, a domain type or a named rejection out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stoop_core::envelope::{Envelope, Kind};
use stoop_core::message::Payload;
use stoop_core::testkit::seeded_key;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else { return };
    let kind = Kind::ALL[usize::from(selector) % Kind::ALL.len()];
    let env = Envelope::seal(kind, payload.to_vec(), &seeded_key("fuzz"));
    if let Ok(p) = Payload::decode(&env) {
        // A decoded payload re-encodes to exactly the signed bytes.
        assert_eq!(p.encode(), payload);
    }
});
