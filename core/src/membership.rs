//! Who may post: founders, keys that joined with a single-use invite, minus
//! members a moderator quorum revoked. A pure function of the charter, the
//! joins and the revocation signatures, like the roster.
//!
//! Single use: an invite admits exactly one key. If a ticket holder signs two
//! joins with the same invite, the join with the earliest (`sent`, id) holds
//! it on every node, whatever order they arrive in. Grinding keys for a small
//! id no longer helps a late join; backdating is bounded by the ledger's
//! freshness rule for joins that would take a held invite.
//!
//! A join counts only if its invite's issuer was a member in good standing
//! at the join's `sent`: a member revoked at R cannot admit anyone with a
//! join signed at or after R, and when a revocation arrives after such
//! joins, the members they admitted (and whoever those admitted after R)
//! stop being members.
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
    issuer: PublicKey,
}

impl JoinRecord {
    fn rank(&self) -> (u64, MessageId) {
        (self.sent, self.id)
    }
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
    /// invite id -> the join holding it. One entry per used invite: invites
    /// are bounded by the issuers' invite quota.
    holders: HashMap<MessageId, JoinRecord>,
    /// member -> (`sent`, invite) of the joins it holds; per key at most the
    /// invites issued to it.
    held: HashMap<PublicKey, BTreeSet<(u64, MessageId)>>,
    /// issuer -> number of its invites that are held (who could be
    /// affected when the issuer's own standing changes).
    issued: HashMap<PublicKey, u32>,
    /// member -> earliest `sent` of a held join that counts (issuer in good
    /// standing then). One entry per member.
    members: HashMap<PublicKey, u64>,
    /// member -> (moderator -> (`sent`, id) of its earliest revocation);
    /// per member at most one entry per key that was ever a moderator.
    revocations: HashMap<PublicKey, BTreeMap<PublicKey, (u64, MessageId)>>,
    /// member -> time the revocation took effect, under the current roster.
    revoked: HashMap<PublicKey, u64>,
    /// How many times every member was recomputed (revocations, roster
    /// changes, a join taking a held invite): joins alone should not.
    full_recomputes: u64,
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

    /// Whether `key` is a founder.
    pub fn is_founder(&self, key: &PublicKey) -> bool {
        self.founders.contains(key)
    }

    /// When `key`'s membership was revoked, if it was.
    pub fn revoked_at(&self, key: &PublicKey) -> Option<u64> {
        self.revoked.get(key).copied()
    }

    /// Standing of `key` for a message it signed at `at`.
    pub fn standing(&self, key: &PublicKey, at: u64) -> Standing {
        Self::standing_in(&self.founders, &self.members, &self.revoked, key, at)
    }

    fn standing_in(
        founders: &BTreeSet<PublicKey>,
        members: &HashMap<PublicKey, u64>,
        revoked: &HashMap<PublicKey, u64>,
        key: &PublicKey,
        at: u64,
    ) -> Standing {
        let since = if founders.contains(key) { Some(0) } else { members.get(key).copied() };
        match (since, revoked.get(key)) {
            (_, Some(r)) if at >= *r => Standing::Revoked,
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
        self.holders.get(invite).map(|j| (j.id, j.member))
    }

    /// Whether `invite` is held by a join.
    pub fn is_used(&self, invite: &MessageId) -> bool {
        self.holders.contains_key(invite)
    }

    /// Whether a new join `id` signed at `sent` for `invite` would be the
    /// one that holds it (earliest (`sent`, id)).
    pub fn would_hold(&self, invite: &MessageId, id: &MessageId, sent: u64) -> bool {
        self.holders.get(invite).is_none_or(|held| (sent, *id) <= held.rank())
    }

    /// Records a join (already checked) by `member` for an invite that
    /// `issuer` signed. Returns the id of the join it took the invite from,
    /// if a later join held it before.
    ///
    /// The common case (an unused invite, a new member who has admitted no
    /// one) updates one entry; only a join taking a held invite, or one that
    /// moves the date of a member who issued held invites, recomputes all.
    pub fn add_join(
        &mut self,
        invite: MessageId,
        id: MessageId,
        member: PublicKey,
        sent: u64,
        issuer: PublicKey,
    ) -> Option<MessageId> {
        let rec = JoinRecord { id, member, sent, issuer };
        let previous = match self.holders.get(&invite) {
            Some(held) if held.rank() <= rec.rank() => return None,
            Some(held) => Some(*held),
            None => None,
        };
        self.holders.insert(invite, rec);
        self.held.entry(member).or_default().insert((sent, invite));
        *self.issued.entry(issuer).or_insert(0) += 1;
        if let Some(old) = previous {
            self.unhold(invite, &old);
            self.recompute_members();
            return Some(old.id);
        }
        let counts = self.standing(&issuer, sent) == Standing::Member;
        let earlier = self.members.get(&member).is_none_or(|s| sent < *s);
        if counts && earlier {
            if self.issued.get(&member).copied().unwrap_or(0) > 0 {
                self.recompute_members();
            } else {
                self.members.insert(member, sent);
            }
        }
        None
    }

    fn unhold(&mut self, invite: MessageId, old: &JoinRecord) {
        if let Some(set) = self.held.get_mut(&old.member) {
            set.remove(&(old.sent, invite));
            if set.is_empty() {
                self.held.remove(&old.member);
            }
        }
        if let Some(n) = self.issued.get_mut(&old.issuer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.issued.remove(&old.issuer);
            }
        }
    }

