//! The swarm side of [`crate::core::reachability`]: feeds it AutoNAT v2,
//! UPnP and relay events and the configured `external_addresses`, reserves
//! relay slots while the node is not public, closes a relayed connection
//! once DCUtR punched a direct one, keeps unconfirmed addresses out of
//! Kademlia, and publishes what the API and tickets need.
//!
//! Which addresses reach Kademlia: the address a connection was dialed on
//! (a successful dial confirms it), an address a peer's AutoNAT probe
//! dialed back through this node's server, a peer's listen addresses on the
//! IP its connection comes from, and circuit addresses through a relay this
//! node knows to be public (or through itself). Never a peer's whole identify list:
//! it holds its loopback and LAN addresses, useless (10 s timeouts each)
//! anywhere but on its own machine or LAN.

use std::collections::{BTreeMap, BTreeSet};

use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, autonat, dcutr, identify, kad, relay, upnp};
use tokio::sync::watch;

use super::address_book::AddressBook;
use super::behaviour::{Behaviour, BehaviourEvent};
use crate::core::reachability::{MAX_RELAY_RESERVATIONS, Reachability, ReachabilityState};
use crate::service::metrics::Metrics;
use crate::service::network::ReachabilityInfo;
use crate::service::ticket::TicketAddrs;

/// Public members remembered as relay candidates: three are used, the
/// rest are spares for when one goes away; a hood has a handful.
pub const MAX_RELAY_CANDIDATES: usize = 16;
/// Seconds after start before a node that is not public reserves relay
/// slots: long enough for AutoNAT to confirm a public node (which then
/// never reserves), short enough that a joiner behind NAT is reachable
/// within half a minute.
pub const RESERVE_AFTER_SECS: u64 = 10;
/// How often a node with fewer hood peers than [`DISCOVERY_TARGET`] asks
/// Kademlia for more: that is how two homes learn each other's circuit
/// addresses from a public member.
pub const DISCOVERY_INTERVAL_SECS: u64 = 15;
/// Seconds before each further round of DCUtR (3 attempts each) with a
/// peer, after which it stays relayed. A punch that fails once through two
/// ordinary NATs often works on the next round (the two SYNs crossed
/// badly). The last wait is longer than a Linux router keeps a half-open
/// TCP entry (`nf_conntrack_tcp_timeout_syn_sent`, 120 s): when such an
/// entry on one router went wrong (a SYN that reached the node before its
/// own punch started was answered by its listener, and the router stopped
/// translating that address pair), every round within two minutes keeps
/// it alive and fails; after a quiet spell the entry is gone. Behind a
/// random-port NAT no round works, and each costs a brief loss of the
/// relayed link.
pub const PUNCH_RETRY_DELAYS_SECS: [u64; 3] = [10, 30, 150];
/// Peers with a retry pending: the mesh is at most 12 peers.
pub const MAX_PUNCH_RETRIES: usize = 32;
/// Peers reached by hole punching listed in the status.
pub const MAX_PUNCHED_SHOWN: usize = 16;
/// Hood (gossipsub topic) peers under which the node keeps looking: the
/// gossip mesh's lower bound (mesh_n - 2).
pub const DISCOVERY_TARGET: usize = 4;

/// Reachability, relay reservations and hole punches for the event loop.
pub struct Reach {
    state: ReachabilityState<Multiaddr, PeerId>,
    /// Bounded by [`MAX_RELAY_CANDIDATES`]: public members and the address
    /// this node dialed them on.
    candidates: BTreeMap<PeerId, Multiaddr>,
    /// Reservations asked for or held, by relay; at most
    /// `MAX_RELAY_RESERVATIONS`.
    reservations: BTreeMap<PeerId, ListenerId>,
    /// Relayed connections by peer (bounded by the connection limit).
    relayed: BTreeMap<PeerId, BTreeSet<ConnectionId>>,
    /// The address each outbound connection was dialed on (one per peer,
    /// bounded by the connection limit).
    dialed: BTreeMap<PeerId, Multiaddr>,
    /// The IP each peer's (non-relayed) connection comes from, bounded by
    /// the connection limit.
    remote_ip: BTreeMap<PeerId, std::net::IpAddr>,
    started: u64,
    next_discovery: u64,
    hole_punches: u64,
    hole_punch_failures: u64,
    view: watch::Sender<(ReachabilityInfo, TicketAddrs)>,
    /// Peers whose hole punch failed: rounds so far and when to try again.
    /// Bounded by [`MAX_PUNCH_RETRIES`].
    punch_retries: BTreeMap<PeerId, (u32, u64)>,
    /// The last [`MAX_PUNCHED_SHOWN`] peers a hole punch reached.
    punched: Vec<PeerId>,
    /// Whether the relay server is on (the node is public).
    serving: bool,
    /// Hood peers and the addresses that reached them, saved for restarts.
    book: AddressBook,
    /// Bounded by the bootstrap list (itself from the ticket, at most 8, or
    /// the operator's config).
    bootstrap: BTreeSet<PeerId>,
}

