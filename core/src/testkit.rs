//! Builders for hoods, members and well-formed messages. Tests, benches,
//! the simulator and the demo use the same builders so they all speak the
//! real protocol.

use sha2::{Digest, Sha256};

use crate::area::Cell;
use crate::charter::{Charter, CharterError, SignedCharter};
use crate::envelope::Envelope;
use crate::ids::{HoodId, MessageId};
use crate::keys::{AuthorKey, PublicKey};
use crate::message::{
    Alert, Certainty, Decision, Invite, Join, MsgType, Payload, Reaction, ReactionKind, Report, ReportReason,
    Revocation, RosterChange, RosterOp, Severity, Status, Urgency, Vote,
};
use crate::verdict::RejectReason;

/// Seconds since the unix epoch from the system clock (0 if it is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A deterministic author key from a label (tests and simulations only).
pub fn seeded_key(label: &str) -> AuthorKey {
    let secret: [u8; 32] = Sha256::digest(label.as_bytes()).into();
    AuthorKey::from_secret(&secret)
}

/// A hood with known founder keys.
#[derive(Debug, Clone)]
pub struct HoodFixture {
    /// Founder keys (also the first moderators).
    pub founders: Vec<AuthorKey>,
    /// The signed charter.
    pub charter: SignedCharter,
}

/// The cell every fixture hood covers.
pub const FIXTURE_AREA: &str = "dr5ru";

impl HoodFixture {
    /// A hood of `founders` founders with quorum `quorum` and default rules.
    pub fn new(founders: usize, quorum: u32) -> Result<Self, CharterError> {
        Self::with_rules(founders, |c| c.quorum = quorum)
    }

    /// A hood whose default charter is adjusted by `adjust` before signing.
    pub fn with_rules(founders: usize, adjust: impl FnOnce(&mut Charter)) -> Result<Self, CharterError> {
        let keys: Vec<AuthorKey> = (0..founders).map(|i| seeded_key(&format!("founder-{i}"))).collect();
        let area = Cell::parse(FIXTURE_AREA).map_err(|_| CharterError::Invalid("fixture area"))?;
        let mut charter = Charter::new("Fixture Hood", vec![area], keys.iter().map(AuthorKey::public).collect(), 1);
        adjust(&mut charter);
        let refs: Vec<&AuthorKey> = keys.iter().collect();
        let charter = SignedCharter::sign(charter, &refs)?;
        Ok(Self { founders: keys, charter })
    }

    /// The hood id.
    pub fn hood(&self) -> HoodId {
        self.charter.hood()
    }

    /// A valid original alert signed at `sent`, expiring 6 hours later.
    pub fn alert(&self, sent: u64, headline: &str) -> Alert {
        Alert {
            hood: self.hood(),
            category: "safety".into(),
            event: "hazard".into(),
            urgency: Urgency::Expected,
            severity: Severity::Moderate,
            certainty: Certainty::Observed,
            status: Status::Actual,
            msg_type: MsgType::Alert,
            references: None,
            headline: headline.into(),
            description: "Downed tree blocking the sidewalk on Elm Street near the school.".into(),
            instruction: "Walk on the other side.".into(),
            area: format!("{FIXTURE_AREA}7"),
            sent,
            expires: sent + 6 * 3600,
        }
    }

    /// An update or cancel of `original` by its author.
    pub fn follow_up(&self, original: MessageId, msg_type: MsgType, sent: u64) -> Alert {
        Alert {
            msg_type,
            references: Some(original),
            headline: if msg_type == MsgType::Cancel { "Cancelled".into() } else { "Resolved".into() },
            description: if msg_type == MsgType::Cancel { String::new() } else { "Tree removed.".into() },
            ..self.alert(sent, "")
        }
    }

    /// A signed vote.
    pub fn vote(&self, moderator: &AuthorKey, alert: MessageId, decision: Decision, sent: u64) -> Envelope {
        Payload::Vote(Vote {
            hood: self.hood(),
            alert,
            decision,
            reason: (decision == Decision::Hide).then_some(ReportReason::Spam),
            note: String::new(),
            sent,
        })
        .seal(moderator)
    }

    /// A signed report.
    pub fn report(&self, member: &AuthorKey, alert: MessageId, reason: ReportReason, sent: u64) -> Envelope {
        Payload::Report(Report { hood: self.hood(), alert, reason, note: String::new(), sent }).seal(member)
    }

    /// A signed reaction.
    pub fn reaction(&self, member: &AuthorKey, alert: MessageId, kind: ReactionKind, sent: u64) -> Envelope {
        Payload::Reaction(Reaction { hood: self.hood(), alert, kind, sent }).seal(member)
    }

    /// A signed invite by `issuer` and its ticket secret.
    pub fn invite(
        &self,
        issuer: &AuthorKey,
        sent: u64,
        expires: u64,
    ) -> Result<(Envelope, AuthorKey), getrandom::Error> {
        let ticket = AuthorKey::generate()?;
        let env =
            Payload::Invite(Invite { hood: self.hood(), ticket_key: ticket.public(), sent, expires }).seal(issuer);
        Ok((env, ticket))
    }

    /// A signed join of `member` using an invite and its ticket.
    pub fn join(
        &self,
        invite: &Envelope,
        ticket: &AuthorKey,
        member: &AuthorKey,
        sent: u64,
    ) -> Result<Envelope, RejectReason> {
        let join = Join::create(self.hood(), invite.clone(), ticket, &member.public(), sent)?;
        Ok(Payload::Join(join).seal(member))
    }

    /// A moderator's signed revocation of `member`.
    pub fn revocation(&self, moderator: &AuthorKey, member: PublicKey, sent: u64) -> Envelope {
        Payload::Revocation(Revocation { hood: self.hood(), member, reason: "spam".into(), sent }).seal(moderator)
    }

    /// A moderator's signed roster change.
    pub fn roster_change(&self, moderator: &AuthorKey, base_version: u64, op: RosterOp, sent: u64) -> Envelope {
        Payload::RosterChange(RosterChange { hood: self.hood(), base_version, op, sent }).seal(moderator)
    }
}

/// Adds the group order l to a signature's s half: the classic malleation
/// that lax verifiers accept and `verify_strict` refuses. Anything shorter
/// than a signature is left alone.
pub fn add_group_order(sig: &mut [u8]) {
    let Some(s_half) = sig.get_mut(32..64) else { return };
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (s, l) in s_half.iter_mut().zip(L) {
        let v = u16::from(*s) + u16::from(l) + carry;
        *s = (v & 0xff) as u8;
        carry = v >> 8;
    }
}
