//! Items, range bounds and fingerprints.
//!
//! The fingerprint of a range is a hash of (sum of its ids as 256-bit
//! little-endian integers mod 2^256, count). Addition is a group operation,
//! so a range's sum is `prefix[hi] - prefix[lo]` (or a sum of cached bucket
//! sums): computing a fingerprint never needs to read the range's items.

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

use crate::ids::MessageId;

/// Length of a fingerprint on the wire. 128 bits: two honest, different
/// ranges collide with probability 2^-128 per comparison.
pub const FINGERPRINT_LEN: usize = 16;

/// Domain tag of the fingerprint hash, so it is never confused with a
/// message id or a signature input.
const FINGERPRINT_TAG: &[u8] = b"stoop.v1/reconcile-fingerprint\0";

/// One element of the reconciled set: a stored message of any kind, keyed
/// by its signed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    /// The message's signed `sent` time (first sort key).
    pub sent: u64,
    /// The message id (second sort key).
    pub id: MessageId,
}

impl Item {
    /// An item.
    pub const fn new(sent: u64, id: MessageId) -> Self {
        Self { sent, id }
    }
}

/// An exclusive upper (or inclusive lower) bound in the item order.
///
/// `At` compares like the item `(sent, prefix padded with zeros)`; its
/// prefix length is kept only so the wire form stays short. `End` is above
/// every item; on the wire it is `(2^64-1, empty prefix)`, a form `At`
/// never takes (see [`Bound::between`]).
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// A point in the order.
    At {
        /// Signed time.
        sent: u64,
        /// Id prefix, zero-padded to 32 bytes.
        id: [u8; 32],
        /// How many bytes of `id` are significant (0..=32).
        prefix_len: u8,
    },
    /// Above every item.
    End,
}

impl Bound {
    /// The lowest bound: every item is at or above it.
    pub const START: Bound = Bound::At { sent: 0, id: [0; 32], prefix_len: 0 };

    /// A bound from its wire parts; `None` if the prefix is over 32 bytes.
    pub fn from_parts(sent: u64, prefix: &[u8]) -> Option<Bound> {
        if prefix.is_empty() && sent == u64::MAX {
            return Some(Bound::End);
        }
        let len = prefix.len();
        let mut id = [0u8; 32];
        id.get_mut(..len)?.copy_from_slice(prefix);
        Some(Bound::At { sent, id, prefix_len: len as u8 })
    }

    /// The wire parts: `sent` and the significant id prefix.
    pub fn to_parts(&self) -> (u64, &[u8]) {
        match self {
            Bound::At { sent, id, prefix_len } => (*sent, &id[..usize::from(*prefix_len)]),
            Bound::End => (u64::MAX, &[]),
        }
    }

    /// The shortest bound `b` with `prev < b <= next` (requires `prev < next`).
    pub fn between(prev: &Item, next: &Item) -> Bound {
        let next_id = next.id.as_bytes();
        let len = if prev.sent != next.sent {
            // `(2^64-1, empty)` is the end bound's wire form, so a bound at
            // that time keeps one id byte.
            usize::from(next.sent == u64::MAX)
        } else {
            let common = prev.id.as_bytes().iter().zip(next_id).take_while(|(a, b)| a == b).count();
            (common + 1).min(32)
        };
        let mut id = [0u8; 32];
        id[..len].copy_from_slice(&next_id[..len]);
        Bound::At { sent: next.sent, id, prefix_len: len as u8 }
    }

    /// The bound just at `item` (the item is at or above it).
    pub fn at(item: &Item) -> Bound {
        Bound::At { sent: item.sent, id: *item.id.as_bytes(), prefix_len: 32 }
    }

    /// Whether `item` lies below this bound.
    pub fn is_above(&self, item: &Item) -> bool {
        match self {
            Bound::End => true,
            Bound::At { sent, id, .. } => (item.sent, item.id.as_bytes()) < (*sent, id),
        }
    }
}

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Bound::End, Bound::End) => Ordering::Equal,
            (Bound::End, _) => Ordering::Greater,
            (_, Bound::End) => Ordering::Less,
            (Bound::At { sent: a, id: x, .. }, Bound::At { sent: b, id: y, .. }) => (a, x).cmp(&(b, y)),
        }
    }
}

/// The 16-byte fingerprint of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; FINGERPRINT_LEN]);

/// Running (sum of ids mod 2^256, count) of a set of items; a group under
/// `add`/`sub`, so range sums come from prefix or bucket sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accumulator {
    /// Little-endian 64-bit limbs of the sum.
    limbs: [u64; 4],
    /// Number of items.
    count: u64,
}

