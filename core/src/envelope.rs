//! The signed envelope: decoding with a size cap, the canonical-encoding
//! rule, and signature verification over the exact received payload bytes.

use prost::Message;
use stoop_proto::v1 as pb;

use super::ids::{MessageId, Tag};
use super::keys::{AuthorKey, PublicKey, SIGNATURE_LEN};
use super::verdict::RejectReason;

/// Largest envelope accepted from the network (also the gossip
/// `max_transmit_size`): a full alert with a 2 KB description is ~2.5 KB, so
/// 16 KiB leaves room for a join carrying its invite and nothing for media.
pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024;

/// What a payload is; selects the domain tag and the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Alert, Update or Cancel.
    Alert,
    /// A member's report.
    Report,
    /// A moderator's hide/restore vote.
    Vote,
    /// Seen-too / resolved.
    Reaction,
    /// A single-use invite.
    Invite,
    /// A join using an invite.
    Join,
    /// A moderator's revocation signature.
    Revocation,
    /// A moderator's roster-change signature.
    RosterChange,
}

impl Kind {
    /// All kinds, in wire order.
    pub const ALL: [Kind; 8] = [
        Kind::Alert,
        Kind::Report,
        Kind::Vote,
        Kind::Reaction,
        Kind::Invite,
        Kind::Join,
        Kind::Revocation,
        Kind::RosterChange,
    ];

    /// The domain tag its signature and id use.
    pub fn tag(self) -> Tag {
        match self {
            Kind::Alert => Tag::Alert,
            Kind::Report => Tag::Report,
            Kind::Vote => Tag::Vote,
            Kind::Reaction => Tag::Reaction,
            Kind::Invite => Tag::Invite,
            Kind::Join => Tag::Join,
            Kind::Revocation => Tag::Revocation,
            Kind::RosterChange => Tag::RosterChange,
        }
    }

    /// The protobuf enum value.
    pub fn to_wire(self) -> pb::PayloadKind {
        match self {
            Kind::Alert => pb::PayloadKind::Alert,
            Kind::Report => pb::PayloadKind::Report,
            Kind::Vote => pb::PayloadKind::Vote,
            Kind::Reaction => pb::PayloadKind::Reaction,
            Kind::Invite => pb::PayloadKind::Invite,
            Kind::Join => pb::PayloadKind::Join,
            Kind::Revocation => pb::PayloadKind::Revocation,
            Kind::RosterChange => pb::PayloadKind::RosterChange,
        }
    }

    /// From the protobuf enum value.
    pub fn from_wire(v: i32) -> Result<Self, RejectReason> {
        Kind::ALL.into_iter().find(|k| k.to_wire() as i32 == v).ok_or(RejectReason::UnknownKind(v))
    }

    /// One byte for store keys.
    pub fn code(self) -> u8 {
        self.to_wire() as u8
    }

    /// snake_case name for logs, metrics and the API.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Report => "report",
            Kind::Vote => "vote",
            Kind::Reaction => "reaction",
            Kind::Invite => "invite",
            Kind::Join => "join",
            Kind::Revocation => "revocation",
            Kind::RosterChange => "roster_change",
        }
    }
}

/// What follows the domain tag in the signed bytes: the signer's key, then
/// the exact payload. The key is part of the signed bytes so that two people
/// signing the same payload (two moderators' identical votes) make two
/// messages with two ids.
pub fn signed_message(signer: &PublicKey, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + payload.len());
    m.extend_from_slice(signer.as_bytes());
    m.extend_from_slice(payload);
    m
}

/// An envelope whose signature has been checked (or that was sealed here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    kind: Kind,
    payload: Vec<u8>,
    signer: PublicKey,
    signature: [u8; SIGNATURE_LEN],
    id: MessageId,
}

impl Envelope {
    /// Decodes, checks canonical form and verifies the signature: the only way
    /// network bytes become an `Envelope`.
    pub fn open(bytes: &[u8]) -> Result<Self, RejectReason> {
        let env = Self::decode_unverified(bytes)?;
        env.verify()?;
        Ok(env)
    }

    /// Checks the signer key (valid, not weak) and the signature with
    /// `verify_strict` over the signed bytes.
    pub fn verify(&self) -> Result<(), RejectReason> {
        self.verify_with(&self.signer.verifying_key()?)
    }

    /// Like [`Envelope::verify`] with the signer's key already parsed and
    /// checked (see [`PublicKey::verifying_key`]), e.g. from a key cache.
    pub fn verify_with(&self, vk: &ed25519_dalek::VerifyingKey) -> Result<(), RejectReason> {
        super::keys::verify_with(vk, self.kind.tag(), &signed_message(&self.signer, &self.payload), &self.signature)?;
        Ok(())
    }

