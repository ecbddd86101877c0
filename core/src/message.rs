//! Domain types for every payload, converted from the generated protobuf
//! types with `TryFrom` (structural checks only: lengths of ids and keys,
//! known enum values, required fields). Rules that need the charter or the
//! hood's state live in [`super::ledger`].
//!
//! Over 600 lines on purpose: it is one `TryFrom`/`to_proto` pair per
//! payload kind, all following one pattern, and keeping the whole wire
//! mapping in one file is what lets a reviewer check it against
//! `stoop.proto` side by side.

use prost::Message;
use serde::Serialize;
use stoop_proto::v1 as pb;

use super::envelope::{Envelope, Kind};
use super::ids::{HoodId, MessageId, Tag};
use super::keys::{AuthorKey, PublicKey};
use super::verdict::RejectReason;

fn invalid(field: &'static str, why: &'static str) -> RejectReason {
    RejectReason::InvalidField { field, why }
}

fn id_field(field: &'static str, bytes: &[u8]) -> Result<MessageId, RejectReason> {
    MessageId::from_slice(bytes).map_err(|_| invalid(field, "must be 32 bytes"))
}

fn hood_field(bytes: &[u8]) -> Result<HoodId, RejectReason> {
    HoodId::from_slice(bytes).map_err(|_| invalid("hood", "must be 32 bytes"))
}

fn key_field(bytes: &[u8]) -> Result<PublicKey, RejectReason> {
    Ok(PublicKey::from_slice(bytes)?)
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident : $pb:ty { $($(#[$vm:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// From the protobuf value; unspecified or unknown values are refused.
            pub fn from_wire(field: &'static str, v: i32) -> Result<Self, RejectReason> {
                match <$pb>::try_from(v) {
                    $(Ok(<$pb>::$variant) => Ok($name::$variant),)+
                    _ => Err(invalid(field, "unknown or unspecified value")),
                }
            }

            /// The protobuf value.
            pub fn to_wire(self) -> i32 {
                match self { $($name::$variant => <$pb>::$variant as i32),+ }
            }

            /// snake_case name used by the API and CLI.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// Parses the snake_case name.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(s))
            }
        }
    };
}

wire_enum!(
    /// CAP urgency.
    Urgency: pb::Urgency { Immediate = "immediate", Expected = "expected", Future = "future", Past = "past", Unknown = "unknown" }
);
wire_enum!(
    /// CAP severity.
    Severity: pb::Severity { Extreme = "extreme", Severe = "severe", Moderate = "moderate", Minor = "minor", Unknown = "unknown" }
);
wire_enum!(
    /// CAP certainty.
    Certainty: pb::Certainty { Observed = "observed", Likely = "likely", Possible = "possible", Unlikely = "unlikely", Unknown = "unknown" }
);
wire_enum!(
    /// CAP status.
    Status: pb::Status { Actual = "actual", Exercise = "exercise", Test = "test" }
);
wire_enum!(
    /// CAP msgType.
    MsgType: pb::MsgType { Alert = "alert", Update = "update", Cancel = "cancel" }
);
wire_enum!(
    /// Why a member reports an alert (and why a moderator hides it).
    ReportReason: pb::ReportReason {
        Profiling = "profiling", Harassment = "harassment", PersonalInformation = "personal_information",
        Misinformation = "misinformation", Spam = "spam", Media = "media", OffTopic = "off_topic"
    }
);
wire_enum!(
    /// A moderator's decision.
    Decision: pb::Decision { Hide = "hide", Restore = "restore" }
);
wire_enum!(
    /// A member's corroboration.
    ReactionKind: pb::ReactionKind { SeenToo = "seen_too", Resolved = "resolved" }
);

