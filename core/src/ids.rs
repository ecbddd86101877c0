//! Domain tags and content ids.
//!
//! Every signature covers `tag || bytes`, where the tag names what the bytes
//! are, so a signature made for one kind of message can never be replayed as
//! another. Ids are SHA-256 over the same `tag || bytes`: the hash of the
//! signed bytes (for envelopes: tag, signer key, payload), independent of the
//! signature itself.

use std::fmt;

use sha2::{Digest, Sha256};

/// Domain-separation tags, one per thing that gets signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// The charter bytes (founder signatures; hood id).
    Charter,
    /// Alert payload (Alert, Update and Cancel).
    Alert,
    /// Report payload.
    Report,
    /// Vote payload.
    Vote,
    /// Reaction payload.
    Reaction,
    /// Invite payload.
    Invite,
    /// Join payload.
    Join,
    /// Revocation payload.
    Revocation,
    /// RosterChange payload.
    RosterChange,
    /// What the ticket key signs in a Join: invite id || new member key.
    JoinTicket,
    /// The libp2p pnet pre-shared key derived from a hood's secret.
    NetworkKey,
    /// A ticket's bootstrap addresses, signed by the inviter.
    TicketAddrs,
}

impl Tag {
    /// The tag's bytes: an ASCII name and a NUL, so no tag is a prefix of another.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Tag::Charter => b"stoop.v1/charter\0",
            Tag::Alert => b"stoop.v1/alert\0",
            Tag::Report => b"stoop.v1/report\0",
            Tag::Vote => b"stoop.v1/vote\0",
            Tag::Reaction => b"stoop.v1/reaction\0",
            Tag::Invite => b"stoop.v1/invite\0",
            Tag::Join => b"stoop.v1/join\0",
            Tag::Revocation => b"stoop.v1/revocation\0",
            Tag::RosterChange => b"stoop.v1/roster-change\0",
            Tag::JoinTicket => b"stoop.v1/join-ticket\0",
            Tag::NetworkKey => b"stoop.v1/network-key\0",
            Tag::TicketAddrs => b"stoop.v1/ticket-addrs\0",
        }
    }
}

/// Error for an id that is not 32 bytes (or not 64 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed id: expected 32 bytes (64 hex digits)")]
pub struct MalformedId;

/// SHA-256 of `tag || bytes`.
fn digest(tag: Tag, bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag.bytes());
    h.update(bytes);
    h.finalize().into()
}

/// Defines a 32-byte SHA-256 id type. Message ids and hood ids are both
/// SHA-256 digests, but distinct types, so one can never be passed where the
/// other is meant.
macro_rules! content_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The smallest id (a range bound).
            pub const MIN: Self = Self([0; 32]);
            /// The largest id (a range bound).
            pub const MAX: Self = Self([0xff; 32]);

            /// SHA-256 of `tag || bytes`.
            pub fn of(tag: Tag, bytes: &[u8]) -> Self {
                Self(digest(tag, bytes))
            }

            /// From its 32 raw bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// From wire bytes.
            pub fn from_slice(b: &[u8]) -> Result<Self, MalformedId> {
                b.try_into().map(Self).map_err(|_| MalformedId)
            }

            /// From the hex form used by the API and CLI.
            pub fn from_hex(s: &str) -> Result<Self, MalformedId> {
                let v = hex::decode(s.trim()).map_err(|_| MalformedId)?;
                Self::from_slice(&v)
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", &self.to_hex()[..12])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::str::FromStr for $name {
            type Err = MalformedId;
            fn from_str(s: &str) -> Result<Self, MalformedId> {
                Self::from_hex(s)
            }
        }
    };
}

content_id! {
    /// Id of a signed message: SHA-256(tag || signer || payload).
    MessageId
}

content_id! {
    /// Id of a neighborhood: SHA-256(charter tag || charter bytes).
    HoodId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tag_is_a_prefix_of_another() {
        let all = [
            Tag::Charter,
            Tag::Alert,
            Tag::Report,
            Tag::Vote,
            Tag::Reaction,
            Tag::Invite,
            Tag::Join,
            Tag::Revocation,
            Tag::RosterChange,
            Tag::JoinTicket,
            Tag::NetworkKey,
            Tag::TicketAddrs,
        ];
        for a in all {
            for b in all {
                if a != b {
                    assert!(!b.bytes().starts_with(a.bytes()), "{a:?} prefixes {b:?}");
                }
            }
        }
    }

    #[test]
    fn hex_round_trip() -> Result<(), MalformedId> {
        let id = MessageId::of(Tag::Alert, b"x");
        assert_eq!(MessageId::from_hex(&id.to_hex())?, id);
        assert!(MessageId::from_hex("abcd").is_err());
        Ok(())
    }
}
