//! Sessions between two in-memory sets, through the wire encoding: exact
//! differences, round and byte bounds, lying peers, and measured figures.

use std::collections::BTreeSet;

use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::ids::{HoodId, MessageId};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A deterministic, uniformly spread id.
fn id(n: u64) -> MessageId {
    MessageId::from_bytes(Sha256::digest(n.to_le_bytes()).into())
}

/// Item `n`: ten items per second of `sent`, so ties on `sent` are common.
fn item(n: u64) -> Item {
    Item::new(1_700_000_000 + n / 10, id(n))
}

/// What one complete session produced on both sides.
#[derive(Debug, Default)]
struct Run {
    a_have: BTreeSet<MessageId>,
    a_need: BTreeSet<MessageId>,
    b_have: BTreeSet<MessageId>,
    b_need: BTreeSet<MessageId>,
    /// Requests sent by the initiator.
    round_trips: u32,
    /// Encoded bytes both ways.
    bytes: usize,
    /// Largest single message.
    max_message: usize,
}

/// Runs a session with `a` initiating and `b` responding, every message
/// encoded and decoded as on the wire.
fn run(a: &impl ItemSet, b: &impl ItemSet) -> Result<Run, ReconcileError> {
    let hood = HoodId::from_bytes([7; 32]);
    let session = SessionId::new(b"session-1")?;
    let mut init = Reconciler::initiator();
    let mut resp = Reconciler::responder();
    let mut out = Run::default();
    let mut ranges = init.start(a)?;
    loop {
        let wire = ReconcileRequest { hood, session: session.clone(), ranges }.encode();
        out.bytes += wire.len();
        out.max_message = out.max_message.max(wire.len());
        out.round_trips += 1;
        let req = ReconcileRequest::decode(&wire)?;
        let step = resp.handle(b, &req.ranges)?;
        out.b_have.extend(step.have);
        out.b_need.extend(step.need);
        let wire = ReconcileResponse { session: session.clone(), ranges: step.reply.unwrap_or_default() }.encode();
        out.bytes += wire.len();
        out.max_message = out.max_message.max(wire.len());
        let res = ReconcileResponse::decode(&wire)?;
        let step = init.handle(a, &res.ranges)?;
        out.a_have.extend(step.have);
        out.a_need.extend(step.need);
        match step.reply {
            None => return Ok(out),
            Some(r) => ranges = r,
        }
    }
}

/// Asserts the session found exactly the symmetric difference, on both sides.
fn assert_exact(run: &Run, a: &MemSet, b: &MemSet) {
    let sa: BTreeSet<MessageId> = a.as_slice().iter().map(|i| i.id).collect();
    let sb: BTreeSet<MessageId> = b.as_slice().iter().map(|i| i.id).collect();
    let a_only: BTreeSet<MessageId> = sa.difference(&sb).copied().collect();
    let b_only: BTreeSet<MessageId> = sb.difference(&sa).copied().collect();
    assert_eq!(run.a_have, a_only, "initiator have");
    assert_eq!(run.a_need, b_only, "initiator need");
    assert_eq!(run.b_have, b_only, "responder have");
    assert_eq!(run.b_need, a_only, "responder need");
}

/// The documented round bound (docs/PROTOCOL.md, Sync v2): the descent
/// from the whole set to id lists (L = ceil(log_B(n / T)) levels, each side
/// splitting in turn), a round for the id lists and their diffs, one for
/// the final diffs, one spare, plus one round per full message of split
/// ranges (when `d * (B + 1)` ranges do not fit in one message).
fn round_bound(n: usize, d: usize) -> u32 {
    let mut levels = 0;
    let mut span = n.max(1);
    while span > ID_LIST_THRESHOLD {
        span = span.div_ceil(BRANCHING);
        levels += 1;
    }
    let overflow = d * (BRANCHING + 1) / MAX_RANGES_PER_MESSAGE;
    levels + 3 + overflow as u32
}

/// The documented byte bound: per difference, per level, one split of
/// B ranges (~34 bytes each with a 1-byte prefix) each way, plus two id
/// lists of T ids; plus a constant for the headers.
fn byte_bound(n: usize, d: usize) -> usize {
    let levels = round_bound(n, 0) as usize;
    2 * d * (levels * BRANCHING * 40 + 2 * ID_LIST_THRESHOLD * 36) + 256
}