/// An alert, update or cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Hood the alert belongs to.
    pub hood: HoodId,
    /// Charter category.
    pub category: String,
    /// Short event type, e.g. "package theft".
    pub event: String,
    /// CAP urgency.
    pub urgency: Urgency,
    /// CAP severity.
    pub severity: Severity,
    /// CAP certainty.
    pub certainty: Certainty,
    /// CAP status.
    pub status: Status,
    /// CAP msgType.
    pub msg_type: MsgType,
    /// Original alert, for Update and Cancel.
    pub references: Option<MessageId>,
    /// One-line summary.
    pub headline: String,
    /// Body text.
    pub description: String,
    /// What to do, if anything.
    pub instruction: String,
    /// Geohash cell (checked against the charter later).
    pub area: String,
    /// Unix seconds when signed.
    pub sent: u64,
    /// Unix seconds when it stops being relevant.
    pub expires: u64,
}

impl TryFrom<pb::Alert> for Alert {
    type Error = RejectReason;

    fn try_from(p: pb::Alert) -> Result<Self, RejectReason> {
        let msg_type = MsgType::from_wire("msg_type", p.msg_type)?;
        let references = match (msg_type, p.references.is_empty()) {
            (MsgType::Alert, true) => None,
            (MsgType::Alert, false) => return Err(invalid("references", "an original alert references nothing")),
            (_, true) => return Err(invalid("references", "update and cancel must reference an alert")),
            (_, false) => Some(id_field("references", &p.references)?),
        };
        if p.expires == 0 {
            return Err(RejectReason::MissingExpiry);
        }
        if p.sent == 0 {
            return Err(invalid("sent", "required"));
        }
        if p.expires <= p.sent {
            return Err(invalid("expires", "must be after sent"));
        }
        Ok(Self {
            hood: hood_field(&p.hood)?,
            category: p.category,
            event: p.event,
            urgency: Urgency::from_wire("urgency", p.urgency)?,
            severity: Severity::from_wire("severity", p.severity)?,
            certainty: Certainty::from_wire("certainty", p.certainty)?,
            status: Status::from_wire("status", p.status)?,
            msg_type,
            references,
            headline: p.headline,
            description: p.description,
            instruction: p.instruction,
            area: p.area,
            sent: p.sent,
            expires: p.expires,
        })
    }
}

impl Alert {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Alert {
            hood: self.hood.as_bytes().to_vec(),
            category: self.category.clone(),
            event: self.event.clone(),
            urgency: self.urgency.to_wire(),
            severity: self.severity.to_wire(),
            certainty: self.certainty.to_wire(),
            status: self.status.to_wire(),
            msg_type: self.msg_type.to_wire(),
            references: self.references.map(|r| r.as_bytes().to_vec()).unwrap_or_default(),
            headline: self.headline.clone(),
            description: self.description.clone(),
            instruction: self.instruction.clone(),
            area: self.area.clone(),
            sent: self.sent,
            expires: self.expires,
        }
        .encode_to_vec()
    }
}

/// A member's report of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Hood.
    pub hood: HoodId,
    /// Reported alert.
    pub alert: MessageId,
    /// Reason code.
    pub reason: ReportReason,
    /// Optional note for moderators.
    pub note: String,
    /// Unix seconds.
    pub sent: u64,
}

impl TryFrom<pb::Report> for Report {
    type Error = RejectReason;
    fn try_from(p: pb::Report) -> Result<Self, RejectReason> {
        Ok(Self {
            hood: hood_field(&p.hood)?,
            alert: id_field("alert", &p.alert)?,
            reason: ReportReason::from_wire("reason", p.reason)?,
            note: p.note,
            sent: required_time("sent", p.sent)?,
        })
    }
}

impl Report {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Report {
            hood: self.hood.as_bytes().to_vec(),
            alert: self.alert.as_bytes().to_vec(),
            reason: self.reason.to_wire(),
            note: self.note.clone(),
            sent: self.sent,
        }
        .encode_to_vec()
    }
}

/// A moderator's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// Hood.
    pub hood: HoodId,
    /// Alert voted on.
    pub alert: MessageId,
    /// Hide or restore.
    pub decision: Decision,
    /// Reason code (for hide votes; restore votes may give none).
    pub reason: Option<ReportReason>,
    /// Optional public note.
    pub note: String,
    /// Unix seconds.
    pub sent: u64,
}

