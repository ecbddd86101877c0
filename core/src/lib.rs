//! Stoop's protocol core: pure functions and state machines over bytes,
//! keys and a clock passed in. This crate's dependency tree holds no tokio,
//! libp2p, sled or axum (`cargo tree -p stoop-core` shows it), so the rules
//! cannot reach for a socket, a disk or the wall clock.
//!
//! # Layout
//! - [`ids`]: domain tags and SHA-256 content ids.
//! - [`keys`]: author keys, `verify_strict`, weak-key checks.
//! - [`envelope`]: the signed frame; size cap, canonical encoding, signature.
//! - [`message`]: domain types for every payload (`TryFrom` the protobuf).
//! - [`charter`]: a hood's rules and founders' signatures; the hood id.
//! - [`area`]: geohash cells.
//! - [`text`]: the text-only policy and the profiling guard.
//! - [`quota`]: per-author posting quotas by signed time.
//! - [`roster`]: moderators and quorum as a fold over signed changes.
//! - [`membership`]: founders, single-use invites, revocations.
//! - [`moderation`]: hide/restore tally and the audit trail.
//! - [`verdict`]: Accept / Ignore / Reject with named reasons.
//! - [`ledger`]: the hood state machine that ties the rules together.
//! - [`sync`]: per-peer sync planning (what to ask, when to stop).
//! - [`reconcile`]: sync v2, range-based set reconciliation of message ids.
//! - [`dial_budget`]: how many peers a node dials on its own.
//! - [`redial`]: when a node with no peers tries its bootstrap list again.
//! - [`bans`]: temporary bans of peers whose gossip score hit the graylist.
//! - [`strikes`]: penalizing peers that keep forwarding over-quota alerts.
//! - [`admission`]: the hood secret and the pnet key only ticket holders have.
//! - [`peer_budget`]: GCRA rate limits per peer (sync requests, items, stem).
//! - [`stem`]: Dandelion++ stem routing, so nobody can tell who posted.
//! - [`ip_limits`]: per-IP connection caps, reserved slots, evicting strangers.
//! - [`bootstrap`]: ticket address lists, capped, shuffled, signed by the inviter.
//! - [`reachability`]: public / relayed / private, decided by confirmation only.
//! - `testkit` (feature `testkit`): builders for hoods, members and
//!   messages, shared by tests, benches, the simulator and the demo.

pub mod admission;
pub mod area;
pub mod bans;
pub mod bootstrap;
pub mod charter;
pub mod dial_budget;
pub mod envelope;
pub mod ids;
pub mod ip_limits;
pub mod keys;
pub mod ledger;
pub mod membership;
pub mod message;
pub mod moderation;
pub mod peer_budget;
pub mod quota;
pub mod reachability;
pub mod reconcile;
pub mod redial;
pub mod roster;
pub mod stem;
pub mod strikes;
pub mod sync;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod text;
pub mod verdict;
