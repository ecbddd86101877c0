//! The check phase: every contextual rule, as a function of the ledger
//! (`&self`), the envelope and `now`. Its result is a [`Plan`] (what to
//! change, with the alert state changes already worked out) or a [`Stop`].

use crate::area::Cell;
use crate::envelope::Envelope;
use crate::ids::{MessageId, Tag};
use crate::keys::PublicKey;
use crate::membership::{Membership, Standing};
use crate::message::{Alert, Join, MsgType, Payload};
use crate::moderation::{self, Visibility, VoteRecord};
use crate::quota::PROBATION_SECS;
use crate::roster::{RosterBook, RosterSignature};
use crate::text;
use crate::verdict::{IgnoreReason, Refusal, RejectReason};

use super::records::state_with;
use super::{
    Accepted, AlertMeta, JOIN_FRESHNESS_SECS, Ledger, MAX_FUTURE_SKEW_SECS, MAX_INVITE_LIFETIME_SECS,
    MAX_ROSTER_SIGNATURES_PER_VERSION, StateChange, caps,
};

/// Why the check phase did not produce a plan.
#[derive(Debug)]
pub(super) enum Stop {
    /// Refused with a named reason.
    Refuse(Refusal),
    /// The referenced alert is not here yet: hold the message until it is.
    Hold(MessageId),
}

impl<T: Into<Refusal>> From<T> for Stop {
    fn from(r: T) -> Self {
        Stop::Refuse(r.into())
    }
}

/// What applying a checked message will do.
#[derive(Debug)]
pub(super) struct Plan {
    /// The message as the persist hook and the outcome see it.
    pub accepted: Accepted,
    /// Derived values computed by the check, written as they are.
    pub effect: Effect,
}

/// The parts of a plan that the check phase already computed.
#[derive(Debug)]
pub(super) enum Effect {
    /// Nothing beyond what the payload says.
    Plain,
    /// A join; with the whole membership when it took a held invite.
    Join(Option<Box<Membership>>),
    /// A vote and the alert's visibility once it is counted.
    Vote { record: VoteRecord, visibility: Visibility },
    /// Membership with the revocation folded in.
    Revocation(Box<Membership>),
    /// A roster signature and, if it changed the roster, everything derived.
    Roster { signature: RosterSignature, change: Option<Box<RosterEffect>> },
}

/// A roster change that took effect, and what follows from it.
#[derive(Debug)]
pub(super) struct RosterEffect {
    pub book: RosterBook,
    pub membership: Membership,
    /// New visibility of every alert with votes.
    pub visibilities: Vec<(MessageId, Visibility)>,
}