impl TryFrom<pb::Vote> for Vote {
    type Error = RejectReason;
    fn try_from(p: pb::Vote) -> Result<Self, RejectReason> {
        let decision = Decision::from_wire("decision", p.decision)?;
        let reason = match (decision, p.reason) {
            (Decision::Hide, r) => Some(ReportReason::from_wire("reason", r)?),
            (Decision::Restore, 0) => None,
            (Decision::Restore, r) => Some(ReportReason::from_wire("reason", r)?),
        };
        Ok(Self {
            hood: hood_field(&p.hood)?,
            alert: id_field("alert", &p.alert)?,
            decision,
            reason,
            note: p.note,
            sent: required_time("sent", p.sent)?,
        })
    }
}

impl Vote {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Vote {
            hood: self.hood.as_bytes().to_vec(),
            alert: self.alert.as_bytes().to_vec(),
            decision: self.decision.to_wire(),
            reason: self.reason.map(ReportReason::to_wire).unwrap_or(0),
            note: self.note.clone(),
            sent: self.sent,
        }
        .encode_to_vec()
    }
}

/// A member's seen-too / resolved mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// Hood.
    pub hood: HoodId,
    /// Alert.
    pub alert: MessageId,
    /// Which mark.
    pub kind: ReactionKind,
    /// Unix seconds.
    pub sent: u64,
}

impl TryFrom<pb::Reaction> for Reaction {
    type Error = RejectReason;
    fn try_from(p: pb::Reaction) -> Result<Self, RejectReason> {
        Ok(Self {
            hood: hood_field(&p.hood)?,
            alert: id_field("alert", &p.alert)?,
            kind: ReactionKind::from_wire("kind", p.kind)?,
            sent: required_time("sent", p.sent)?,
        })
    }
}

impl Reaction {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Reaction {
            hood: self.hood.as_bytes().to_vec(),
            alert: self.alert.as_bytes().to_vec(),
            kind: self.kind.to_wire(),
            sent: self.sent,
        }
        .encode_to_vec()
    }
}

/// A single-use invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Hood.
    pub hood: HoodId,
    /// One-time key whose secret is in the ticket.
    pub ticket_key: PublicKey,
    /// Unix seconds.
    pub sent: u64,
    /// Last second the invite can be used.
    pub expires: u64,
}

impl TryFrom<pb::Invite> for Invite {
    type Error = RejectReason;
    fn try_from(p: pb::Invite) -> Result<Self, RejectReason> {
        let sent = required_time("sent", p.sent)?;
        if p.expires <= sent {
            return Err(invalid("expires", "must be after sent"));
        }
        Ok(Self { hood: hood_field(&p.hood)?, ticket_key: key_field(&p.ticket_key)?, sent, expires: p.expires })
    }
}

impl Invite {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Invite {
            hood: self.hood.as_bytes().to_vec(),
            ticket_key: self.ticket_key.as_bytes().to_vec(),
            sent: self.sent,
            expires: self.expires,
        }
        .encode_to_vec()
    }
}

/// A new member joining with an invite. The embedded invite envelope has
/// been opened (its signature verified) during decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// Hood.
    pub hood: HoodId,
    /// The invite envelope used.
    pub invite_envelope: Envelope,
    /// The invite it carries.
    pub invite: Invite,
    /// The ticket key's signature over invite id || new key.
    pub ticket_signature: [u8; 64],
    /// Unix seconds.
    pub sent: u64,
}

impl TryFrom<pb::Join> for Join {
    type Error = RejectReason;
    fn try_from(p: pb::Join) -> Result<Self, RejectReason> {
        let invite_envelope = Envelope::open(&p.invite)?;
        let Payload::Invite(invite) = Payload::decode(&invite_envelope)? else {
            return Err(invalid("invite", "is not an invite"));
        };
        let ticket_signature =
            p.ticket_signature.as_slice().try_into().map_err(|_| invalid("ticket_signature", "must be 64 bytes"))?;
        Ok(Self {
            hood: hood_field(&p.hood)?,
            invite_envelope,
            invite,
            ticket_signature,
            sent: required_time("sent", p.sent)?,
        })
    }
}

impl Join {
    /// The bytes the ticket key signs for a new member key.
    pub fn ticket_message(invite: MessageId, new_member: &PublicKey) -> Vec<u8> {
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(invite.as_bytes());
        m.extend_from_slice(new_member.as_bytes());
        m
    }

