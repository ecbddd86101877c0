//! The moderator roster and its quorum, as a pure function of the charter
//! and the set of signed roster changes.
//!
//! Each `RosterChange` is one moderator's signature on "apply `op` to roster
//! version `v`". Starting from the charter's founders (version 0), the fold
//! looks at the signatures on the current version, finds each op that a
//! quorum of that version's moderators signed, and applies the one whose
//! quorum was reached first (by the k-th signature's `sent`, ties broken by
//! the op's order), then moves to the next version. Signatures on older
//! versions never apply. Because it only looks at the set, every node that
//! has the same signatures computes the same roster in any arrival order.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::ids::MessageId;
use super::keys::PublicKey;
use super::message::RosterOp;
use super::verdict::RejectReason;

/// The current moderators and quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Current moderators.
    pub moderators: BTreeSet<PublicKey>,
    /// Votes needed for a decision.
    pub quorum: u32,
    /// Number of roster changes applied since the charter.
    pub version: u64,
}

impl Roster {
    /// Whether `key` is a current moderator.
    pub fn is_moderator(&self, key: &PublicKey) -> bool {
        self.moderators.contains(key)
    }

    /// Checks `op` could apply to this roster (so a signature for an op that
    /// never can is refused at once).
    pub fn check_op(&self, op: &RosterOp) -> Result<(), RejectReason> {
        let bad = |why| Err(RejectReason::InvalidRosterChange(why));
        match op {
            RosterOp::AddModerator(k) if self.moderators.contains(k) => bad("already a moderator"),
            RosterOp::RemoveModerator(k) if !self.moderators.contains(k) => bad("not a moderator"),
            RosterOp::RemoveModerator(_) if self.moderators.len() as u64 <= u64::from(self.quorum) => {
                bad("removal would leave fewer moderators than the quorum")
            }
            RosterOp::SetQuorum(q) if *q as usize > self.moderators.len() => bad("quorum larger than the roster"),
            RosterOp::SetQuorum(q) if *q == self.quorum => bad("quorum unchanged"),
            _ => Ok(()),
        }
    }

    fn apply(&mut self, op: &RosterOp) {
        match op {
            RosterOp::AddModerator(k) => {
                self.moderators.insert(*k);
            }
            RosterOp::RemoveModerator(k) => {
                self.moderators.remove(k);
            }
            RosterOp::SetQuorum(q) => self.quorum = *q,
        }
        self.version += 1;
    }
}

/// One signature toward a roster change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterSignature {
    /// Message id.
    pub id: MessageId,
    /// Signing moderator.
    pub signer: PublicKey,
    /// Version it applies to.
    pub base_version: u64,
    /// The change.
    pub op: RosterOp,
    /// Signed time.
    pub sent: u64,
}

/// A change that took effect, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedChange {
    /// Version it produced.
    pub version: u64,
    /// The change.
    pub op: RosterOp,
    /// When the quorum was reached (k-th signature's `sent`).
    pub at: u64,
    /// Who signed it, in signing order.
    #[serde(serialize_with = "ser_keys")]
    pub signers: Vec<PublicKey>,
}

fn ser_keys<S: serde::Serializer>(keys: &[PublicKey], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(keys.iter().map(PublicKey::to_hex))
}

/// All roster signatures and the roster they produce.
#[derive(Debug, Clone)]
pub struct RosterBook {
    genesis: Roster,
    /// Bounded by the ledger: only versions current and current + 1 are
    /// accepted, at most `MAX_ROSTER_SIGNATURES_PER_VERSION` per moderator
    /// and version, and every version needs a quorum to be passed.
    signatures: Vec<RosterSignature>,
    current: Roster,
    history: Vec<AppliedChange>,
}

impl RosterBook {
    /// The founders' roster.
    pub fn new(founders: &[PublicKey], quorum: u32) -> Self {
        let genesis = Roster { moderators: founders.iter().copied().collect(), quorum, version: 0 };
        Self { current: genesis.clone(), genesis, signatures: Vec::new(), history: Vec::new() }
    }

    /// The roster after every change that reached quorum.
    pub fn current(&self) -> &Roster {
        &self.current
    }

    /// Changes that took effect, oldest first.
    pub fn history(&self) -> &[AppliedChange] {
        &self.history
    }

    /// Every signature held.
    pub fn signatures(&self) -> &[RosterSignature] {
        &self.signatures
    }

    /// Number of signatures `signer` has on `base_version`.
    pub fn signatures_by(&self, signer: &PublicKey, base_version: u64) -> usize {
        self.signatures.iter().filter(|s| s.signer == *signer && s.base_version == base_version).count()
    }

    /// Adds a signature and recomputes. Returns whether the roster changed.
    pub fn add(&mut self, sig: RosterSignature) -> bool {
        if self.signatures.iter().any(|s| s.id == sig.id) {
            return false;
        }
        // The fold stops at the current version, so a signature on a later
        // one cannot change anything until the current one does.
        let ahead = sig.base_version > self.current.version;
        self.signatures.push(sig);
        if ahead {
            return false;
        }
        let before = self.current.clone();
        self.recompute();
        before != self.current
    }

