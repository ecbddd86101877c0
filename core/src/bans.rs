//! Temporary bans of peers whose gossip score fell to the graylist.
//!
//! gossipsub only *ignores* a graylisted peer: the connection stays open,
//! costs a slot under the connection limit and keeps a stream of frames
//! arriving that must still be read and dropped. A node that has seen
//! enough invalid frames from a peer to graylist it disconnects it and
//! refuses it for [`BAN_SECS`]; the score decays meanwhile, so an honest
//! peer that tripped on a bug gets another chance later.

use std::collections::BTreeMap;

/// How long a banned peer is refused.
pub const BAN_SECS: u64 = 600;
/// Most peers remembered at once; past it the ban that ends soonest is
/// dropped (an attacker with many peer ids gains nothing from this: each
/// new id starts at score 0 and is graylisted again after a few frames).
pub const BAN_CAPACITY: usize = 1024;

/// Banned peers with the time each ban ends.
#[derive(Debug, Clone)]
pub struct Bans<P: Ord + Clone> {
    until: BTreeMap<P, u64>,
}

impl<P: Ord + Clone> Default for Bans<P> {
    fn default() -> Self {
        Self { until: BTreeMap::new() }
    }
}

impl<P: Ord + Clone> Bans<P> {
    /// Nobody banned.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bans `peer` from `now` for [`BAN_SECS`]. Returns the peer dropped to
    /// stay within [`BAN_CAPACITY`], if any, which the caller unblocks.
    pub fn ban(&mut self, peer: P, now: u64) -> Option<P> {
        let mut evicted = None;
        if self.until.len() >= BAN_CAPACITY && !self.until.contains_key(&peer) {
            evicted = self.until.iter().min_by_key(|(_, end)| **end).map(|(p, _)| p.clone());
            if let Some(p) = &evicted {
                self.until.remove(p);
            }
        }
        self.until.insert(peer, now.saturating_add(BAN_SECS));
        evicted
    }

    /// Forgets and returns the peers whose ban ended by `now`.
    pub fn sweep(&mut self, now: u64) -> Vec<P> {
        let ended: Vec<P> = self.until.iter().filter(|(_, end)| **end <= now).map(|(p, _)| p.clone()).collect();
        for p in &ended {
            self.until.remove(p);
        }
        ended
    }

    /// Whether `peer` is refused at `now`.
    pub fn is_banned(&self, peer: &P, now: u64) -> bool {
        self.until.get(peer).is_some_and(|end| *end > now)
    }

    /// Peers currently remembered (banned or not yet swept).
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_lasts_exactly_its_time() {
        let mut b = Bans::new();
        assert_eq!(b.ban("p", 100), None);
        assert!(b.is_banned(&"p", 100 + BAN_SECS - 1));
        assert!(!b.is_banned(&"p", 100 + BAN_SECS));
        assert!(!b.is_banned(&"q", 100));
        assert!(b.sweep(99 + BAN_SECS).is_empty());
        assert_eq!(b.sweep(100 + BAN_SECS), vec!["p"]);
        assert!(b.is_empty());
    }

    #[test]
    fn the_list_is_bounded_and_drops_the_ban_that_ends_soonest() {
        let mut b = Bans::new();
        for i in 0..BAN_CAPACITY {
            assert_eq!(b.ban(i, i as u64), None);
        }
        assert_eq!(b.len(), BAN_CAPACITY);
        assert_eq!(b.ban(usize::MAX, BAN_CAPACITY as u64), Some(0), "the ban that ends soonest goes");
        assert_eq!(b.len(), BAN_CAPACITY);
        assert_eq!(b.ban(usize::MAX, BAN_CAPACITY as u64 + 1), None, "a re-ban extends, evicts nothing");
        assert!(b.is_banned(&usize::MAX, BAN_CAPACITY as u64 + BAN_SECS));
    }
}
