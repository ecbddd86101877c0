//! P1 (BENCHMARKS.md): the ingest pipeline (decode + verify + quota +
//! moderation + sled insert) against bare `verify_strict` over the same
//! alerts, in one run so the ratio is meaningful on a noisy machine.
//!
//! Run: `cargo bench -p stoop-node --bench ingest`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use stoop_core::envelope::{Envelope, signed_message};
use stoop_core::ledger::Ledger;
use stoop_core::message::Payload;
use stoop_core::testkit::HoodFixture;
use stoop_node::replica::Replica;
use stoop_node::store::{DEFAULT_CACHE_BYTES, Store, StoreConfig};

const ALERTS: usize = 1000;
const AUTHORS: usize = 32;
const T0: u64 = 1_800_000_000;

struct Corpus {
    fixture: HoodFixture,
    frames: Vec<Vec<u8>>,
    bare: Vec<(VerifyingKey, Vec<u8>, Signature)>,
}

fn corpus() -> Corpus {
    // Many authors and roomy quotas: the quota check runs on every alert but
    // never refuses one, so both sides do the same number of verifications.
    let fixture = HoodFixture::with_rules(AUTHORS, |c| {
        c.quorum = 2;
        c.quotas.per_hour = 1000;
        c.quotas.per_day = 1000;
    })
    .unwrap_or_else(|e| panic!("fixture: {e}"));
    let mut frames = Vec::with_capacity(ALERTS);
    let mut bare = Vec::with_capacity(ALERTS);
    for i in 0..ALERTS {
        let key = &fixture.founders[i % AUTHORS];
        let mut alert = fixture.alert(T0 + (i / AUTHORS) as u64, &format!("Alert number {i}"));
        alert.description = format!(
            "Alert {i}: a downed tree is blocking the sidewalk on Elm Street near the school; \
             the city has been called and crews are expected within the hour."
        );
        let env = Payload::Alert(alert).seal(key);
        let vk = env.signer().verifying_key().unwrap_or_else(|e| panic!("key: {e}"));
        let mut signed = env.kind().tag().bytes().to_vec();
        signed.extend_from_slice(&signed_message(&env.signer(), env.payload()));
        bare.push((vk, signed, Signature::from_bytes(env.signature())));
        frames.push(env.to_bytes());
    }
    Corpus { fixture, frames, bare }
}

fn ingest(c: &mut Criterion) {
    let corpus = corpus();
    let now = T0 + 3600;
    let mut g = c.benchmark_group("p1_ingest");
    g.throughput(Throughput::Elements(ALERTS as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));

    g.bench_function("bare_verify_strict", |b| {
        b.iter(|| {
            for (vk, msg, sig) in &corpus.bare {
                black_box(vk.verify_strict(msg, sig)).unwrap_or_else(|e| panic!("verify: {e}"));
            }
        })
    });

    g.bench_function("ledger_only", |b| {
        b.iter_batched(
            || Ledger::new(corpus.fixture.charter.clone()),
            |mut ledger| {
                for f in &corpus.frames {
                    black_box(ledger.ingest(f, now));
                }
                ledger
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("pipeline_with_sled", |b| {
        b.iter_batched(
            || {
                let store =
                    Store::open(&StoreConfig::temporary(DEFAULT_CACHE_BYTES)).unwrap_or_else(|e| panic!("store: {e}"));
                Replica::create(store, corpus.fixture.charter.clone()).unwrap_or_else(|e| panic!("replica: {e}")).0
            },
            |mut replica| {
                for f in &corpus.frames {
                    let out = replica.ingest(f, now);
                    debug_assert!(out.verdict == stoop_core::verdict::Verdict::Accept);
                }
                replica
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("pipeline_with_sled_batched_64", |b| {
        b.iter_batched(
            || {
                let store =
                    Store::open(&StoreConfig::temporary(DEFAULT_CACHE_BYTES)).unwrap_or_else(|e| panic!("store: {e}"));
                Replica::create(store, corpus.fixture.charter.clone()).unwrap_or_else(|e| panic!("replica: {e}")).0
            },
            |mut replica| {
                for chunk in corpus.frames.chunks(64) {
                    black_box(replica.ingest_batch(chunk, now));
                }
                replica
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Sanity: every frame is accepted, so the pipeline does real work.
    let mut ledger = Ledger::new(corpus.fixture.charter.clone());
    let accepted = corpus.frames.iter().filter(|f| ledger.ingest(f, now).verdict.kind() == "accept").count();
    assert_eq!(accepted, ALERTS, "bench corpus must be fully accepted");
    let _ = Envelope::open(&corpus.frames[0]).unwrap_or_else(|e| panic!("open: {e}"));
}

criterion_group!(benches, ingest);
criterion_main!(benches);
