//! Ticket bootstrap lists: the addresses a ticket gives a joiner to dial,
//! capped, deduplicated, shuffled and signed by the inviter.
//!
//! A ticket travels over whatever channel neighbors use (a QR code on a
//! phone, a chat message, paper). Its charter and invite are signed, but
//! until now its addresses were not: anyone who could edit a ticket on its
//! way could point the joiner at their own node and show it a fake hood
//! (an eclipse). Here the inviter signs the list with the author key that
//! signed the invite, under [`Tag::TicketAddrs`], bound to the invite's id
//! so a list cannot be lifted from one ticket into another. The joiner
//! checks it with the invite envelope's signer and refuses the addresses
//! if it fails.
//!
//! This is integrity, not secrecy: whoever can read a ticket can also read
//! its hood secret, and the addresses reveal where the inviter's node is.
//!
//! Addresses are opaque byte strings here (multiaddr bytes): core does not
//! know libp2p. The signed bytes are the invite id, then a count and each
//! address with a length prefix, so no two lists share an encoding.
//!
//! Caps: a ticket carries at most [`MAX_TICKET_ADDRS`] addresses of at most
//! [`MAX_ADDR_LEN`] bytes, and a joiner uses at most that many even from a
//! longer signed list (it verifies the whole list, whose size the ticket's
//! own size cap bounds, then keeps the first ones). The order is shuffled
//! with randomness the caller passes in, so joiners holding tickets from
//! one inviter spread their first dials.

use crate::ids::{MessageId, Tag};
use crate::keys::{AuthorKey, KeyError, PublicKey, SIGNATURE_LEN};

/// Most addresses a ticket carries and a joiner dials: enough for the
/// inviter's IPv4, IPv6 and relayed addresses plus a few other members,
/// and few enough that a hostile ticket cannot turn joiners into a
/// dialing cannon aimed at someone else, and that a ticket still fits a QR
/// code.
pub const MAX_TICKET_ADDRS: usize = 8;
/// Longest address kept: a relayed multiaddr with two peer ids is about
/// 120 bytes and a DNS name at most 253, so 300 fits every real address.
pub const MAX_ADDR_LEN: usize = 300;

/// Why a ticket's address list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddrsError {
    /// The signature is not 64 bytes.
    #[error("malformed signature on the ticket's addresses")]
    MalformedSignature,
    /// The signature does not verify with the invite's issuer: the list was
    /// changed, or belongs to another invite.
    #[error("the ticket's addresses are not signed by the inviter")]
    BadSignature,
    /// The invite's issuer key is unusable.
    #[error("the invite's issuer key is invalid")]
    BadIssuer,
}

impl AddrsError {
    /// Stable snake_case code for logs and the API.
    pub fn code(self) -> &'static str {
        match self {
            AddrsError::MalformedSignature => "malformed_addrs_signature",
            AddrsError::BadSignature => "bad_addrs_signature",
            AddrsError::BadIssuer => "bad_addrs_issuer",
        }
    }
}

/// A ticket's address list with the inviter's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAddrs {
    addrs: Vec<Vec<u8>>,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedAddrs {
    /// The inviter's list for `invite`: [`prepare`]d, then signed.
    pub fn sign(
        inviter: &AuthorKey,
        invite: &MessageId,
        addrs: impl IntoIterator<Item = Vec<u8>>,
        next_u64: &mut impl FnMut() -> u64,
    ) -> Self {
        let addrs = prepare(addrs, next_u64);
        let signature = inviter.sign(Tag::TicketAddrs, &signed_bytes(invite, &addrs));
        Self { addrs, signature }
    }

    /// From a ticket's fields, unchecked until [`SignedAddrs::verify`].
    pub fn from_parts(addrs: Vec<Vec<u8>>, signature: &[u8]) -> Result<Self, AddrsError> {
        let signature = signature.try_into().map_err(|_| AddrsError::MalformedSignature)?;
        Ok(Self { addrs, signature })
    }

    /// The addresses as carried (for encoding the ticket).
    pub fn addrs(&self) -> &[Vec<u8>] {
        &self.addrs
    }

    /// The signature (for encoding the ticket).
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Checks the list against the invite's issuer and returns the
    /// addresses to dial: well-formed, deduplicated, at most
    /// [`MAX_TICKET_ADDRS`], in the signed order.
    pub fn verify(&self, issuer: &PublicKey, invite: &MessageId) -> Result<Vec<Vec<u8>>, AddrsError> {
        issuer.verify(Tag::TicketAddrs, &signed_bytes(invite, &self.addrs), &self.signature).map_err(|e| match e {
            KeyError::Malformed | KeyError::Weak => AddrsError::BadIssuer,
            KeyError::MalformedSignature => AddrsError::MalformedSignature,
            KeyError::BadSignature => AddrsError::BadSignature,
        })?;
        Ok(usable(self.addrs.iter().cloned()))
    }
}

