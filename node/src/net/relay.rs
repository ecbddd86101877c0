//! The circuit-relay v2 server every member runs, and its limits.
//!
//! Who may reserve: only hood members, because only they can connect at
//! all (every TCP connection runs under the hood's pnet key, see
//! `net::swarm`); a relayed connection is a stream inside such a
//! connection, end-to-end encrypted with Noise between the two members, so
//! the relay sees who talks to whom, when and how many bytes, never what.
//!
//! When it serves: libp2p's relay server advertises its protocol only
//! while the swarm has a confirmed external address (AutoNAT dial-back, a
//! UPnP mapping, or `external_addresses`), which is exactly when this
//! node's reachability is `public`. A node behind NAT keeps the behaviour
//! but refuses every reservation, so no Toggle is needed.
//!
//! The limits are sized for gossip, not only for DCUtR's signalling:
//! where a hole punch fails the circuit carries the alerts for as long as
//! both ends are up.

use std::time::Duration;

use libp2p::relay;

/// Reservations held at once: a hood of a few hundred homes where most are
/// behind NAT and each reserves on up to three relays, spread over the
/// hood's public members (a handful), fits in 128.
pub const MAX_RESERVATIONS: usize = 128;
/// Reservations one peer may hold here: a node only ever asks once per relay
/// (a renewal replaces it); two tolerate a reconnect racing the old one.
pub const MAX_RESERVATIONS_PER_PEER: usize = 2;
/// How long a reservation lasts before the client renews it (libp2p's
/// default; renewals are a few hundred bytes).
pub const RESERVATION_SECS: u64 = 60 * 60;
/// Circuits relayed at once: every NAT'd member may keep a circuit to a
/// few others until a hole punch replaces it.
pub const MAX_CIRCUITS: usize = 64;
/// Circuits one peer may originate: its gossip mesh is at most 12 peers
/// (mesh_n_high) and DCUtR moves most of them to direct links.
pub const MAX_CIRCUITS_PER_PEER: usize = 8;
/// How long one circuit may last: libp2p's 2 minutes is meant for a hole
/// punch only; where punching fails the circuit is the gossip link, and
/// the client redials when it ends, so an hour keeps reconnects rare.
pub const MAX_CIRCUIT_SECS: u64 = 60 * 60;
/// Bytes one circuit may carry (both ways): a busy hood's day of alerts at
/// the quota (500 per hour of at most 16 KiB is the worst case, far above
/// real use) is not the measure; a realistic hour is under 1 MiB of gossip
/// and sync, so 16 MiB per hour-long circuit is generous and still caps
/// what one member can make a relay forward.
pub const MAX_CIRCUIT_BYTES: u64 = 16 * 1024 * 1024;

/// The relay server's configuration (libp2p's rate limiters kept).
pub fn server_config() -> relay::Config {
    relay::Config {
        max_reservations: MAX_RESERVATIONS,
        max_reservations_per_peer: MAX_RESERVATIONS_PER_PEER,
        reservation_duration: Duration::from_secs(RESERVATION_SECS),
        max_circuits: MAX_CIRCUITS,
        max_circuits_per_peer: MAX_CIRCUITS_PER_PEER,
        max_circuit_duration: Duration::from_secs(MAX_CIRCUIT_SECS),
        max_circuit_bytes: MAX_CIRCUIT_BYTES,
        ..relay::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_reach_the_config() {
        let c = server_config();
        assert_eq!(c.max_reservations, MAX_RESERVATIONS);
        assert_eq!(c.max_circuits_per_peer, MAX_CIRCUITS_PER_PEER);
        assert_eq!(c.max_circuit_bytes, MAX_CIRCUIT_BYTES);
        assert!(c.max_circuit_duration > Duration::from_secs(120), "longer than a hole punch needs");
    }
}