impl Accumulator {
    /// Adds one id.
    pub fn add_id(&mut self, id: &MessageId) {
        self.add(&Self::of(id));
    }

    /// The accumulator of a single id.
    pub fn of(id: &MessageId) -> Self {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(id.as_bytes().chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(b);
        }
        Self { limbs, count: 1 }
    }

    /// `self += other`.
    pub fn add(&mut self, other: &Self) {
        let mut carry = false;
        for (a, b) in self.limbs.iter_mut().zip(other.limbs) {
            let (s, c1) = a.overflowing_add(b);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            *a = s;
            carry = c1 || c2;
        }
        self.count = self.count.wrapping_add(other.count);
    }

    /// `self -= other`.
    pub fn sub(&mut self, other: &Self) {
        let mut borrow = false;
        for (a, b) in self.limbs.iter_mut().zip(other.limbs) {
            let (s, b1) = a.overflowing_sub(b);
            let (s, b2) = s.overflowing_sub(u64::from(borrow));
            *a = s;
            borrow = b1 || b2;
        }
        self.count = self.count.wrapping_sub(other.count);
    }

    /// Number of items added (minus those subtracted).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// SHA-256(tag || sum as 32 LE bytes || count as 8 LE bytes), first 16 bytes.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_TAG);
        for limb in self.limbs {
            h.update(limb.to_le_bytes());
        }
        h.update(self.count.to_le_bytes());
        let digest: [u8; 32] = h.finalize().into();
        let mut fp = [0u8; FINGERPRINT_LEN];
        fp.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        Fingerprint(fp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(sent: u64, id: [u8; 32]) -> Item {
        Item::new(sent, MessageId::from_bytes(id))
    }

    proptest! {
        #[test]
        fn between_separates(a in any::<(u64, [u8; 32])>(), b in any::<(u64, [u8; 32])>()) {
            let (x, y) = (item(a.0, a.1), item(b.0, b.1));
            prop_assume!(x != y);
            let (lo, hi) = if x < y { (x, y) } else { (y, x) };
            let bound = Bound::between(&lo, &hi);
            prop_assert!(bound.is_above(&lo));
            prop_assert!(!bound.is_above(&hi));
            let (sent, prefix) = bound.to_parts();
            prop_assert_eq!(Bound::from_parts(sent, prefix), Some(bound));
            prop_assert!(bound != Bound::End);
        }

        #[test]
        fn sum_is_order_free_and_subtracts(ids in proptest::collection::vec(any::<[u8; 32]>(), 0..20)) {
            let mut fwd = Accumulator::default();
            let mut back = Accumulator::default();
            for id in &ids { fwd.add_id(&MessageId::from_bytes(*id)); }
            for id in ids.iter().rev() { back.add_id(&MessageId::from_bytes(*id)); }
            prop_assert_eq!(fwd.fingerprint(), back.fingerprint());
            for id in &ids { fwd.sub(&Accumulator::of(&MessageId::from_bytes(*id))); }
            prop_assert_eq!(fwd, Accumulator::default());
        }
    }

    #[test]
    fn end_bound_round_trips_and_is_above_everything() {
        let top = item(u64::MAX, [0xff; 32]);
        assert!(Bound::End.is_above(&top));
        assert_eq!(Bound::from_parts(u64::MAX, &[]), Some(Bound::End));
        assert_eq!(Bound::from_parts(1, &[0; 33]), None);
        // A bound at sent = 2^64-1 keeps an id byte so it is not read as End.
        let b = Bound::between(&item(5, [0; 32]), &top);
        assert_eq!(b.to_parts().1.len(), 1);
        assert!(!b.is_above(&top));
    }

    /// Vectors for a second implementation (also in docs/PROTOCOL.md); the
    /// last one wraps the sum past 2^256.
    #[test]
    fn fingerprint_test_vectors() {
        let fp = |ids: &[[u8; 32]]| {
            let mut acc = Accumulator::default();
            for id in ids {
                acc.add_id(&MessageId::from_bytes(*id));
            }
            hex::encode(acc.fingerprint().0)
        };
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(fp(&[]), "d028abee96ca83da0fb8cdeb83a6de42");
        assert_eq!(fp(&[one]), "c26ec4e4e3ab558d9dcc012c0bade9a3");
        assert_eq!(fp(&[one, [0xff; 32]]), "ccfdc16a38e2550d07549460e19f73e2");
    }

    #[test]
    fn count_changes_the_fingerprint() {
        // The empty set's sum equals a set holding the zero id; the count
        // tells them apart.
        let mut one = Accumulator::default();
        one.add_id(&MessageId::MIN);
        assert_ne!(one.fingerprint(), Accumulator::default().fingerprint());
    }
}