impl Ledger {
    /// Runs every rule on `env` without changing anything.
    pub(super) fn check(&self, env: &Envelope, now: u64) -> Result<Plan, Stop> {
        let payload = Payload::decode(env)?;
        if payload.hood() != self.hood {
            return Err(RejectReason::WrongHood.into());
        }
        let sent = payload.sent();
        if sent > now + MAX_FUTURE_SKEW_SECS {
            return Err(RejectReason::FutureDated { ahead: sent - now, max: MAX_FUTURE_SKEW_SECS }.into());
        }
        let signer = env.signer();
        let mut changed = Vec::new();
        let mut superseded = Vec::new();
        let effect = match &payload {
            Payload::Alert(a) => {
                let (states, replaced) = self.check_alert(env, a, now)?;
                changed = states;
                superseded.extend(replaced.map(|c| self.with_children(c)).unwrap_or_default());
                Effect::Plain
            }
            Payload::Report(r) => {
                self.membership.require_member(&signer, r.sent)?;
                self.policy.check("note", &r.note, caps::NOTE, false)?;
                let target = self.referenced(r.alert)?;
                if target.reports.iter().any(|x| x.reporter == signer) {
                    return Err(IgnoreReason::AlreadyCounted.into());
                }
                Effect::Plain
            }
            Payload::Vote(v) => {
                if !self.roster().is_moderator(&signer) {
                    return Err(RejectReason::NotModerator.into());
                }
                self.policy.check("note", &v.note, caps::NOTE, false)?;
                let target = self.referenced(v.alert)?;
                let record = VoteRecord {
                    id: env.id(),
                    moderator: signer,
                    decision: v.decision,
                    reason: v.reason,
                    note: v.note.clone(),
                    sent: v.sent,
                };
                let (visibility, change, replaced) = self.vote_effect(target, &record)?;
                changed.extend(change);
                superseded.extend(replaced);
                Effect::Vote { record, visibility }
            }
            Payload::Reaction(r) => {
                self.membership.require_member(&signer, r.sent)?;
                let target = self.referenced(r.alert)?;
                if target.expires <= now {
                    return Err(IgnoreReason::Expired.into());
                }
                if target.reactions.get(&r.kind).is_some_and(|s| s.contains(&signer)) {
                    return Err(IgnoreReason::AlreadyCounted.into());
                }
                Effect::Plain
            }
            Payload::Invite(i) => {
                self.membership.require_member(&signer, i.sent).map_err(|_| RejectReason::InviterNotMember)?;
                if i.expires - i.sent > MAX_INVITE_LIFETIME_SECS {
                    return Err(
                        RejectReason::InvalidField { field: "expires", why: "invites last at most 30 days" }.into()
                    );
                }
                // A join carries its invite, so an expired one is useless here.
                if i.expires <= now {
                    return Err(IgnoreReason::Expired.into());
                }
                self.check_invite_quota(env.id(), &signer, i.sent)?;
                Effect::Plain
            }
            Payload::Join(j) => {
                let (membership, states, lost) = self.check_join(env, j, now)?;
                changed = states;
                superseded.extend(lost);
                Effect::Join(membership)
            }
            Payload::Revocation(r) => {
                if !self.roster().is_moderator(&signer) {
                    return Err(RejectReason::NotModerator.into());
                }
                if self.membership.member_since(&r.member).is_none() {
                    return Err(RejectReason::NotMember.into());
                }
                self.policy.check("reason", &r.reason, caps::NOTE, false)?;
                // One revocation per moderator and member: the earliest
                // (sent, id) counts, so later ones add nothing.
                if let Some(held) = self.membership.revocation_by(&r.member, &signer) {
                    if held <= (r.sent, env.id()) {
                        return Err(IgnoreReason::AlreadyCounted.into());
                    }
                    superseded.push(held.1);
                }
                let (membership, change) = self.revocation_effect(r.member, signer, r.sent, env.id());
                changed = change;
                Effect::Revocation(Box::new(membership))
            }
            Payload::RosterChange(rc) => {
                if !self.roster().is_moderator(&signer) {
                    return Err(RejectReason::NotModerator.into());
                }
                let current = self.roster();
                if rc.base_version < current.version {
                    return Err(IgnoreReason::StaleRoster.into());
                }
                if rc.base_version > current.version + 1 {
                    return Err(IgnoreReason::RosterTooFarAhead.into());
                }
                if rc.base_version == current.version {
                    current.check_op(&rc.op)?;
                }
                if self.roster.signatures_by(&signer, rc.base_version) >= MAX_ROSTER_SIGNATURES_PER_VERSION {
                    return Err(IgnoreReason::RosterSignatureCap.into());
                }
                let signature =
                    RosterSignature { id: env.id(), signer, base_version: rc.base_version, op: rc.op, sent: rc.sent };
                let (change, states) = self.roster_effect(&signature);
                changed = states;
                Effect::Roster { signature, change }
            }
        };
        Ok(Plan { accepted: Accepted { envelope: env.clone(), payload, changed, superseded }, effect })
    }

    /// Looks up the alert a vote/report/reaction/update refers to; asks to
    /// hold the message if the alert is not here yet.
    fn referenced(&self, target: MessageId) -> Result<&AlertMeta, Stop> {
        if self.tombstones.contains_key(&target) {
            return Err(IgnoreReason::Expired.into());
        }
        self.alerts.get(&target).ok_or(Stop::Hold(target))
    }

