//! The hood's state machine: every rule that needs context (membership,
//! roster, quotas, references, seen ids) applied to opened envelopes, with
//! the clock passed in. No I/O: the node feeds it bytes and a persist hook.
//!
//! Each message goes through three steps, in this order:
//! 1. **check** (`check.rs`, `&self`): every rule; the result is either a
//!    refusal, "hold until the referenced alert arrives", or a [`Plan`]
//!    that says exactly what to change, including the alert state changes;
//! 2. **persist**: the caller's hook stores the [`Accepted`] message;
//! 3. **apply** (`apply.rs`): only if the hook succeeded, the plan is
//!    committed (seen id, quota, membership, votes...).
//!
//! So a message the store could not keep leaves no trace here and is
//! accepted when it arrives again.

mod apply;
mod check;
mod page;
mod pending;
mod records;
mod retention;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_attacks;

use std::collections::HashMap;

pub use page::{PageOutcome, awaits_history, dependency_rank, ingest_page, is_broken_frame};
pub use pending::{PENDING_CAPACITY, PENDING_PER_AUTHOR, PENDING_TTL_SECS, PendingBuffer};
pub use records::{Accepted, AlertMeta, AlertState, Outcome, ReportRecord, StateChange};
pub use retention::Garbage;

use super::charter::{Charter, SignedCharter};
use super::envelope::Envelope;
use super::ids::{HoodId, MessageId};
use super::keys::{PublicKey, SIGNATURE_LEN};
use super::membership::Membership;
use super::moderation::{self, AuditEntry};
use super::quota::Quota;
use super::roster::{Roster, RosterBook};
use super::text::TextPolicy;
use super::verdict::{IgnoreReason, RejectReason, Verdict};
use check::{Plan, Stop};

/// How far in the future `sent` may be. Slightly-fast honest clocks (a few
/// seconds to a minute) pass; a node whose clock is minutes ahead cannot get
/// future-dated messages accepted (RELIABILITY.md row 8).
pub const MAX_FUTURE_SKEW_SECS: u64 = 120;
/// Parsed author keys kept (~200 bytes each).
pub const KEY_CACHE_CAPACITY: usize = 4096;
/// Longest invite validity.
pub const MAX_INVITE_LIFETIME_SECS: u64 = 30 * 86_400;

/// How old a join may be (by `sent`, against the clock) when it would take
/// an invite from the join holding it. Honest contests (two devices using
/// one ticket) happen within minutes; a ticket leaked later cannot be used
/// to backdate a join past the holder, and an uncontested old join (history
/// fetched by sync) is not affected.
pub const JOIN_FRESHNESS_SECS: u64 = 600;
/// Roster signatures one moderator may have on one version: a moderator
/// may sign a few competing proposals (add A, add B, change the quorum)
/// while only one applies per version; more is flooding, and every
/// signature is replayed by the roster fold.
pub const MAX_ROSTER_SIGNATURES_PER_VERSION: usize = 4;

/// Caps on text fields, in bytes. The description cap comes from the charter.
pub mod caps {
    /// Event type.
    pub const EVENT: usize = 64;
    /// Headline.
    pub const HEADLINE: usize = 140;
    /// Instruction.
    pub const INSTRUCTION: usize = 500;
    /// Notes on reports and votes, revocation reasons.
    pub const NOTE: usize = 500;
}

/// The persist hook of [`Ledger::ingest_with`] and [`Ledger::admit_with`]:
/// stores one accepted message and says whether it is durable (or at least
/// written). Returning `false` leaves the ledger as if the message never came.
pub type Persist<'a> = dyn FnMut(&Accepted) -> bool + 'a;

/// The hood state machine.
#[derive(Debug)]
pub struct Ledger {
    signed_charter: SignedCharter,
    hood: HoodId,
    policy: TextPolicy,
    roster: RosterBook,
    membership: Membership,
    quota: Quota,
    /// Held alerts (originals, updates, cancels). Bounded per author by the
    /// quota (alerts and updates) and by one cancel per original, times the
    /// longest lifetime plus retention; retention removes them.
    alerts: HashMap<MessageId, AlertMeta>,
    /// Author -> ids of its held alerts: the same bound as `alerts` per
    /// author (entries go with their alert at retention).
    by_author: HashMap<PublicKey, Vec<MessageId>>,
    /// Every held message -> its signature, so that a byte-identical
    /// re-send is told apart from a forged copy without a verify. Bounded by
    /// what the store holds (retention removes alerts and their children).
    seen: HashMap<MessageId, [u8; SIGNATURE_LEN]>,
    /// Alert ids deleted by retention -> when they may be forgotten: replays
    /// of them and of messages about them are ignored as expired. Bounded
    /// by the alerts deleted within one retention window.
    tombstones: HashMap<MessageId, u64>,
    /// Messages waiting for the alert they reference (bounded, see
    /// [`PendingBuffer`]).
    pending: PendingBuffer,
    /// Invites seen as messages or inside joins, counted once each in the
    /// issuer's quota. Bounded by the invite quota (per issuer per day)
    /// times the days its quota window is kept (about two months):
    /// retention drops a record with its window.
    invites: HashMap<MessageId, InviteRecord>,
    /// Parsed signer keys; bounded by KEY_CACHE_CAPACITY (cleared when full).
    key_cache: HashMap<PublicKey, ed25519_dalek::VerifyingKey>,
}

