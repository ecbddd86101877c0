//! Stem routing: own messages are never fluffed first-hand before their
//! embargo, embargoes fire, epochs rotate, bounds hold.

use super::*;
use proptest::prelude::*;

const T0: u64 = 1_000_000;

fn mid(n: u32) -> MessageId {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    MessageId::from_bytes(b)
}

/// A stem with peers `0..n`, started at `T0`, whose role this epoch is `fluffing`.
fn stem_with(n: u32, fluffing: bool) -> Stem<u32> {
    for seed in 0..1000 {
        let mut s = Stem::new(seed);
        s.set_peers(T0, 0..n);
        if s.is_fluffing() == fluffing {
            return s;
        }
    }
    panic!("no seed below 1000 gives fluffing = {fluffing}");
}

fn fluffed(actions: &[StemAction<u32>]) -> Vec<MessageId> {
    actions
        .iter()
        .filter_map(|a| match a {
            StemAction::Fluff { id } => Some(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn own_messages_are_stemmed_and_not_fluffed_before_the_embargo() {
    for seed in 0..200 {
        let mut s = Stem::new(seed);
        s.set_peers(T0, [1u32, 2, 3]);
        let action = s.own(mid(1), T0);
        let StemAction::SendStem { to, id, at } = action else {
            panic!("seed {seed}: own message with peers was {action:?}");
        };
        assert!([1, 2, 3].contains(&to));
        assert_eq!(id, mid(1));
        assert!((T0..=T0 + HOP_DELAY_MAX_MS).contains(&at));
        // Even a fluffer stems its own messages.
        for t in (T0..T0 + EMBARGO_MIN_MS).step_by(997) {
            assert!(s.tick(t).is_empty(), "seed {seed}: fluffed at {t}, before the embargo");
        }
        // Positive control: the embargo does fire.
        assert_eq!(fluffed(&s.tick(T0 + EMBARGO_MAX_MS)), vec![mid(1)], "seed {seed}");
        assert_eq!(s.pending(), 0);
    }
}

#[test]
fn with_no_peers_own_messages_are_fluffed() {
    let mut s: Stem<u32> = Stem::new(7);
    assert_eq!(s.own(mid(1), T0), StemAction::Fluff { id: mid(1) });
    s.set_peers(T0, []);
    assert_eq!(s.own(mid(2), T0), StemAction::Fluff { id: mid(2) });
    // Positive control: once a peer arrives, the next one is stemmed.
    s.set_peers(T0 + 1, [9]);
    assert!(matches!(s.own(mid(3), T0 + 1), StemAction::SendStem { to: 9, .. }));
}

#[test]
fn seen_in_gossip_lifts_the_embargo_and_others_still_fire() {
    let mut s = stem_with(4, false);
    assert!(matches!(s.own(mid(1), T0), StemAction::SendStem { .. }));
    assert!(matches!(s.received(2, mid(2), T0), StemAction::SendStem { .. }));
    s.seen_in_gossip(&mid(1));
    // Same window: only the unseen one is fluffed.
    assert_eq!(fluffed(&s.tick(T0 + EMBARGO_MAX_MS)), vec![mid(2)]);
    assert_eq!(s.pending(), 0);
    assert_eq!(s.next_deadline(), Some(T0 + EPOCH_MS));
}

#[test]
fn embargoes_are_spread_between_min_and_max() {
    let mut s = stem_with(3, false);
    for n in 0..20 {
        assert!(matches!(s.own(mid(n), T0), StemAction::SendStem { .. }));
    }
    let mut fired = Vec::new();
    for t in T0..=T0 + EMBARGO_MAX_MS {
        for id in fluffed(&s.tick(t)) {
            fired.push((t, id));
        }
    }
    assert_eq!(fired.len(), 20);
    assert!(fired.iter().all(|(t, _)| *t >= T0 + EMBARGO_MIN_MS));
    assert!(fired.first().map(|f| f.0) < fired.last().map(|f| f.0), "embargoes are random, not all equal");
}

#[test]
fn a_fluffer_fluffs_received_stem_messages_a_relayer_forwards_them() {
    let mut f = stem_with(4, true);
    assert_eq!(f.received(1, mid(1), T0), StemAction::Fluff { id: mid(1) });
    assert_eq!(f.pending(), 0, "a fluffer keeps no embargo for what it published");
    let mut r = stem_with(4, false);
    assert!(matches!(r.received(1, mid(1), T0), StemAction::SendStem { .. }));
    assert_eq!(r.pending(), 1);
}

#[test]
fn routes_are_stable_within_an_epoch_and_never_back_to_the_sender() {
    for seed in 0..100 {
        let mut s = Stem::new(seed);
        s.set_peers(T0, 0u32..6);
        if s.is_fluffing() {
            continue;
        }
        for from in 0..6u32 {
            let mut tos = Vec::new();
            for k in 0..5 {
                match s.received(from, mid(from * 100 + k), T0 + u64::from(k)) {
                    StemAction::SendStem { to, .. } => tos.push(to),
                    other => panic!("seed {seed}: {other:?}"),
                }
            }
            assert!(tos.iter().all(|t| *t == tos[0]), "seed {seed}: one successor per inbound peer: {tos:?}");
            assert_ne!(tos[0], from, "seed {seed}: sent back to the sender");
        }
        let own: Vec<_> = (0..5)
            .map(|k| match s.own(mid(10_000 + k), T0) {
                StemAction::SendStem { to, .. } => to,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(own.iter().all(|t| *t == own[0]) && s.successors().contains(&own[0]));
    }
}

#[test]
fn epochs_rotate_successors_and_roles() {
    let mut s = Stem::new(42);
    s.set_peers(T0, 0u32..10);
    let mut sets = std::collections::HashSet::new();
    let mut fluffing = 0;
    let epochs = 500;
    for e in 0..epochs {
        let now = T0 + e * EPOCH_MS;
        assert!(s.tick(now).is_empty());
        let mut succ = s.successors().to_vec();
        assert_eq!(succ.len(), STEM_SUCCESSORS);
        succ.sort_unstable();
        sets.insert(succ);
        fluffing += u64::from(s.is_fluffing());
        // Within the epoch nothing changes.
        let before = s.successors().to_vec();
        assert!(s.tick(now + EPOCH_MS - 1).is_empty());
        assert_eq!(s.successors(), before.as_slice());
    }
    assert!(sets.len() > 20, "only {} successor sets in {epochs} epochs", sets.len());
    let pct = fluffing * 100 / epochs;
    assert!((FLUFF_PERCENT - 6..=FLUFF_PERCENT + 6).contains(&pct), "fluffed in {pct} % of epochs");
}

#[test]
fn a_departed_successor_is_replaced_and_its_routes_dropped() {
    let mut s = stem_with(5, false);
    let gone = s.successors()[0];
    let from = (0..5).find(|p| !s.successors().contains(p)).unwrap_or_else(|| panic!("a non-successor"));
    s.set_peers(T0 + 1, (0..5).filter(|p| *p != gone));
    assert_eq!(s.successors().len(), STEM_SUCCESSORS);
    assert!(!s.successors().contains(&gone));
    for k in 0..20 {
        match s.received(from, mid(k), T0 + 2) {
            StemAction::SendStem { to, .. } => assert_ne!(to, gone),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn strangers_and_duplicates_are_dropped() {
    let mut s = stem_with(3, false);
    assert_eq!(s.received(99, mid(1), T0), StemAction::Drop { id: mid(1), reason: StemDrop::NotAHoodPeer });
    assert!(matches!(s.received(1, mid(1), T0), StemAction::SendStem { .. }), "positive control");
    assert_eq!(s.received(2, mid(1), T0), StemAction::Drop { id: mid(1), reason: StemDrop::Duplicate });
    assert_eq!(s.own(mid(1), T0), StemAction::Drop { id: mid(1), reason: StemDrop::Duplicate });
    assert_eq!(StemDrop::NotAHoodPeer.code(), "not_a_hood_peer");
}

#[test]
fn with_a_single_peer_its_messages_are_fluffed_not_sent_back() {
    let mut s = stem_with(1, false);
    assert_eq!(s.received(0, mid(1), T0), StemAction::Fluff { id: mid(1) });
    assert!(matches!(s.own(mid(2), T0), StemAction::SendStem { to: 0, .. }));
}

#[test]
fn one_peer_is_rate_limited_into_fluffing() {
    let mut s = stem_with(3, false);
    let burst = STEM_QUOTA.burst();
    for k in 0..burst {
        assert!(matches!(s.received(1, mid(k), T0), StemAction::SendStem { .. }), "message {k} is within the quota");
    }
    assert_eq!(s.received(1, mid(burst), T0), StemAction::Fluff { id: mid(burst) });
    assert!(matches!(s.received(2, mid(burst + 1), T0), StemAction::SendStem { .. }), "other peers are not limited");
    assert_eq!(s.pending(), burst as usize + 1);
}

#[test]
fn stem_state_is_capped() {
    let mut s = stem_with(3, false);
    let per_peer = STEM_QUOTA.burst();
    // Enough peers to exceed MAX_STEMMED within their own quotas.
    let peers = (MAX_STEMMED as u32).div_ceil(per_peer) + 2;
    s.set_peers(T0, 0..peers);
    let mut stemmed = 0;
    let mut fluffs = 0;
    for p in 0..peers {
        for k in 0..per_peer {
            match s.received(p, mid(p * 1000 + k), T0) {
                StemAction::SendStem { .. } => stemmed += 1,
                StemAction::Fluff { .. } => fluffs += 1,
                StemAction::Drop { .. } => panic!("dropped"),
            }
        }
    }
    assert_eq!(stemmed, MAX_STEMMED);
    assert!(fluffs > 0);
    // Own messages have their own room, also capped.
    for k in 0..MAX_OWN_STEMMED as u32 {
        assert!(matches!(s.own(mid(1_000_000 + k), T0), StemAction::SendStem { .. }));
    }
    assert_eq!(s.own(mid(2_000_000), T0), StemAction::Fluff { id: mid(2_000_000) });
    assert_eq!(s.pending(), MAX_STEMMED + MAX_OWN_STEMMED);
}

proptest! {
    #[test]
    fn random_traffic_keeps_every_invariant(
        seed in any::<u64>(),
        ops in proptest::collection::vec((0u8..5, 0u32..8, 0u32..40, 0u64..120_000), 1..200),
    ) {
        let mut s = Stem::new(seed);
        let mut now = T0;
        let mut peers: Vec<u32> = (0..4).collect();
        s.set_peers(now, peers.clone());
        for (op, peer, msg, dt) in ops {
            now += dt;
            match op {
                0 => {
                    // At most 30 distinct own ids, below MAX_OWN_STEMMED.
                    let a = s.own(mid(msg % 30), now);
                    if let StemAction::SendStem { to, at, .. } = a {
                        prop_assert!(peers.contains(&to));
                        prop_assert!(at >= now && at <= now + HOP_DELAY_MAX_MS);
                    } else if let StemAction::Fluff { .. } = a {
                        prop_assert!(peers.is_empty());
                    }
                }
                1 => {
                    if let StemAction::SendStem { to, .. } = s.received(peer, mid(msg), now) {
                        prop_assert!(peers.contains(&to));
                        prop_assert_ne!(to, peer);
                    }
                }
                2 => s.seen_in_gossip(&mid(msg)),
                3 => {
                    peers = (0..8).filter(|p| (p + peer) % 3 != 0).collect();
                    s.set_peers(now, peers.clone());
                    prop_assert!(s.successors().iter().all(|x| peers.contains(x)));
                }
                _ => {
                    for a in s.tick(now) {
                        let is_fluff = matches!(a, StemAction::Fluff { .. });
                        prop_assert!(is_fluff, "tick only fluffs");
                    }
                }
            }
            prop_assert!(s.pending() <= MAX_STEMMED + MAX_OWN_STEMMED);
            prop_assert!(s.successors().len() <= STEM_SUCCESSORS);
        }
        // Liveness: after the longest embargo everything has been fluffed.
        s.tick(now + EMBARGO_MAX_MS);
        prop_assert_eq!(s.pending(), 0);
    }
}