impl std::fmt::Debug for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reach").field("relays", &self.reservations.len()).finish_non_exhaustive()
    }
}

impl Reach {
    /// Starts at `now` with the operator's `configured` external addresses
    /// (see [`Reach::configure`]).
    pub fn new(swarm: &mut Swarm<Behaviour>, configured: &[Multiaddr], now: u64) -> Self {
        let mut this = Self {
            state: ReachabilityState::new(now, configured.iter().cloned()),
            candidates: BTreeMap::new(),
            reservations: BTreeMap::new(),
            relayed: BTreeMap::new(),
            dialed: BTreeMap::new(),
            remote_ip: BTreeMap::new(),
            started: now,
            next_discovery: now,
            hole_punches: 0,
            hole_punch_failures: 0,
            view: watch::Sender::new((ReachabilityInfo::default(), TicketAddrs::default())),
            bootstrap: BTreeSet::new(),
            serving: false,
            punch_retries: BTreeMap::new(),
            punched: Vec::new(),
            book: AddressBook::in_memory(),
        };
        swarm.behaviour_mut().relay_server.set_status(Some(relay::Status::Disable));
        this.configure(swarm, configured, now);
        this
    }

    /// Takes the operator's external addresses; they go to the swarm at
    /// once, so identify and the relay server announce them before any probe.
    pub fn configure(&mut self, swarm: &mut Swarm<Behaviour>, configured: &[Multiaddr], now: u64) {
        for a in configured {
            swarm.add_external_address(a.clone());
        }
        self.state = ReachabilityState::new(now, configured.iter().cloned());
        self.started = now;
        self.publish(swarm, now);
    }

    /// Uses `book` (loaded from disk) and returns its addresses, to dial
    /// at start like the bootstrap list.
    pub fn use_book(&mut self, book: AddressBook) -> Vec<Multiaddr> {
        self.book = book;
        self.book.addrs()
    }

    /// `peer` joined the hood's topic: remember how it was reached.
    pub fn hood_peer(&mut self, peer: PeerId) {
        if let Some(addr) = self.dialed.get(&peer) {
            self.book.record(peer, addr);
        }
    }

    /// Peers of the bootstrap list, whose failed dials are logged at warn.
    pub fn bootstrap(&mut self, addrs: &[Multiaddr]) {
        self.bootstrap = addrs
            .iter()
            .filter_map(|a| match a.iter().last() {
                Some(Protocol::P2p(p)) => Some(p),
                _ => None,
            })
            .collect();
    }

    /// What the API reads: the state and the ticket's address kinds.
    pub fn watch(&self) -> watch::Receiver<(ReachabilityInfo, TicketAddrs)> {
        self.view.subscribe()
    }

    /// A connection opened.
    pub fn connected(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId, id: ConnectionId, ep: &ConnectedPoint) {
        if ep.is_relayed() {
            self.relayed.entry(peer).or_default().insert(id);
            return;
        }
        // A hole punch (DCUtR; `net::kademlia` decides which connections
        // are). The NAT mapping it went through admits only this node, so
        // its address must not reach Kademlia or the address book.
        if swarm.behaviour().kad.is_punch(id) {
            return;
        }
        if let Some(ip) = super::ip_limits::remote_ip(ep.get_remote_address()) {
            self.remote_ip.insert(peer, ip);
        }
        if let ConnectedPoint::Dialer { address, .. } = ep {
            let address = strip_p2p(address);
            swarm.behaviour_mut().kad.add_address(&peer, address.clone());
            self.dialed.insert(peer, address);
        }
    }

    /// A connection closed; `remaining` are the peer's other connections.
    pub fn disconnected(&mut self, peer: PeerId, id: ConnectionId, remaining: u32) {
        if let Some(set) = self.relayed.get_mut(&peer) {
            set.remove(&id);
            if set.is_empty() {
                self.relayed.remove(&peer);
            }
        }
        if remaining == 0 {
            self.dialed.remove(&peer);
            self.remote_ip.remove(&peer);
        }
    }