/// What the ledger remembers about an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InviteRecord {
    issuer: PublicKey,
    sent: u64,
    expires: u64,
    /// Whether the invite arrived as its own message (so the store holds it).
    as_message: bool,
}

impl Ledger {
    /// A ledger for the hood the charter defines, holding nothing yet.
    pub fn new(signed_charter: SignedCharter) -> Self {
        let c = signed_charter.charter();
        Self {
            hood: signed_charter.hood(),
            policy: TextPolicy { allow_links: c.allow_links, max_cell_precision: c.max_cell_precision },
            roster: RosterBook::new(&c.founders, c.quorum),
            membership: Membership::new(&c.founders),
            quota: Quota::new(c.quotas),
            signed_charter,
            alerts: HashMap::new(),
            by_author: HashMap::new(),
            seen: HashMap::new(),
            tombstones: HashMap::new(),
            pending: PendingBuffer::default(),
            invites: HashMap::new(),
            key_cache: HashMap::new(),
        }
    }

    /// The hood id.
    pub fn hood(&self) -> HoodId {
        self.hood
    }

    /// The charter with its signatures.
    pub fn signed_charter(&self) -> &SignedCharter {
        &self.signed_charter
    }

    /// The rules.
    pub fn charter(&self) -> &Charter {
        self.signed_charter.charter()
    }

    /// The current roster.
    pub fn roster(&self) -> &Roster {
        self.roster.current()
    }

    /// Roster signatures and applied changes.
    pub fn roster_book(&self) -> &RosterBook {
        &self.roster
    }

    /// Membership state.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Posting quotas state.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// Whether `id` is held, pending or tombstoned.
    pub fn is_seen(&self, id: &MessageId) -> bool {
        self.seen.contains_key(id) || self.tombstones.contains_key(id) || self.pending.contains(id)
    }

    /// The record of an alert.
    pub fn alert(&self, id: &MessageId) -> Option<&AlertMeta> {
        self.alerts.get(id)
    }

