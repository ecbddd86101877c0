//! The swarm side of [`crate::core::ip_limits`]: per-IP caps on pending and
//! established inbound connections, slots reserved for own dials and for
//! hood members, and the list of inbound strangers to evict.
//!
//! libp2p's `connection_limits` counts totals only, so one host could take
//! every pending slot (32 idle sockets reopened every 10 s) or every
//! established one (64 identities from 8 addresses), and no neighbor got in.

use std::net::IpAddr;
use std::task::{Context, Poll};
use tokio::time::Instant;

use libp2p::PeerId;
use libp2p::core::{Endpoint, Multiaddr, multiaddr::Protocol, transport::PortUse};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, DialFailure, FromSwarm, ListenFailure, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

use crate::core::ip_limits::{Direction, IpLimits, Limits, LimitsError, Refused};

/// Why a connection was refused (its `code()` names the limit).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {refused}", code = .refused.code())]
pub struct LimitReached {
    /// The limit hit.
    pub refused: Refused,
}

/// Per-IP connection accounting (see the core module).
#[derive(Debug)]
pub struct Behaviour {
    limits: IpLimits<ConnectionId, PeerId>,
    /// Origin of the millisecond clock the grace period runs on.
    epoch: Instant,
}

/// The IP a connection comes from: `None` for relayed circuits (whose
/// address is the relay's) and non-IP transports.
pub fn remote_ip(addr: &Multiaddr) -> Option<IpAddr> {
    if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        return None;
    }
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl Behaviour {
    /// Accounting under `limits`.
    pub fn new(limits: Limits) -> Result<Self, LimitsError> {
        Ok(Self { limits: IpLimits::new(limits)?, epoch: Instant::now() })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `peer` joined the hood's topic (a gossipsub `Subscribed` event): its
    /// connections no longer count as strangers'.
    pub fn joined_topic(&mut self, peer: &PeerId) {
        self.limits.joined_topic(peer);
    }

    /// Inbound peers still off the topic after the grace period: the caller
    /// disconnects them.
    pub fn overdue(&mut self) -> Vec<PeerId> {
        let now = self.now_ms();
        self.limits.tick(now)
    }

    fn established(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        direction: Direction,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let now = self.now_ms();
        match self.limits.established(conn, peer, remote_ip(addr), direction, now) {
            Ok(()) => Ok(dummy::ConnectionHandler),
            Err(refused) => {
                tracing::debug!(%peer, %addr, reason = refused.code(), "connection refused");
                Err(ConnectionDenied::new(LimitReached { refused }))
            }
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.limits.try_pending(connection_id, remote_ip(remote_addr)).map_err(|refused| {
            tracing::debug!(%remote_addr, reason = refused.code(), "handshake refused");
            ConnectionDenied::new(LimitReached { refused })
        })
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.established(connection_id, peer, remote_addr, Direction::Inbound)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.established(connection_id, peer, addr, Direction::Outbound)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::DialFailure(DialFailure { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => self.limits.closed(&connection_id),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_and_ip_addresses() -> Result<(), Box<dyn std::error::Error>> {
        let direct: Multiaddr = "/ip4/203.0.113.7/tcp/4011".parse()?;
        assert_eq!(remote_ip(&direct), Some("203.0.113.7".parse()?));
        let relayed: Multiaddr = "/ip4/203.0.113.7/tcp/4011/p2p-circuit".parse()?;
        assert_eq!(remote_ip(&relayed), None);
        let memory: Multiaddr = "/memory/5".parse()?;
        assert_eq!(remote_ip(&memory), None);
        Ok(())
    }
}
