//! Who may post: founders, keys that joined with a single-use invite, minus
//! members a moderator quorum revoked. A pure function of the charter, the
//! joins and the revocation signatures, like the roster.
//!
//! Single use: an invite admits exactly one key. If a ticket holder signs two
//! joins with the same invite, the join with the smaller id wins on every
//! node, whatever order they arrive in, and the other is refused.
//!
//! Revocation: each moderator signs a `Revocation`; the member is revoked
//! from the moment the quorum-th distinct current moderator signed (by
//! `sent`). Alerts the member signed from then on are refused or withdrawn.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ids::MessageId;
use super::keys::PublicKey;
use super::roster::Roster;
use super::verdict::RejectReason;

/// A join as the membership fold sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JoinRecord {
    id: MessageId,
    member: PublicKey,
    sent: u64,
}

/// A member's standing at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// May post at that time.
    Member,
    /// Not a member (yet).
    NotMember,
    /// Revoked at or before that time.
    Revoked,
}

/// Membership state.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    founders: BTreeSet<PublicKey>,
    /// invite id -> every join that used it (all kept so the fold is order-free).
    joins: HashMap<MessageId, Vec<JoinRecord>>,
    /// member -> earliest `sent` of a winning join.
    members: HashMap<PublicKey, u64>,
    /// member -> (moderator -> earliest revocation `sent`).
    revocations: HashMap<PublicKey, BTreeMap<PublicKey, u64>>,
    /// member -> time the revocation took effect, under the current roster.
    revoked: HashMap<PublicKey, u64>,
}

impl Membership {
    /// Founders only.
    pub fn new(founders: &[PublicKey]) -> Self {
        Self { founders: founders.iter().copied().collect(), ..Self::default() }
    }

    /// When `key` became a member (0 for founders).
    pub fn member_since(&self, key: &PublicKey) -> Option<u64> {
        if self.founders.contains(key) { Some(0) } else { self.members.get(key).copied() }
    }

    /// When `key`'s membership was revoked, if it was.
    pub fn revoked_at(&self, key: &PublicKey) -> Option<u64> {
        self.revoked.get(key).copied()
    }

    /// Standing of `key` for a message it signed at `at`.
    pub fn standing(&self, key: &PublicKey, at: u64) -> Standing {
        match (self.member_since(key), self.revoked_at(key)) {
            (_, Some(r)) if at >= r => Standing::Revoked,
            (Some(since), _) if since <= at => Standing::Member,
            _ => Standing::NotMember,
        }
    }

    /// Refuses a message by a non-member or a revoked member.
    pub fn require_member(&self, key: &PublicKey, at: u64) -> Result<(), RejectReason> {
        match self.standing(key, at) {
            Standing::Member => Ok(()),
            Standing::NotMember => Err(RejectReason::NotMember),
            Standing::Revoked => Err(RejectReason::Revoked),
        }
    }

    /// The join that currently holds `invite`, if any.
    pub fn invite_holder(&self, invite: &MessageId) -> Option<(MessageId, PublicKey)> {
        self.joins.get(invite).and_then(|js| js.iter().min_by_key(|j| j.id)).map(|j| (j.id, j.member))
    }

    /// Whether a new join `id` for `invite` would be the one that holds it.
    pub fn would_hold(&self, invite: &MessageId, id: &MessageId) -> bool {
        self.invite_holder(invite).is_none_or(|(held, _)| *id <= held)
    }

    /// Records a join (already checked). Returns the key that lost the
    /// invite to it, if a join with a larger id held it before.
    pub fn add_join(&mut self, invite: MessageId, id: MessageId, member: PublicKey, sent: u64) -> Option<PublicKey> {
        let before = self.invite_holder(&invite);
        let list = self.joins.entry(invite).or_default();
        if !list.iter().any(|j| j.id == id) {
            list.push(JoinRecord { id, member, sent });
        }
        self.recompute_members();
        match before {
            Some((_, old)) if self.invite_holder(&invite).map(|(_, m)| m) != Some(old) => Some(old),
            _ => None,
        }
    }

    fn recompute_members(&mut self) {
        let mut members: HashMap<PublicKey, u64> = HashMap::new();
        for js in self.joins.values() {
            if let Some(j) = js.iter().min_by_key(|j| j.id) {
                let e = members.entry(j.member).or_insert(j.sent);
                *e = (*e).min(j.sent);
            }
        }
        self.members = members;
    }

