//! How many peers a node dials on its own.
//!
//! Every connection in a hood ends up carrying gossipsub's long-lived
//! streams, and libp2p keeps a connection open while any stream is open, so
//! a dial is for good: nothing closes it until the peer leaves. Left alone,
//! Kademlia's bootstrap queries dial peer after peer until the connection
//! cap, and each connection holds Noise and Yamux buffers and gets a share
//! of every gossip message. So a node opens at most `limit` connections to
//! new peers itself and takes whatever others open to it (up to the
//! connection cap). Since every connection is outbound at one end, a hood
//! where everyone keeps this rule averages at most `2 × limit` connections
//! per node, whatever its size.
//!
//! A second connection to a peer already connected does not count: those
//! are AutoNAT dial-backs and hole punches, and they close when idle.

use std::collections::HashSet;
use std::hash::Hash;

/// Default number of peers a node dials itself: gossipsub's mesh degree of 6
/// plus two spare, so the mesh fills from outbound peers alone.
pub const DEFAULT_OUTBOUND_PEERS: usize = 8;

/// The dials a node may still start; `C` identifies a connection.
#[derive(Debug, Clone)]
pub struct DialBudget<C> {
    limit: usize,
    /// Outbound connections to new peers, pending or established.
    held: HashSet<C>,
}

impl<C: Hash + Eq> DialBudget<C> {
    /// A budget of `limit` outbound connections to distinct new peers.
    pub fn new(limit: usize) -> Self {
        Self { limit, held: HashSet::new() }
    }

    /// Whether dial `conn` may start; if it may and it counts, it is held
    /// until [`DialBudget::release`].
    pub fn try_dial(&mut self, conn: C, peer_already_connected: bool) -> bool {
        if peer_already_connected {
            return true;
        }
        if self.held.len() >= self.limit {
            return false;
        }
        self.held.insert(conn);
        true
    }

    /// Dial `conn` failed or its connection closed.
    pub fn release(&mut self, conn: &C) {
        self.held.remove(conn);
    }

    /// Outbound connections held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The most that can be held.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dials_stop_at_the_limit_and_resume_when_one_ends() {
        let mut b = DialBudget::new(2);
        assert!(b.try_dial(1, false));
        assert!(b.try_dial(2, false));
        assert!(!b.try_dial(3, false));
        b.release(&1);
        assert!(b.try_dial(3, false));
        assert_eq!(b.held(), 2);
    }

    #[test]
    fn a_second_connection_to_a_connected_peer_is_free() {
        let mut b = DialBudget::new(1);
        assert!(b.try_dial(1, false));
        assert!(b.try_dial(2, true));
        assert_eq!(b.held(), 1);
        // Releasing a connection that never counted changes nothing.
        b.release(&2);
        assert_eq!(b.held(), 1);
    }

    #[test]
    fn a_zero_budget_refuses_new_peers_only() {
        let mut b = DialBudget::new(0);
        assert!(!b.try_dial(1, false));
        assert!(b.try_dial(1, true));
    }

    proptest! {
        #[test]
        fn never_holds_more_than_the_limit(limit in 0usize..10, ops in proptest::collection::vec((0u8..3, 0u32..20, any::<bool>()), 0..200)) {
            let mut b = DialBudget::new(limit);
            for (op, conn, connected) in ops {
                if op == 0 { b.release(&conn); } else { b.try_dial(conn, connected); }
                prop_assert!(b.held() <= limit);
            }
        }
    }
}