/// The bytes signed for `addrs` in `invite`'s ticket: invite id, count,
/// then each address as a 4-byte big-endian length and its bytes.
pub fn signed_bytes(invite: &MessageId, addrs: &[Vec<u8>]) -> Vec<u8> {
    let len: usize = addrs.iter().map(|a| a.len() + 4).sum();
    let mut out = Vec::with_capacity(32 + 4 + len);
    out.extend_from_slice(invite.as_bytes());
    out.extend_from_slice(&u32::try_from(addrs.len()).unwrap_or(u32::MAX).to_be_bytes());
    for a in addrs {
        out.extend_from_slice(&u32::try_from(a.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(a);
    }
    out
}

/// An inviter's list made ticket-ready: drops empty and over-long
/// addresses and duplicates (first kept), keeps the first
/// [`MAX_TICKET_ADDRS`] in the caller's order of preference, then shuffles.
pub fn prepare(addrs: impl IntoIterator<Item = Vec<u8>>, next_u64: &mut impl FnMut() -> u64) -> Vec<Vec<u8>> {
    let mut out = usable(addrs);
    shuffle(&mut out, next_u64);
    out
}

/// Shuffles `items` (Fisher-Yates) with the caller's randomness; a joiner
/// uses it for its dial order too.
pub fn shuffle<T>(items: &mut [T], next_u64: &mut impl FnMut() -> u64) {
    for i in (1..items.len()).rev() {
        // Modulo bias is below 2^-60 for lists this short.
        let j = usize::try_from(next_u64() % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

/// Well-formed, distinct addresses, at most [`MAX_TICKET_ADDRS`], in order.
fn usable(addrs: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(MAX_TICKET_ADDRS);
    for a in addrs {
        if out.len() == MAX_TICKET_ADDRS {
            break;
        }
        if !a.is_empty() && a.len() <= MAX_ADDR_LEN && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// SplitMix64 from a seed.
    fn rng(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn addr(n: usize) -> Vec<u8> {
        format!("/ip4/203.0.113.{n}/tcp/4001").into_bytes()
    }

    fn invite(n: u8) -> MessageId {
        MessageId::from_bytes([n; 32])
    }

    fn key(n: u8) -> AuthorKey {
        AuthorKey::from_secret(&[n; 32])
    }

    #[test]
    fn the_issuer_s_list_verifies() -> TestResult {
        let k = key(1);
        let s = SignedAddrs::sign(&k, &invite(1), (0..3).map(addr), &mut rng(1));
        let got = s.verify(&k.public(), &invite(1))?;
        assert_eq!(got, s.addrs());
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, (0..3).map(addr).collect::<Vec<_>>());
        // From the wire, the same.
        let back = SignedAddrs::from_parts(s.addrs().to_vec(), s.signature())?;
        assert_eq!(back.verify(&k.public(), &invite(1))?, got);
        Ok(())
    }

    #[test]
    fn tampering_fails_verification() -> TestResult {
        let k = key(1);
        let s = SignedAddrs::sign(&k, &invite(1), (0..4).map(addr), &mut rng(1));
        assert!(s.verify(&k.public(), &invite(1)).is_ok(), "positive control");
        let sig = s.signature().to_vec();
        let mut changed = s.addrs().to_vec();
        changed[0][5] ^= 1;
        let mut reordered = s.addrs().to_vec();
        reordered.swap(0, 1);
        let mut added = s.addrs().to_vec();
        added.push(addr(99));
        let removed = s.addrs()[1..].to_vec();
        for (what, addrs) in [("changed", changed), ("reordered", reordered), ("added", added), ("removed", removed)] {
            let t = SignedAddrs::from_parts(addrs, &sig)?;
            assert_eq!(t.verify(&k.public(), &invite(1)), Err(AddrsError::BadSignature), "{what}");
        }
        assert_eq!(s.verify(&k.public(), &invite(2)), Err(AddrsError::BadSignature), "another invite");
        assert_eq!(s.verify(&key(2).public(), &invite(1)), Err(AddrsError::BadSignature), "another issuer");
        // A signature made for another purpose over the same bytes.
        let other_tag = k.sign(Tag::Invite, &signed_bytes(&invite(1), s.addrs()));
        let t = SignedAddrs::from_parts(s.addrs().to_vec(), &other_tag)?;
        assert_eq!(t.verify(&k.public(), &invite(1)), Err(AddrsError::BadSignature), "another tag");
        assert_eq!(SignedAddrs::from_parts(vec![], &[0; 63]), Err(AddrsError::MalformedSignature));
        assert_eq!(AddrsError::BadSignature.code(), "bad_addrs_signature");
        Ok(())
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let a = signed_bytes(&invite(1), &[b"ab".to_vec(), b"c".to_vec()]);
        let b = signed_bytes(&invite(1), &[b"a".to_vec(), b"bc".to_vec()]);
        let c = signed_bytes(&invite(1), &[b"abc".to_vec()]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }

    #[test]
    fn over_cap_lists_are_truncated_on_both_sides() -> TestResult {
        let k = key(1);
        let s = SignedAddrs::sign(&k, &invite(1), (0..20).map(addr), &mut rng(1));
        assert_eq!(s.addrs().len(), MAX_TICKET_ADDRS);
        // The inviter keeps its first choices, in some order.
        let mut kept = s.addrs().to_vec();
        kept.sort();
        let mut first: Vec<_> = (0..MAX_TICKET_ADDRS).map(addr).collect();
        first.sort();
        assert_eq!(kept, first);
        // A longer list signed by another implementation: the joiner uses the first 8.
        let long: Vec<_> = (0..12).map(addr).collect();
        let sig = k.sign(Tag::TicketAddrs, &signed_bytes(&invite(1), &long));
        let t = SignedAddrs::from_parts(long.clone(), &sig)?;
        assert_eq!(t.verify(&k.public(), &invite(1))?, long[..MAX_TICKET_ADDRS].to_vec());
        Ok(())
    }

    #[test]
    fn duplicates_empty_and_oversize_addresses_are_dropped() {
        let input = vec![addr(1), vec![], addr(1), vec![b'x'; MAX_ADDR_LEN + 1], addr(2), vec![b'y'; MAX_ADDR_LEN]];
        let mut got = prepare(input, &mut rng(3));
        got.sort();
        let mut want = vec![addr(1), addr(2), vec![b'y'; MAX_ADDR_LEN]];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn order_is_random_but_deterministic_for_a_seed() {
        let list: Vec<_> = (0..MAX_TICKET_ADDRS).map(addr).collect();
        let a = prepare(list.clone(), &mut rng(7));
        assert_eq!(a, prepare(list.clone(), &mut rng(7)), "same seed, same order");
        let orders: std::collections::HashSet<_> = (0..20).map(|s| prepare(list.clone(), &mut rng(s))).collect();
        assert!(orders.len() > 15, "only {} orders from 20 seeds", orders.len());
        // Every position is reached by the first address over many seeds.
        let positions: std::collections::HashSet<_> =
            (0..400).filter_map(|s| prepare(list.clone(), &mut rng(s)).iter().position(|x| *x == list[0])).collect();
        assert_eq!(positions.len(), MAX_TICKET_ADDRS);
    }

    proptest! {
        #[test]
        fn prepared_lists_are_bounded_distinct_and_verify(
            seed in any::<u64>(),
            addrs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30),
        ) {
            let k = key(5);
            let s = SignedAddrs::sign(&k, &invite(3), addrs.clone(), &mut rng(seed));
            prop_assert!(s.addrs().len() <= MAX_TICKET_ADDRS);
            for (i, a) in s.addrs().iter().enumerate() {
                prop_assert!(!a.is_empty() && a.len() <= MAX_ADDR_LEN && addrs.contains(a));
                prop_assert!(!s.addrs()[..i].contains(a));
            }
            let got = s.verify(&k.public(), &invite(3));
            prop_assert_eq!(got.as_deref().ok(), Some(s.addrs()));
        }
    }
}
