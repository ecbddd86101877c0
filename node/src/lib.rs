//! Stoop node library: the protocol core, the store, networking, the local
//! API and the `stoopd` daemon built from them.
//!
//! # Layout
//! - [`core`]: the `stoop-core` crate (re-exported): sans-IO protocol logic
//!   (validation, quotas, membership, roster, moderation, sync planning).
//! - [`store`]: the sled store, the only module that knows sled.
//! - [`replica`]: one hood on this node: ledger + store, ingest and publish.
//! - [`net`]: libp2p (the only module that knows it): behaviour, sync codec,
//!   the event loop and its client handle.
//! - [`api`]: the local HTTP/JSON API.
//! - [`daemon`]: config, data directory, keys, `init` / `join` / `run`.

pub mod api;
pub mod daemon;
pub mod net;
pub mod replica;
pub mod store;

pub use stoop_core as core;
