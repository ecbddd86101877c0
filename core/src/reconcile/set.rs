//! The ordered view of the local set that the reconciler reads.
//!
//! [`MemSet`] is a sorted `Vec` with prefix sums: every query is a binary
//! search. The node keeps its live set in an [`ItemIndex`](super::ItemIndex)
//! and reads a [`MemSet`] snapshot of it per round. A sled-backed
//! implementation would key a tree by `sent` (8 bytes big-endian) || id and
//! keep bucket accumulators; not needed while the set fits in memory next
//! to the ledger. If the set changes between the rounds of a session the
//! result is still safe (every fetched envelope is validated) but may miss
//! or repeat an id until the next session.

use super::item::{Accumulator, Bound, Fingerprint, Item};

/// A store read failed (the sled implementation's I/O errors end up here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item store failed: {0}")]
pub struct StoreError(pub String);

/// An ordered set of items, queried by ranges `[lo, hi)`.
pub trait ItemSet {
    /// Number of items in `[lo, hi)`.
    fn count(&self, lo: &Bound, hi: &Bound) -> Result<u64, StoreError>;
    /// Fingerprint of the items in `[lo, hi)`.
    fn fingerprint(&self, lo: &Bound, hi: &Bound) -> Result<Fingerprint, StoreError>;
    /// The first `limit` items of `[lo, hi)`, in order.
    fn items(&self, lo: &Bound, hi: &Bound, limit: usize) -> Result<Vec<Item>, StoreError>;
    /// Up to `parts - 1` increasing bounds strictly inside `[lo, hi)` that
    /// cut its items into `parts` runs of nearly equal size (fewer if the
    /// range holds fewer items).
    fn split(&self, lo: &Bound, hi: &Bound, parts: usize) -> Result<Vec<Bound>, StoreError>;
}

/// An in-memory [`ItemSet`]: sorted, deduplicated items and prefix sums.
#[derive(Debug, Clone, Default)]
pub struct MemSet {
    items: Vec<Item>,
    /// `prefix[i]` accumulates `items[..i]`.
    prefix: Vec<Accumulator>,
}

impl MemSet {
    /// The set of `items` (any order, duplicates dropped).
    pub fn new(items: impl IntoIterator<Item = Item>) -> Self {
        let mut items: Vec<Item> = items.into_iter().collect();
        items.sort_unstable();
        items.dedup();
        let mut prefix = Vec::with_capacity(items.len() + 1);
        let mut acc = Accumulator::default();
        prefix.push(acc);
        for it in &items {
            acc.add_id(&it.id);
            prefix.push(acc);
        }
        Self { items, prefix }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All items, in order.
    pub fn as_slice(&self) -> &[Item] {
        &self.items
    }

    /// Index of the first item at or above `b`.
    fn index(&self, b: &Bound) -> usize {
        self.items.partition_point(|it| b.is_above(it))
    }

    /// Indices of `[lo, hi)`, empty if `hi <= lo`.
    fn span(&self, lo: &Bound, hi: &Bound) -> (usize, usize) {
        let (a, b) = (self.index(lo), self.index(hi));
        (a, b.max(a))
    }
}

impl ItemSet for MemSet {
    fn count(&self, lo: &Bound, hi: &Bound) -> Result<u64, StoreError> {
        let (a, b) = self.span(lo, hi);
        Ok((b - a) as u64)
    }

    fn fingerprint(&self, lo: &Bound, hi: &Bound) -> Result<Fingerprint, StoreError> {
        let (a, b) = self.span(lo, hi);
        let mut acc = self.prefix.get(b).copied().unwrap_or_default();
        acc.sub(&self.prefix.get(a).copied().unwrap_or_default());
        Ok(acc.fingerprint())
    }

    fn items(&self, lo: &Bound, hi: &Bound, limit: usize) -> Result<Vec<Item>, StoreError> {
        let (a, b) = self.span(lo, hi);
        Ok(self.items[a..b].iter().take(limit).copied().collect())
    }

    fn split(&self, lo: &Bound, hi: &Bound, parts: usize) -> Result<Vec<Bound>, StoreError> {
        let (a, b) = self.span(lo, hi);
        let n = b - a;
        let mut out = Vec::with_capacity(parts.saturating_sub(1));
        let mut last = a;
        for k in 1..parts {
            let pos = a + n * k / parts;
            if pos > last && pos < b {
                out.push(Bound::between(&self.items[pos - 1], &self.items[pos]));
                last = pos;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MessageId;

    fn item(sent: u64, b: u8) -> Item {
        Item::new(sent, MessageId::from_bytes([b; 32]))
    }

    #[test]
    fn ranges_count_and_split_evenly() -> Result<(), StoreError> {
        let set = MemSet::new((0..100u8).map(|i| item(u64::from(i / 10), i)));
        assert_eq!(set.count(&Bound::START, &Bound::End)?, 100);
        let cuts = set.split(&Bound::START, &Bound::End, 16)?;
        assert_eq!(cuts.len(), 15);
        let mut lo = Bound::START;
        let mut total = 0;
        for hi in cuts.iter().copied().chain([Bound::End]) {
            assert!(lo < hi);
            let c = set.count(&lo, &hi)?;
            assert!((6..=7).contains(&c), "uneven part: {c}");
            total += c;
            lo = hi;
        }
        assert_eq!(total, 100);
        // A range fingerprint equals the fingerprint of a set of just those items.
        let (lo, hi) = (cuts[2], cuts[5]);
        let sub = MemSet::new(set.items(&lo, &hi, usize::MAX)?);
        assert_eq!(set.fingerprint(&lo, &hi)?, sub.fingerprint(&Bound::START, &Bound::End)?);
        // An inverted range is empty.
        assert_eq!(set.count(&hi, &lo)?, 0);
        Ok(())
    }
}
