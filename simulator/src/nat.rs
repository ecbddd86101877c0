//! The NAT model of the link shim: which nodes sit behind a home router,
//! and which inbound dials their routers let in.
//!
//! The router modelled is the common punchable one (Linux conntrack with
//! masquerading, and most home routers): endpoint-independent mapping with
//! the port preserved, address-and-port-dependent filtering. For a node X
//! behind NAT:
//! - every dial X makes goes out;
//! - a dial X makes from its listen port (libp2p's port reuse,
//!   [`PortUse::Reuse`], which ordinary dials and DCUtR's use) to Y leaves a
//!   conntrack entry (a *hole*) for [`HOLE_SECS`];
//! - an inbound dial from Y is let in only while such a hole for Y exists
//!   and only if Y dials from its own listen port (the reverse of the
//!   entry's tuple: TCP simultaneous open, what a hole punch relies on);
//! - everything else is dropped: dials from peers X never dialed, and
//!   every dial from an ephemeral port ([`PortUse::New`]), which is how
//!   AutoNAT dials back, so a node behind NAT never confirms an address.
//!
//! A dropped SYN is sent again on TCP's schedule ([`SYN_RETRANSMITS`]) until
//! the dialer gives up after [`DIAL_GIVE_UP`]; a retransmission that finds
//! a hole is let in. Public nodes let everything in. Relayed connections
//! ride the NAT'd node's own outbound connection to its relay, so they
//! never reach this filter.
//!
//! Not modelled: symmetric NATs (a new port per destination: punching never
//! works behind them), UPnP (off in the simulator), hairpinning, several
//! nodes behind one router, mappings that change port.
//!
//! [`NatTable`] is the decision alone (no IO, time passed in); [`admit`]
//! carries a dial through it on tokio's clock.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// How long a hole stays open after the dial that made it: Linux
/// conntrack's `nf_conntrack_tcp_timeout_syn_sent` (120 s), the state an
/// unanswered outbound SYN leaves. A reply-direction SYN in that state is a
/// simultaneous open and is let in.
pub const HOLE_SECS: u64 = 120;
/// When a dialer sends its SYN again, after the first: Linux starts with a
/// 1 s retransmission timeout and doubles it (1 s, 3 s, 7 s, ... after the
/// first SYN); the dialer gives up at [`DIAL_GIVE_UP`], so only the first
/// two retransmissions are ever sent.
pub const SYN_RETRANSMITS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];
/// When a dial whose SYNs were all dropped fails: the node's handshake
/// timeout, which covers the TCP connect in `stoopd` (`net::swarm`).
pub const DIAL_GIVE_UP: Duration = stoop_node::net::swarm::HANDSHAKE_TIMEOUT;
/// Holes held at once over the whole fabric: nf_conntrack's usual table
/// size of one router is 65,536 entries, and at 1,000 nodes dialing a few
/// peers each per [`HOLE_SECS`] the fabric needs a few thousand; when full,
/// expired holes go first, then the one closest to expiry (conntrack's
/// early drop).
pub const MAX_HOLES: usize = 65_536;

/// Where a dial comes from at the dialer's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePort {
    /// The dialer's listen port (libp2p's port reuse).
    Listen,
    /// A fresh ephemeral port.
    Ephemeral,
}

impl SourcePort {
    /// The source port of a libp2p dial.
    pub fn of(port_use: libp2p::core::transport::PortUse) -> Self {
        match port_use {
            libp2p::core::transport::PortUse::Reuse => SourcePort::Listen,
            libp2p::core::transport::PortUse::New => SourcePort::Ephemeral,
        }
    }
}

/// Which nodes are behind NAT, and their routers' holes.
#[derive(Debug, Clone)]
pub struct NatTable {
    behind: Vec<bool>,
    /// (node behind NAT, remote it dialed) → when the hole closes.
    /// Bounded by [`MAX_HOLES`].
    holes: HashMap<(u32, u32), Instant>,
}

impl NatTable {
    /// `behind[i]`: node `i` is behind NAT.
    pub fn new(behind: Vec<bool>) -> Self {
        Self { behind, holes: HashMap::new() }
    }

    /// Whether node `i` is behind NAT (nodes outside the table are public).
    pub fn is_behind(&self, i: u32) -> bool {
        self.behind.get(i as usize).copied().unwrap_or(false)
    }

    /// `from` dialed `to` at `now` from `port`: its router opens a hole
    /// for `to` if `from` is behind NAT and dials from its listen port.
    pub fn dialed(&mut self, from: u32, to: u32, port: SourcePort, now: Instant) {
        if !self.is_behind(from) || port != SourcePort::Listen {
            return;
        }
        let until = now + Duration::from_secs(HOLE_SECS);
        if self.holes.len() >= MAX_HOLES && !self.holes.contains_key(&(from, to)) {
            self.holes.retain(|_, t| *t > now);
            if self.holes.len() >= MAX_HOLES {
                // Deterministic: the earliest expiry, ties by key.
                if let Some(k) = self.holes.iter().map(|(k, t)| (*t, *k)).min().map(|(_, k)| k) {
                    self.holes.remove(&k);
                }
            }
        }
        self.holes.insert((from, to), until);
    }

