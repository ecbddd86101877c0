//! The node's live item set, kept in step with what the ledger holds.
//!
//! In memory rather than a sled index: the set is exactly the held
//! messages, which the ledger already keeps in memory (so it is bounded by
//! the same retention rules and quotas, at 40 bytes an item plus a map
//! entry), it is rebuilt from the store's time index at start in one scan,
//! and sessions then read a sorted [`MemSet`] with prefix sums where every
//! query is a binary search, instead of bucket scans on disk. The
//! [`MemSet`] is rebuilt lazily, once per change batch, when a session
//! reads it: O(n) for an already sorted input.

use std::collections::{BTreeSet, HashMap};

use super::item::Item;
use super::set::MemSet;
use crate::ids::MessageId;

/// Held message ids by `(sent, id)`, with a snapshot for sessions.
#[derive(Debug, Clone, Default)]
pub struct ItemIndex {
    /// `sent` of each held id, to remove by id (superseded, collected).
    sent_of: HashMap<MessageId, u64>,
    items: BTreeSet<Item>,
    /// The sorted view sessions read; `None` after a change.
    snapshot: Option<MemSet>,
}

impl ItemIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a held message (no-op if held).
    pub fn insert(&mut self, sent: u64, id: MessageId) {
        if self.sent_of.insert(id, sent).is_none() {
            self.items.insert(Item::new(sent, id));
            self.snapshot = None;
        }
    }

    /// Removes a message no longer held (no-op if absent).
    pub fn remove(&mut self, id: &MessageId) {
        if let Some(sent) = self.sent_of.remove(id) {
            self.items.remove(&Item::new(sent, *id));
            self.snapshot = None;
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.sent_of.contains_key(id)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The current set as a [`MemSet`], rebuilt only if it changed.
    pub fn snapshot(&mut self) -> &MemSet {
        self.snapshot.get_or_insert_with(|| MemSet::new(self.items.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{Bound, ItemSet};

    #[test]
    fn the_snapshot_follows_inserts_and_removals() -> Result<(), Box<dyn std::error::Error>> {
        let mut ix = ItemIndex::new();
        let a = MessageId::from_bytes([1; 32]);
        let b = MessageId::from_bytes([2; 32]);
        ix.insert(20, a);
        ix.insert(10, b);
        ix.insert(10, b);
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.snapshot().as_slice(), &[Item::new(10, b), Item::new(20, a)]);
        let both = ix.snapshot().fingerprint(&Bound::START, &Bound::End)?;
        ix.remove(&b);
        ix.remove(&b);
        assert!(!ix.contains(&b) && ix.contains(&a));
        assert_eq!(ix.snapshot().as_slice(), &[Item::new(20, a)]);
        assert_ne!(ix.snapshot().fingerprint(&Bound::START, &Bound::End)?, both);
        Ok(())
    }
}