    /// A peer's identify info: relay candidates and circuit addresses.
    pub fn identified(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId, info: &identify::Info) {
        if info.protocols.contains(&relay::HOP_PROTOCOL_NAME)
            && let Some(addr) = self.dialed.get(&peer)
            && (self.candidates.len() < MAX_RELAY_CANDIDATES || self.candidates.contains_key(&peer))
        {
            self.candidates.insert(peer, addr.clone());
        }
        let seen_ip = self.remote_ip.get(&peer).copied();
        for addr in &info.listen_addrs {
            // On the IP this node reaches the peer at (the same host or LAN,
            // or a public address): confirmed by the connection itself.
            if seen_ip.is_some() && super::ip_limits::remote_ip(addr) == seen_ip {
                swarm.behaviour_mut().kad.add_address(&peer, strip_trailing_p2p(addr, peer));
                continue;
            }
            // Through a relay this node knows to be public, or through this
            // node itself (it holds the reservation, so the route exists).
            if let Some(relay) = circuit_relay(addr)
                && (self.candidates.contains_key(&relay) || (relay == *swarm.local_peer_id() && self.serving))
                && relay != peer
            {
                let circuit = strip_trailing_p2p(addr, peer);
                self.book.record(peer, &circuit);
                swarm.behaviour_mut().kad.add_address(&peer, circuit);
            }
        }
    }