    /// Builds a join for `new_member` from an invite envelope and its ticket secret.
    pub fn create(
        hood: HoodId,
        invite_envelope: Envelope,
        ticket: &AuthorKey,
        new_member: &PublicKey,
        sent: u64,
    ) -> Result<Self, RejectReason> {
        let Payload::Invite(invite) = Payload::decode(&invite_envelope)? else {
            return Err(invalid("invite", "is not an invite"));
        };
        let ticket_signature = ticket.sign(Tag::JoinTicket, &Self::ticket_message(invite_envelope.id(), new_member));
        Ok(Self { hood, invite_envelope, invite, ticket_signature, sent })
    }

    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Join {
            hood: self.hood.as_bytes().to_vec(),
            invite: self.invite_envelope.to_bytes(),
            ticket_signature: self.ticket_signature.to_vec(),
            sent: self.sent,
        }
        .encode_to_vec()
    }
}

/// One moderator's signature toward revoking a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Hood.
    pub hood: HoodId,
    /// Member to revoke.
    pub member: PublicKey,
    /// Public reason.
    pub reason: String,
    /// Unix seconds.
    pub sent: u64,
}

impl TryFrom<pb::Revocation> for Revocation {
    type Error = RejectReason;
    fn try_from(p: pb::Revocation) -> Result<Self, RejectReason> {
        Ok(Self {
            hood: hood_field(&p.hood)?,
            member: key_field(&p.member)?,
            reason: p.reason,
            sent: required_time("sent", p.sent)?,
        })
    }
}

impl Revocation {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Revocation {
            hood: self.hood.as_bytes().to_vec(),
            member: self.member.as_bytes().to_vec(),
            reason: self.reason.clone(),
            sent: self.sent,
        }
        .encode_to_vec()
    }
}

/// A change to the moderator roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "op", content = "value")]
pub enum RosterOp {
    /// Add a moderator.
    AddModerator(#[serde(serialize_with = "ser_key")] PublicKey),
    /// Remove a moderator.
    RemoveModerator(#[serde(serialize_with = "ser_key")] PublicKey),
    /// Change the quorum.
    SetQuorum(u32),
}

fn ser_key<S: serde::Serializer>(k: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.to_hex())
}

/// One moderator's signature toward a roster change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterChange {
    /// Hood.
    pub hood: HoodId,
    /// Roster version this change applies to.
    pub base_version: u64,
    /// The change.
    pub op: RosterOp,
    /// Unix seconds.
    pub sent: u64,
}

impl TryFrom<pb::RosterChange> for RosterChange {
    type Error = RejectReason;
    fn try_from(p: pb::RosterChange) -> Result<Self, RejectReason> {
        use pb::roster_change::Change;
        let op = match p.change {
            Some(Change::AddModerator(k)) => RosterOp::AddModerator(key_field(&k)?),
            Some(Change::RemoveModerator(k)) => RosterOp::RemoveModerator(key_field(&k)?),
            Some(Change::SetQuorum(q)) if q > 0 => RosterOp::SetQuorum(q),
            Some(Change::SetQuorum(_)) => return Err(invalid("set_quorum", "must be at least 1")),
            None => return Err(invalid("change", "required")),
        };
        Ok(Self { hood: hood_field(&p.hood)?, base_version: p.base_version, op, sent: required_time("sent", p.sent)? })
    }
}

impl RosterChange {
    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        use pb::roster_change::Change;
        let change = match self.op {
            RosterOp::AddModerator(k) => Change::AddModerator(k.as_bytes().to_vec()),
            RosterOp::RemoveModerator(k) => Change::RemoveModerator(k.as_bytes().to_vec()),
            RosterOp::SetQuorum(q) => Change::SetQuorum(q),
        };
        pb::RosterChange {
            hood: self.hood.as_bytes().to_vec(),
            base_version: self.base_version,
            change: Some(change),
            sent: self.sent,
        }
        .encode_to_vec()
    }
}

fn required_time(field: &'static str, t: u64) -> Result<u64, RejectReason> {
    if t == 0 { Err(invalid(field, "required")) } else { Ok(t) }
}

