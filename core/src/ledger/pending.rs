//! Messages waiting for the alert they reference (a vote or reaction that
//! outran its alert), bounded per author and for the whole hood so that one
//! member cannot crowd out another's early message.

use std::collections::{HashMap, VecDeque};

use crate::envelope::Envelope;
use crate::ids::MessageId;
use crate::keys::{PublicKey, SIGNATURE_LEN};
use crate::verdict::IgnoreReason;

/// Messages held in the whole hood: enough for a burst of votes and
/// reactions that outran their alert, small enough to cost < 20 MiB
/// (1,024 × 16 KiB frames at most).
pub const PENDING_CAPACITY: usize = 1024;
/// Messages held per author: a member reacting to or reporting a handful of
/// alerts that have not arrived yet, or a moderator voting on a few, needs
/// far fewer; 16 × 64 authors are needed to fill the hood-wide buffer.
pub const PENDING_PER_AUTHOR: usize = 16;
/// How long a pending message waits before it is dropped (sync refetches it).
pub const PENDING_TTL_SECS: u64 = 600;

#[derive(Debug, Clone)]
struct Entry {
    refers: MessageId,
    envelope: Envelope,
    deadline: u64,
}

/// The pending buffer: entries by id, with indexes by referenced alert and
/// by author kept in step by its own methods only.
#[derive(Debug, Clone, Default)]
pub struct PendingBuffer {
    /// At most [`PENDING_CAPACITY`].
    entries: HashMap<MessageId, Entry>,
    /// Referenced alert -> waiting ids, in arrival order.
    by_refers: HashMap<MessageId, Vec<MessageId>>,
    /// Author -> its waiting ids, oldest first; at most
    /// [`PENDING_PER_AUTHOR`] each.
    by_author: HashMap<PublicKey, VecDeque<MessageId>>,
}

