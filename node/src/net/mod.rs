//! Networking: the only module that knows libp2p.
//!
//! # Layout
//! - [`behaviour`]: the composed `NetworkBehaviour` and gossipsub settings.
//! - [`dial_budget`]: refuses dials to new peers beyond the outbound budget.
//! - [`codec`]: the sync protocol's size-capped protobuf codec.
//! - [`event_loop`]: the one task that owns the `Swarm`, and the cheap
//!   [`NetClient`] the rest of the node uses to talk to it.

pub mod behaviour;
pub mod codec;
pub mod dial_budget;
pub mod event_loop;

pub use event_loop::{Command, EventLoop, NetClient, NetError, PeerInfo};
