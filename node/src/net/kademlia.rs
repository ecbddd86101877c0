//! Kademlia, minus the addresses of hole-punched connections.
//!
//! libp2p's Kademlia puts the address of every connection this node dialed
//! into its routing table, and hands the table out in answers. A hole
//! punch (DCUtR) is a dial too, but the NAT mapping it went through admits
//! only the node that punched it: to anyone else the address is a home
//! router that drops the SYN. In the namespace tests a third home got such
//! an address in a Kademlia answer in the instant between the punch and
//! its removal, dialed it, and the half-open entry that dial left on its
//! own router spoiled its later punch with that home (PROTOCOL.md 9.3).
//!
//! So the wrapper builds the handler of a punched connection as for an
//! inbound one: Kademlia runs on it as on any other connection but never
//! learns its address. A direct outbound connection is taken to be a punch
//! when DCUtR overrode its role, or when this node reaches (or reached
//! within [`PUNCH_GRACE`]) the peer through a relay: the side whose punch
//! completes first closes the relayed connection at once, and the other
//! side's end of the same punch can complete a moment later (the
//! namespace tests caught the founder learning a home's router address
//! that way). The decision is kept per connection for the rest of the
//! node ([`Kademlia::is_punch`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::kad;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

type Inner = kad::Behaviour<kad::store::MemoryStore>;

/// How long after a peer's last relayed connection closed a direct dial to
/// it still counts as a hole punch: DCUtR's three attempts take at most
/// about 15 s (5 s handshake timeout each), twice that is ample.
pub const PUNCH_GRACE: Duration = Duration::from_secs(30);

/// Peers remembered as recently relayed. Only a member can open a relayed
/// connection (the relay is pnet-protected), the mesh is a dozen peers and
/// the connection limit 64, so this bounds a burst of churn, not normal use.
pub const MAX_RECENTLY_RELAYED: usize = 256;

/// Kademlia that never learns hole-punched addresses (see the module docs).
#[allow(missing_debug_implementations)]
pub struct Kademlia {
    inner: Inner,
    /// Live relayed connections per peer (an entry exists only while the
    /// swarm holds such a connection: bounded by the connection limit).
    relayed: BTreeMap<PeerId, u32>,
    /// When each peer's last relayed connection closed, for [`PUNCH_GRACE`].
    recently_relayed: BTreeMap<PeerId, Instant>,
    /// Live connections judged to be hole punches (bounded by the
    /// connection limit: removed when they close).
    punches: BTreeSet<ConnectionId>,
}

impl Kademlia {
    /// Wraps a Kademlia behaviour.
    pub fn new(inner: Inner) -> Self {
        Self { inner, relayed: BTreeMap::new(), recently_relayed: BTreeMap::new(), punches: BTreeSet::new() }
    }

    /// Whether the live connection `id` is a hole punch.
    pub fn is_punch(&self, id: ConnectionId) -> bool {
        self.punches.contains(&id)
    }

    fn looks_like_punch(&self, peer: &PeerId, addr: &Multiaddr, role_override: Endpoint) -> bool {
        if super::swarm::is_relayed(addr) {
            return false;
        }
        role_override == Endpoint::Listener
            || self.relayed.contains_key(peer)
            || self.recently_relayed.get(peer).is_some_and(|at| at.elapsed() < PUNCH_GRACE)
    }

    fn relayed_closed(&mut self, peer: PeerId) {
        let Some(n) = self.relayed.get_mut(&peer) else { return };
        *n = n.saturating_sub(1);
        if *n > 0 {
            return;
        }
        self.relayed.remove(&peer);
        self.recently_relayed.retain(|_, at| at.elapsed() < PUNCH_GRACE);
        if self.recently_relayed.len() >= MAX_RECENTLY_RELAYED
            && let Some(oldest) = self.recently_relayed.iter().min_by_key(|(_, at)| **at).map(|(p, _)| *p)
        {
            self.recently_relayed.remove(&oldest);
        }
        self.recently_relayed.insert(peer, Instant::now());
    }
}

