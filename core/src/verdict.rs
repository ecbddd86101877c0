//! The outcome of validating one message: Accept, Ignore or Reject, each
//! refusal with a named reason that appears in logs, metrics and API errors.
//!
//! The split follows gossipsub: `Reject` means the sender forwarded something
//! no honest node would (its peer score drops); `Ignore` means the message is
//! well-formed but not useful here (duplicate, expired, over quota), which an
//! honest peer may forward in good faith.

use super::keys::KeyError;
use super::text::TextViolation;

/// Why a message was rejected (the sender is at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// Frame or text over a size cap.
    #[error("message too large: {len} bytes, limit {max}")]
    Oversized {
        /// Size seen.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not a valid protobuf message (truncated, bad varint, wrong wire type...).
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// Valid protobuf but not the canonical encoding (unknown fields, field
    /// order, non-minimal varints, explicit defaults).
    #[error("non-canonical encoding")]
    NonCanonical,
    /// A payload kind this version does not know.
    #[error("unknown payload kind {0}")]
    UnknownKind(i32),
    /// Signer key malformed or weak, or signature bad or non-canonical.
    #[error("signature check failed: {0}")]
    Signature(#[from] KeyError),
    /// The message names another neighborhood.
    #[error("message is for another hood")]
    WrongHood,
    /// A structural field is missing or out of range.
    #[error("invalid field {field}: {why}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A text field broke the text-only policy.
    #[error("{0}")]
    Text(#[from] TextViolation),
    /// Category not allowed by the charter.
    #[error("category {0:?} is not allowed in this hood")]
    UnknownCategory(String),
    /// Alert has no `expires`.
    #[error("alert has no expiry")]
    MissingExpiry,
    /// `expires - sent` beyond the category's maximum lifetime.
    #[error("lifetime {lifetime}s exceeds the category maximum {max}s")]
    LifetimeTooLong {
        /// Requested lifetime.
        lifetime: u64,
        /// Category maximum.
        max: u64,
    },
    /// `sent` too far in the future.
    #[error("sent {ahead}s in the future (limit {max}s)")]
    FutureDated {
        /// Seconds ahead of the local clock.
        ahead: u64,
        /// Allowed skew.
        max: u64,
    },
    /// Area cell not a valid geohash.
    #[error("area is not a geohash cell")]
    BadCell,
    /// Area cell not inside the hood.
    #[error("area cell is outside the hood")]
    AreaOutsideHood,
    /// Area cell finer than the charter allows.
    #[error("area cell precision {precision} is finer than the allowed {max}")]
    AreaTooPrecise {
        /// Cell precision.
        precision: usize,
        /// Charter maximum.
        max: usize,
    },
    /// Signer is not a member (or not yet).
    #[error("signer is not a member of this hood")]
    NotMember,
    /// Signer's membership was revoked before `sent`.
    #[error("signer's membership was revoked")]
    Revoked,
    /// Signer is not on the current moderator roster.
    #[error("signer is not a current moderator")]
    NotModerator,
    /// Update or Cancel by someone other than the original author.
    #[error("only the original author may update or cancel an alert")]
    NotAuthor,
    /// Update or Cancel referencing something that is not an original alert.
    #[error("bad reference: {0}")]
    BadReference(&'static str),
    /// Invite already consumed by another join.
    #[error("invite already used")]
    InviteReused,
    /// Invite expired before the join.
    #[error("invite expired")]
    InviteExpired,
    /// Invite issued by a non-member.
    #[error("invite issued by a non-member")]
    InviterNotMember,
    /// Join signed when its invite's issuer was revoked (or no member).
    #[error("invite issuer was revoked before the join")]
    InviterRevoked,
    /// Join not signed by the ticket key.
    #[error("join ticket signature does not verify")]
    BadTicket,
    /// Roster change that cannot apply (e.g. quorum larger than the roster).
    #[error("invalid roster change: {0}")]
    InvalidRosterChange(&'static str),
}

impl RejectReason {
    /// Stable snake_case label for metrics and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Oversized { .. } => "oversized",
            Self::Malformed(_) => "malformed",
            Self::NonCanonical => "non_canonical",
            Self::UnknownKind(_) => "unknown_kind",
            Self::Signature(KeyError::Weak) => "weak_key",
            Self::Signature(KeyError::Malformed) => "bad_key",
            Self::Signature(_) => "bad_signature",
            Self::WrongHood => "wrong_hood",
            Self::InvalidField { .. } => "invalid_field",
            Self::Text(t) => t.code(),
            Self::UnknownCategory(_) => "unknown_category",
            Self::MissingExpiry => "missing_expiry",
            Self::LifetimeTooLong { .. } => "lifetime_too_long",
            Self::FutureDated { .. } => "future_dated",
            Self::BadCell => "bad_cell",
            Self::AreaOutsideHood => "area_outside_hood",
            Self::AreaTooPrecise { .. } => "area_too_precise",
            Self::NotMember => "not_member",
            Self::Revoked => "revoked",
            Self::NotModerator => "not_moderator",
            Self::NotAuthor => "not_author",
            Self::BadReference(_) => "bad_reference",
            Self::InviteReused => "invite_reused",
            Self::InviteExpired => "invite_expired",
            Self::InviterNotMember => "inviter_not_member",
            Self::InviterRevoked => "inviter_revoked",
            Self::BadTicket => "bad_ticket",
            Self::InvalidRosterChange(_) => "invalid_roster_change",
        }
    }
}

/// Why a well-formed message was dropped without blaming the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    /// Already seen (also after a restart or after expiry deletion).
    #[error("duplicate")]
    Duplicate,
    /// Already expired, or refers to an expired/deleted alert.
    #[error("expired")]
    Expired,
    /// Author over the charter's posting quota for this epoch.
    #[error("author over quota")]
    OverQuota,
    /// Refers to an alert not seen yet; held in the bounded pending buffer.
    #[error("waiting for the referenced alert")]
    Pending,
    /// The pending buffer is full; dropped (sync will fetch it again).
    #[error("pending buffer full")]
    PendingFull,
    /// Its author already has its share of the pending buffer waiting.
    #[error("author's share of the pending buffer is full")]
    PendingAuthorFull,
    /// A roster change against an older roster version; it can no longer apply.
    #[error("stale roster version")]
    StaleRoster,
    /// The same author already reacted or reported this way.
    #[error("already counted")]
    AlreadyCounted,
    /// A Cancel of an alert that already has an earlier Cancel (by
    /// (`sent`, id)); one cancel per original.
    #[error("already cancelled")]
    AlreadyCancelled,
    /// A vote older (by (`sent`, id)) than the same moderator's live vote
    /// on the same alert.
    #[error("superseded by a later vote")]
    Superseded,
    /// A roster change for a version more than one ahead of the current one.
    #[error("roster version too far ahead")]
    RosterTooFarAhead,
    /// The signer already has the maximum number of roster signatures on
    /// this version.
    #[error("too many roster signatures for this version")]
    RosterSignatureCap,
    /// The issuer already issued its invites for that day.
    #[error("inviter over its invite quota")]
    InviteQuota,
    /// The author joined less than a day before `sent` and is over the
    /// probation quota (or sent an invite, which probation forbids).
    #[error("new member over the probation quota")]
    Probation,
    /// A join that would take an invite from its current holder, signed
    /// longer ago than the freshness window.
    #[error("stale join for a held invite")]
    StaleJoin,
    /// Valid, but this node could not store it (disk error); not a protocol
    /// verdict, and sync will fetch the message again.
    #[error("could not be stored here")]
    StoreUnavailable,
}

impl IgnoreReason {
    /// Stable snake_case label for metrics and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Expired => "expired",
            Self::OverQuota => "over_quota",
            Self::Pending => "pending",
            Self::PendingFull => "pending_full",
            Self::PendingAuthorFull => "pending_author_full",
            Self::StaleRoster => "stale_roster",
            Self::AlreadyCounted => "already_counted",
            Self::StoreUnavailable => "store_unavailable",
            Self::AlreadyCancelled => "already_cancelled",
            Self::Superseded => "superseded",
            Self::RosterTooFarAhead => "roster_too_far_ahead",
            Self::RosterSignatureCap => "roster_signature_cap",
            Self::InviteQuota => "invite_quota",
            Self::Probation => "probation",
            Self::StaleJoin => "stale_join",
        }
    }
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: store, show, forward.
    Accept,
    /// Drop silently; do not forward; do not penalize.
    Ignore(IgnoreReason),
    /// Drop, do not forward, penalize the sender.
    Reject(RejectReason),
}

impl Verdict {
    /// Metric label: `accept`, or the reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Ignore(r) => r.code(),
            Verdict::Reject(r) => r.code(),
        }
    }

    /// `accept`, `ignore` or `reject`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Ignore(_) => "ignore",
            Verdict::Reject(_) => "reject",
        }
    }
}

/// Either refusal, for `?` inside the validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Ignore(IgnoreReason),
    Reject(RejectReason),
}

impl From<RejectReason> for Refusal {
    fn from(r: RejectReason) -> Self {
        Refusal::Reject(r)
    }
}

impl From<IgnoreReason> for Refusal {
    fn from(r: IgnoreReason) -> Self {
        Refusal::Ignore(r)
    }
}

impl From<TextViolation> for Refusal {
    fn from(r: TextViolation) -> Self {
        Refusal::Reject(r.into())
    }
}

impl From<KeyError> for Refusal {
    fn from(r: KeyError) -> Self {
        Refusal::Reject(r.into())
    }
}

impl From<Refusal> for Verdict {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Ignore(i) => Verdict::Ignore(i),
            Refusal::Reject(r) => Verdict::Reject(r),
        }
    }
}