    /// Checks an alert; returns the state changes and the cancel it replaces.
    fn check_alert(&self, env: &Envelope, a: &Alert, now: u64) -> Result<(Vec<StateChange>, Option<MessageId>), Stop> {
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
        let mut changed = Vec::new();
        let mut replaced = None;
        if let Some(target) = a.references {
            let original = self.referenced(target)?;
            if original.msg_type != MsgType::Alert {
                return Err(RejectReason::BadReference("must reference an original alert").into());
            }
            if original.author != signer {
                return Err(RejectReason::NotAuthor.into());
            }
            if a.sent < original.sent {
                return Err(RejectReason::BadReference("signed before the original").into());
            }
            if a.msg_type == MsgType::Cancel {
                replaced = self.cancel_decision(original, a.sent, env.id())?;
                changed.extend(self.change(original, original.visibility, true));
            }
        }
        if a.msg_type != MsgType::Cancel {
            if self.on_probation(&signer, a.sent) {
                self.quota.check_probation(&signer, a.sent)?;
            }
            self.quota.check(&signer, a.sent)?;
        }
        Ok((changed, replaced))
    }

    /// `id` and the held votes, reports and reactions about it.
    pub(super) fn with_children(&self, id: MessageId) -> Vec<MessageId> {
        let mut ids = vec![id];
        if let Some(m) = self.alerts.get(&id) {
            ids.extend(m.votes.iter().map(|v| v.id));
            ids.extend(m.reports.iter().map(|r| r.id));
            ids.extend(m.reaction_ids.iter().copied());
        }
        ids
    }

    /// One cancel per original: the earliest by (`sent`, id) holds, on every
    /// node whatever the arrival order. Returns the held cancel this one
    /// replaces, or `already_cancelled` if the held one is earlier.
    pub(super) fn cancel_decision(
        &self,
        original: &AlertMeta,
        sent: u64,
        id: MessageId,
    ) -> Result<Option<MessageId>, IgnoreReason> {
        let Some(held) = original.cancelled_by else { return Ok(None) };
        let held_sent = self.alerts.get(&held).map_or(0, |c| c.sent);
        if (held_sent, held) <= (sent, id) {
            return Err(IgnoreReason::AlreadyCancelled);
        }
        Ok(Some(held))
    }

    /// Checks a join. Returns the membership to install if the join takes
    /// a held invite (else the apply phase adds it incrementally), the
    /// state changes that causes, and the join it displaces.
    #[allow(clippy::type_complexity)]
    fn check_join(
        &self,
        env: &Envelope,
        j: &Join,
        now: u64,
    ) -> Result<(Option<Box<Membership>>, Vec<StateChange>, Option<MessageId>), Refusal> {
        let invite = &j.invite;
        if invite.hood != self.hood {
            return Err(RejectReason::WrongHood.into());
        }
        let issuer = j.invite_envelope.signer();
        self.membership.require_member(&issuer, invite.sent).map_err(|_| RejectReason::InviterNotMember)?;
        // The issuer must still be in good standing when the join is signed:
        // a revoked member's invites, however they are dated, admit no one
        // after the revocation.
        match self.membership.standing(&issuer, j.sent) {
            Standing::Member => {}
            Standing::Revoked => return Err(RejectReason::InviterRevoked.into()),
            Standing::NotMember => return Err(RejectReason::InviterNotMember.into()),
        }
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
        let member = env.signer();
        invite
            .ticket_key
            .verify(Tag::JoinTicket, &Join::ticket_message(invite_id, &member), &j.ticket_signature)
            .map_err(|_| RejectReason::BadTicket)?;
        if !self.membership.would_hold(&invite_id, &env.id(), j.sent) {
            return Err(RejectReason::InviteReused.into());
        }
        self.check_invite_quota(invite_id, &issuer, invite.sent)?;
        if self.membership.invite_holder(&invite_id).is_none() {
            return Ok((None, Vec::new(), None));
        }
        // Taking a held invite needs a join signed within the freshness
        // window: a ticket found later cannot be backdated past the holder.
        if j.sent.saturating_add(JOIN_FRESHNESS_SECS) < now {
            return Err(IgnoreReason::StaleJoin.into());
        }
        let mut membership = self.membership.clone();
        let lost = membership.add_join(invite_id, env.id(), member, j.sent, issuer);
        let changed = self.membership_changes(&membership);
        Ok((Some(Box::new(membership)), changed, lost))
    }

    /// Invite quota and probation for an invite not counted yet (current
    /// moderators are exempt from the quota, not from probation).
    fn check_invite_quota(&self, invite: MessageId, issuer: &PublicKey, sent: u64) -> Result<(), IgnoreReason> {
        if self.invites.contains_key(&invite) {
            return Ok(());
        }
        if self.on_probation(issuer, sent) {
            return Err(IgnoreReason::Probation);
        }
        if self.roster().is_moderator(issuer) {
            return Ok(());
        }
        self.quota.check_invite(issuer, sent)
    }

