//! Stoop node library: the protocol core, the store, networking, the local
//! API and the `stoopd` daemon built from them.
//!
//! # Layout
//! - [`core`]: sans-IO protocol logic (validation, quotas, membership,
//!   roster, moderation, sync planning) over bytes, keys and a clock.
//! - [`store`]: the sled store, the only module that knows sled.
//! - [`replica`]: one hood on this node: ledger + store, ingest and publish.
//! - [`net`]: libp2p (the only module that knows it): behaviour, sync codec,
//!   the event loop and its client handle.
//! - [`api`]: the local HTTP/JSON API.
//! - [`daemon`]: config, data directory, keys, `init` / `join` / `run`.
//! - [`testkit`]: builders for hoods, members and messages, shared by tests,
//!   benches, the simulator and the demo.

pub mod api;
pub mod core;
pub mod daemon;
pub mod net;
pub mod replica;
pub mod store;
pub mod testkit;
