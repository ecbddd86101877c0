//! Whether neighbors on other networks can reach this node, decided only by
//! confirmation: an address counts as reachable when a peer dialed it back
//! (AutoNAT), the home router mapped it (UPnP), or the operator configured
//! it (`external_addresses`: a port forward, a static IP, a DNS name). Never
//! by address class: a hood on a 10.x LAN is as real as one on the
//! internet, and a "public" IP behind a firewall is not reachable.
//!
//! The node's network adapter feeds the events in with `now`; the state
//! answers [`Reachability`], which the node shows (`stoop status`), puts in
//! tickets, and uses to decide between relaying for others (public) and
//! reserving relay slots for itself (everything else).

use std::collections::{BTreeMap, BTreeSet};

/// Seconds a fresh node stays `unknown` before it calls itself `private`
/// when nothing confirmed an address: AutoNAT probes every 5 s once a peer
/// is connected and a UPnP mapping takes a few seconds, so 15 s leaves room
/// for both without leaving a newcomer looking at "unknown" for long.
pub const UNKNOWN_GRACE_SECS: u64 = 15;
/// Relays a node behind NAT reserves a slot on: one is a single point of
/// failure, three survive two relays restarting at once, and each costs a
/// connection and a renewal every reservation period.
pub const MAX_RELAY_RESERVATIONS: usize = 3;
/// Confirmed addresses kept: a home server has one or two (IPv4 port
/// forward, IPv6, a DNS name); AutoNAT confirms whatever peers observe, so
/// an attacker-member reporting made-up observations could otherwise grow it.
pub const MAX_CONFIRMED_ADDRS: usize = 8;

/// How an address came to count as reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confirmation {
    /// The operator wrote it in `external_addresses`.
    Configured,
    /// The home router mapped it (UPnP).
    Upnp,
    /// A peer dialed it back (AutoNAT).
    DialBack,
}

/// What the node can tell about its own reachability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability<A, R> {
    /// Neighbors on other networks can dial these addresses.
    Public {
        /// Confirmed addresses, configured ones first.
        addrs: Vec<A>,
    },
    /// Not dialable, but reachable through these relays.
    Relayed {
        /// Relays holding a reservation for this node.
        relays: Vec<R>,
    },
    /// Only its own LAN can reach it.
    Private,
    /// Too early to tell.
    Unknown,
}

impl<A, R> Reachability<A, R> {
    /// Stable snake_case name for the API, metrics and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            Reachability::Public { .. } => "public",
            Reachability::Relayed { .. } => "relayed",
            Reachability::Private => "private",
            Reachability::Unknown => "unknown",
        }
    }

    /// Whether a neighbor outside this LAN can reach the node somehow.
    pub fn reachable_from_outside(&self) -> bool {
        matches!(self, Reachability::Public { .. } | Reachability::Relayed { .. })
    }
}

/// The events so far, folded. `A` is an address, `R` a relay's identity.
#[derive(Debug, Clone)]
pub struct ReachabilityState<A, R> {
    started: u64,
    /// Bounded by [`MAX_CONFIRMED_ADDRS`].
    confirmed: BTreeMap<A, Confirmation>,
    /// Bounded by [`MAX_RELAY_RESERVATIONS`] (the adapter never asks for
    /// more; extra reports are ignored).
    relays: BTreeSet<R>,
    /// A dial-back failed: the node knows it is behind something.
    refuted: bool,
}

impl<A: Ord + Clone, R: Ord + Clone> ReachabilityState<A, R> {
    /// A node that started at `now`, with the operator's `configured`
    /// addresses (trusted: the operator made the forward).
    pub fn new(now: u64, configured: impl IntoIterator<Item = A>) -> Self {
        let mut s = Self { started: now, confirmed: BTreeMap::new(), relays: BTreeSet::new(), refuted: false };
        for a in configured {
            s.insert(a, Confirmation::Configured);
        }
        s
    }

    fn insert(&mut self, addr: A, how: Confirmation) {
        if let Some(old) = self.confirmed.get_mut(&addr) {
            // A configured address stays configured whatever confirms it too.
            *old = (*old).min(how);
        } else if self.confirmed.len() < MAX_CONFIRMED_ADDRS {
            self.confirmed.insert(addr, how);
        }
    }

