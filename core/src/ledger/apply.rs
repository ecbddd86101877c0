//! The apply phase: commits a checked [`Plan`](super::check::Plan) once the
//! message is persisted, and `restore`, which replays stored messages
//! through the same effects.

use std::collections::BTreeMap;

use crate::envelope::Envelope;
use crate::ids::MessageId;
use crate::keys::PublicKey;
use crate::message::{Alert, MsgType, Payload};
use crate::moderation::Visibility;
use crate::verdict::RejectReason;

use super::check::Effect;
use super::{Accepted, AlertMeta, InviteRecord, Ledger, ReportRecord};

impl Ledger {
    /// Writes what the check phase decided. Infallible by construction:
    /// every refusal happened in the check.
    pub(super) fn apply(&mut self, effect: Effect, a: &Accepted) {
        let env = &a.envelope;
        let id = env.id();
        let signer = env.signer();
        for old in &a.superseded {
            self.forget(old);
        }
        match (&a.payload, effect) {
            (Payload::Alert(alert), _) => self.apply_alert(id, signer, alert),
            (Payload::Report(r), _) => {
                if let Some(m) = self.alerts.get_mut(&r.alert) {
                    m.reports.push(ReportRecord { id, reporter: signer, reason: r.reason, sent: r.sent });
                }
            }
            (Payload::Vote(v), Effect::Vote { record, visibility }) => {
                if let Some(m) = self.alerts.get_mut(&v.alert) {
                    m.votes.retain(|x| !a.superseded.contains(&x.id));
                    m.votes.push(record);
                    m.visibility = visibility;
                }
            }
            (Payload::Reaction(r), _) => {
                if let Some(m) = self.alerts.get_mut(&r.alert) {
                    m.reactions.entry(r.kind).or_default().insert(signer);
                    m.reaction_ids.push(id);
                }
            }
            (Payload::Invite(i), _) => self.count_invite(id, signer, i.sent, i.expires, true),
            (Payload::Join(j), effect) => {
                let invite = j.invite_envelope.id();
                let issuer = j.invite_envelope.signer();
                self.count_invite(invite, issuer, j.invite.sent, j.invite.expires, false);
                match effect {
                    Effect::Join(Some(membership)) => self.membership = *membership,
                    _ => {
                        self.membership.add_join(invite, id, signer, j.sent, issuer);
                    }
                }
            }
            (Payload::Revocation(_), Effect::Revocation(membership)) => self.membership = *membership,
            (Payload::RosterChange(_), Effect::Roster { signature, change }) => match change {
                Some(c) => {
                    self.roster = c.book;
                    self.membership = c.membership;
                    for (alert, visibility) in c.visibilities {
                        if let Some(m) = self.alerts.get_mut(&alert) {
                            m.visibility = visibility;
                        }
                    }
                }
                None => {
                    self.roster.add(signature);
                }
            },
            // A plan's effect always matches its payload (built together in check).
            _ => {}
        }
        self.seen.insert(id, *env.signature());
    }

    /// Counts an invite in its issuer's quota the first time it is seen,
    /// whether as a message or inside a join.
    fn count_invite(&mut self, id: MessageId, issuer: PublicKey, sent: u64, expires: u64, as_message: bool) {
        match self.invites.get_mut(&id) {
            Some(r) => r.as_message |= as_message,
            None => {
                if !self.roster.current().is_moderator(&issuer) {
                    self.quota.record_invite(&issuer, sent);
                }
                self.invites.insert(id, InviteRecord { issuer, sent, expires, as_message });
            }
        }
    }

    /// Drops a held message another one replaced (its alert record too, if
    /// it is a cancel).
    fn forget(&mut self, id: &MessageId) {
        self.seen.remove(id);
        if let Some(m) = self.alerts.remove(id)
            && let Some(list) = self.by_author.get_mut(&m.author)
        {
            list.retain(|x| x != id);
            if list.is_empty() {
                self.by_author.remove(&m.author);
            }
        }
    }

    fn apply_alert(&mut self, id: MessageId, author: PublicKey, a: &Alert) {
        if a.msg_type != MsgType::Cancel {
            self.quota.record(&author, a.sent);
        }
        if let Some(target) = a.references.and_then(|r| self.alerts.get_mut(&r)) {
            match a.msg_type {
                // The check made sure this is the earliest cancel.
                MsgType::Cancel => target.cancelled_by = Some(id),
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
    }

    /// Re-applies a message from this node's own store at startup, without
    /// time, quota or reference checks (it passed them when it arrived).
    /// Call in store order: membership and roster first, then alerts, then
    /// what refers to them. The one-per-original rules (cancels, votes,
    /// invite holders) are applied as on arrival, so a store holding both
    /// halves of a replacement restores to the live state; a replaced
    /// message is skipped (Ok, not applied).
    pub fn restore(&mut self, env: &Envelope) -> Result<(), RejectReason> {
        let payload = Payload::decode(env)?;
        if payload.hood() != self.hood {
            return Err(RejectReason::WrongHood);
        }
        let signer = env.signer();
        let mut superseded = Vec::new();
        let effect = match &payload {
            Payload::Alert(a) if a.msg_type == MsgType::Cancel => {
                if let Some(original) = a.references.and_then(|r| self.alerts.get(&r)) {
                    match self.cancel_decision(original, a.sent, env.id()) {
                        Ok(replaced) => superseded.extend(replaced.map(|c| self.with_children(c)).unwrap_or_default()),
                        Err(_) => return Ok(()),
                    }
                }
                Effect::Plain
            }
            Payload::Vote(v) => {
                let record = crate::moderation::VoteRecord {
                    id: env.id(),
                    moderator: signer,
                    decision: v.decision,
                    reason: v.reason,
                    note: v.note.clone(),
                    sent: v.sent,
                };
                match self.alerts.get(&v.alert).map(|target| self.vote_effect(target, &record)) {
                    Some(Ok((visibility, _, replaced))) => {
                        superseded.extend(replaced);
                        Effect::Vote { visibility, record }
                    }
                    Some(Err(_)) => return Ok(()),
                    None => Effect::Plain,
                }
            }
            Payload::Revocation(r) => {
                if let Some(held) = self.membership.revocation_by(&r.member, &signer) {
                    if held <= (r.sent, env.id()) {
                        return Ok(());
                    }
                    superseded.push(held.1);
                }
                Effect::Revocation(Box::new(self.revocation_effect(r.member, signer, r.sent, env.id()).0))
            }
            Payload::RosterChange(rc) => {
                let signature = crate::roster::RosterSignature {
                    id: env.id(),
                    signer,
                    base_version: rc.base_version,
                    op: rc.op,
                    sent: rc.sent,
                };
                let change = self.roster_effect(&signature).0;
                Effect::Roster { signature, change }
            }
            _ => Effect::Plain,
        };
        self.apply(effect, &Accepted { envelope: env.clone(), payload, changed: Vec::new(), superseded });
        Ok(())
    }

    /// Restores a tombstone from the store.
    pub fn restore_tombstone(&mut self, id: MessageId, forget_after: u64) {
        self.tombstones.insert(id, forget_after);
    }
}
