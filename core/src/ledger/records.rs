//! The records the ledger hands out: alert metadata, what an accepted
//! message changed, and the outcome of one frame.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::envelope::{Envelope, Kind};
use crate::ids::MessageId;
use crate::keys::PublicKey;
use crate::message::{MsgType, Payload, ReactionKind, ReportReason, Status};
use crate::moderation::{Visibility, VoteRecord};
use crate::verdict::Verdict;

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
    /// Updates, in arrival order; bounded by the author's quota (updates
    /// are counted like alerts).
    pub updates: Vec<MessageId>,
    /// Moderator votes: one live vote per moderator (at most one per key
    /// that was a moderator when it voted).
    pub votes: Vec<VoteRecord>,
    /// Member reports: one per member (`already_counted`).
    pub reports: Vec<ReportRecord>,
    /// Reactions by kind: distinct authors (one per member and kind).
    pub reactions: BTreeMap<ReactionKind, BTreeSet<PublicKey>>,
    /// Ids of the reactions counted above (so retention can forget them);
    /// as many as the reactions.
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
    /// Held messages it replaces (a moderator's older vote, a later cancel
    /// of the same alert, a join that lost its invite): the ledger forgot
    /// them; the store deletes them.
    pub superseded: Vec<MessageId>,
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

/// The state `m` would have under `membership`, with the given moderation
/// outcome and cancel flag (the check phase previews changes with it).
pub(super) fn state_with(
    membership: &crate::membership::Membership,
    m: &AlertMeta,
    visibility: Visibility,
    cancelled: bool,
) -> AlertState {
    // Withdrawn: signed at or after the author's revocation, or the author's
    // join stopped counting (its inviter was revoked before it).
    if membership.standing(&m.author, m.sent) != crate::membership::Standing::Member {
        AlertState::Withdrawn
    } else if visibility == Visibility::Hidden {
        AlertState::Hidden
    } else if cancelled {
        AlertState::Cancelled
    } else {
        AlertState::Visible
    }
}