/// `n` items with `d` differences spread evenly over the order, half only in
/// `a` and half only in `b` (the worst layout: no two share a leaf range).
fn spread(n: u64, d: u64) -> (MemSet, MemSet) {
    let stride = n / d.max(1);
    let side = |i: u64| if d > 0 && i.is_multiple_of(stride) && i / stride < d { 1 + (i / stride) % 2 } else { 0 };
    let a = MemSet::new((0..n).filter(|&i| side(i) != 2).map(item));
    let b = MemSet::new((0..n).filter(|&i| side(i) != 1).map(item));
    (a, b)
}

fn sets(common: u64, only_a: u64, only_b: u64) -> (MemSet, MemSet) {
    let base = 0..common;
    let a = MemSet::new(base.clone().chain(common..common + only_a).map(item));
    let b = MemSet::new(base.chain(common + only_a..common + only_a + only_b).map(item));
    (a, b)
}

#[test]
fn edge_cases_converge_exactly() -> TestResult {
    for (common, only_a, only_b) in
        [(0, 0, 0), (100, 0, 0), (0, 50, 0), (0, 0, 50), (0, 300, 300), (500, 40, 0), (500, 0, 40), (3, 1, 1)]
    {
        let (a, b) = sets(common, only_a, only_b);
        let r = run(&a, &b)?;
        assert_exact(&r, &a, &b);
        let (n, d) = ((common + only_a.max(only_b)) as usize, (only_a + only_b) as usize);
        assert!(r.round_trips <= round_bound(n, d), "{common}/{only_a}/{only_b}: {} rounds", r.round_trips);
    }
    Ok(())
}

#[test]
fn in_sync_costs_one_fingerprint_each_way() -> TestResult {
    let (a, b) = sets(10_000, 0, 0);
    let r = run(&a, &b)?;
    assert_eq!(r.round_trips, 1);
    assert!(r.bytes <= 1024, "{} bytes", r.bytes);
    assert!(r.a_need.is_empty() && r.b_need.is_empty());
    Ok(())
}

#[test]
fn large_sets_differing_by_one() -> TestResult {
    let n = 100_000;
    let a = MemSet::new((0..n).map(item));
    let b = MemSet::new((0..n).filter(|&i| i != 54_321).map(item));
    let r = run(&a, &b)?;
    assert_exact(&r, &a, &b);
    assert_eq!(r.a_have.len(), 1);
    assert!(r.round_trips <= round_bound(n as usize, 1), "{} rounds", r.round_trips);
    assert!(r.bytes <= byte_bound(n as usize, 1), "{} bytes", r.bytes);
    println!("n={n} d=1: {} bytes, {} round trips", r.bytes, r.round_trips);
    // And one extra on each side.
    let b = MemSet::new((0..n).filter(|&i| i != 7).chain([n + 1]).map(item));
    let r = run(&a, &b)?;
    assert_exact(&r, &a, &b);
    Ok(())
}

#[test]
fn catch_up_from_nothing_stays_within_limits() -> TestResult {
    let full = MemSet::new((0..100_000).map(item));
    let empty = MemSet::default();
    for (x, y) in [(&empty, &full), (&full, &empty)] {
        let r = run(x, y)?;
        assert_exact(&r, x, y);
        assert!(r.max_message <= MAX_MESSAGE_BYTES);
        assert!(r.round_trips < MAX_ROUNDS / 2, "{} rounds", r.round_trips);
        println!("catch-up of 100000 from nothing: {} round trips, {} bytes", r.round_trips, r.bytes);
    }
    Ok(())
}