    /// Every alert record.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertMeta> {
        self.alerts.values()
    }

    /// Number of messages waiting for their alert.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Number of ids in the seen set (held and tombstoned).
    pub fn seen_len(&self) -> usize {
        self.seen.len() + self.tombstones.len()
    }

    /// The externally visible state of an alert.
    pub fn state(&self, id: &MessageId) -> Option<AlertState> {
        self.alerts.get(id).map(|m| self.state_of(m))
    }

    fn state_of(&self, m: &AlertMeta) -> AlertState {
        records::state_with(&self.membership, m, m.visibility, m.cancelled_by.is_some())
    }

    /// The audit trail of one alert's votes.
    pub fn audit(&self, id: &MessageId) -> Vec<AuditEntry> {
        self.alerts.get(id).map(|m| moderation::tally(&m.votes, self.roster()).audit).unwrap_or_default()
    }

    /// Reported alerts still visible: the moderators' review queue, most
    /// reported first.
    pub fn review_queue(&self) -> Vec<&AlertMeta> {
        let mut q: Vec<&AlertMeta> =
            self.alerts.values().filter(|m| !m.reports.is_empty() && self.state_of(m) == AlertState::Visible).collect();
        q.sort_by(|a, b| b.reports.len().cmp(&a.reports.len()).then(a.sent.cmp(&b.sent)).then(a.id.cmp(&b.id)));
        q
    }

    /// Validates and applies one frame from the network (nothing to persist).
    pub fn ingest(&mut self, bytes: &[u8], now: u64) -> Outcome {
        self.ingest_with(bytes, now, &mut |_| true)
    }

    /// Validates one frame, calls `persist` for it and for every pending
    /// message it releases, and commits each only if `persist` returned
    /// true. A message whose persist failed gets Ignore `store_unavailable`
    /// and is not remembered, so it is accepted when it arrives again.
    pub fn ingest_with(&mut self, bytes: &[u8], now: u64, persist: &mut Persist<'_>) -> Outcome {
        let env = match Envelope::decode_unverified(bytes) {
            Ok(env) => env,
            Err(r) => return Outcome { id: None, kind: None, verdict: Verdict::Reject(r), accepted: Vec::new() },
        };
        let refuse = |verdict| Outcome { id: Some(env.id()), kind: Some(env.kind()), verdict, accepted: Vec::new() };
        match self.duplicate(&env) {
            Some(v) => return refuse(v),
            None => {
                if let Err(e) = self.verify(&env) {
                    return refuse(Verdict::Reject(e));
                }
            }
        }
        self.admit_with(env, now, persist)
    }

    /// The verdict for an id this node already has, or None if it is new.
    ///
    /// A held id with byte-identical bytes (the same signature: ed25519
    /// signing is deterministic and the id covers everything else) is a
    /// duplicate at the cost of a comparison. Any other copy of a held or
    /// tombstoned id is verified, so a forged copy is rejected (and its
    /// sender penalized) instead of passing as a free duplicate.
    fn duplicate(&mut self, env: &Envelope) -> Option<Verdict> {
        let id = env.id();
        let held = match self.seen.get(&id) {
            Some(s) => Some(*s),
            None => self.pending.signature(&id),
        };
        let known = held.is_some() || self.tombstones.contains_key(&id);
        if !known {
            return None;
        }
        if held.is_some_and(|sig| sig == *env.signature()) {
            return Some(Verdict::Ignore(IgnoreReason::Duplicate));
        }
        Some(match self.verify(env) {
            Ok(()) => Verdict::Ignore(IgnoreReason::Duplicate),
            Err(e) => Verdict::Reject(e),
        })
    }

    /// Verifies with a cached parse of the signer's key: decompressing an
    /// ed25519 point costs about a third of a verification, and a hood hears
    /// the same few hundred authors over and over.
    fn verify(&mut self, env: &Envelope) -> Result<(), RejectReason> {
        let signer = env.signer();
        let vk = match self.key_cache.get(&signer) {
            Some(vk) => *vk,
            None => {
                let vk = signer.verifying_key()?;
                if self.key_cache.len() >= KEY_CACHE_CAPACITY {
                    self.key_cache.clear();
                }
                self.key_cache.insert(signer, vk);
                vk
            }
        };
        env.verify_with(&vk)
    }

    /// Validates and applies an envelope whose signature is already verified
    /// (a local post, or a batch-verified frame). Nothing to persist.
    pub fn admit(&mut self, env: Envelope, now: u64) -> Outcome {
        self.admit_with(env, now, &mut |_| true)
    }

    /// [`Ledger::admit`] with a persist hook (see [`Ledger::ingest_with`]).
    /// A copy of a held id gets the same verdict as through `ingest_with`.
    pub fn admit_with(&mut self, env: Envelope, now: u64, persist: &mut Persist<'_>) -> Outcome {
        let id = env.id();
        let kind = env.kind();
        if let Some(verdict) = self.duplicate(&env) {
            return Outcome { id: Some(id), kind: Some(kind), verdict, accepted: Vec::new() };
        }
        let mut accepted = Vec::new();
        let verdict = match self.check(&env, now) {
            Ok(plan) => {
                if self.commit(plan, persist, &mut accepted) {
                    Verdict::Accept
                } else {
                    Verdict::Ignore(IgnoreReason::StoreUnavailable)
                }
            }
            Err(Stop::Hold(refers)) => Verdict::Ignore(self.pending.hold(refers, env, now)),
            Err(Stop::Refuse(r)) => r.into(),
        };
        self.release(now, persist, &mut accepted);
        Outcome { id: Some(id), kind: Some(kind), verdict, accepted }
    }

    /// Persists, then applies. Returns whether the message was committed.
    fn commit(&mut self, plan: Plan, persist: &mut Persist<'_>, out: &mut Vec<Accepted>) -> bool {
        if !persist(&plan.accepted) {
            return false;
        }
        self.apply(plan.effect, &plan.accepted);
        out.push(plan.accepted);
        true
    }

    /// Re-validates the messages that were waiting for what was just
    /// accepted (and, transitively, for those). A released message that
    /// fails its check or its persist is dropped: its alert is here now, so
    /// it would never be released again; sync fetches it once more.
    fn release(&mut self, now: u64, persist: &mut Persist<'_>, accepted: &mut Vec<Accepted>) {
        let mut i = 0;
        while i < accepted.len() {
            let released = self.pending.take(&accepted[i].envelope.id());
            for env in released {
                if let Ok(plan) = self.check(&env, now) {
                    self.commit(plan, persist, accepted);
                }
            }
            i += 1;
        }
    }
}
