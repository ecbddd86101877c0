//! CPU cost of one set-reconciliation session between two in-memory sets
//! of 100,000 items (both sides' work, encoding included): in sync, and
//! differing by 100 spread over the order.
//!
//! Run: `cargo bench -p stoop-core --bench reconcile`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use stoop_core::ids::{HoodId, MessageId};
use stoop_core::reconcile::{
    Item, ItemSet, MemSet, ReconcileError, ReconcileRequest, ReconcileResponse, Reconciler, SessionId,
};

const N: u64 = 100_000;

fn item(n: u64) -> Item {
    Item::new(1_700_000_000 + n / 10, MessageId::from_bytes(Sha256::digest(n.to_le_bytes()).into()))
}

/// `N` items, `d` of them spread over the order and split between the sides.
fn pair(d: u64) -> (MemSet, MemSet) {
    let stride = N / d.max(1);
    let side = |i: u64| if d > 0 && i.is_multiple_of(stride) && i / stride < d { 1 + (i / stride) % 2 } else { 0 };
    (MemSet::new((0..N).filter(|&i| side(i) != 2).map(item)), MemSet::new((0..N).filter(|&i| side(i) != 1).map(item)))
}

/// One full session through the wire encoding; returns the ids learned.
fn session(a: &impl ItemSet, b: &impl ItemSet) -> Result<usize, ReconcileError> {
    let hood = HoodId::from_bytes([7; 32]);
    let sid = SessionId::new(b"bench")?;
    let (mut init, mut resp) = (Reconciler::initiator(), Reconciler::responder());
    let mut ranges = init.start(a)?;
    let mut learned = 0;
    loop {
        let req = ReconcileRequest::decode(&ReconcileRequest { hood, session: sid.clone(), ranges }.encode())?;
        let step = resp.handle(b, &req.ranges)?;
        learned += step.need.len();
        let res = ReconcileResponse { session: sid.clone(), ranges: step.reply.unwrap_or_default() };
        let res = ReconcileResponse::decode(&res.encode())?;
        let step = init.handle(a, &res.ranges)?;
        learned += step.need.len();
        match step.reply {
            None => return Ok(learned),
            Some(r) => ranges = r,
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("reconcile_100k");
    g.measurement_time(Duration::from_secs(5)).sample_size(20);
    for d in [0u64, 100] {
        let (a, b) = pair(d);
        g.bench_function(format!("d={d}"), |bench| {
            bench.iter(|| session(black_box(&a), black_box(&b)).unwrap_or_else(|e| panic!("{e}")))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