    /// Events the event loop has no arm for.
    pub fn event(&mut self, swarm: &mut Swarm<Behaviour>, event: SwarmEvent<BehaviourEvent>, now: u64) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::v2::client::Event {
                tested_addr, result, ..
            })) => match result {
                // A dial-back through a relay reaches any node holding a
                // reservation, and fails for reasons of the relay's own: it
                // says nothing of whether anyone can dial this node. Taken
                // as a success it turned NAT'd nodes `public` (found by the
                // simulator's NAT model), so they dropped their relays;
                // taken as a failure it took the circuit address off the
                // node's external addresses, which identify hands out.
                _ if super::swarm::is_relayed(&tested_addr) => {
                    tracing::debug!(address = %tested_addr, "a dial-back through a relay proves nothing");
                }
                Ok(()) => {
                    tracing::info!(address = %tested_addr, "a peer dialed this node back: reachable");
                    self.state.dial_back_succeeded(tested_addr);
                }
                Err(e) => {
                    tracing::debug!(address = %tested_addr, error = %e, "a peer could not dial this node back");
                    self.state.dial_back_failed(&tested_addr);
                    if !self.state.confirmed_addrs().contains(&tested_addr) {
                        swarm.remove_external_address(&tested_addr);
                    }
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::AutonatV1(autonat::v1::Event::StatusChanged { old, new })) => {
                // v1 only confirms, and says `private` before anything is
                // confirmed. It does not take a confirmed address back: its
                // verdict names no address, and one peer whose dial-back is
                // refused by its own limits flipped a public relay to private
                // in the namespace tests. AutoNAT v2 refutes per address.
                tracing::info!(?old, ?new, "AutoNAT v1 status");
                match new {
                    autonat::v1::NatStatus::Public(addr) if !super::swarm::is_relayed(&addr) => {
                        self.state.dial_back_succeeded(addr)
                    }
                    autonat::v1::NatStatus::Public(_) => {}
                    autonat::v1::NatStatus::Private => self.state.probed_private(),
                    autonat::v1::NatStatus::Unknown => {}
                }
            }
            // A dial-back this node made as an AutoNAT server reaches
            // Kademlia through `connected` when, and only when, it connected.
            // The v2 server's own event says `Ok` whenever it *answered*,
            // including "dial-back failed": taking that as a confirmation put
            // every NAT'd member's router address into Kademlia, other homes
            // then dialed it outside a hole punch, and the conntrack entry
            // such a dial leaves on their own router spoiled the later punch
            // between the two (docs/BENCHMARKS.md, "Reachability").
            SwarmEvent::Behaviour(BehaviourEvent::AutonatServer(ev)) => {
                tracing::debug!(client = %ev.client, address = %ev.tested_addr, "answered a dial-back request");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Upnp(ev)) => match ev {
                upnp::Event::NewExternalAddr { external_addr, .. } => {
                    tracing::info!(address = %external_addr, "the router mapped a port (UPnP)");
                    self.state.mapped(external_addr);
                }
                upnp::Event::ExpiredExternalAddr { external_addr, .. } => {
                    tracing::warn!(address = %external_addr, "the router's port mapping expired (UPnP)");
                    self.state.unmapped(&external_addr);
                }
                upnp::Event::GatewayNotFound => tracing::info!("no UPnP router found"),
                upnp::Event::NonRoutableGateway => tracing::info!("the UPnP router is itself behind NAT"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Relay(relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            })) => {
                if !renewal {
                    tracing::info!(relay = %relay_peer_id, "relay reservation accepted");
                }
                self.state.relay_gained(relay_peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, addresses, .. })) => {
                tracing::debug!(%peer, addresses = ?addresses.iter().collect::<Vec<_>>(), "kad routing updated");
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(ev)) => {
                tracing::debug!(?ev, "relay server");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event { remote_peer_id, result })) => match result {
                Ok(direct) => {
                    self.hole_punches += 1;
                    self.punch_retries.remove(&remote_peer_id);
                    if self.punched.len() >= MAX_PUNCHED_SHOWN {
                        self.punched.remove(0);
                    }
                    self.punched.push(remote_peer_id);
                    let relayed = self.relayed.remove(&remote_peer_id).unwrap_or_default();
                    tracing::info!(peer = %remote_peer_id, closing = relayed.len(), "hole punched; closing the relayed connection");
                    // gossipsub moves its mesh keep-alive to the remaining
                    // (direct) connection when the first one closes.
                    for id in relayed.into_iter().filter(|id| *id != direct) {
                        swarm.close_connection(id);
                    }
                }
                Err(e) => {
                    self.hole_punch_failures += 1;
                    let tries = self.punch_retries.get(&remote_peer_id).map_or(0, |(n, _)| *n);
                    let delay = PUNCH_RETRY_DELAYS_SECS.get(tries as usize);
                    if let Some(delay) = delay.filter(|_| self.punch_retries.len() < MAX_PUNCH_RETRIES) {
                        tracing::info!(peer = %remote_peer_id, error = %e, in_secs = delay, "hole punch failed; trying again later");
                        self.punch_retries.insert(remote_peer_id, (tries + 1, now + delay));
                    } else {
                        tracing::info!(peer = %remote_peer_id, error = %e, "hole punch failed; staying relayed");
                    }
                }
            },
            SwarmEvent::ListenerClosed { listener_id, reason, .. } => {
                let lost: Vec<PeerId> =
                    self.reservations.iter().filter(|(_, l)| **l == listener_id).map(|(p, _)| *p).collect();
                for relay in lost {
                    tracing::info!(%relay, ?reason, "relay reservation lost");
                    self.reservations.remove(&relay);
                    self.state.relay_lost(&relay);
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "external address confirmed");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => match peer_id {
                Some(p) if self.bootstrap.contains(&p) => {
                    tracing::warn!(peer = %p, error = %dial_error(&error), "bootstrap dial failed");
                }
                None => tracing::warn!(error = %dial_error(&error), "dial failed"),
                Some(p) => tracing::debug!(peer = %p, error = %dial_error(&error), "dial failed"),
            },
            _ => {}
        }
        self.publish(swarm, now);
    }

    /// Periodic work: reservations, discovery, the published view.
    /// `hood_peers` counts connected peers on the hood's gossip topic.
    pub fn tick(&mut self, swarm: &mut Swarm<Behaviour>, now: u64, hood_peers: usize, metrics: &Metrics) {
        let wanted = self.state.relays_wanted(now);
        if wanted == 0 && !self.reservations.is_empty() {
            // Public now: give the relays' slots back.
            for (relay, listener) in std::mem::take(&mut self.reservations) {
                swarm.remove_listener(listener);
                self.state.relay_lost(&relay);
            }
        } else if wanted > 0 && now >= self.started + RESERVE_AFTER_SECS {
            let free: Vec<(PeerId, Multiaddr)> = self
                .candidates
                .iter()
                .filter(|(p, _)| !self.reservations.contains_key(p))
                .take(MAX_RELAY_RESERVATIONS.saturating_sub(self.reservations.len()))
                .map(|(p, a)| (*p, a.clone()))
                .collect();
            for (relay, addr) in free {
                let circuit = addr.with(Protocol::P2p(relay)).with(Protocol::P2pCircuit);
                match swarm.listen_on(circuit.clone()) {
                    Ok(id) => {
                        tracing::info!(address = %circuit, "asking for a relay reservation");
                        self.reservations.insert(relay, id);
                    }
                    Err(e) => {
                        tracing::warn!(address = %circuit, error = %e, "cannot listen through the relay");
                        self.candidates.remove(&relay);
                    }
                }
            }
        }
        let due: Vec<PeerId> = self.punch_retries.iter().filter(|(_, (_, at))| *at <= now).map(|(p, _)| *p).collect();
        for peer in due {
            // DCUtR runs once per relayed connection: a fresh one (dialed
            // through the relay again right away) gets a fresh round.
            if let Some(relayed) = self.relayed.remove(&peer) {
                tracing::info!(%peer, "redialing through the relay for another hole punch");
                for id in relayed {
                    swarm.close_connection(id);
                }
                let _ = swarm.dial(peer);
            }
            if let Some(entry) = self.punch_retries.get_mut(&peer) {
                entry.1 = u64::MAX;
            }
        }
        if hood_peers < DISCOVERY_TARGET && now >= self.next_discovery && !self.dialed.is_empty() {
            self.next_discovery = now + DISCOVERY_INTERVAL_SECS;
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }
        self.publish(swarm, now);
        self.book.save();
        let public = matches!(self.state.current(now), Reachability::Public { .. });
        if public != self.serving {
            // Not libp2p's automatic switch: a relay reservation confirms
            // the circuit address as external, which would make every NAT'd
            // node offer to relay.
            let status = if public { relay::Status::Enable } else { relay::Status::Disable };
            tracing::info!(?status, "relay server");
            swarm.behaviour_mut().relay_server.set_status(Some(status));
            self.serving = public;
        }
        let state = self.state.current(now).code();
        for s in ["public", "relayed", "private", "unknown"] {
            metrics.reachability.get_or_create(&vec![("state".to_owned(), s.to_owned())]).set(i64::from(s == state));
        }
        metrics.relay_reservations.set(self.state.relays().count() as i64);
        metrics.hole_punches.set(self.hole_punches as i64);
        metrics.hole_punch_failures.set(self.hole_punch_failures as i64);
    }

    fn publish(&mut self, swarm: &Swarm<Behaviour>, now: u64) {
        let current = self.state.current(now);
        let mut reachable: Vec<Multiaddr> = match &current {
            Reachability::Public { addrs } => addrs.clone(),
            _ => Vec::new(),
        };
        // Circuit addresses the relay client listens on.
        reachable.extend(swarm.listeners().filter(|a| a.iter().any(|p| p == Protocol::P2pCircuit)).cloned());
        let others: Vec<Multiaddr> =
            self.candidates.iter().filter_map(|(p, a)| strip_p2p(a).with_p2p(*p).ok()).collect();
        let listen: Vec<Multiaddr> =
            swarm.listeners().filter(|a| !a.iter().any(|p| p == Protocol::P2pCircuit)).cloned().collect();
        let info = ReachabilityInfo {
            state: current.code(),
            addrs: match &current {
                Reachability::Public { addrs } => addrs.iter().map(ToString::to_string).collect(),
                _ => Vec::new(),
            },
            relays: self.state.relays().map(ToString::to_string).collect(),
            hole_punches: self.hole_punches,
            hole_punch_failures: self.hole_punch_failures,
            punched: self.punched.iter().map(ToString::to_string).collect(),
        };
        self.view.send_replace((info, TicketAddrs { reachable, others, listen }));
    }
}

