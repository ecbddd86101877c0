//! libp2p's relay server with relayed connections kept out of its sight.
//!
//! libp2p-relay 0.22 gives a relayed connection (one that runs through
//! another relay) a dummy handler, yet records it like any other; when the
//! server's status changes (`set_status`, as this node's reachability
//! becomes or stops being `public`) it sends `SetStatus` to every recorded
//! connection, and the one with the dummy handler panics in libp2p-swarm's
//! `Either` handler ("entered unreachable code"), killing that connection's
//! task (rust-libp2p issue 5412). A node that was relayed before AutoNAT
//! confirmed it public hit this; the simulator showed it in 10 connection
//! tasks of a 12-node run. The server can do nothing with a relayed
//! connection anyway (no reservation or circuit can come through it), so
//! this wrapper does not tell it about them.

use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::relay;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

/// The relay server, minus relayed connections (see the module docs).
#[allow(missing_debug_implementations)]
pub struct RelayServer {
    inner: relay::Behaviour,
}

impl RelayServer {
    /// Wraps a relay server.
    pub fn new(inner: relay::Behaviour) -> Self {
        Self { inner }
    }

    /// Advertise the relay protocol or not (see [`relay::Behaviour::set_status`]).
    pub fn set_status(&mut self, status: Option<relay::Status>) {
        self.inner.set_status(status);
    }
}

impl NetworkBehaviour for RelayServer {
    type ConnectionHandler = THandler<relay::Behaviour>;
    type ToSwarm = relay::Event;

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
        // The inner server gives a relayed connection its dummy handler.
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
        self.inner.handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionEstablished(e) if e.endpoint.is_relayed() => {}
            FromSwarm::ConnectionClosed(e) if e.endpoint.is_relayed() => {}
            other => self.inner.on_swarm_event(other),
        }
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
