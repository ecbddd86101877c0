//! Stoop node library: the protocol core, the store, networking, the local
//! API and the `stoopd` daemon built from them.
//!
//! # Layout
//! Dependencies point one way, each module using only those above it:
//! `core <- store <- replica <- service <- {net, api} <- web <- daemon`.
//! - [`core`]: the `stoop-core` crate (re-exported): sans-IO protocol logic
//!   (validation, quotas, membership, roster, moderation, sync planning).
//! - [`store`]: the sled store, the only module that knows sled.
//! - [`replica`]: one hood on this node: ledger + store, ingest and publish.
//! - [`service`]: the replica run by one owner thread behind a bounded work
//!   queue, the [`service::Node`] handle to it, the live feed, metrics,
//!   clock and tickets. Knows neither libp2p nor axum.
//! - [`net`]: libp2p (the only module that knows it): behaviour, sync codec,
//!   swarm setup, the event loop and its client handle. Hands inbound work
//!   to the service without waiting and gets verdicts back on a channel.
//! - [`api`]: the local HTTP/JSON API (with [`web`], the only modules that
//!   know axum); reaches the network through the service's `Network` trait.
//! - [`web`]: the neighbors' web page: embedded assets and the API's
//!   handlers behind pairing, Host, Origin and CSRF checks.
//! - [`daemon`]: config, data directory, keys, `init` / `join` / `run`:
//!   wires service, net and api together.

pub mod api;
pub mod daemon;
pub mod net;
pub mod replica;
pub mod service;
pub mod store;
pub mod web;

pub use stoop_core as core;
