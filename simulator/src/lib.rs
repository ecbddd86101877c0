//! `stoop-sim`: many real Stoop node stacks in one process.
//!
//! # Layout
//! - [`scenario`]: TOML scenario files, validated.
//! - [`link`]: the link shim, a libp2p transport over `MemoryTransport`
//!   with latency, jitter, loss (as retransmission delay), bandwidth caps
//!   and partitions.
//! - [`nat`]: the shim's NAT model: which nodes are behind a home router
//!   and which inbound dials it lets in (holes, hole punches).
//! - [`tap`]: Noise wrapped so each connection's plaintext is parsed for
//!   gossipsub payload copies and control bytes.
//! - [`hood`]: the hood, its members and the frames adversaries send.
//! - [`runner`]: builds the nodes (the `stoop-node` library's replica,
//!   `Node`, behaviour and event loop), runs the seeded timeline.
//! - [`report`], [`plot`]: figures, JSON/CSV/SVG, the summary table.
//! - [`stats`], [`rng`]: shared counters and the seeded generator.

pub mod clock;
pub mod entropy;
pub mod hood;
pub mod link;
pub mod nat;
pub mod plot;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod tap;
