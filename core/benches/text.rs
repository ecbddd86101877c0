//! The text policy's cost per alert (event, headline, description and
//! instruction, as the ledger checks them) against one bare ed25519
//! `verify_strict`, in one run so the ratio is meaningful on a noisy
//! machine. The ingest bench (node/benches/ingest.rs, P1) needs the whole
//! pipeline at ≥ 0.7 × bare verify, so the text checks must stay a small
//! fraction of one verify.
//!
//! Run: `cargo bench -p stoop-core --bench text -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use stoop_core::text::TextPolicy;

/// Ordinary alerts of the usual size: the checks run to the end on these
/// (a refused text stops at its first failing rule, which is cheaper).
const ALERTS: &[(&str, &str, &str, &str)] = &[
    (
        "Suspicious activity",
        "Someone trying car door handles on Willow Ln",
        "Person in a gray hoodie and black jeans was checking car doors on the 1500 block of Willow Ln around \
         2 a.m., then left on foot toward the park. Two cars were open; a bag and about $40 in coins were taken. \
         Police took a report at 3:15 and will patrol tonight.",
        "Lock your cars and bring valuables inside. For anything urgent call 911, otherwise the non-emergency line.",
    ),
    (
        "Road closure",
        "Water main repair on the 800 block of Elm Street until 3 p.m.",
        "Crews are replacing a 12 inch water main under Elm between 5th Ave and 7th Ave. Expect low pressure \
         and brown water for a few hours after service returns; run the cold tap for 2-3 minutes. The 2019 \
         repair on the same block took a day longer than planned.",
        "Use the Hwy 9 detour; bus 22 stops half a block south.",
    ),
    (
        "Lost pet",
        "Lost dog: golden retriever named Max, red collar",
        "Max slipped his leash near the community garden at 7:15 pm. He is 6 years old, friendly, about 70 lbs, \
         microchipped, and answers to his name. Last seen heading toward the 400 block of Maple Ave.",
        "If you see him, call the shelter; please do not chase him.",
    ),
];

fn text_checks(c: &mut Criterion) {
    let policy = TextPolicy { allow_links: false, max_cell_precision: stoop_core::area::MAX_PRECISION };
    let key = SigningKey::from_bytes(&[7; 32]);
    let verifying = key.verifying_key();
    // A signed frame of about an alert's size.
    let (_, _, description, _) = ALERTS[0];
    let message = description.as_bytes().to_vec();
    let signature = key.sign(&message);

    let mut group = c.benchmark_group("text");
    group.bench_function("checks_per_alert", |b| {
        let mut i = 0;
        b.iter(|| {
            let (event, headline, description, instruction) = ALERTS[i % ALERTS.len()];
            i += 1;
            let ok = policy.check_line("event", black_box(event), 64, true).is_ok()
                && policy.check_line("headline", black_box(headline), 140, true).is_ok()
                && policy.check("description", black_box(description), 4000, true).is_ok()
                && policy.check("instruction", black_box(instruction), 500, false).is_ok();
            assert!(ok, "benchmark alerts must pass");
        });
    });
    group.bench_function("bare_ed25519_verify", |b| {
        b.iter(|| verifying.verify_strict(black_box(&message), black_box(&signature)).is_ok());
    });
    group.finish();
}

criterion_group!(benches, text_checks);
criterion_main!(benches);