    /// A peer dialed `addr` back (AutoNAT success).
    pub fn dial_back_succeeded(&mut self, addr: A) {
        self.insert(addr, Confirmation::DialBack);
    }

    /// A peer could not dial `addr` back: it no longer counts, unless the
    /// operator configured it (a server on a LAN may dial back a forward
    /// it cannot reach by hairpin; the operator knows better).
    pub fn dial_back_failed(&mut self, addr: &A) {
        self.refuted = true;
        if self.confirmed.get(addr).is_some_and(|how| *how != Confirmation::Configured) {
            self.confirmed.remove(addr);
        }
    }

    /// A probe found the node unreachable without saying on which address
    /// (AutoNAT v1's verdict): confirmed addresses stay, the node is no
    /// longer `unknown`.
    pub fn probed_private(&mut self) {
        self.refuted = true;
    }

    /// The router mapped `addr` (UPnP).
    pub fn mapped(&mut self, addr: A) {
        self.insert(addr, Confirmation::Upnp);
    }

    /// The router's mapping of `addr` expired or failed to renew.
    pub fn unmapped(&mut self, addr: &A) {
        if self.confirmed.get(addr) == Some(&Confirmation::Upnp) {
            self.confirmed.remove(addr);
        }
    }

    /// A relay accepted a reservation.
    pub fn relay_gained(&mut self, relay: R) {
        if self.relays.len() < MAX_RELAY_RESERVATIONS {
            self.relays.insert(relay);
        }
    }

    /// A relay's reservation ended (connection lost, relay gone).
    pub fn relay_lost(&mut self, relay: &R) {
        self.relays.remove(relay);
    }

    /// Relays currently holding a reservation.
    pub fn relays(&self) -> impl Iterator<Item = &R> {
        self.relays.iter()
    }

    /// Addresses that count as reachable, configured ones first, then
    /// UPnP, then dial-back confirmed.
    pub fn confirmed_addrs(&self) -> Vec<A> {
        let mut v: Vec<(&A, Confirmation)> = self.confirmed.iter().map(|(a, h)| (a, *h)).collect();
        v.sort_by_key(|(_, h)| *h);
        v.into_iter().map(|(a, _)| a.clone()).collect()
    }

    /// How many more relay reservations the node should try to get now.
    pub fn relays_wanted(&self, now: u64) -> usize {
        match self.current(now) {
            Reachability::Public { .. } => 0,
            _ => MAX_RELAY_RESERVATIONS.saturating_sub(self.relays.len()),
        }
    }