impl Deref for Kademlia {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl DerefMut for Kademlia {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
}

impl NetworkBehaviour for Kademlia {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = kad::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(connection_id, maybe_peer, addresses, effective_role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.looks_like_punch(&peer, addr, role_override) {
            self.punches.insert(connection_id);
            // A listener's handler reports no address when the protocol is
            // confirmed, so the routing table never gets this one.
            return self.inner.handle_established_inbound_connection(connection_id, peer, addr, addr);
        }
        self.inner.handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match &event {
            FromSwarm::ConnectionEstablished(e) if e.endpoint.is_relayed() => {
                *self.relayed.entry(e.peer_id).or_default() += 1;
            }
            FromSwarm::ConnectionClosed(e) if e.endpoint.is_relayed() => self.relayed_closed(e.peer_id),
            FromSwarm::ConnectionClosed(e) => {
                self.punches.remove(&e.connection_id);
            }
            FromSwarm::DialFailure(e) => {
                self.punches.remove(&e.connection_id);
            }
            _ => {}
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::ConnectedPoint;
    use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn kademlia() -> Kademlia {
        let me = PeerId::random();
        Kademlia::new(kad::Behaviour::new(me, kad::store::MemoryStore::new(me)))
    }

    fn circuit(relay: PeerId) -> Result<Multiaddr, libp2p::multiaddr::Error> {
        format!("/ip4/198.51.100.1/tcp/4011/p2p/{relay}/p2p-circuit").parse()
    }

    /// Opens (or closes) a relayed connection to `peer` as the swarm reports it.
    fn relayed(k: &mut Kademlia, peer: PeerId, id: usize, open: bool) -> TestResult {
        let endpoint = ConnectedPoint::Listener {
            local_addr: circuit(PeerId::random())?,
            send_back_addr: "/p2p-circuit".parse()?,
        };
        let connection_id = ConnectionId::new_unchecked(id);
        k.on_swarm_event(if open {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id: peer,
                connection_id,
                endpoint: &endpoint,
                failed_addresses: &[],
                other_established: 0,
            })
        } else {
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id: peer,
                connection_id,
                endpoint: &endpoint,
                cause: None,
                remaining_established: 0,
            })
        });
        Ok(())
    }

    fn dial(k: &mut Kademlia, peer: PeerId, id: usize, addr: &Multiaddr, role: Endpoint) -> bool {
        let id = ConnectionId::new_unchecked(id);
        let _ = k.handle_established_outbound_connection(id, peer, addr, role, PortUse::Reuse);
        k.is_punch(id)
    }

    #[tokio::test]
    async fn only_direct_dials_to_relayed_peers_or_with_dcutr_roles_are_punches() -> TestResult {
        let mut k = kademlia();
        let (home, other) = (PeerId::random(), PeerId::random());
        let router: Multiaddr = "/ip4/203.0.113.7/tcp/4011".parse()?;
        // Positive control first: an ordinary dial is not a punch.
        assert!(!dial(&mut k, other, 1, &router, Endpoint::Dialer), "ordinary dial");
        relayed(&mut k, home, 2, true)?;
        assert!(dial(&mut k, home, 3, &router, Endpoint::Dialer), "direct dial to a relayed peer");
        assert!(!dial(&mut k, home, 4, &circuit(other)?, Endpoint::Dialer), "a circuit is no punch");
        assert!(!dial(&mut k, other, 5, &router, Endpoint::Dialer), "another peer is unaffected");
        assert!(dial(&mut k, other, 6, &router, Endpoint::Listener), "DCUtR's role override");
        // The first side to finish closes the relayed connection at once;
        // the other side's end of the same punch completes a moment later.
        relayed(&mut k, home, 2, false)?;
        assert!(dial(&mut k, home, 7, &router, Endpoint::Dialer), "within the grace period");
        Ok(())
    }

    #[tokio::test]
    async fn closed_punches_are_forgotten_and_recent_peers_stay_bounded() -> TestResult {
        let mut k = kademlia();
        let home = PeerId::random();
        let router: Multiaddr = "/ip4/203.0.113.7/tcp/4011".parse()?;
        relayed(&mut k, home, 1, true)?;
        assert!(dial(&mut k, home, 2, &router, Endpoint::Dialer));
        let endpoint = ConnectedPoint::Dialer {
            address: router.clone(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        };
        k.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
            peer_id: home,
            connection_id: ConnectionId::new_unchecked(2),
            endpoint: &endpoint,
            cause: None,
            remaining_established: 1,
        }));
        assert!(!k.is_punch(ConnectionId::new_unchecked(2)), "a closed connection is forgotten");
        for i in 0..MAX_RECENTLY_RELAYED + 50 {
            let peer = PeerId::random();
            relayed(&mut k, peer, 1000 + i, true)?;
            relayed(&mut k, peer, 1000 + i, false)?;
        }
        assert_eq!(k.recently_relayed.len(), MAX_RECENTLY_RELAYED, "filled up to the bound, never past it");
        Ok(())
    }
}
