//! Networking: the only module that knows libp2p. It reaches the rest of
//! the node only through the service's [`Node`](crate::service::Node)
//! handle, and serves the API through the service's `Network` trait.
//!
//! # Layout
//! - [`address_book`]: hood peers reached before, saved for restarts.
//! - [`behaviour`]: the composed `NetworkBehaviour` and gossipsub settings.
//! - [`dial_budget`]: refuses dials to new peers beyond the outbound budget.
//! - [`ip_limits`]: per-IP connection caps, reserved slots, stranger eviction.
//! - [`peer_limits`]: per-peer sync budgets and invalid-frame counts.
//! - [`codec`]: the sync protocols' size-capped protobuf codecs.
//! - [`kademlia`]: Kademlia, never told the addresses of hole punches.
//! - [`reconcile`]: sync v2 sessions (reconcile rounds, fetches, budgets).
//! - [`reachability`]: public/relayed/private, relay reservations, hole punches.
//! - [`relay`]: the circuit-relay server members run once public, and its limits.
//! - [`stem`]: the stem protocol that hides who posted (origin hiding).
//! - [`swarm`]: builds the production swarm.
//! - [`event_loop`]: the one task that owns the `Swarm`, and the cheap
//!   [`NetClient`] the rest of the node uses to talk to it.

pub mod address_book;
pub mod behaviour;
pub mod codec;
pub mod dial_budget;
pub mod event_loop;
pub mod ip_limits;
pub mod kademlia;
pub mod peer_limits;
pub mod reachability;
pub mod reconcile;
pub mod relay;
pub mod relay_server;
pub mod stem;
pub mod swarm;

pub use event_loop::{Command, EventLoop, NetClient, NetError, PeerInfo};
