//! Stoop node library: the protocol core, the store and the replica that
//! joins them. The `stoopd` daemon, networking and local API build on this.
//!
//! # Layout
//! - [`core`]: sans-IO protocol logic (validation, quotas, membership,
//!   roster, moderation, sync planning) over bytes, keys and a clock.
//! - [`store`]: the sled store, the only module that knows sled.
//! - [`replica`]: one hood on this node: ledger + store, ingest and publish.
//! - [`testkit`]: builders for hoods, members and messages, shared by tests,
//!   benches, the simulator and the demo.

pub mod core;
pub mod replica;
pub mod store;
pub mod testkit;
