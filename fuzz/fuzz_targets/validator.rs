//! The full validator: frames in, verdicts out, over a ledger that already
//! holds a hood with members, an alert and votes, so deep paths are reachable.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stoop_core::ledger::Ledger;
use stoop_core::message::{Decision, Payload};
use stoop_core::testkit::HoodFixture;

const NOW: u64 = 1_800_000_000;

fn seed() -> &'static (HoodFixture, Vec<Vec<u8>>) {
    static SEED: OnceLock<(HoodFixture, Vec<Vec<u8>>)> = OnceLock::new();
    SEED.get_or_init(|| {
        let f = HoodFixture::new(3, 2).unwrap_or_else(|e| panic!("fixture: {e}"));
        let alert = Payload::Alert(f.alert(NOW, "Tree down")).seal(&f.founders[0]);
        let vote = f.vote(&f.founders[1], alert.id(), Decision::Hide, NOW + 1);
        let frames = vec![alert.to_bytes(), vote.to_bytes()];
        (f, frames)
    })
}

fuzz_target!(|data: &[u8]| {
    let (fixture, frames) = seed();
    let mut ledger = Ledger::new(fixture.charter.clone());
    for f in frames {
        ledger.ingest(f, NOW + 2);
    }
    // The input is one or more frames separated by a 0xFF 0x00 marker.
    for frame in data.split(|b| *b == 0xff).take(16) {
        let _ = ledger.ingest(frame, NOW + 3);
    }
});
