//! The hood's state machine: every rule that needs context (membership,
//! roster, quotas, references, seen ids) applied to opened envelopes, with
//! the clock passed in. No I/O: the node feeds it bytes and persists what it
//! reports as accepted; the simulator and the tests drive it the same way.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::area::Cell;
use super::charter::{Charter, SignedCharter};
use super::envelope::{Envelope, Kind};
use super::ids::{HoodId, MessageId, Tag};
use super::keys::PublicKey;
use super::membership::Membership;
use super::message::{Alert, Join, MsgType, Payload, ReactionKind, ReportReason, RosterOp, Status};
use super::moderation::{self, AuditEntry, Visibility, VoteRecord};
use super::quota::Quota;
use super::roster::{Roster, RosterBook, RosterSignature};
use super::text::{self, TextPolicy};
use super::verdict::{IgnoreReason, Refusal, RejectReason, Verdict};

/// How far in the future `sent` may be. Slightly-fast honest clocks (a few
/// seconds to a minute) pass; a node whose clock is minutes ahead cannot get
/// future-dated messages accepted (RELIABILITY.md row 8).
pub const MAX_FUTURE_SKEW_SECS: u64 = 120;
/// Messages waiting for the alert they reference: enough for a burst of votes
/// and reactions that outran their alert, small enough to cost < 20 MiB.
pub const PENDING_CAPACITY: usize = 1024;
/// How long a pending message waits before it is dropped (sync refetches it).
pub const PENDING_TTL_SECS: u64 = 600;
/// Parsed author keys kept (~200 bytes each).
pub const KEY_CACHE_CAPACITY: usize = 4096;
/// Longest invite validity.
pub const MAX_INVITE_LIFETIME_SECS: u64 = 30 * 86_400;

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

/// What a moderator-visible alert looks like from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Shown in feeds.
    Visible,
    /// Hidden by a moderator quorum (kept for the audit window).
    Hidden,
    /// Retracted by its author.
    Cancelled,
    /// Signed at or after its author's revocation.
    Withdrawn,
}

impl AlertState {
    /// One byte for store indexes.
    pub fn code(self) -> u8 {
        match self {
            AlertState::Visible => 1,
            AlertState::Hidden => 2,
            AlertState::Cancelled => 3,
            AlertState::Withdrawn => 4,
        }
    }

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Visible => "visible",
            AlertState::Hidden => "hidden",
            AlertState::Cancelled => "cancelled",
            AlertState::Withdrawn => "withdrawn",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Visible, Self::Hidden, Self::Cancelled, Self::Withdrawn].into_iter().find(|v| v.name() == s)
    }
}

/// A report as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// Report id.
    pub id: MessageId,
    /// Reporting member.
    pub reporter: PublicKey,
    /// Reason.
    pub reason: ReportReason,
    /// Signed time.
    pub sent: u64,
}

/// The small per-alert record kept in memory (the text stays in the store).
#[derive(Debug, Clone)]
pub struct AlertMeta {
    /// Alert id.
    pub id: MessageId,
    /// Author key.
    pub author: PublicKey,
    /// Category.
    pub category: String,
    /// Alert, Update or Cancel.
    pub msg_type: MsgType,
    /// Original alert for updates and cancels.
    pub references: Option<MessageId>,
    /// CAP status.
    pub status: Status,
    /// Signed time.
    pub sent: u64,
    /// Expiry.
    pub expires: u64,
    /// The cancel that retracted it.
    pub cancelled_by: Option<MessageId>,
    /// Updates, in arrival order.
    pub updates: Vec<MessageId>,
    /// Moderator votes.
    pub votes: Vec<VoteRecord>,
    /// Member reports.
    pub reports: Vec<ReportRecord>,
    /// Reactions by kind: distinct authors.
    pub reactions: BTreeMap<ReactionKind, BTreeSet<PublicKey>>,
    /// Ids of the reactions counted above (so retention can forget them).
    pub reaction_ids: Vec<MessageId>,
    /// Moderation outcome of the votes.
    pub visibility: Visibility,
}

/// A message the ledger accepted: persist it, and re-index `changed`.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The verified envelope.
    pub envelope: Envelope,
    /// Its decoded payload.
    pub payload: Payload,
    /// Alerts whose [`AlertState`] changed because of it.
    pub changed: Vec<StateChange>,
}

