//! What the run left behind, read at one spot: the byte counters at an
//! instant, and the nodes' final stores and ledgers. This is the only code
//! of the report that touches `stoop_node`, so a change in how a node's
//! state is read is made here and nowhere else.

use std::sync::atomic::Ordering;

use stoop_core::ids::MessageId;
use stoop_core::ledger::AlertState;
use stoop_node::replica::Replica;

use crate::scenario::AdversaryKind;
use crate::stats::{MsgKey, Shared};

/// Per-node byte counters at one instant:
/// [wire_in, wire_out, payload, ihave, iwant, graft, prune, idontwant, gossip_other].
pub type Counters = Vec<[u64; 9]>;

/// Reads every node's counters.
pub fn snapshot(shared: &Shared, _roles: &[Option<AdversaryKind>]) -> Counters {
    shared
        .nodes
        .iter()
        .map(|n| {
            let r = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            [
                r(&n.wire_in),
                r(&n.wire_out),
                r(&n.payload_in),
                r(&n.ihave_in),
                r(&n.iwant_in),
                r(&n.graft_in),
                r(&n.prune_in),
                r(&n.idontwant_in),
                r(&n.gossip_other_in),
            ]
        })
        .collect()
}

/// One node of the run as the report reads it at the end (`None`: no node
/// to read, which holds nothing).
pub type NodeSlot = Option<Replica>;

fn key_id(k: &MsgKey) -> Option<MessageId> {
    MessageId::from_slice(k).ok()
}

/// The nodes' final stores and ledgers, asked about one message at a time.
pub(super) struct Holdings<'a> {
    nodes: &'a [NodeSlot],
}

impl<'a> Holdings<'a> {
    /// Reads `nodes`, indexed like the run's nodes.
    pub(super) fn new(nodes: &'a [NodeSlot]) -> Self {
        Self { nodes }
    }

    /// Whether node `i` stores the message `k`.
    pub(super) fn holds(&self, i: usize, k: &MsgKey) -> bool {
        match (self.nodes[i].as_ref(), key_id(k)) {
            (Some(n), Some(id)) => n.store().get(&id).ok().flatten().is_some(),
            _ => false,
        }
    }

    /// Whether node `i` stores exactly the frame whose SHA-256 is `digest`
    /// under the id `k`.
    pub(super) fn holds_exact(&self, i: usize, k: &MsgKey, digest: &[u8; 32]) -> bool {
        use sha2::Digest as _;
        match (self.nodes[i].as_ref(), key_id(k)) {
            (Some(n), Some(id)) => {
                n.store().get(&id).ok().flatten().is_some_and(|b| <[u8; 32]>::from(sha2::Sha256::digest(&b)) == *digest)
            }
            _ => false,
        }
    }

    /// The moderation state of alert `k` in node `i`'s ledger.
    pub(super) fn alert_state(&self, i: usize, k: &MsgKey) -> Option<AlertState> {
        self.nodes[i].as_ref().and_then(|n| key_id(k).and_then(|id| n.ledger().state(&id)))
    }
}