    /// Records one moderator's revocation signature and recomputes who is
    /// revoked under `roster`. Returns members whose revocation time changed.
    pub fn add_revocation(
        &mut self,
        member: PublicKey,
        moderator: PublicKey,
        sent: u64,
        roster: &Roster,
    ) -> Vec<PublicKey> {
        let e = self.revocations.entry(member).or_default().entry(moderator).or_insert(sent);
        *e = (*e).min(sent);
        self.recompute_revocations(roster)
    }

    /// Recomputes revocations under a (possibly changed) roster. Returns the
    /// members whose revocation time changed.
    pub fn recompute_revocations(&mut self, roster: &Roster) -> Vec<PublicKey> {
        let mut revoked = HashMap::new();
        for (member, sigs) in &self.revocations {
            let mut times: Vec<u64> = sigs.iter().filter(|(m, _)| roster.is_moderator(m)).map(|(_, t)| *t).collect();
            times.sort_unstable();
            if let Some(t) = times.get(roster.quorum as usize - 1) {
                revoked.insert(*member, *t);
            }
        }
        let mut changed: Vec<PublicKey> = revoked
            .iter()
            .filter(|(k, t)| self.revoked.get(k) != Some(t))
            .map(|(k, _)| *k)
            .chain(self.revoked.keys().filter(|k| !revoked.contains_key(k)).copied())
            .collect();
        changed.sort();
        self.revoked = revoked;
        changed
    }

    /// Moderators who signed a revocation of `member`, with times.
    pub fn revocation_signatures(&self, member: &PublicKey) -> Vec<(PublicKey, u64)> {
        self.revocations.get(member).map(|m| m.iter().map(|(k, t)| (*k, *t)).collect()).unwrap_or_default()
    }

    /// Every member (founders and joined), with when they joined.
    pub fn members(&self) -> Vec<(PublicKey, u64)> {
        let mut v: Vec<_> = self.founders.iter().map(|k| (*k, 0)).collect();
        v.extend(self.members.iter().filter(|(k, _)| !self.founders.contains(k)).map(|(k, t)| (*k, *t)));
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Tag;
    use crate::keys::AuthorKey;
    use crate::roster::RosterBook;

    fn key(n: u8) -> PublicKey {
        AuthorKey::from_secret(&[n; 32]).public()
    }

    fn id(s: &str) -> MessageId {
        MessageId::of(Tag::Join, s.as_bytes())
    }

    #[test]
    fn smaller_join_id_holds_the_invite_in_any_order() {
        let invite = id("invite");
        let (a, b) = if id("a") < id("b") { (id("a"), id("b")) } else { (id("b"), id("a")) };
        let mut m1 = Membership::new(&[key(1)]);
        m1.add_join(invite, a, key(5), 10);
        assert!(!m1.would_hold(&invite, &b));
        m1.add_join(invite, b, key(6), 11);
        let mut m2 = Membership::new(&[key(1)]);
        m2.add_join(invite, b, key(6), 11);
        assert_eq!(m2.standing(&key(6), 12), Standing::Member);
        assert_eq!(m2.add_join(invite, a, key(5), 10), Some(key(6)), "the larger id loses the invite");
        for m in [&m1, &m2] {
            assert_eq!(m.standing(&key(5), 10), Standing::Member);
            assert_eq!(m.standing(&key(5), 9), Standing::NotMember, "not before the join");
            assert_eq!(m.standing(&key(6), 12), Standing::NotMember);
        }
    }

    #[test]
    fn revocation_takes_effect_at_the_quorum_signature() {
        let book = RosterBook::new(&[key(1), key(2), key(3)], 2);
        let mut m = Membership::new(&[key(1), key(2), key(3)]);
        m.add_join(id("i"), id("j"), key(7), 100);
        assert!(m.add_revocation(key(7), key(1), 200, book.current()).is_empty());
        assert_eq!(m.standing(&key(7), 500), Standing::Member, "one moderator is not a quorum");
        // A non-moderator's signature never counts.
        assert!(m.add_revocation(key(7), key(9), 250, book.current()).is_empty());
        assert_eq!(m.add_revocation(key(7), key(2), 300, book.current()), vec![key(7)]);
        assert_eq!(m.standing(&key(7), 299), Standing::Member);
        assert_eq!(m.standing(&key(7), 300), Standing::Revoked);
        assert_eq!(m.require_member(&key(7), 301), Err(RejectReason::Revoked));
        assert_eq!(m.require_member(&key(8), 301), Err(RejectReason::NotMember));
    }
}
