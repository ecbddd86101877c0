//! Admission: only holders of a hood's ticket can reach its nodes at all.
//!
//! Every hood has a [`HoodSecret`], 32 random bytes that tickets carry. From
//! it and the hood id, [`network_key`] derives the pre-shared key of
//! libp2p's private-network layer (pnet). pnet wraps the raw TCP stream in
//! XSalsa20 keyed by that PSK *before* multistream-select, Noise and Yamux:
//! a dialer without the key sends bytes that decrypt to garbage, and the
//! connection dies in the first negotiation.
//!
//! # What this protects
//! - An outsider who finds a node's address (a leaked ticket address, a
//!   port scan, a DHT crawl) learns nothing of the hood: not its alerts, not
//!   its members, not even which protocols the node speaks, because
//!   protocol negotiation happens inside the pnet stream. Gossip and sync
//!   need a completed handshake, so a fresh libp2p key alone no longer
//!   reads the hood.
//! - Strangers cannot hold a node's connection or sync slots past the first
//!   few bytes, which is what makes the per-IP caps of
//!   [`ip_limits`](crate::ip_limits) enough against them.
//!
//! # What it does not protect
//! - A revoked member keeps the secret until moderators rotate it (issue a
//!   new secret to the remaining members). Revocation stops their *posts*
//!   at once (the ledger refuses them); it does not stop them *reading*
//!   until the rotation.
//! - Anyone who ever saw a ticket has the secret: a ticket is a key to the
//!   network, whether or not its one-time invite was used.
//! - QUIC is not covered: pnet wraps a byte stream and QUIC brings its own
//!   TLS handshake, so a node that wants admission control must not listen
//!   on QUIC (or must gate QUIC some other way).
//! - The PSK fingerprint that libp2p logs is derived from the key, not the
//!   secret, and does not reveal either.
//!
//! # What it never does
//! The PeerId is never tied to an author key by this layer: the secret is
//! per hood, shared by all members, and says nothing about who holds it.
//! Any member's node completes the same handshake.
//!
//! The derivation is SHA-256 over a domain tag ([`Tag::NetworkKey`]), the
//! hood id and the secret. The hood id binds the key to one hood, so a
//! secret reused by mistake for two hoods still gives two networks; the tag
//! keeps the key from colliding with any other hash Stoop computes.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::ids::{HoodId, Tag};

/// Length of a hood secret: 256 bits, the PSK size pnet takes, so
/// guessing it is no easier than guessing the derived key.
pub const HOOD_SECRET_LEN: usize = 32;

/// Why a hood secret could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not 32 bytes (64 hex digits).
    #[error("malformed hood secret: expected {HOOD_SECRET_LEN} bytes ({} hex digits)", HOOD_SECRET_LEN * 2)]
    Malformed,
}

impl SecretError {
    /// Stable snake_case code for logs and the API.
    pub fn code(self) -> &'static str {
        match self {
            SecretError::Malformed => "malformed_hood_secret",
        }
    }
}

/// A hood's network secret; tickets carry it. Debug never prints it.
#[derive(Clone)]
pub struct HoodSecret([u8; HOOD_SECRET_LEN]);

impl HoodSecret {
    /// A fresh secret from the operating system's randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; HOOD_SECRET_LEN];
        getrandom::fill(&mut b)?;
        Ok(Self(b))
    }

    /// From its raw bytes (as stored in the data dir).
    pub const fn from_bytes(bytes: [u8; HOOD_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// From wire bytes, refusing the wrong length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SecretError> {
        bytes.try_into().map(Self).map_err(|_| SecretError::Malformed)
    }

    /// From its hex form.
    pub fn from_hex(s: &str) -> Result<Self, SecretError> {
        let v = hex::decode(s.trim()).map_err(|_| SecretError::Malformed)?;
        Self::from_slice(&v)
    }

    /// Lowercase hex (for a ticket or a config file; never for logs).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Raw bytes.
    pub fn as_bytes(&self) -> &[u8; HOOD_SECRET_LEN] {
        &self.0
    }
}

