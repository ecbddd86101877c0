//! The swarm side of [`crate::core::dial_budget`]: refuses a dial to a new
//! peer before its handshake once the node holds its outbound budget.

use std::collections::HashSet;
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::{Endpoint, Multiaddr, transport::PortUse};
use libp2p::swarm::behaviour::ConnectionEstablished;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, DialFailure, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

use crate::core::dial_budget::DialBudget;

/// Why a dial was refused: the node already dials as many peers as it may.
#[derive(Debug, thiserror::Error)]
#[error("outbound_budget: already dialed {held} of {limit} peers")]
pub struct BudgetExhausted {
    /// Outbound connections held.
    pub held: usize,
    /// The budget.
    pub limit: usize,
}

/// Caps the connections this node opens to new peers (see the core module).
#[derive(Debug)]
pub struct Behaviour {
    budget: DialBudget<ConnectionId>,
    /// Peers with at least one established connection.
    connected: HashSet<PeerId>,
}

impl Behaviour {
    /// A budget of `limit` outbound peers.
    pub fn new(limit: usize) -> Self {
        Self { budget: DialBudget::new(limit), connected: HashSet::new() }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let connected = maybe_peer.is_some_and(|p| self.connected.contains(&p));
        if self.budget.try_dial(connection_id, connected) {
            Ok(Vec::new())
        } else {
            tracing::debug!(peer = ?maybe_peer, "dial refused: outbound budget used");
            Err(ConnectionDenied::new(BudgetExhausted { held: self.budget.held(), limit: self.budget.limit() }))
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { peer_id, .. }) => {
                self.connected.insert(peer_id);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { peer_id, connection_id, remaining_established, .. }) => {
                self.budget.release(&connection_id);
                if remaining_established == 0 {
                    self.connected.remove(&peer_id);
                }
            }
            FromSwarm::DialFailure(DialFailure { connection_id, .. }) => self.budget.release(&connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