    /// Decodes and checks canonical form and key length, but does not check
    /// the key point or verify the signature. For bytes this node already verified and stored, and for
    /// batch verification, which checks signatures separately.
    pub fn decode_unverified(bytes: &[u8]) -> Result<Self, RejectReason> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(RejectReason::Oversized { len: bytes.len(), max: MAX_ENVELOPE_BYTES });
        }
        let p = pb::Envelope::decode(bytes).map_err(|e| RejectReason::Malformed(e.to_string()))?;
        // prost never writes unknown fields, defaults or non-minimal varints,
        // so any difference on re-encoding means the sender did.
        if p.encoded_len() != bytes.len() || p.encode_to_vec() != bytes {
            return Err(RejectReason::NonCanonical);
        }
        let kind = Kind::from_wire(p.kind)?;
        let signer: [u8; 32] =
            p.signer.as_slice().try_into().map_err(|_| RejectReason::Signature(super::keys::KeyError::Malformed))?;
        // The point itself is checked when the signature is verified.
        let signer = PublicKey::from_array_unchecked(signer);
        let signature: [u8; SIGNATURE_LEN] = p
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| RejectReason::Signature(super::keys::KeyError::MalformedSignature))?;
        let id = MessageId::of(kind.tag(), &signed_message(&signer, &p.payload));
        Ok(Self { kind, payload: p.payload, signer, signature, id })
    }

    /// Signs `payload` (already canonical bytes) as `kind` with `key`.
    pub fn seal(kind: Kind, payload: Vec<u8>, key: &AuthorKey) -> Self {
        let signer = key.public();
        let message = signed_message(&signer, &payload);
        let signature = key.sign(kind.tag(), &message);
        let id = MessageId::of(kind.tag(), &message);
        Self { kind, payload, signer, signature, id }
    }

    /// The wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        pb::Envelope {
            kind: self.kind.to_wire() as i32,
            payload: self.payload.clone(),
            signer: self.signer.as_bytes().to_vec(),
            signature: self.signature.to_vec(),
        }
        .encode_to_vec()
    }

    /// Payload kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Exact payload bytes that were signed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Signing author key.
    pub fn signer(&self) -> PublicKey {
        self.signer
    }

    /// Signature bytes.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Content id: SHA-256(tag || signer || payload), the hash of the signed bytes.
    pub fn id(&self) -> MessageId {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealed() -> Result<(AuthorKey, Envelope), getrandom::Error> {
        let key = AuthorKey::generate()?;
        let payload = pb::Report { hood: vec![7; 32], alert: vec![9; 32], reason: 5, note: "spam".into(), sent: 1 }
            .encode_to_vec();
        let env = Envelope::seal(Kind::Report, payload, &key);
        Ok((key, env))
    }

    #[test]
    fn open_accepts_what_seal_makes() -> Result<(), Box<dyn std::error::Error>> {
        let (_, env) = sealed()?;
        assert_eq!(Envelope::open(&env.to_bytes())?, env);
        Ok(())
    }

    #[test]
    fn unknown_fields_and_oversize_are_rejected() -> Result<(), Box<dyn std::error::Error>> {
        let (_, env) = sealed()?;
        let mut bytes = env.to_bytes();
        // Field 15, varint 1: unknown to stoop.v1.Envelope.
        bytes.extend_from_slice(&[0x78, 0x01]);
        assert_eq!(Envelope::open(&bytes), Err(RejectReason::NonCanonical));
        let big = vec![0u8; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(Envelope::open(&big), Err(RejectReason::Oversized { .. })));
        Ok(())
    }

    #[test]
    fn truncated_and_garbage_frames_are_malformed() -> Result<(), Box<dyn std::error::Error>> {
        let (_, env) = sealed()?;
        let bytes = env.to_bytes();
        for cut in 1..bytes.len() {
            assert!(Envelope::open(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
        // A length prefix far past the end must not allocate or panic.
        assert!(matches!(Envelope::open(&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(RejectReason::Malformed(_))));
        // An overlong varint.
        assert!(Envelope::open(&[0x08; 12]).is_err());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Flipping any bit of any byte of a valid envelope makes it fail.
        #[test]
        fn any_corrupted_byte_is_rejected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (_, env) = sealed().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut bytes = env.to_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            prop_assert!(Envelope::open(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::open(&bytes);
        }
    }
}
