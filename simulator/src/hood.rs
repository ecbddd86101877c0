//! The simulated hood, built in-process before the network starts: the
//! charter (moderators are its founders), and a signed invite + join for
//! every poster and every adversarial member. Every honest node ingests the
//! same membership frames through its real ledger, so the network only has
//! to carry the workload. (Making every poster a founder would be simpler
//! but charters cap founders at 32 and founders are moderators, which would
//! change what a vote means.)

use prost::Message as _;
use stoop_core::charter::CharterError;
use stoop_core::envelope::Envelope;
use stoop_core::ids::MessageId;
use stoop_core::keys::AuthorKey;
use stoop_core::message::{Alert, Payload};
use stoop_core::testkit::{FIXTURE_AREA, HoodFixture, seeded_key};
use stoop_proto::v1 as pb;

use crate::rng::SimRng;
use crate::scenario::Scenario;

/// Why the hood could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HoodError {
    /// The charter was refused.
    #[error("charter: {0}")]
    Charter(#[from] CharterError),
    /// No randomness for ticket keys.
    #[error("no randomness: {0}")]
    Random(String),
    /// An invite or join could not be made.
    #[error("membership: {0}")]
    Membership(String),
}

/// Keys and frames of the hood.
#[derive(Debug)]
pub struct SimHood {
    /// Charter and moderator keys.
    pub fixture: HoodFixture,
    /// Honest posters.
    pub posters: Vec<AuthorKey>,
    /// Adversarial members (one per adversarial node that needs one).
    pub bad_members: Vec<AuthorKey>,
    /// Invite and join frames, in order, for every member above.
    pub membership: Vec<Vec<u8>>,
}

/// Words for descriptions: plain text that passes the text policy.
const WORDS: &[&str] = &[
    "the",
    "street",
    "near",
    "corner",
    "park",
    "school",
    "car",
    "blue",
    "red",
    "dog",
    "small",
    "large",
    "seen",
    "today",
    "evening",
    "morning",
    "please",
    "watch",
    "out",
    "for",
    "water",
    "main",
    "broken",
    "light",
    "crossing",
    "slowly",
    "neighbors",
    "fence",
    "gate",
    "open",
    "closed",
    "library",
    "bus",
    "stop",
    "bike",
    "lane",
    "tree",
    "branch",
    "down",
    "power",
    "line",
    "smoke",
    "smell",
    "north",
    "south",
    "east",
    "west",
    "side",
    "block",
    "avenue",
];

impl SimHood {
    /// Builds the hood for `scenario` at unix time `now`.
    pub fn build(s: &Scenario, now: u64) -> Result<Self, HoodError> {
        let per_hour = s.workload.per_hour;
        let fixture = HoodFixture::with_rules(s.moderation.moderators, |c| {
            c.quorum = s.moderation.quorum;
            c.quotas.per_hour = per_hour;
            c.quotas.per_day = per_hour.saturating_mul(24);
        })?;
        let posters: Vec<AuthorKey> = (0..s.workload.posters).map(|i| seeded_key(&format!("poster-{i}"))).collect();
        let bad_members: Vec<AuthorKey> =
            (0..s.adversary_nodes()).map(|i| seeded_key(&format!("adversary-member-{i}"))).collect();
        let mut membership = Vec::new();
        let issuer = &fixture.founders[0];
        // Posters are established neighbours: joined before a day of
        // probation (2 alerts an hour) began, or the workload would run
        // into the probation quota and partitions would split which of an
        // author's alerts each side keeps (PROTOCOL.md 6.5).
        let joined = now - stoop_core::quota::PROBATION_SECS - 300;
        for member in posters.iter().chain(&bad_members) {
            let (invite, ticket) =
                fixture.invite(issuer, joined - 60, now + 86_400).map_err(|e| HoodError::Random(e.to_string()))?;
            let join =
                fixture.join(&invite, &ticket, member, joined).map_err(|e| HoodError::Membership(e.to_string()))?;
            membership.push(invite.to_bytes());
            membership.push(join.to_bytes());
        }
        Ok(Self { fixture, posters, bad_members, membership })
    }

    /// A fresh alert by `author` sent at `now`, with a random category and
    /// description length from the workload.
    pub fn alert(&self, s: &Scenario, rng: &mut SimRng, now: u64, label: &str) -> Alert {
        let mut a = self.fixture.alert(now, label);
        let cats = &s.workload.categories;
        a.category = cats[rng.below(cats.len())].clone();
        let [lo, hi] = s.workload.description_bytes;
        let target = rng.range_u64(lo as u64, hi as u64) as usize;
        let mut d = String::new();
        while d.len() < target {
            if !d.is_empty() {
                d.push(' ');
            }
            d.push_str(WORDS[rng.below(WORDS.len())]);
        }
        d.truncate(target.max(1));
        a.description = d.trim_end().to_owned();
        if a.description.is_empty() {
            a.description = "seen".into();
        }
        a.area = format!("{FIXTURE_AREA}7");
        a
    }
}

/// An alert sealed by `key`.
pub fn seal_alert(alert: Alert, key: &AuthorKey) -> Envelope {
    Payload::Alert(alert).seal(key)
}

/// `env` with one signature bit flipped.
pub fn corrupt_signature(env: &Envelope) -> Vec<u8> {
    let mut p = to_pb(env);
    if let Some(b) = p.signature.first_mut() {
        *b ^= 1;
    }
    p.encode_to_vec()
}

/// `env` re-encoded with an extra unknown field: decodes, but is not the
/// canonical encoding the signature covers.
pub fn non_canonical(env: &Envelope) -> Vec<u8> {
    let mut bytes = env.to_bytes();
    // Field 15, varint, value 0.
    bytes.extend_from_slice(&[0x78, 0x00]);
    bytes
}

/// A vote whose envelope claims `claimed` as signer but is signed by `actual`.
pub fn forged_signer(vote: &Envelope, claimed: &AuthorKey) -> Vec<u8> {
    let mut p = to_pb(vote);
    p.signer = claimed.public().as_bytes().to_vec();
    p.encode_to_vec()
}

fn to_pb(env: &Envelope) -> pb::Envelope {
    pb::Envelope::decode(env.to_bytes().as_slice()).unwrap_or_default()
}

/// The id of an envelope.
pub fn id_of(env: &Envelope) -> MessageId {
    env.id()
}
