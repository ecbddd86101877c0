//! Persistent over-quota forwarding, per peer.
//!
//! An over-quota alert is Ignored, not Rejected: honest nodes can disagree
//! about which of an author's alerts were the first N in a window, so an
//! honest peer may forward a few. A peer that keeps forwarding them is
//! relaying a flood; past [`STRIKES_PER_WINDOW`] in one window its
//! over-quota messages count as Reject, which lowers its gossipsub score
//! (RELIABILITY.md row 12: "count toward the peer's score if persistent").

use std::collections::HashMap;
use std::hash::Hash;

/// Over-quota messages one peer may forward per window before it is penalized.
pub const STRIKES_PER_WINDOW: u32 = 20;
/// Window length.
pub const WINDOW_SECS: u64 = 60;

/// Windowed counts of over-quota messages per forwarding peer. Bounded by
/// the connected peers: call [`PeerStrikes::forget`] when one disconnects.
#[derive(Debug, Clone)]
pub struct PeerStrikes<P: Eq + Hash> {
    counts: HashMap<P, (u64, u32)>,
}

impl<P: Eq + Hash> Default for PeerStrikes<P> {
    fn default() -> Self {
        Self { counts: HashMap::new() }
    }
}

impl<P: Eq + Hash> PeerStrikes<P> {
    /// No strikes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one over-quota message from `peer` at `now`; true when the
    /// peer is past the limit for this window (penalize it).
    pub fn strike(&mut self, peer: P, now: u64) -> bool {
        let window = now / WINDOW_SECS;
        let entry = self.counts.entry(peer).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1 > STRIKES_PER_WINDOW
    }

    /// Drops a disconnected peer.
    pub fn forget(&mut self, peer: &P) {
        self.counts.remove(peer);
    }

    /// Peers tracked.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no peer is tracked.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_are_tolerated_a_flood_is_penalized_and_windows_reset() {
        let mut s = PeerStrikes::new();
        let t0 = 600;
        for i in 0..STRIKES_PER_WINDOW {
            assert!(!s.strike("a", t0 + u64::from(i) % WINDOW_SECS), "strike {i} is tolerated");
        }
        assert!(s.strike("a", t0 + 59), "one more in the same window is penalized");
        assert!(!s.strike("b", t0 + 59), "other peers are counted separately");
        assert!(!s.strike("a", t0 + WINDOW_SECS), "a new window starts clean");
        s.forget(&"a");
        s.forget(&"b");
        assert!(s.is_empty());
    }
}