/// Any decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Alert, update or cancel.
    Alert(Alert),
    /// Report.
    Report(Report),
    /// Vote.
    Vote(Vote),
    /// Reaction.
    Reaction(Reaction),
    /// Invite.
    Invite(Invite),
    /// Join.
    Join(Join),
    /// Revocation.
    Revocation(Revocation),
    /// Roster change.
    RosterChange(RosterChange),
}

fn decode_canonical<M: Message + Default>(bytes: &[u8]) -> Result<M, RejectReason> {
    let m = M::decode(bytes).map_err(|e| RejectReason::Malformed(e.to_string()))?;
    // Signatures cover the received bytes, but two encodings of one message
    // would give two ids for it (and unknown fields could smuggle data), so
    // only prost's canonical form is accepted.
    if m.encoded_len() != bytes.len() || m.encode_to_vec() != bytes {
        return Err(RejectReason::NonCanonical);
    }
    Ok(m)
}

impl Payload {
    /// Decodes an envelope's payload into its domain type.
    pub fn decode(env: &Envelope) -> Result<Self, RejectReason> {
        let b = env.payload();
        Ok(match env.kind() {
            Kind::Alert => Payload::Alert(decode_canonical::<pb::Alert>(b)?.try_into()?),
            Kind::Report => Payload::Report(decode_canonical::<pb::Report>(b)?.try_into()?),
            Kind::Vote => Payload::Vote(decode_canonical::<pb::Vote>(b)?.try_into()?),
            Kind::Reaction => Payload::Reaction(decode_canonical::<pb::Reaction>(b)?.try_into()?),
            Kind::Invite => Payload::Invite(decode_canonical::<pb::Invite>(b)?.try_into()?),
            Kind::Join => Payload::Join(decode_canonical::<pb::Join>(b)?.try_into()?),
            Kind::Revocation => Payload::Revocation(decode_canonical::<pb::Revocation>(b)?.try_into()?),
            Kind::RosterChange => Payload::RosterChange(decode_canonical::<pb::RosterChange>(b)?.try_into()?),
        })
    }

    /// The hood the payload names.
    pub fn hood(&self) -> HoodId {
        match self {
            Payload::Alert(m) => m.hood,
            Payload::Report(m) => m.hood,
            Payload::Vote(m) => m.hood,
            Payload::Reaction(m) => m.hood,
            Payload::Invite(m) => m.hood,
            Payload::Join(m) => m.hood,
            Payload::Revocation(m) => m.hood,
            Payload::RosterChange(m) => m.hood,
        }
    }

    /// When it was signed.
    pub fn sent(&self) -> u64 {
        match self {
            Payload::Alert(m) => m.sent,
            Payload::Report(m) => m.sent,
            Payload::Vote(m) => m.sent,
            Payload::Reaction(m) => m.sent,
            Payload::Invite(m) => m.sent,
            Payload::Join(m) => m.sent,
            Payload::Revocation(m) => m.sent,
            Payload::RosterChange(m) => m.sent,
        }
    }

    /// The kind of envelope that carries it.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Alert(_) => Kind::Alert,
            Payload::Report(_) => Kind::Report,
            Payload::Vote(_) => Kind::Vote,
            Payload::Reaction(_) => Kind::Reaction,
            Payload::Invite(_) => Kind::Invite,
            Payload::Join(_) => Kind::Join,
            Payload::Revocation(_) => Kind::Revocation,
            Payload::RosterChange(_) => Kind::RosterChange,
        }
    }

    /// Canonical payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Payload::Alert(m) => m.encode(),
            Payload::Report(m) => m.encode(),
            Payload::Vote(m) => m.encode(),
            Payload::Reaction(m) => m.encode(),
            Payload::Invite(m) => m.encode(),
            Payload::Join(m) => m.encode(),
            Payload::Revocation(m) => m.encode(),
            Payload::RosterChange(m) => m.encode(),
        }
    }

    /// Encodes and signs this payload.
    pub fn seal(&self, key: &AuthorKey) -> Envelope {
        Envelope::seal(self.kind(), self.encode(), key)
    }
}