    /// Whether `key` joined less than [`PROBATION_SECS`] before `at`.
    pub(super) fn on_probation(&self, key: &PublicKey, at: u64) -> bool {
        !self.membership.is_founder(key)
            && self.membership.member_since(key).is_some_and(|since| at < since.saturating_add(PROBATION_SECS))
    }

    /// State changes of the alerts whose authors' standing differs under
    /// `new` (a revocation, a cascade, a join taking an invite).
    pub(super) fn membership_changes(&self, new: &Membership) -> Vec<StateChange> {
        let keys = self.membership.differences(new);
        keys.iter()
            .flat_map(|k| self.by_author.get(k).into_iter().flatten())
            .filter_map(|id| self.alerts.get(id))
            .filter_map(|m| {
                let from = self.state_of(m);
                let to = state_with(new, m, m.visibility, m.cancelled_by.is_some());
                (from != to).then_some(StateChange { alert: m.id, sent: m.sent, from, to })
            })
            .collect()
    }

    /// The state change of `m` if it had this visibility and cancel flag
    /// under the current membership.
    fn change(&self, m: &AlertMeta, visibility: Visibility, cancelled: bool) -> Option<StateChange> {
        let from = self.state_of(m);
        let to = state_with(&self.membership, m, visibility, cancelled);
        (from != to).then_some(StateChange { alert: m.id, sent: m.sent, from, to })
    }

    /// One live vote per moderator per alert: the latest by (`sent`, id),
    /// so a tie goes to the larger id. Returns the alert's visibility once
    /// `record` replaces the moderator's earlier vote (also returned), or
    /// `superseded` if the moderator's live vote is later.
    pub(super) fn vote_effect(
        &self,
        target: &AlertMeta,
        record: &VoteRecord,
    ) -> Result<(Visibility, Option<StateChange>, Option<MessageId>), IgnoreReason> {
        let live = target.votes.iter().find(|v| v.moderator == record.moderator);
        if live.is_some_and(|v| (v.sent, v.id) > (record.sent, record.id)) {
            return Err(IgnoreReason::Superseded);
        }
        let replaced = live.map(|v| v.id);
        let mut votes: Vec<VoteRecord> = target.votes.iter().filter(|v| Some(v.id) != replaced).cloned().collect();
        votes.push(record.clone());
        let visibility = moderation::tally(&votes, self.roster()).visibility;
        Ok((visibility, self.change(target, visibility, target.cancelled_by.is_some()), replaced))
    }

    /// Membership with one more revocation signature, and the alerts whose
    /// state that changes (the member's, and those of members whose joins
    /// stop counting).
    pub(super) fn revocation_effect(
        &self,
        member: PublicKey,
        moderator: PublicKey,
        sent: u64,
        id: MessageId,
    ) -> (Membership, Vec<StateChange>) {
        let mut membership = self.membership.clone();
        membership.add_revocation(member, moderator, sent, id, self.roster());
        let changed = self.membership_changes(&membership);
        (membership, changed)
    }

    /// The roster book with one more signature and, if the roster changed,
    /// the re-tallied visibilities, recomputed revocations and state changes.
    pub(super) fn roster_effect(&self, sig: &RosterSignature) -> (Option<Box<RosterEffect>>, Vec<StateChange>) {
        let mut book = self.roster.clone();
        if !book.add(sig.clone()) {
            return (None, Vec::new());
        }
        let roster = book.current().clone();
        let mut membership = self.membership.clone();
        membership.recompute_revocations(&roster);
        let mut visibilities = Vec::new();
        let mut changed = Vec::new();
        for m in self.alerts.values() {
            let visibility =
                if m.votes.is_empty() { m.visibility } else { moderation::tally(&m.votes, &roster).visibility };
            if visibility != m.visibility {
                visibilities.push((m.id, visibility));
            }
            let from = self.state_of(m);
            let to = state_with(&membership, m, visibility, m.cancelled_by.is_some());
            if from != to {
                changed.push(StateChange { alert: m.id, sent: m.sent, from, to });
            }
        }
        (Some(Box::new(RosterEffect { book, membership, visibilities })), changed)
    }
}
