//! The Stoop API client, as a library: the `stoop` CLI, the simulator and
//! the tests drive nodes through it the way users do.
//!
//! # Layout
//! - [`cap`]: CAP 1.2 export and import (pure functions over JSON and XML).
//! - [`client`]: finding a node (data directory or URL + token file) and
//!   calling its HTTP API, with errors mapped to named exit codes.
//! - [`clock`]: the wall clock (unix seconds).
//! - [`datadir`]: the default data directory, the API address and token
//!   files, and author key files, as the node lays them out.
//! - [`duration`]: `90s` / `15m` / `6h` / `2d` parsing.

pub mod cap;
pub mod client;
pub mod clock;
pub mod datadir;
pub mod duration;
