//! What the API needs from the network, as a trait the network implements,
//! so the API (like the rest of the service) never sees a libp2p type.

use futures::future::BoxFuture;
use serde::Serialize;

/// Why a network request could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The network task has stopped (shutdown).
    #[error("the network task has stopped")]
    Stopped,
}

/// A connected peer, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    /// libp2p peer id.
    pub peer_id: String,
    /// Remote address of the first connection.
    pub address: String,
    /// Open connections.
    pub connections: u32,
    /// Last ping round trip, milliseconds.
    pub rtt_ms: Option<u64>,
    /// identify agent string.
    pub agent: Option<String>,
    /// This node's gossipsub score of the peer (negative after invalid
    /// frames; below -1,000 the peer is graylisted). Read when asked.
    pub score: Option<f64>,
}

/// The network as the API uses it.
pub trait Network: Send + Sync + std::fmt::Debug {
    /// Gossips a frame the node already accepted and stored.
    fn publish(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), NetError>>;
    /// Connected peers.
    fn peers(&self) -> BoxFuture<'_, Result<Vec<PeerInfo>, NetError>>;
    /// Addresses the node listens on.
    fn listen_addrs(&self) -> BoxFuture<'_, Result<Vec<String>, NetError>>;
    /// Addresses worth putting in an invite ticket, by kind.
    fn ticket_addrs(&self) -> BoxFuture<'_, Result<super::ticket::TicketAddrs, NetError>>;
    /// Whether neighbors on other networks can reach this node.
    fn reachability(&self) -> ReachabilityInfo {
        ReachabilityInfo::default()
    }
}

/// The node's reachability as the API shows it (see `core::reachability`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReachabilityInfo {
    /// `public`, `relayed`, `private` or `unknown`.
    pub state: &'static str,
    /// Confirmed external addresses (when public).
    pub addrs: Vec<String>,
    /// Relays holding a reservation for this node (their peer ids).
    pub relays: Vec<String>,
    /// Hole punches that replaced a relayed connection since start.
    pub hole_punches: u64,
    /// Hole-punch rounds (DCUtR, 3 attempts each) that failed since start.
    pub hole_punch_failures: u64,
    /// The last peers (up to 16) a hole punch reached.
    pub punched: Vec<String>,
}

impl Default for ReachabilityInfo {
    fn default() -> Self {
        Self {
            state: "unknown",
            addrs: Vec::new(),
            relays: Vec::new(),
            hole_punches: 0,
            hole_punch_failures: 0,
            punched: Vec::new(),
        }
    }
}
