//! Hide/restore moderation as a pure function of signed votes.
//!
//! Votes on an alert are ordered by (`sent`, id) and replayed through a small
//! state machine: while the alert is visible, it becomes hidden once a quorum
//! of distinct current moderators' latest votes in this round are Hide; while
//! hidden, it comes back once a quorum's latest votes are Restore. Each
//! transition starts a new round. Only the order-free set of votes and the
//! current roster go in, so every node computes the same state and the same
//! audit trail whatever order the votes arrived in.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ids::MessageId;
use super::keys::PublicKey;
use super::message::{Decision, ReportReason};
use super::roster::Roster;

/// One stored vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRecord {
    /// Vote message id.
    pub id: MessageId,
    /// Moderator who signed it.
    pub moderator: PublicKey,
    /// Hide or restore.
    pub decision: Decision,
    /// Reason code.
    pub reason: Option<ReportReason>,
    /// Public note.
    pub note: String,
    /// Signed time.
    pub sent: u64,
}

/// Whether moderators have hidden an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Shown (no quorum to hide, or restored).
    #[default]
    Visible,
    /// Hidden by a moderator quorum.
    Hidden,
}

/// What a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Counted toward a quorum that has not been reached (yet).
    Counted,
    /// The vote that completed a hide quorum.
    Hid,
    /// The vote that completed a restore quorum.
    Restored,
    /// Agreed with the state the alert was already in.
    NoChange,
    /// Signer is not on the current roster; kept for audit, not counted.
    NotCounted,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Vote id (hex).
    #[serde(serialize_with = "ser_id")]
    pub vote: MessageId,
    /// Moderator key (hex).
    #[serde(serialize_with = "ser_key")]
    pub moderator: PublicKey,
    /// Hide or restore.
    pub decision: Decision,
    /// Reason code.
    pub reason: Option<ReportReason>,
    /// Public note.
    pub note: String,
    /// When it was signed.
    pub sent: u64,
    /// What it did.
    pub effect: Effect,
}

fn ser_id<S: serde::Serializer>(id: &MessageId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_hex())
}

fn ser_key<S: serde::Serializer>(k: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.to_hex())
}

/// The result of tallying one alert's votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Resulting visibility.
    pub visibility: Visibility,
    /// Every vote with its effect, in (sent, id) order.
    pub audit: Vec<AuditEntry>,
}

/// Tallies `votes` under `roster`.
pub fn tally(votes: &[VoteRecord], roster: &Roster) -> Tally {
    let mut ordered: Vec<&VoteRecord> = votes.iter().collect();
    ordered.sort_by_key(|v| (v.sent, v.id));
    let quorum = roster.quorum as usize;
    let mut visibility = Visibility::Visible;
    // Latest decision of each moderator in the current round.
    let mut round: BTreeMap<PublicKey, Decision> = BTreeMap::new();
    let mut audit = Vec::with_capacity(ordered.len());
    for v in ordered {
        let effect = if !roster.is_moderator(&v.moderator) {
            Effect::NotCounted
        } else {
            round.insert(v.moderator, v.decision);
            let wanted = match visibility {
                Visibility::Visible => Decision::Hide,
                Visibility::Hidden => Decision::Restore,
            };
            if v.decision != wanted {
                Effect::NoChange
            } else if round.values().filter(|d| **d == wanted).count() >= quorum {
                round.clear();
                visibility = match visibility {
                    Visibility::Visible => Visibility::Hidden,
                    Visibility::Hidden => Visibility::Visible,
                };
                if visibility == Visibility::Hidden { Effect::Hid } else { Effect::Restored }
            } else {
                Effect::Counted
            }
        };
        audit.push(AuditEntry {
            vote: v.id,
            moderator: v.moderator,
            decision: v.decision,
            reason: v.reason,
            note: v.note.clone(),
            sent: v.sent,
            effect,
        });
    }
    Tally { visibility, audit }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MessageId, Tag};
    use crate::keys::AuthorKey;
    use crate::roster::RosterBook;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        AuthorKey::from_secret(&[n; 32]).public()
    }

    fn vote(m: u8, decision: Decision, sent: u64) -> VoteRecord {
        VoteRecord {
            id: MessageId::of(Tag::Vote, format!("{m}/{decision:?}/{sent}").as_bytes()),
            moderator: key(m),
            decision,
            reason: Some(ReportReason::Spam),
            note: String::new(),
            sent,
        }
    }

    fn roster3() -> Roster {
        RosterBook::new(&[key(1), key(2), key(3)], 2).current().clone()
    }

    #[test]
    fn one_hide_is_not_enough_two_hide_and_two_restore() {
        let r = roster3();
        let mut votes = vec![vote(1, Decision::Hide, 10)];
        assert_eq!(tally(&votes, &r).visibility, Visibility::Visible);
        votes.push(vote(1, Decision::Hide, 11));
        assert_eq!(tally(&votes, &r).visibility, Visibility::Visible, "same moderator counts once");
        votes.push(vote(2, Decision::Hide, 12));
        let t = tally(&votes, &r);
        assert_eq!(t.visibility, Visibility::Hidden);
        assert_eq!(t.audit[2].effect, Effect::Hid);
        votes.push(vote(3, Decision::Restore, 13));
        assert_eq!(tally(&votes, &r).visibility, Visibility::Hidden);
        votes.push(vote(1, Decision::Restore, 14));
        let t = tally(&votes, &r);
        assert_eq!(t.visibility, Visibility::Visible);
        assert_eq!(t.audit.last().map(|a| a.effect), Some(Effect::Restored));
    }

    #[test]
    fn votes_from_outside_the_roster_never_count() {
        let r = roster3();
        let votes = vec![vote(8, Decision::Hide, 1), vote(9, Decision::Hide, 2), vote(1, Decision::Hide, 3)];
        let t = tally(&votes, &r);
        assert_eq!(t.visibility, Visibility::Visible);
        assert_eq!(t.audit[0].effect, Effect::NotCounted);
    }

    #[test]
    fn a_moderator_changing_their_mind_withdraws_the_hide() {
        let r = roster3();
        let votes = vec![vote(1, Decision::Hide, 1), vote(1, Decision::Restore, 2), vote(2, Decision::Hide, 3)];
        assert_eq!(tally(&votes, &r).visibility, Visibility::Visible);
    }

    proptest! {
        /// The state and audit trail depend only on the set of votes.
        #[test]
        fn order_independent(
            raw in prop::collection::vec((1u8..=5, any::<bool>(), 0u64..20), 0..16),
            seed in any::<u64>(),
        ) {
            let r = roster3();
            let votes: Vec<VoteRecord> = raw
                .iter()
                .map(|(m, hide, t)| vote(*m, if *hide { Decision::Hide } else { Decision::Restore }, *t))
                .collect();
            let mut shuffled = votes.clone();
            // A cheap deterministic shuffle from the seed.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            prop_assert_eq!(tally(&votes, &r), tally(&shuffled, &r));
        }
    }
}