    /// The reachability at `now`.
    pub fn current(&self, now: u64) -> Reachability<A, R> {
        if !self.confirmed.is_empty() {
            return Reachability::Public { addrs: self.confirmed_addrs() };
        }
        if !self.relays.is_empty() {
            return Reachability::Relayed { relays: self.relays.iter().cloned().collect() };
        }
        if self.refuted || now >= self.started.saturating_add(UNKNOWN_GRACE_SECS) {
            Reachability::Private
        } else {
            Reachability::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type State = ReachabilityState<&'static str, u8>;

    #[test]
    fn a_fresh_node_is_unknown_then_private_without_confirmation() {
        let s = State::new(100, []);
        assert_eq!(s.current(100), Reachability::Unknown);
        assert_eq!(s.current(100 + UNKNOWN_GRACE_SECS - 1), Reachability::Unknown);
        assert_eq!(s.current(100 + UNKNOWN_GRACE_SECS), Reachability::Private);
        assert_eq!(s.relays_wanted(100), MAX_RELAY_RESERVATIONS);
    }

    #[test]
    fn a_failed_dial_back_makes_it_private_at_once() {
        let mut s = State::new(100, []);
        s.dial_back_failed(&"/ip4/10.0.0.1/tcp/4011");
        assert_eq!(s.current(101), Reachability::Private);
    }

    #[test]
    fn a_probe_without_an_address_makes_it_private_but_keeps_confirmed_ones() {
        let mut s = State::new(100, []);
        s.probed_private();
        assert_eq!(s.current(101), Reachability::Private);
        s.dial_back_succeeded("/ip4/10.0.0.1/tcp/4011");
        s.probed_private();
        assert_eq!(s.current(102).code(), "public");
    }

    #[test]
    fn a_dial_back_makes_it_public_and_a_later_failure_takes_it_back() {
        let mut s = State::new(0, []);
        s.dial_back_succeeded("/ip4/10.0.0.1/tcp/4011");
        assert_eq!(s.current(1), Reachability::Public { addrs: vec!["/ip4/10.0.0.1/tcp/4011"] });
        assert_eq!(s.relays_wanted(1), 0, "a public node relays, it does not reserve");
        s.dial_back_failed(&"/ip4/10.0.0.1/tcp/4011");
        assert_eq!(s.current(2), Reachability::Private);
    }

    #[test]
    fn configured_addresses_count_and_survive_a_failed_dial_back() {
        let mut s = State::new(0, ["/dns4/home.example.org/tcp/4011"]);
        s.dial_back_succeeded("/ip4/192.0.2.1/tcp/4011");
        s.dial_back_failed(&"/dns4/home.example.org/tcp/4011");
        assert_eq!(
            s.current(0),
            Reachability::Public { addrs: vec!["/dns4/home.example.org/tcp/4011", "/ip4/192.0.2.1/tcp/4011"] },
            "configured first, and kept"
        );
    }

    #[test]
    fn upnp_mappings_come_and_go() {
        let mut s = State::new(0, []);
        s.mapped("/ip4/192.0.2.7/tcp/4011");
        assert_eq!(s.current(0).code(), "public");
        s.unmapped(&"/ip4/192.0.2.7/tcp/4011");
        assert_eq!(s.current(0).code(), "unknown");
        // A mapping that was also dialed back is not dropped by UPnP alone.
        s.dial_back_succeeded("/ip4/192.0.2.8/tcp/4011");
        s.unmapped(&"/ip4/192.0.2.8/tcp/4011");
        assert_eq!(s.current(0).code(), "public");
    }

    #[test]
    fn relays_make_a_private_node_relayed_until_lost() {
        let mut s = State::new(0, []);
        s.relay_gained(1);
        s.relay_gained(2);
        assert_eq!(s.current(100), Reachability::Relayed { relays: vec![1, 2] });
        assert!(s.current(100).reachable_from_outside());
        assert_eq!(s.relays_wanted(100), MAX_RELAY_RESERVATIONS - 2);
        s.relay_lost(&1);
        s.relay_lost(&2);
        assert_eq!(s.current(100), Reachability::Private);
        assert!(!s.current(100).reachable_from_outside());
    }

    #[test]
    fn the_bounds_hold() {
        let mut s = ReachabilityState::<u32, u32>::new(0, []);
        for i in 0..1000 {
            s.dial_back_succeeded(i);
            s.relay_gained(i);
        }
        assert_eq!(s.confirmed_addrs().len(), MAX_CONFIRMED_ADDRS);
        assert_eq!(s.relays().count(), MAX_RELAY_RESERVATIONS);
        assert_eq!(s.relays_wanted(0), 0);
    }

    #[test]
    fn any_sequence_keeps_public_iff_something_is_confirmed() {
        // A small exhaustive walk over event sequences of length 4.
        for seq in 0..(6u32.pow(4)) {
            let mut s = ReachabilityState::<u8, u8>::new(0, []);
            let mut x = seq;
            for _ in 0..4 {
                match x % 6 {
                    0 => s.dial_back_succeeded(1),
                    1 => s.dial_back_failed(&1),
                    2 => s.mapped(2),
                    3 => s.unmapped(&2),
                    4 => s.relay_gained(9),
                    _ => s.relay_lost(&9),
                }
                x /= 6;
            }
            let now = UNKNOWN_GRACE_SECS;
            let r = s.current(now);
            assert_eq!(matches!(r, Reachability::Public { .. }), !s.confirmed_addrs().is_empty(), "seq {seq}");
            assert_ne!(r, Reachability::Unknown, "after the grace period the node knows");
        }
    }
}