/// An alert moving from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The alert.
    pub alert: MessageId,
    /// Its signed time (the store's state index is ordered by it).
    pub sent: u64,
    /// State before.
    pub from: AlertState,
    /// State after.
    pub to: AlertState,
}

/// Result of ingesting one frame.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Message id, if the frame decoded that far.
    pub id: Option<MessageId>,
    /// Payload kind, if known.
    pub kind: Option<Kind>,
    /// The decision for this frame.
    pub verdict: Verdict,
    /// This message (if accepted) and any pending messages it released.
    pub accepted: Vec<Accepted>,
}

#[derive(Debug, Clone)]
struct PendingEntry {
    refers: MessageId,
    envelope: Envelope,
    deadline: u64,
}

/// The hood state machine.
#[derive(Debug)]
pub struct Ledger {
    signed_charter: SignedCharter,
    hood: HoodId,
    policy: TextPolicy,
    roster: RosterBook,
    membership: Membership,
    quota: Quota,
    alerts: HashMap<MessageId, AlertMeta>,
    by_author: HashMap<PublicKey, Vec<MessageId>>,
    /// Ids of every held message -> when it may be forgotten (u64::MAX while
    /// held). Deleted alerts stay as tombstones for one more retention window.
    seen: HashMap<MessageId, u64>,
    /// Alert ids deleted by retention: replays of them and of messages about
    /// them are ignored as expired.
    tombstones: HashMap<MessageId, u64>,
    /// Bounded by PENDING_CAPACITY.
    pending: VecDeque<PendingEntry>,
    pending_ids: HashSet<MessageId>,
    invites: HashMap<MessageId, (PublicKey, u64)>,
    /// Parsed signer keys; bounded by KEY_CACHE_CAPACITY (cleared when full).
    key_cache: HashMap<PublicKey, ed25519_dalek::VerifyingKey>,
}