    /// Recomputes every member from the held joins and the revocations: the
    /// least fixpoint of "a join counts if its issuer is a member in good
    /// standing at its `sent`", reached by passes in (`sent`, id) order.
    fn recompute_members(&mut self) {
        self.full_recomputes += 1;
        let mut joins: Vec<&JoinRecord> = self.holders.values().collect();
        joins.sort_by_key(|j| j.rank());
        let mut members: HashMap<PublicKey, u64> = HashMap::new();
        loop {
            let mut grew = false;
            for j in &joins {
                let ok =
                    Self::standing_in(&self.founders, &members, &self.revoked, &j.issuer, j.sent) == Standing::Member;
                if ok && members.get(&j.member).is_none_or(|s| j.sent < *s) {
                    members.insert(j.member, j.sent);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        self.members = members;
    }

    /// How many full recomputations of the members happened.
    pub fn full_recomputes(&self) -> u64 {
        self.full_recomputes
    }

    /// The (`sent`, id) of `moderator`'s held revocation of `member`.
    pub fn revocation_by(&self, member: &PublicKey, moderator: &PublicKey) -> Option<(u64, MessageId)> {
        self.revocations.get(member).and_then(|m| m.get(moderator)).copied()
    }

    /// Records one moderator's revocation signature `id` (only its earliest
    /// (`sent`, id) per member is kept) and recomputes who is revoked under
    /// `roster`. Returns members whose revocation time changed.
    pub fn add_revocation(
        &mut self,
        member: PublicKey,
        moderator: PublicKey,
        sent: u64,
        id: MessageId,
        roster: &Roster,
    ) -> Vec<PublicKey> {
        let e = self.revocations.entry(member).or_default().entry(moderator).or_insert((sent, id));
        *e = (*e).min((sent, id));
        self.recompute_revocations(roster)
    }

    /// Recomputes revocations under a (possibly changed) roster, and the
    /// members if any revocation time changed (their joins may no longer
    /// count). Returns the members whose revocation time changed.
    pub fn recompute_revocations(&mut self, roster: &Roster) -> Vec<PublicKey> {
        let mut revoked = HashMap::new();
        for (member, sigs) in &self.revocations {
            let mut times: Vec<u64> =
                sigs.iter().filter(|(m, _)| roster.is_moderator(m)).map(|(_, (t, _))| *t).collect();
            times.sort_unstable();
            if let Some(t) = times.get((roster.quorum as usize).max(1) - 1) {
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
        if !changed.is_empty() {
            self.recompute_members();
        }
        changed
    }

    /// Keys whose membership date or revocation differs from `other`'s.
    pub fn differences(&self, other: &Membership) -> BTreeSet<PublicKey> {
        let mut keys = BTreeSet::new();
        for (a, b) in [(self, other), (other, self)] {
            keys.extend(a.members.iter().filter(|(k, t)| b.members.get(k) != Some(t)).map(|(k, _)| *k));
            keys.extend(a.revoked.iter().filter(|(k, t)| b.revoked.get(k) != Some(t)).map(|(k, _)| *k));
        }
        keys
    }

    /// Moderators who signed a revocation of `member`, with times.
    pub fn revocation_signatures(&self, member: &PublicKey) -> Vec<(PublicKey, u64)> {
        self.revocations.get(member).map(|m| m.iter().map(|(k, (t, _))| (*k, *t)).collect()).unwrap_or_default()
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
    fn earliest_join_holds_the_invite_in_any_order() {
        let invite = id("invite");
        // b has the smaller id but the later time: time decides.
        let (b, a) = if id("a") < id("b") { (id("a"), id("b")) } else { (id("b"), id("a")) };
        let mut m1 = Membership::new(&[key(1)]);
        m1.add_join(invite, a, key(5), 10, key(1));
        assert!(!m1.would_hold(&invite, &b, 11), "a smaller id signed later does not take it");
        assert_eq!(m1.add_join(invite, b, key(6), 11, key(1)), None);
        let mut m2 = Membership::new(&[key(1)]);
        m2.add_join(invite, b, key(6), 11, key(1));
        assert_eq!(m2.standing(&key(6), 12), Standing::Member);
        assert_eq!(m2.add_join(invite, a, key(5), 10, key(1)), Some(b), "the later join loses the invite");
        for m in [&m1, &m2] {
            assert_eq!(m.standing(&key(5), 10), Standing::Member);
            assert_eq!(m.standing(&key(5), 9), Standing::NotMember, "not before the join");
            assert_eq!(m.standing(&key(6), 12), Standing::NotMember);
            assert_eq!(m.invite_holder(&invite), Some((a, key(5))));
        }
    }

    #[test]
    fn joins_after_the_issuers_revocation_stop_counting_transitively() {
        let book = RosterBook::new(&[key(1), key(2)], 2);
        let mut m = Membership::new(&[key(1), key(2)]);
        m.add_join(id("i1"), id("j1"), key(7), 100, key(1));
        // key 7 admits key 8 before its revocation and key 9 after; 9 admits 10.
        m.add_join(id("i2"), id("j2"), key(8), 150, key(7));
        m.add_join(id("i3"), id("j3"), key(9), 250, key(7));
        m.add_join(id("i4"), id("j4"), key(10), 260, key(9));
        assert_eq!(m.standing(&key(10), 300), Standing::Member, "positive control before the revocation");
        m.add_revocation(key(7), key(1), 200, id("r1"), book.current());
        m.add_revocation(key(7), key(2), 200, id("r2"), book.current());
        assert_eq!(m.standing(&key(8), 300), Standing::Member, "admitted before R");
        assert_eq!(m.standing(&key(9), 300), Standing::NotMember, "admitted at or after R");
        assert_eq!(m.standing(&key(10), 300), Standing::NotMember, "and whoever it admitted");
    }

    #[test]
    fn plain_joins_update_one_entry() {
        let mut m = Membership::new(&[key(1)]);
        for n in 0..5_000u32 {
            let k = AuthorKey::from_secret(&{
                let mut s = [9u8; 32];
                s[..4].copy_from_slice(&n.to_be_bytes());
                s
            })
            .public();
            m.add_join(id(&format!("i{n}")), id(&format!("j{n}")), k, 100 + u64::from(n), key(1));
        }
        assert_eq!(m.members().len(), 5_001);
        assert_eq!(m.full_recomputes(), 0, "no join recomputed every member");
    }

    #[test]
    fn revocation_takes_effect_at_the_quorum_signature() {
        let book = RosterBook::new(&[key(1), key(2), key(3)], 2);
        let mut m = Membership::new(&[key(1), key(2), key(3)]);
        m.add_join(id("i"), id("j"), key(7), 100, key(1));
        assert!(m.add_revocation(key(7), key(1), 200, id("r1"), book.current()).is_empty());
        assert_eq!(m.standing(&key(7), 500), Standing::Member, "one moderator is not a quorum");
        // A non-moderator's signature never counts.
        assert!(m.add_revocation(key(7), key(9), 250, id("r9"), book.current()).is_empty());
        assert_eq!(m.add_revocation(key(7), key(2), 300, id("r2"), book.current()), vec![key(7)]);
        assert_eq!(m.standing(&key(7), 299), Standing::Member);
        assert_eq!(m.standing(&key(7), 300), Standing::Revoked);
        assert_eq!(m.require_member(&key(7), 301), Err(RejectReason::Revoked));
        assert_eq!(m.require_member(&key(8), 301), Err(RejectReason::NotMember));
    }
}