impl PartialEq for HoodSecret {
    /// Compares without an early exit, so timing does not say how many
    /// leading bytes of a guess were right.
    fn eq(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Eq for HoodSecret {}

impl fmt::Debug for HoodSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret: Debug output ends up in logs.
        f.write_str("HoodSecret(<redacted>)")
    }
}

/// The libp2p pnet pre-shared key for `hood`:
/// SHA-256(`Tag::NetworkKey` || hood id || secret).
pub fn network_key(hood: &HoodId, secret: &HoodSecret) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(Tag::NetworkKey.bytes());
    h.update(hood.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hood(b: u8) -> HoodId {
        HoodId::from_bytes([b; 32])
    }

    #[test]
    fn key_is_deterministic_and_bound_to_hood_and_secret() {
        let s1 = HoodSecret::from_bytes([7; 32]);
        let s2 = HoodSecret::from_bytes([8; 32]);
        let k = network_key(&hood(1), &s1);
        assert_eq!(k, network_key(&hood(1), &s1));
        assert_ne!(k, network_key(&hood(2), &s1), "same secret, other hood: other network");
        assert_ne!(k, network_key(&hood(1), &s2), "other secret: other network");
    }

    #[test]
    fn key_is_domain_separated() {
        // Without the tag the key would be SHA-256(hood || secret), a value
        // any other untagged hash of the same bytes could collide with.
        let s = HoodSecret::from_bytes([7; 32]);
        let mut h = Sha256::new();
        h.update(hood(1).as_bytes());
        h.update(s.as_bytes());
        let untagged: [u8; 32] = h.finalize().into();
        assert_ne!(network_key(&hood(1), &s), untagged);
        // A content id over the same bytes with another tag differs too.
        let mut bytes = hood(1).as_bytes().to_vec();
        bytes.extend_from_slice(s.as_bytes());
        assert_ne!(&network_key(&hood(1), &s), HoodId::of(Tag::Charter, &bytes).as_bytes());
        assert_eq!(&network_key(&hood(1), &s), HoodId::of(Tag::NetworkKey, &bytes).as_bytes());
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let s = HoodSecret::from_bytes([0xab; 32]);
        let dbg = format!("{s:?}");
        assert!(!dbg.to_lowercase().contains("abab"), "{dbg}");
        assert!(dbg.contains("redacted"));
        // Positive control: the hex form does contain it.
        assert!(s.to_hex().contains("abab"));
    }

    #[test]
    fn generated_secrets_differ() -> Result<(), getrandom::Error> {
        let a = HoodSecret::generate()?;
        let b = HoodSecret::generate()?;
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
        Ok(())
    }

    #[test]
    fn malformed_hex_is_refused() {
        assert_eq!(HoodSecret::from_hex("abcd"), Err(SecretError::Malformed));
        assert_eq!(HoodSecret::from_hex(&"zz".repeat(32)), Err(SecretError::Malformed));
        assert_eq!(HoodSecret::from_slice(&[0; 33]), Err(SecretError::Malformed));
        assert_eq!(SecretError::Malformed.code(), "malformed_hood_secret");
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in any::<[u8; 32]>()) {
            let s = HoodSecret::from_bytes(bytes);
            prop_assert_eq!(HoodSecret::from_hex(&s.to_hex()), Ok(s.clone()));
            prop_assert_eq!(HoodSecret::from_hex(&format!(" {} ", s.to_hex().to_uppercase())), Ok(s));
        }

        #[test]
        fn secrets_that_differ_in_one_byte_give_other_keys(bytes in any::<[u8; 32]>(), i in 0usize..32, flip in 1u8..=255) {
            let mut other = bytes;
            other[i] ^= flip;
            let (a, b) = (HoodSecret::from_bytes(bytes), HoodSecret::from_bytes(other));
            prop_assert_ne!(&a, &b);
            prop_assert_ne!(network_key(&hood(3), &a), network_key(&hood(3), &b));
        }
    }
}