impl Ledger {
    /// A ledger for the hood the charter defines, holding nothing yet.
    pub fn new(signed_charter: SignedCharter) -> Self {
        let c = signed_charter.charter();
        Self {
            hood: signed_charter.hood(),
            policy: TextPolicy { allow_links: c.allow_links },
            roster: RosterBook::new(&c.founders, c.quorum),
            membership: Membership::new(&c.founders),
            quota: Quota::new(c.quotas),
            signed_charter,
            alerts: HashMap::new(),
            by_author: HashMap::new(),
            seen: HashMap::new(),
            tombstones: HashMap::new(),
            pending: VecDeque::new(),
            pending_ids: HashSet::new(),
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

    /// Whether `id` is held or tombstoned.
    pub fn is_seen(&self, id: &MessageId) -> bool {
        self.seen.contains_key(id) || self.tombstones.contains_key(id) || self.pending_ids.contains(id)
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
        if self.membership.revoked_at(&m.author).is_some_and(|r| m.sent >= r) {
            AlertState::Withdrawn
        } else if m.visibility == Visibility::Hidden {
            AlertState::Hidden
        } else if m.cancelled_by.is_some() {
            AlertState::Cancelled
        } else {
            AlertState::Visible
        }
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

    /// Validates and applies one frame from the network.
    pub fn ingest(&mut self, bytes: &[u8], now: u64) -> Outcome {
        let env = match Envelope::decode_unverified(bytes) {
            Ok(env) => env,
            Err(r) => return Outcome { id: None, kind: None, verdict: Verdict::Reject(r), accepted: Vec::new() },
        };
        // Dedup before the signature check: a replay costs a hash, not a verify.
        if self.is_seen(&env.id()) {
            return Outcome {
                id: Some(env.id()),
                kind: Some(env.kind()),
                verdict: Verdict::Ignore(IgnoreReason::Duplicate),
                accepted: Vec::new(),
            };
        }
        if let Err(e) = self.verify(&env) {
            return Outcome {
                id: Some(env.id()),
                kind: Some(env.kind()),
                verdict: Verdict::Reject(e),
                accepted: Vec::new(),
            };
        }
        self.admit(env, now)
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
    /// (a local post, or a batch-verified frame).
    pub fn admit(&mut self, env: Envelope, now: u64) -> Outcome {
        let id = env.id();
        let kind = env.kind();
        if self.is_seen(&id) {
            return Outcome {
                id: Some(id),
                kind: Some(kind),
                verdict: Verdict::Ignore(IgnoreReason::Duplicate),
                accepted: Vec::new(),
            };
        }
        let mut accepted = Vec::new();
        let verdict = match self.admit_one(env, now) {
            Ok(a) => {
                accepted.push(a);
                Verdict::Accept
            }
            Err(r) => r.into(),
        };
        // Messages that were waiting for what was just accepted.
        let mut i = 0;
        while i < accepted.len() {
            let released = self.take_pending(accepted[i].envelope.id());
            for env in released {
                if let Ok(a) = self.admit_one(env, now) {
                    accepted.push(a);
                }
            }
            i += 1;
        }
        Outcome { id: Some(id), kind: Some(kind), verdict, accepted }
    }

    fn take_pending(&mut self, alert: MessageId) -> Vec<Envelope> {
        if !self.pending.iter().any(|p| p.refers == alert) {
            return Vec::new();
        }
        let (released, kept): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.refers == alert);
        self.pending = kept.into();
        released
            .into_iter()
            .map(|p| {
                self.pending_ids.remove(&p.envelope.id());
                p.envelope
            })
            .collect()
    }

    fn hold(&mut self, refers: MessageId, env: Envelope, now: u64) -> Refusal {
        if self.pending.len() >= PENDING_CAPACITY {
            return IgnoreReason::PendingFull.into();
        }
        self.pending_ids.insert(env.id());
        self.pending.push_back(PendingEntry { refers, envelope: env, deadline: now + PENDING_TTL_SECS });
        IgnoreReason::Pending.into()
    }

    /// Looks up the alert a vote/report/reaction/update refers to; holds the
    /// message if the alert is not here yet.
    fn referenced(&mut self, target: MessageId, env: &Envelope, now: u64) -> Result<&AlertMeta, Refusal> {
        if self.tombstones.contains_key(&target) {
            return Err(IgnoreReason::Expired.into());
        }
        if !self.alerts.contains_key(&target) {
            return Err(self.hold(target, env.clone(), now));
        }
        self.alerts.get(&target).ok_or(Refusal::Ignore(IgnoreReason::Expired))
    }

    fn admit_one(&mut self, env: Envelope, now: u64) -> Result<Accepted, Refusal> {
        let payload = Payload::decode(&env)?;
        if payload.hood() != self.hood {
            return Err(RejectReason::WrongHood.into());
        }
        let sent = payload.sent();
        if sent > now + MAX_FUTURE_SKEW_SECS {
            return Err(RejectReason::FutureDated { ahead: sent - now, max: MAX_FUTURE_SKEW_SECS }.into());
        }
        let signer = env.signer();
        let mut changed = Vec::new();
        match &payload {
            Payload::Alert(a) => {
                self.check_alert(&env, a, now)?;
                changed = self.apply_alert(env.id(), signer, a);
            }
            Payload::Report(r) => {
                self.membership.require_member(&signer, r.sent)?;
                self.policy.check("note", &r.note, caps::NOTE, false)?;
                let target = self.referenced(r.alert, &env, now)?;
                if target.reports.iter().any(|x| x.reporter == signer) {
                    return Err(IgnoreReason::AlreadyCounted.into());
                }
                self.apply_report(env.id(), signer, r.alert, r.reason, r.sent);
            }
            Payload::Vote(v) => {
                if !self.roster().is_moderator(&signer) {
                    return Err(RejectReason::NotModerator.into());
                }
                self.policy.check("note", &v.note, caps::NOTE, false)?;
                self.referenced(v.alert, &env, now)?;
                let record = VoteRecord {
                    id: env.id(),
                    moderator: signer,
                    decision: v.decision,
                    reason: v.reason,
                    note: v.note.clone(),
                    sent: v.sent,
                };
                changed = self.apply_vote(v.alert, record);
            }
            Payload::Reaction(r) => {
                self.membership.require_member(&signer, r.sent)?;
                let target = self.referenced(r.alert, &env, now)?;
                if target.expires <= now {
                    return Err(IgnoreReason::Expired.into());
                }
                if target.reactions.get(&r.kind).is_some_and(|s| s.contains(&signer)) {
                    return Err(IgnoreReason::AlreadyCounted.into());
                }
                self.apply_reaction(env.id(), signer, r.alert, r.kind);
            }
            Payload::Invite(i) => {
                self.membership.require_member(&signer, i.sent).map_err(|_| RejectReason::InviterNotMember)?;
                if i.expires - i.sent > MAX_INVITE_LIFETIME_SECS {
                    return Err(
                        RejectReason::InvalidField { field: "expires", why: "invites last at most 30 days" }.into()
                    );
                }
                self.invites.insert(env.id(), (signer, i.expires));
            }
            Payload::Join(j) => {
                self.check_join(&env, j)?;
                self.membership.add_join(j.invite_envelope.id(), env.id(), signer, j.sent);
            }
            Payload::Revocation(r) => {
                if !self.roster().is_moderator(&signer) {
                    return Err(RejectReason::NotModerator.into());
                }
                if self.membership.member_since(&r.member).is_none() {
                    return Err(RejectReason::NotMember.into());
                }
                self.policy.check("reason", &r.reason, caps::NOTE, false)?;
                changed = self.apply_revocation(r.member, signer, r.sent);
            }
            Payload::RosterChange(rc) => {
                if !self.roster().is_moderator(&signer) {
                    return Err(RejectReason::NotModerator.into());
                }
                let current = self.roster();
                if rc.base_version < current.version {
                    return Err(IgnoreReason::StaleRoster.into());
                }
                if rc.base_version == current.version {
                    current.check_op(&rc.op)?;
                }
                changed = self.apply_roster_change(env.id(), signer, rc.base_version, rc.op, rc.sent);
            }
        }
        self.seen.insert(env.id(), u64::MAX);
        Ok(Accepted { envelope: env, payload, changed })
    }

    fn check_alert(&mut self, env: &Envelope, a: &Alert, now: u64) -> Result<(), Refusal> {
        let signer = env.signer();
        let charter = self.signed_charter.charter();
        let rule = charter.category(&a.category).ok_or_else(|| RejectReason::UnknownCategory(a.category.clone()))?;
        let lifetime = a.expires - a.sent;
        if lifetime > rule.max_lifetime_secs {
            return Err(RejectReason::LifetimeTooLong { lifetime, max: rule.max_lifetime_secs }.into());
        }
        let about_person = rule.about_person;
        let max_precision = charter.max_cell_precision;
        let max_description = charter.max_description_len;
        let cell = Cell::parse(&a.area).map_err(|_| RejectReason::BadCell)?;
        if cell.as_str() != a.area {
            return Err(RejectReason::BadCell.into());
        }
        if cell.precision() > max_precision {
            return Err(RejectReason::AreaTooPrecise { precision: cell.precision(), max: max_precision }.into());
        }
        if !charter.area.iter().any(|h| h.contains(&cell)) {
            return Err(RejectReason::AreaOutsideHood.into());
        }
        let p = self.policy;
        p.check_line("event", &a.event, caps::EVENT, true)?;
        p.check_line("headline", &a.headline, caps::HEADLINE, true)?;
        p.check("description", &a.description, max_description, a.msg_type != MsgType::Cancel)?;
        p.check("instruction", &a.instruction, caps::INSTRUCTION, false)?;
        if about_person && a.msg_type != MsgType::Cancel {
            text::check_profiling("description", &a.description)?;
        }
        self.membership.require_member(&signer, a.sent)?;
        if a.expires <= now {
            return Err(IgnoreReason::Expired.into());
        }
        if let Some(target) = a.references {
            let original = self.referenced(target, env, now)?;
            if original.msg_type != MsgType::Alert {
                return Err(RejectReason::BadReference("must reference an original alert").into());
            }
            if original.author != signer {
                return Err(RejectReason::NotAuthor.into());
            }
            if a.sent < original.sent {
                return Err(RejectReason::BadReference("signed before the original").into());
            }
        }
        if a.msg_type != MsgType::Cancel {
            self.quota.check(&signer, a.sent)?;
        }
        Ok(())
    }

    fn check_join(&self, env: &Envelope, j: &Join) -> Result<(), Refusal> {
        let invite = &j.invite;
        if invite.hood != self.hood {
            return Err(RejectReason::WrongHood.into());
        }
        let issuer = j.invite_envelope.signer();
        self.membership.require_member(&issuer, invite.sent).map_err(|_| RejectReason::InviterNotMember)?;
        if j.sent > invite.expires {
            return Err(RejectReason::InviteExpired.into());
        }
        // The embedded invite obeys the same lifetime cap as a gossiped one.
        if invite.expires - invite.sent > MAX_INVITE_LIFETIME_SECS {
            return Err(RejectReason::InvalidField { field: "expires", why: "invites last at most 30 days" }.into());
        }
        if j.sent < invite.sent {
            return Err(RejectReason::InvalidField { field: "sent", why: "join signed before its invite" }.into());
        }
        let invite_id = j.invite_envelope.id();
        invite
            .ticket_key
            .verify(Tag::JoinTicket, &Join::ticket_message(invite_id, &env.signer()), &j.ticket_signature)
            .map_err(|_| RejectReason::BadTicket)?;
        if !self.membership.would_hold(&invite_id, &env.id()) {
            return Err(RejectReason::InviteReused.into());
        }
        Ok(())
    }

    fn snapshot(&self, ids: impl IntoIterator<Item = MessageId>) -> Vec<(MessageId, AlertState)> {
        ids.into_iter().filter_map(|id| self.state(&id).map(|s| (id, s))).collect()
    }

    fn diff(&self, before: Vec<(MessageId, AlertState)>) -> Vec<StateChange> {
        before
            .into_iter()
            .filter_map(|(alert, from)| {
                let m = self.alerts.get(&alert)?;
                let to = self.state_of(m);
                (to != from).then_some(StateChange { alert, sent: m.sent, from, to })
            })
            .collect()
    }

    fn apply_alert(&mut self, id: MessageId, author: PublicKey, a: &Alert) -> Vec<StateChange> {
        let before = self.snapshot(a.references);
        if a.msg_type != MsgType::Cancel {
            self.quota.record(&author, a.sent);
        }
        if let Some(target) = a.references.and_then(|r| self.alerts.get_mut(&r)) {
            match a.msg_type {
                MsgType::Cancel => {
                    // Several cancels: the earliest id is the one shown, whatever the order.
                    target.cancelled_by = Some(target.cancelled_by.map_or(id, |c| c.min(id)));
                }
                MsgType::Update => target.updates.push(id),
                MsgType::Alert => {}
            }
        }
        self.alerts.insert(
            id,
            AlertMeta {
                id,
                author,
                category: a.category.clone(),
                msg_type: a.msg_type,
                references: a.references,
                status: a.status,
                sent: a.sent,
                expires: a.expires,
                cancelled_by: None,
                updates: Vec::new(),
                votes: Vec::new(),
                reports: Vec::new(),
                reactions: BTreeMap::new(),
                reaction_ids: Vec::new(),
                visibility: Visibility::Visible,
            },
        );
        self.by_author.entry(author).or_default().push(id);
        self.diff(before)
    }

    fn apply_report(&mut self, id: MessageId, reporter: PublicKey, alert: MessageId, reason: ReportReason, sent: u64) {
        if let Some(m) = self.alerts.get_mut(&alert) {
            m.reports.push(ReportRecord { id, reporter, reason, sent });
        }
    }

    fn apply_vote(&mut self, alert: MessageId, vote: VoteRecord) -> Vec<StateChange> {
        let before = self.snapshot([alert]);
        let roster = self.roster.current().clone();
        if let Some(m) = self.alerts.get_mut(&alert) {
            m.votes.push(vote);
            m.visibility = moderation::tally(&m.votes, &roster).visibility;
        }
        self.diff(before)
    }

    fn apply_reaction(&mut self, id: MessageId, author: PublicKey, alert: MessageId, kind: ReactionKind) {
        if let Some(m) = self.alerts.get_mut(&alert) {
            m.reactions.entry(kind).or_default().insert(author);
            m.reaction_ids.push(id);
        }
    }

    fn alerts_by(&self, authors: &[PublicKey]) -> Vec<MessageId> {
        authors.iter().flat_map(|a| self.by_author.get(a).into_iter().flatten().copied()).collect()
    }

    fn apply_revocation(&mut self, member: PublicKey, moderator: PublicKey, sent: u64) -> Vec<StateChange> {
        let before = self.snapshot(self.alerts_by(&[member]));
        let roster = self.roster.current().clone();
        self.membership.add_revocation(member, moderator, sent, &roster);
        self.diff(before)
    }

    fn apply_roster_change(
        &mut self,
        id: MessageId,
        signer: PublicKey,
        base_version: u64,
        op: RosterOp,
        sent: u64,
    ) -> Vec<StateChange> {
        let sig = RosterSignature { id, signer, base_version, op, sent };
        let everything: Vec<MessageId> = self.alerts.keys().copied().collect();
        let before = self.snapshot(everything);
        if self.roster.add(sig) {
            // Tallies and revocations depend on who is a moderator now.
            let roster = self.roster.current().clone();
            for m in self.alerts.values_mut().filter(|m| !m.votes.is_empty()) {
                m.visibility = moderation::tally(&m.votes, &roster).visibility;
            }
            self.membership.recompute_revocations(&roster);
        }
        self.diff(before)
    }

    /// Re-applies a message from this node's own store at startup, without
    /// time, quota or reference checks (it passed them when it arrived).
    /// Call in store order: membership and roster first, then alerts, then
    /// what refers to them.
    pub fn restore(&mut self, env: &Envelope) -> Result<(), RejectReason> {
        let payload = Payload::decode(env)?;
        if payload.hood() != self.hood {
            return Err(RejectReason::WrongHood);
        }
        let signer = env.signer();
        match payload {
            Payload::Alert(a) => {
                self.apply_alert(env.id(), signer, &a);
            }
            Payload::Report(r) => self.apply_report(env.id(), signer, r.alert, r.reason, r.sent),
            Payload::Vote(v) => {
                let record = VoteRecord {
                    id: env.id(),
                    moderator: signer,
                    decision: v.decision,
                    reason: v.reason,
                    note: v.note,
                    sent: v.sent,
                };
                self.apply_vote(v.alert, record);
            }
            Payload::Reaction(r) => self.apply_reaction(env.id(), signer, r.alert, r.kind),
            Payload::Invite(i) => {
                self.invites.insert(env.id(), (signer, i.expires));
            }
            Payload::Join(j) => {
                self.membership.add_join(j.invite_envelope.id(), env.id(), signer, j.sent);
            }
            Payload::Revocation(r) => {
                self.apply_revocation(r.member, signer, r.sent);
            }
            Payload::RosterChange(rc) => {
                self.apply_roster_change(env.id(), signer, rc.base_version, rc.op, rc.sent);
            }
        }
        self.seen.insert(env.id(), u64::MAX);
        Ok(())
    }

    /// Restores a tombstone from the store.
    pub fn restore_tombstone(&mut self, id: MessageId, forget_after: u64) {
        self.tombstones.insert(id, forget_after);
    }

    /// Retention: removes alerts whose expiry is more than the retention
    /// window ago (with everything that refers to them), drops old
    /// tombstones, stale pending messages and closed quota windows. Returns
    /// what the store must delete.
    pub fn collect_garbage(&mut self, now: u64) -> Garbage {
        let retention = self.charter().retention_secs;
        let mut garbage = Garbage::default();
        let doomed: Vec<MessageId> =
            self.alerts.values().filter(|m| m.expires.saturating_add(retention) <= now).map(|m| m.id).collect();
        for id in doomed {
            if let Some(m) = self.alerts.remove(&id) {
                let children = m
                    .votes
                    .iter()
                    .map(|v| v.id)
                    .chain(m.reports.iter().map(|r| r.id))
                    .chain(m.reaction_ids.iter().copied())
                    .collect::<Vec<_>>();
                for c in &children {
                    self.seen.remove(c);
                }
                if let Some(list) = self.by_author.get_mut(&m.author) {
                    list.retain(|x| *x != id);
                }
                self.seen.remove(&id);
                let forget_after = now.saturating_add(retention);
                self.tombstones.insert(id, forget_after);
                garbage.alerts.push((id, forget_after));
                garbage.messages.extend(children);
            }
        }
        self.by_author.retain(|_, v| !v.is_empty());
        let before = self.tombstones.len();
        self.tombstones.retain(|id, forget_after| {
            let keep = *forget_after > now;
            if !keep {
                garbage.forgotten.push(*id);
            }
            keep
        });
        debug_assert!(self.tombstones.len() + garbage.forgotten.len() == before);
        let pending_before = self.pending.len();
        self.pending.retain(|p| p.deadline > now);
        if self.pending.len() != pending_before {
            self.pending_ids = self.pending.iter().map(|p| p.envelope.id()).collect();
        }
        // No valid alert can be signed earlier than now minus the longest lifetime.
        let longest = self.charter().categories.iter().map(|c| c.max_lifetime_secs).max().unwrap_or(0);
        self.quota.prune(now.saturating_sub(longest));
        self.invites.retain(|_, (_, expires)| *expires > now);
        garbage
    }
}

/// What retention removed; the store deletes and tombstones it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Garbage {
    /// Deleted alerts with the time their tombstone may go.
    pub alerts: Vec<(MessageId, u64)>,
    /// Votes, reports and reactions of those alerts.
    pub messages: Vec<MessageId>,
    /// Tombstones now forgotten.
    pub forgotten: Vec<MessageId>,
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