/// Prints the figures for the report (`--nocapture`) and checks them
/// against the documented bounds.
#[test]
fn figures_for_ten_thousand_items() -> TestResult {
    let n = 10_000u64;
    let (a, b) = sets(n, 0, 0);
    let r = run(&a, &b)?;
    println!("in sync, n={n}: {} bytes, {} round trip(s)", r.bytes, r.round_trips);
    for d in [1u64, 10, 100, 1000] {
        let (a, b) = spread(n, d);
        let r = run(&a, &b)?;
        assert_exact(&r, &a, &b);
        println!(
            "n={n} d={d}: {} bytes ({} per difference), {} round trips, largest message {} bytes",
            r.bytes,
            r.bytes / d as usize,
            r.round_trips,
            r.max_message
        );
        assert!(r.round_trips <= round_bound(n as usize, d as usize));
        assert!(r.bytes <= byte_bound(n as usize, d as usize));
    }
    Ok(())
}

fn arb_pair() -> impl Strategy<Value = (Vec<Item>, Vec<Item>)> {
    // Items from a small space of times so ties on `sent` and shared items
    // are frequent; membership in each set decided per item.
    let item = (0u64..50, any::<[u8; 32]>(), 0u8..4)
        .prop_map(|(sent, idb, side)| (Item::new(sent, MessageId::from_bytes(idb)), side));
    prop::collection::vec(item, 0..600).prop_map(|v| {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (it, side) in v {
            // 0: both, 1: a only, 2: b only, 3: both.
            if side != 2 {
                a.push(it);
            }
            if side != 1 {
                b.push(it);
            }
        }
        (a, b)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_pairs_converge_to_the_symmetric_difference((xa, xb) in arb_pair()) {
        let (a, b) = (MemSet::new(xa), MemSet::new(xb));
        let r = run(&a, &b).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_exact(&r, &a, &b);
        let d = r.a_have.len() + r.a_need.len();
        let n = a.len().max(b.len());
        prop_assert!(r.round_trips <= round_bound(n, d), "{} rounds", r.round_trips);
        prop_assert!(r.bytes <= byte_bound(n, d), "{} bytes", r.bytes);
    }

    #[test]
    fn subsets_converge((xa, _) in arb_pair(), keep in 0usize..5) {
        let a = MemSet::new(xa.clone());
        let b = MemSet::new(xa.into_iter().enumerate().filter(|(i, _)| i % 5 != keep).map(|(_, it)| it));
        let r = run(&a, &b).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_exact(&r, &a, &b);
        prop_assert!(r.a_need.is_empty());
    }
}

/// A peer that answers every message with a fresh wrong fingerprint of the
/// whole set: the honest side stops at `MAX_ROUNDS`.
#[test]
fn endless_splitting_ends_at_the_round_limit() -> TestResult {
    let set = MemSet::new((0..5_000).map(item));
    let mut honest = Reconciler::initiator();
    let mut msg = honest.start(&set)?;
    let mut handled = 0u32;
    let err = loop {
        // Positive control: the honest side keeps producing replies until the limit.
        assert!(!msg.is_empty());
        let lie = vec![Range {
            upper: Bound::End,
            body: RangeBody::Fingerprint(Fingerprint(handled.to_le_bytes().repeat(4).try_into().unwrap_or([0; 16]))),
        }];
        match honest.handle(&set, &lie) {
            Ok(step) => {
                handled += 1;
                msg = step.reply.unwrap_or_default();
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, ReconcileError::TooManyRounds);
    assert_eq!(handled, MAX_ROUNDS);
    assert!(honest.is_done());
    assert_eq!(honest.handle(&set, &[]), Err(ReconcileError::SessionFinished));
    Ok(())
}

/// Lies in the message shape are refused with a named reason, and the
/// limits hold for the largest lie that passes.
#[test]
fn malformed_and_oversized_messages_are_refused() -> TestResult {
    let set = MemSet::new((0..1_000).map(item));
    let fp = |k: u64| RangeBody::Fingerprint(Fingerprint([k as u8; 16]));
    // Too many ranges.
    let many: Vec<Range> = (0..=MAX_RANGES_PER_MESSAGE as u64)
        .map(|k| Range { upper: Bound::at(&Item::new(k, MessageId::MIN)), body: fp(k) })
        .chain([Range { upper: Bound::End, body: RangeBody::Skip }])
        .collect();
    assert_eq!(Reconciler::responder().handle(&set, &many), Err(ReconcileError::TooManyRanges));
    // The largest allowed number of ranges passes, and the reply stays within limits.
    let most: Vec<Range> = many[many.len() - MAX_RANGES_PER_MESSAGE..].to_vec();
    let step = Reconciler::responder().handle(&set, &most)?;
    let reply = step.reply.unwrap_or_default();
    assert!(!reply.is_empty());
    wire::check_ranges(&reply)?;
    // An id list over the threshold, and too many ids in all.
    let long = [Range { upper: Bound::End, body: RangeBody::Ids(vec![MessageId::MIN; ID_LIST_THRESHOLD + 1]) }];
    assert_eq!(Reconciler::responder().handle(&set, &long), Err(ReconcileError::IdListTooLong));
    let lists = MAX_IDS_PER_MESSAGE / ID_LIST_THRESHOLD + 1;
    let lie: Vec<Range> = (0..lists as u64)
        .map(|k| Range {
            upper: if k + 1 == lists as u64 { Bound::End } else { Bound::at(&Item::new(k, MessageId::MIN)) },
            body: RangeBody::Ids(vec![MessageId::MIN; ID_LIST_THRESHOLD]),
        })
        .collect();
    assert_eq!(Reconciler::responder().handle(&set, &lie), Err(ReconcileError::TooManyIds));
    // Unordered and incomplete covers.
    let b1 = Bound::at(&item(1));
    let unordered = [Range { upper: Bound::End, body: fp(1) }, Range { upper: b1, body: fp(2) }];
    assert_eq!(Reconciler::responder().handle(&set, &unordered), Err(ReconcileError::UnorderedRanges));
    let short = [Range { upper: b1, body: fp(1) }];
    assert_eq!(Reconciler::responder().handle(&set, &short), Err(ReconcileError::IncompleteCover));
    Ok(())
}

/// Lying id lists can report at most `MAX_IDS_PER_MESSAGE` bogus needs per
/// message, and a range where we hold many items is split, not compared.
#[test]
fn lying_id_lists_stay_bounded() -> TestResult {
    let small = MemSet::new((0..10).map(item));
    let bogus =
        |k: u64| (1_000_000 + k * 100..1_000_000 + k * 100 + ID_LIST_THRESHOLD as u64).map(id).collect::<Vec<_>>();
    // One list over everything: a diff back, our 10 as `have`.
    let one = [Range { upper: Bound::End, body: RangeBody::Ids(bogus(0)) }];
    let step = Reconciler::responder().handle(&small, &one)?;
    assert_eq!((step.have.len(), step.need.len()), (10, ID_LIST_THRESHOLD));
    // The most lists a message may hold, below our items: the needs stay
    // under the per-message limit and the reply within the limits.
    let lists = (MAX_IDS_PER_MESSAGE / ID_LIST_THRESHOLD) as u64;
    let lie: Vec<Range> = (0..lists)
        .map(|k| Range {
            upper: if k + 1 == lists { Bound::End } else { Bound::at(&Item::new(k + 1, MessageId::MIN)) },
            body: RangeBody::Ids(bogus(k)),
        })
        .collect();
    let step = Reconciler::responder().handle(&small, &lie)?;
    assert!(step.need.len() <= MAX_IDS_PER_MESSAGE);
    assert!(step.need.len() >= MAX_IDS_PER_MESSAGE - 2 * ID_LIST_THRESHOLD, "{}", step.need.len());
    wire::check_ranges(&step.reply.unwrap_or_default())?;
    // Where we hold many items, a list is answered by a split.
    let big = MemSet::new((0..1_000).map(item));
    let step = Reconciler::responder().handle(&big, &one)?;
    assert!(step.need.is_empty() && step.have.is_empty());
    let reply = step.reply.unwrap_or_default();
    assert_eq!(reply.len(), BRANCHING);
    assert!(reply.iter().all(|r| matches!(r.body, RangeBody::Fingerprint(_))));
    Ok(())
}

#[test]
fn limits_fit_the_byte_cap() {
    // The largest message the encoder may build: every range a 32-byte
    // prefix at the largest time, ids filling the id budget.
    let upper = |k: u64| Bound::at(&Item::new(u64::MAX - 1 - MAX_RANGES_PER_MESSAGE as u64 + k, MessageId::MAX));
    // Two ids per side of a diff: the most list headers per id.
    let per = MAX_IDS_PER_MESSAGE / (MAX_RANGES_PER_MESSAGE - 1) / 2;
    let mut ranges: Vec<Range> = (0..MAX_RANGES_PER_MESSAGE as u64 - 1)
        .map(|k| Range {
            upper: upper(k),
            body: RangeBody::Diff { you_lack: vec![MessageId::MAX; per], i_lack: vec![MessageId::MAX; per] },
        })
        .collect();
    ranges.push(Range { upper: Bound::End, body: RangeBody::Fingerprint(Fingerprint([0xff; 16])) });
    let req = ReconcileRequest {
        hood: HoodId::from_bytes([0xff; 32]),
        session: SessionId::new(&[0xff; 16]).unwrap_or_else(|e| panic!("{e}")),
        ranges,
    };
    let len = req.encode().len();
    assert!(len <= MAX_MESSAGE_BYTES, "{len} bytes");
    assert_eq!(ReconcileRequest::decode(&req.encode()), Ok(req));
    assert_eq!(ReconcileRequest::decode(&vec![0; MAX_MESSAGE_BYTES + 1]), Err(ReconcileError::MessageTooLarge));
}

#[test]
fn fetch_messages_are_paged_and_checked() -> TestResult {
    let hood = HoodId::from_bytes([1; 32]);
    let need: Vec<MessageId> = (0..600).map(id).collect();
    let pages = FetchRequest::pages(hood, &need);
    assert_eq!(pages.iter().map(|p| p.ids.len()).collect::<Vec<_>>(), vec![256, 256, 88]);
    for p in &pages {
        let wire = p.encode();
        assert!(wire.len() <= wire::MAX_FETCH_REQUEST_BYTES);
        assert_eq!(&FetchRequest::decode(&wire)?, p);
    }
    let too_many =
        stoop_proto::v1::FetchRequest { hood: hood.as_bytes().to_vec(), ids: vec![vec![0; 32]; MAX_FETCH_IDS + 1] };
    assert_eq!(FetchRequest::try_from(too_many), Err(ReconcileError::TooManyIds));
    let big = stoop_proto::v1::FetchResponse { envelopes: vec![vec![0; crate::envelope::MAX_ENVELOPE_BYTES + 1]] };
    assert_eq!(FetchResponse::try_from(big), Err(ReconcileError::MessageTooLarge));
    let ok = FetchResponse { envelopes: vec![vec![1, 2, 3]] };
    assert_eq!(FetchResponse::decode(&ok.encode())?, ok);
    Ok(())
}

#[test]
fn wire_fields_are_checked() {
    use stoop_proto::v1 as pb;
    let range = |prefix: Vec<u8>, body| pb::ReconcileRange { upper_sent: u64::MAX, upper_id_prefix: prefix, body };
    let req = |ranges| pb::ReconcileRequest { hood: vec![0; 32], session: vec![1], ranges };
    let skip = Some(pb::reconcile_range::Body::Skip(true));
    assert_eq!(ReconcileRequest::try_from(req(vec![range(vec![], None)])), Err(ReconcileError::MissingBody));
    assert_eq!(ReconcileRequest::try_from(req(vec![range(vec![0; 33], skip.clone())])), Err(ReconcileError::BadBound));
    let short_fp = Some(pb::reconcile_range::Body::Fingerprint(vec![0; 15]));
    assert_eq!(ReconcileRequest::try_from(req(vec![range(vec![], short_fp)])), Err(ReconcileError::BadFingerprint));
    let bad_id = Some(pb::reconcile_range::Body::Ids(pb::ReconcileIds { ids: vec![vec![0; 31]] }));
    assert_eq!(ReconcileRequest::try_from(req(vec![range(vec![], bad_id)])), Err(ReconcileError::BadId));
    let mut no_session = req(vec![]);
    no_session.session.clear();
    assert_eq!(ReconcileRequest::try_from(no_session), Err(ReconcileError::BadSession));
    let mut long_session = req(vec![]);
    long_session.session = vec![1; wire::MAX_SESSION_ID_LEN + 1];
    assert_eq!(ReconcileRequest::try_from(long_session), Err(ReconcileError::BadSession));
    let mut bad_hood = req(vec![]);
    bad_hood.hood = vec![0; 3];
    assert_eq!(ReconcileRequest::try_from(bad_hood), Err(ReconcileError::BadHood));
    // Positive control: the same shapes with valid fields pass.
    assert!(ReconcileRequest::try_from(req(vec![range(vec![], skip)])).is_ok());
    assert_eq!(ReconcileError::TooManyRounds.code(), "too_many_rounds");
}

/// Framing of one sync v2 message: its varint length prefix, at most 3
/// bytes below 2 MiB (counted as 3, an upper bound).
const FRAME_PREFIX_MAX: usize = 3;

/// Bytes on the wire (reconcile rounds, fetch requests and responses, all
/// framed) against the bytes of the envelopes that were missing, for a
/// fresh node and for nodes missing d of 10,000 real signed alerts
/// (docs/BENCHMARKS.md). Run with `--nocapture` for the figures.
#[test]
fn figures_wire_bytes_against_missing_envelopes() -> TestResult {
    use crate::message::Payload;
    use crate::testkit::HoodFixture;
    let f = HoodFixture::new(1, 1)?;
    let hood = f.hood();
    let n = 10_000u64;
    let envs: Vec<(Item, Vec<u8>)> = (0..n)
        .map(|i| {
            let sent = 1_800_000_000 + i * 30;
            let env = Payload::Alert(f.alert(sent, &format!("Tree down on Elm, report {i}"))).seal(&f.founders[0]);
            (Item::new(sent, env.id()), env.to_bytes())
        })
        .collect();
    let by_id: std::collections::HashMap<MessageId, &Vec<u8>> = envs.iter().map(|(it, b)| (it.id, b)).collect();
    let full = MemSet::new(envs.iter().map(|(it, _)| *it));
    let mean = envs.iter().map(|(_, b)| b.len()).sum::<usize>() / envs.len();
    println!("{n} alerts, mean envelope {mean} bytes");
    for missing in [n, 1, 10, 100, 1000] {
        // `a` lacks `missing` items spread over the order and starts the session.
        let stride = n / missing;
        let a = MemSet::new(
            envs.iter().enumerate().filter(|(i, _)| !(*i as u64).is_multiple_of(stride)).map(|(_, (it, _))| *it),
        );
        let a = if missing == n { MemSet::new([]) } else { a };
        let r = run(&a, &full)?;
        assert_eq!(r.a_need.len() as u64, missing);
        let reconcile = r.bytes + 2 * r.round_trips as usize * FRAME_PREFIX_MAX;
        let need: Vec<MessageId> = r.a_need.iter().copied().collect();
        let mut fetch = 0;
        let mut payload = 0;
        for page in FetchRequest::pages(hood, &need) {
            let envelopes: Vec<Vec<u8>> =
                page.ids.iter().filter_map(|id| by_id.get(id).map(|b| (*b).clone())).collect();
            payload += envelopes.iter().map(Vec::len).sum::<usize>();
            fetch += page.encode().len() + FetchResponse { envelopes }.encode().len() + 2 * FRAME_PREFIX_MAX;
        }
        let wire = reconcile + fetch;
        println!(
            "missing {missing}: wire {wire} B (reconcile {reconcile} B in {} round trips, fetch {fetch} B) for {payload} B \
             of envelopes: ratio {:.3}, overhead {} B per missing envelope",
            r.round_trips,
            wire as f64 / payload as f64,
            (wire - payload) / missing as usize
        );
        // The rounds within their documented bound; a fetch costs each
        // missing id its 34 bytes in the request and 4 bytes of framing
        // around its envelope, plus a header per page.
        assert!(r.bytes <= byte_bound(n as usize, missing as usize), "reconcile over its bound");
        let pages = need.len().div_ceil(MAX_FETCH_IDS);
        assert!(fetch <= payload + need.len() * 38 + pages * 64, "fetch overhead over its bound");
    }
    Ok(())
}