    /// Whether `to`'s router lets in a SYN from `from`'s `port` at `now`.
    pub fn admits(&self, to: u32, from: u32, port: SourcePort, now: Instant) -> bool {
        if !self.is_behind(to) {
            return true;
        }
        port == SourcePort::Listen && self.holes.get(&(to, from)).is_some_and(|until| *until > now)
    }

    /// Holes held (expired ones included until they are pruned).
    pub fn holes(&self) -> usize {
        self.holes.len()
    }
}

/// What kind of dial reached a node behind NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialKind {
    /// DCUtR's side that dials with the listener role: each one is a
    /// hole-punch attempt.
    Punch,
    /// Any other dial from a listen port (bootstrap, Kademlia, DCUtR's
    /// other side).
    Reuse,
    /// A dial from an ephemeral port (AutoNAT's dial-backs).
    Ephemeral,
}

/// Counters of dials to nodes behind NAT, by kind and outcome.
#[derive(Debug, Default)]
pub struct NatStats {
    /// [kind][0: let in at the first SYN, 1: let in at a retransmission, 2: dropped].
    counts: [[AtomicU64; 3]; 3],
}

/// The counters of one kind of dial.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DialOutcomes {
    /// Let in at the first SYN.
    pub first_syn: u64,
    /// Let in at a retransmitted SYN.
    pub retransmitted: u64,
    /// Every SYN dropped: the dial timed out.
    pub dropped: u64,
}