/// The relay's peer id in a circuit address `<relay addr>/p2p/R/p2p-circuit[/p2p/X]`.
fn circuit_relay(addr: &Multiaddr) -> Option<PeerId> {
    let mut last_p2p = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(id) => last_p2p = Some(id),
            Protocol::P2pCircuit => return last_p2p,
            _ => {}
        }
    }
    None
}

/// `addr` without a trailing `/p2p/<id>`.
fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

/// `addr` without a trailing `/p2p/peer` (Kademlia wants it bare).
fn strip_trailing_p2p(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    let mut a = addr.clone();
    if a.iter().last() == Some(Protocol::P2p(peer)) {
        a.pop();
    }
    a
}

/// A dial error with its cause: libp2p shows a refusal by one of our own
/// behaviours (connection limits, budgets) as a bare "Dial error".
fn dial_error(error: &libp2p::swarm::DialError) -> String {
    match error {
        libp2p::swarm::DialError::Denied { cause } => format!("refused by this node: {cause}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_addresses_name_their_relay() -> Result<(), Box<dyn std::error::Error>> {
        let (r, x) = (PeerId::random(), PeerId::random());
        let a: Multiaddr = format!("/ip4/10.0.0.1/tcp/4011/p2p/{r}/p2p-circuit/p2p/{x}").parse()?;
        assert_eq!(circuit_relay(&a), Some(r));
        assert_eq!(circuit_relay(&format!("/ip4/10.0.0.1/tcp/4011/p2p/{r}").parse()?), None);
        assert_eq!(strip_trailing_p2p(&a, x), format!("/ip4/10.0.0.1/tcp/4011/p2p/{r}/p2p-circuit").parse()?);
        assert_eq!(strip_p2p(&format!("/ip4/10.0.0.1/tcp/4011/p2p/{r}").parse()?), "/ip4/10.0.0.1/tcp/4011".parse()?);
        Ok(())
    }
}