impl PendingBuffer {
    /// Number of held messages.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `id` is held.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.entries.contains_key(id)
    }

    /// Number of messages held for `author`.
    pub fn held_by(&self, author: &PublicKey) -> usize {
        self.by_author.get(author).map_or(0, VecDeque::len)
    }

    /// The signature of a held message (to tell re-sends from forgeries).
    pub fn signature(&self, id: &MessageId) -> Option<[u8; SIGNATURE_LEN]> {
        self.entries.get(id).map(|e| *e.envelope.signature())
    }

    /// Holds `env` until `refers` arrives. Returns the Ignore reason to
    /// report: `pending` if held, `pending_author_full` if its author
    /// already has [`PENDING_PER_AUTHOR`] messages waiting, `pending_full`
    /// if the buffer is full of messages from authors holding no more than
    /// this one. When the buffer is full, the oldest message of the author
    /// with the most entries makes room, so a flood costs the flooder.
    pub fn hold(&mut self, refers: MessageId, env: Envelope, now: u64) -> IgnoreReason {
        let id = env.id();
        if self.entries.contains_key(&id) {
            return IgnoreReason::Pending;
        }
        let author = env.signer();
        let mine = self.held_by(&author);
        if mine >= PENDING_PER_AUTHOR {
            return IgnoreReason::PendingAuthorFull;
        }
        if self.entries.len() >= PENDING_CAPACITY {
            let heaviest = self.by_author.iter().max_by_key(|(k, q)| (q.len(), **k)).map(|(k, q)| (*k, q.len()));
            match heaviest {
                Some((k, n)) if n > mine + 1 => {
                    if let Some(old) = self.by_author.get(&k).and_then(|q| q.front().copied()) {
                        self.remove(&old);
                    }
                }
                _ => return IgnoreReason::PendingFull,
            }
        }
        self.by_refers.entry(refers).or_default().push(id);
        self.by_author.entry(author).or_default().push_back(id);
        self.entries.insert(id, Entry { refers, envelope: env, deadline: now.saturating_add(PENDING_TTL_SECS) });
        IgnoreReason::Pending
    }

    /// Removes and returns, in arrival order, every message waiting for `alert`.
    pub fn take(&mut self, alert: &MessageId) -> Vec<Envelope> {
        let Some(ids) = self.by_refers.remove(alert) else { return Vec::new() };
        ids.into_iter().filter_map(|id| self.remove(&id)).collect()
    }

    /// Drops messages whose deadline passed.
    pub fn expire(&mut self, now: u64) {
        let old: Vec<MessageId> = self.entries.iter().filter(|(_, e)| e.deadline <= now).map(|(id, _)| *id).collect();
        for id in old {
            self.remove(&id);
        }
    }

    fn remove(&mut self, id: &MessageId) -> Option<Envelope> {
        let e = self.entries.remove(id)?;
        if let Some(list) = self.by_refers.get_mut(&e.refers) {
            list.retain(|x| x != id);
            if list.is_empty() {
                self.by_refers.remove(&e.refers);
            }
        }
        let author = e.envelope.signer();
        if let Some(q) = self.by_author.get_mut(&author) {
            q.retain(|x| x != id);
            if q.is_empty() {
                self.by_author.remove(&author);
            }
        }
        Some(e.envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Kind;
    use crate::ids::Tag;
    use crate::keys::AuthorKey;

    fn key(n: u16) -> AuthorKey {
        let mut s = [7u8; 32];
        s[..2].copy_from_slice(&n.to_be_bytes());
        AuthorKey::from_secret(&s)
    }

    fn msg(author: &AuthorKey, n: u32) -> (MessageId, Envelope) {
        let refers = MessageId::of(Tag::Alert, &n.to_be_bytes());
        (refers, Envelope::seal(Kind::Vote, n.to_be_bytes().to_vec(), author))
    }

    #[test]
    fn one_author_fills_only_its_share() {
        let mut p = PendingBuffer::default();
        let spammer = key(1);
        for n in 0..PENDING_PER_AUTHOR as u32 {
            let (r, e) = msg(&spammer, n);
            assert_eq!(p.hold(r, e, 0), IgnoreReason::Pending);
        }
        let (r, e) = msg(&spammer, 999);
        assert_eq!(p.hold(r, e, 0), IgnoreReason::PendingAuthorFull);
        assert_eq!(p.held_by(&spammer.public()), PENDING_PER_AUTHOR);
        let honest = key(2);
        let (r, e) = msg(&honest, 5000);
        let id = e.id();
        assert_eq!(p.hold(r, e, 0), IgnoreReason::Pending, "another author is still held");
        assert!(p.contains(&id));
        assert_eq!(p.take(&r).len(), 1);
    }

    #[test]
    fn a_full_buffer_evicts_the_heaviest_author_not_the_newcomer() {
        let mut p = PendingBuffer::default();
        let authors = PENDING_CAPACITY / PENDING_PER_AUTHOR;
        let mut n = 0u32;
        for a in 0..authors as u16 {
            let k = key(100 + a);
            for _ in 0..PENDING_PER_AUTHOR {
                let (r, e) = msg(&k, n);
                assert_eq!(p.hold(r, e, 0), IgnoreReason::Pending);
                n += 1;
            }
        }
        assert_eq!(p.len(), PENDING_CAPACITY);
        let honest = key(1);
        let (r, e) = msg(&honest, 1_000_000);
        let id = e.id();
        assert_eq!(p.hold(r, e, 0), IgnoreReason::Pending);
        assert!(p.contains(&id));
        assert_eq!(p.len(), PENDING_CAPACITY, "the global bound holds");
        // Authors with equal shares: a flooder at its cap cannot evict anyone.
        let (r, e) = msg(&key(100), 2_000_000);
        assert_eq!(p.hold(r, e, 0), IgnoreReason::PendingAuthorFull);
    }

    #[test]
    fn expiry_keeps_the_indexes_in_step() {
        let mut p = PendingBuffer::default();
        let k = key(3);
        let (r, e) = msg(&k, 1);
        p.hold(r, e, 0);
        let (r2, e2) = msg(&k, 2);
        p.hold(r2, e2, 100);
        p.expire(PENDING_TTL_SECS);
        assert_eq!(p.len(), 1);
        assert_eq!(p.held_by(&k.public()), 1);
        assert!(p.take(&r).is_empty());
        assert_eq!(p.take(&r2).len(), 1);
        assert!(p.is_empty() && p.by_author.is_empty() && p.by_refers.is_empty());
    }
}