    fn recompute(&mut self) {
        let mut roster = self.genesis.clone();
        let mut history = Vec::new();
        loop {
            // op -> (sent, id, signer) of signatures by this version's moderators.
            let mut by_op: BTreeMap<RosterOp, Vec<(u64, MessageId, PublicKey)>> = BTreeMap::new();
            for s in self.signatures.iter().filter(|s| s.base_version == roster.version) {
                if roster.is_moderator(&s.signer) {
                    by_op.entry(s.op).or_default().push((s.sent, s.id, s.signer));
                }
            }
            let quorum = roster.quorum as usize;
            let mut winner: Option<(u64, RosterOp, Vec<PublicKey>)> = None;
            for (op, mut sigs) in by_op {
                if roster.check_op(&op).is_err() {
                    continue;
                }
                sigs.sort();
                let mut signers = Vec::new();
                let mut reached = None;
                for (sent, _, signer) in sigs {
                    if !signers.contains(&signer) {
                        signers.push(signer);
                        if signers.len() == quorum {
                            reached = Some(sent);
                            break;
                        }
                    }
                }
                if let Some(at) = reached {
                    let better = winner.as_ref().is_none_or(|(w_at, w_op, _)| (at, op) < (*w_at, *w_op));
                    if better {
                        winner = Some((at, op, signers));
                    }
                }
            }
            let Some((at, op, signers)) = winner else { break };
            roster.apply(&op);
            history.push(AppliedChange { version: roster.version, op, at, signers });
        }
        self.current = roster;
        self.history = history;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MessageId, Tag};
    use crate::keys::AuthorKey;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        AuthorKey::from_secret(&[n; 32]).public()
    }

    fn sig(signer: u8, base_version: u64, op: RosterOp, sent: u64) -> RosterSignature {
        let id = MessageId::of(Tag::RosterChange, format!("{signer}/{base_version}/{op:?}/{sent}").as_bytes());
        RosterSignature { id, signer: key(signer), base_version, op, sent }
    }

    #[test]
    fn change_needs_a_quorum_of_current_moderators() {
        let mut book = RosterBook::new(&[key(1), key(2), key(3)], 2);
        let add = RosterOp::AddModerator(key(9));
        assert!(!book.add(sig(1, 0, add, 10)));
        // A non-moderator's signature does not count toward the quorum.
        assert!(!book.add(sig(7, 0, add, 11)));
        // Duplicate signer counts once.
        assert!(!book.add(RosterSignature { id: MessageId::of(Tag::RosterChange, b"dup"), ..sig(1, 0, add, 12) }));
        assert!(book.add(sig(2, 0, add, 13)));
        assert!(book.current().is_moderator(&key(9)));
        assert_eq!(book.current().version, 1);
        assert_eq!(book.history()[0].at, 13);
    }

    #[test]
    fn stale_versions_never_apply_and_removed_moderators_stop_counting() {
        let mut book = RosterBook::new(&[key(1), key(2), key(3)], 2);
        let remove3 = RosterOp::RemoveModerator(key(3));
        book.add(sig(1, 0, remove3, 5));
        book.add(sig(2, 0, remove3, 6));
        assert!(!book.current().is_moderator(&key(3)));
        // Signatures on version 0 for another op no longer apply.
        book.add(sig(1, 0, RosterOp::SetQuorum(1), 7));
        book.add(sig(2, 0, RosterOp::SetQuorum(1), 8));
        assert_eq!(book.current().quorum, 2);
        // Key 3 is gone: its signature on version 1 does not count.
        book.add(sig(3, 1, RosterOp::SetQuorum(1), 9));
        book.add(sig(1, 1, RosterOp::SetQuorum(1), 9));
        assert_eq!(book.current().quorum, 2);
        book.add(sig(2, 1, RosterOp::SetQuorum(1), 10));
        assert_eq!(book.current().quorum, 1);
    }

    #[test]
    fn check_op_refuses_impossible_changes() {
        let book = RosterBook::new(&[key(1), key(2)], 2);
        let r = book.current();
        assert!(r.check_op(&RosterOp::AddModerator(key(1))).is_err());
        assert!(r.check_op(&RosterOp::RemoveModerator(key(5))).is_err());
        assert!(r.check_op(&RosterOp::RemoveModerator(key(1))).is_err(), "would drop below quorum");
        assert!(r.check_op(&RosterOp::SetQuorum(3)).is_err());
        assert!(r.check_op(&RosterOp::SetQuorum(1)).is_ok());
    }

    proptest! {
        /// The roster depends on the set of signatures, not their order.
        #[test]
        fn order_independent(order in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle()) {
            let ops = [
                sig(1, 0, RosterOp::AddModerator(key(4)), 3),
                sig(2, 0, RosterOp::AddModerator(key(4)), 4),
                sig(2, 0, RosterOp::SetQuorum(1), 2),
                sig(3, 0, RosterOp::SetQuorum(1), 5),
                sig(1, 1, RosterOp::SetQuorum(3), 6),
                sig(4, 1, RosterOp::SetQuorum(3), 7),
                sig(3, 1, RosterOp::RemoveModerator(key(2)), 6),
                sig(4, 1, RosterOp::RemoveModerator(key(2)), 8),
                sig(1, 2, RosterOp::AddModerator(key(5)), 9),
                sig(3, 2, RosterOp::AddModerator(key(5)), 9),
                sig(4, 2, RosterOp::AddModerator(key(5)), 10),
                sig(5, 3, RosterOp::SetQuorum(2), 11),
            ];
            let mut sorted = RosterBook::new(&[key(1), key(2), key(3)], 2);
            for s in &ops { sorted.add(s.clone()); }
            let mut shuffled = RosterBook::new(&[key(1), key(2), key(3)], 2);
            for i in order { shuffled.add(ops[i].clone()); }
            prop_assert_eq!(sorted.current(), shuffled.current());
            prop_assert_eq!(sorted.history(), shuffled.history());
        }
    }
}
