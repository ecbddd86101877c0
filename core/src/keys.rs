//! Author keys: the ed25519 keys people sign alerts, votes and membership
//! messages with. They are never the node (libp2p) key, so a signature cannot
//! be tied to the home IP that relays it.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::ids::Tag;

/// Length of an ed25519 public key on the wire.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an ed25519 signature on the wire.
pub const SIGNATURE_LEN: usize = 64;

/// Why a key or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 32 bytes, or not a valid curve point.
    #[error("malformed public key")]
    Malformed,
    /// A small-order ("weak") point: it would let one signature verify for many messages.
    #[error("weak (small-order) public key")]
    Weak,
    /// Not 64 bytes.
    #[error("malformed signature")]
    MalformedSignature,
    /// `verify_strict` refused the signature (wrong, or non-canonical).
    #[error("signature does not verify")]
    BadSignature,
}

/// A 32-byte ed25519 author public key, as it appears on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// Parses wire bytes, refusing malformed and weak (small-order) keys.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
        let key = Self(arr);
        key.verifying_key()?;
        Ok(key)
    }

    /// Takes 32 bytes without checking the point. Only for the envelope
    /// signer, which [`PublicKey::verifying_key`] checks during verification
    /// (so the curve point is decompressed once, not twice).
    pub fn from_array_unchecked(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Raw key bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Lowercase hex, the form used in the API, CLI and logs.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(s.trim()).map_err(|_| KeyError::Malformed)?;
        Self::from_slice(&bytes)
    }

    /// The dalek key, refusing points that are invalid or of small order.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::Malformed)?;
        if vk.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(vk)
    }

    /// Checks `signature` over `tag || message` with `verify_strict`, which
    /// also refuses non-canonical signatures and small-order `R`.
    pub fn verify(&self, tag: Tag, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        verify_with(&self.verifying_key()?, tag, message, signature)
    }
}

/// Checks `signature` over `tag || message` with an already parsed key.
pub fn verify_with(vk: &VerifyingKey, tag: Tag, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
    let sig = parse_signature(signature)?;
    let signed = tagged(tag, message);
    vk.verify_strict(&signed, &sig).map_err(|_| KeyError::BadSignature)
}

/// Parses a 64-byte wire signature.
pub fn parse_signature(bytes: &[u8]) -> Result<Signature, KeyError> {
    let arr: [u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| KeyError::MalformedSignature)?;
    Ok(Signature::from_bytes(&arr))
}

/// The exact byte string that is signed: domain tag, then the message bytes.
pub fn tagged(tag: Tag, message: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tag.bytes().len() + message.len());
    v.extend_from_slice(tag.bytes());
    v.extend_from_slice(message);
    v
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A person's secret author key.
#[derive(Clone)]
pub struct AuthorKey(SigningKey);

impl AuthorKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self(SigningKey::from_bytes(&secret)))
    }

    /// Rebuilds a key from its 32-byte secret (as stored in a key file).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// Rebuilds a key from a slice, refusing the wrong length.
    pub fn from_secret_slice(secret: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = secret.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(Self::from_secret(&arr))
    }

    /// The 32-byte secret, for writing a key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `tag || message`.
    pub fn sign(&self, tag: Tag, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(&tagged(tag, message)).to_bytes()
    }
}

impl fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "AuthorKey({:?})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_tag_separation() -> Result<(), Box<dyn std::error::Error>> {
        let k = AuthorKey::generate()?;
        let sig = k.sign(Tag::Alert, b"hello");
        k.public().verify(Tag::Alert, b"hello", &sig)?;
        assert_eq!(
            k.public().verify(Tag::Vote, b"hello", &sig),
            Err(KeyError::BadSignature),
            "a signature for one kind must not verify as another"
        );
        assert_eq!(k.public().verify(Tag::Alert, b"hellO", &sig), Err(KeyError::BadSignature));
        Ok(())
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point (small order) encoded as y = 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_slice(&identity), Err(KeyError::Weak));
        assert_eq!(PublicKey::from_slice(&[1u8; 31]), Err(KeyError::Malformed));
    }

    #[test]
    fn non_canonical_signature_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let k = AuthorKey::generate()?;
        let mut sig = k.sign(Tag::Alert, b"m");
        crate::testkit::add_group_order(&mut sig);
        assert!(k.public().verify(Tag::Alert, b"m", &sig).is_err());
        Ok(())
    }
}