impl NatStats {
    fn record(&self, kind: DialKind, outcome: usize) {
        self.counts[kind as usize][outcome].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters of `kind`.
    pub fn outcomes(&self, kind: DialKind) -> DialOutcomes {
        let c = &self.counts[kind as usize];
        let get = |i: usize| c[i].load(Ordering::Relaxed);
        DialOutcomes { first_syn: get(0), retransmitted: get(1), dropped: get(2) }
    }
}

/// The NAT model of a fabric: the table behind a lock (dials run in many
/// tasks) and the counters.
#[derive(Debug)]
pub struct Nat {
    table: Mutex<NatTable>,
    /// Dials to nodes behind NAT.
    pub stats: NatStats,
}

impl Nat {
    /// A model where `behind[i]` says node `i` is behind NAT.
    pub fn new(behind: Vec<bool>) -> Self {
        Self { table: Mutex::new(NatTable::new(behind)), stats: NatStats::default() }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, NatTable> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether node `i` is behind NAT.
    pub fn is_behind(&self, i: u32) -> bool {
        self.table().is_behind(i)
    }

    /// See [`NatTable::dialed`].
    pub fn dialed(&self, from: u32, to: u32, port: SourcePort, now: Instant) {
        self.table().dialed(from, to, port, now);
    }
}

/// Carries a dial from `from` to `to`, started at `t0`, through `to`'s
/// router: each SYN reaches it `one_way` after it is sent (the first at
/// `t0`, then [`SYN_RETRANSMITS`]); returns once one is let in, or fails
/// with `TimedOut` at `t0 + DIAL_GIVE_UP`, as a dial whose SYNs vanish does.
pub async fn admit(
    nat: &Nat,
    from: u32,
    to: u32,
    port: SourcePort,
    kind: DialKind,
    t0: Instant,
    one_way: Duration,
) -> io::Result<()> {
    let sends = std::iter::once(Duration::ZERO).chain(SYN_RETRANSMITS);
    for (n, sent) in sends.enumerate() {
        let arrives = t0 + sent + one_way;
        if arrives > t0 + DIAL_GIVE_UP {
            break;
        }
        tokio::time::sleep_until(arrives).await;
        if nat.table().admits(to, from, port, Instant::now()) {
            if nat.is_behind(to) {
                nat.stats.record(kind, usize::from(n > 0));
            }
            return Ok(());
        }
    }
    tokio::time::sleep_until(t0 + DIAL_GIVE_UP).await;
    nat.stats.record(kind, 2);
    Err(io::Error::new(io::ErrorKind::TimedOut, "no answer: the SYNs were dropped by the remote's NAT"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const X: u32 = 0; // behind NAT
    const Y: u32 = 1; // behind NAT
    const P: u32 = 2; // public

    fn table() -> NatTable {
        NatTable::new(vec![true, true, false])
    }

    #[test]
    fn without_a_hole_a_natted_node_refuses_and_a_public_one_admits() {
        let t = table();
        let now = Instant::now();
        assert!(!t.admits(X, Y, SourcePort::Listen, now), "NAT'd to NAT'd without a punch");
        assert!(!t.admits(X, P, SourcePort::Listen, now), "public to NAT'd without a hole");
        assert!(t.admits(P, X, SourcePort::Listen, now));
        assert!(t.admits(P, Y, SourcePort::Ephemeral, now));
    }

    #[test]
    fn a_hole_admits_the_dialed_peer_from_its_listen_port_only() {
        let mut t = table();
        let now = Instant::now();
        t.dialed(X, Y, SourcePort::Listen, now);
        assert!(t.admits(X, Y, SourcePort::Listen, now));
        assert!(!t.admits(X, Y, SourcePort::Ephemeral, now), "an AutoNAT dial-back comes from another port");
        assert!(!t.admits(X, P, SourcePort::Listen, now), "the hole is for Y alone");
        assert!(!t.admits(Y, X, SourcePort::Listen, now), "Y's router opened nothing");
    }

    #[test]
    fn a_dial_from_an_ephemeral_port_opens_no_hole() {
        let mut t = table();
        let now = Instant::now();
        t.dialed(X, Y, SourcePort::Ephemeral, now);
        assert!(!t.admits(X, Y, SourcePort::Listen, now));
        t.dialed(P, X, SourcePort::Listen, now);
        assert_eq!(t.holes(), 0, "a public node has no router");
    }

    #[test]
    fn a_hole_expires_and_a_new_dial_renews_it() {
        let mut t = table();
        let t0 = Instant::now();
        t.dialed(X, Y, SourcePort::Listen, t0);
        let ttl = Duration::from_secs(HOLE_SECS);
        assert!(t.admits(X, Y, SourcePort::Listen, t0 + ttl - Duration::from_millis(1)));
        assert!(!t.admits(X, Y, SourcePort::Listen, t0 + ttl));
        t.dialed(X, Y, SourcePort::Listen, t0 + ttl);
        assert!(t.admits(X, Y, SourcePort::Listen, t0 + ttl + Duration::from_secs(1)));
    }

    #[test]
    fn the_table_stays_within_its_bound() {
        let mut t = NatTable::new(vec![true]);
        let now = Instant::now();
        for to in 0..(MAX_HOLES as u32 + 10) {
            t.dialed(0, to + 1, SourcePort::Listen, now + Duration::from_millis(u64::from(to)));
        }
        assert_eq!(t.holes(), MAX_HOLES);
        // The newest holes survive, the earliest were dropped.
        let late = now + Duration::from_millis(MAX_HOLES as u64 + 9);
        assert!(t.admits(0, MAX_HOLES as u32 + 10, SourcePort::Listen, late));
        assert!(!t.admits(0, 1, SourcePort::Listen, late));
    }

    fn nat() -> Nat {
        Nat::new(vec![true, true, false])
    }

    #[tokio::test(start_paused = true)]
    async fn a_dial_to_a_natted_node_without_a_hole_times_out() {
        let nat = nat();
        let t0 = Instant::now();
        let r = admit(&nat, P, X, SourcePort::Listen, DialKind::Reuse, t0, Duration::from_millis(50)).await;
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(Instant::now() - t0, DIAL_GIVE_UP, "fails when the dialer gives up, not at once");
        assert_eq!(nat.stats.outcomes(DialKind::Reuse).dropped, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dial_through_an_open_hole_arrives_after_the_syns_flight() {
        let nat = nat();
        let t0 = Instant::now();
        nat.dialed(X, Y, SourcePort::Listen, t0);
        admit(&nat, Y, X, SourcePort::Listen, DialKind::Punch, t0, Duration::from_millis(50)).await.unwrap();
        assert_eq!(Instant::now() - t0, Duration::from_millis(50));
        assert_eq!(nat.stats.outcomes(DialKind::Punch).first_syn, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_syn_is_let_in_at_the_retransmission_after_the_hole_opens() {
        let nat = std::sync::Arc::new(nat());
        let t0 = Instant::now();
        let opener = {
            let nat = nat.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                nat.dialed(X, Y, SourcePort::Listen, Instant::now());
            })
        };
        admit(&nat, Y, X, SourcePort::Listen, DialKind::Reuse, t0, Duration::from_millis(50)).await.unwrap();
        opener.await.unwrap();
        assert_eq!(Instant::now() - t0, Duration::from_millis(1050), "the first retransmission got in");
        assert_eq!(nat.stats.outcomes(DialKind::Reuse).retransmitted, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_autonat_dial_back_never_reaches_a_natted_node() {
        let nat = nat();
        let t0 = Instant::now();
        nat.dialed(X, P, SourcePort::Listen, t0);
        let r = admit(&nat, P, X, SourcePort::Ephemeral, DialKind::Ephemeral, t0, Duration::from_millis(50)).await;
        assert!(r.is_err(), "the client dialed the server, yet its router drops the dial-back");
        admit(&nat, X, P, SourcePort::Ephemeral, DialKind::Ephemeral, t0, Duration::ZERO).await.unwrap();
        assert_eq!(nat.stats.outcomes(DialKind::Ephemeral), DialOutcomes { dropped: 1, ..DialOutcomes::default() });
    }
}
