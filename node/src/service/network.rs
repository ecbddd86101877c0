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
    /// Addresses worth putting in an invite ticket: the listen addresses a
    /// peer can dial (no unspecified ones), with this node's peer id.
    fn ticket_addrs(&self) -> BoxFuture<'_, Result<Vec<String>, NetError>>;
}
