//! Building the production swarm: TCP behind the hood's pre-shared key
//! (libp2p pnet), Noise, Yamux, a relay client, and the composed behaviour
//! subscribed to the hood's topic and listening where configured.
//!
//! Admission (PROTOCOL.md, "Admission"): with a network key, every TCP
//! connection starts with pnet's nonce exchange and is XSalsa20-encrypted
//! under that key *below* multistream-select, so a dialer without the key
//! never reaches Noise, identify, gossip or sync. QUIC brings its own TLS
//! and cannot carry pnet, so with a network key the `quic` feature neither
//! listens nor dials QUIC. Relayed connections run inside a connection to
//! the relay, which is itself pnet-protected, so only members can act as or
//! use a relay. Only a node whose config says `admission = "open"` (a hood
//! founded before hood secrets existed) builds the plain transport.

use std::time::Duration;

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, Transport};
use libp2p::core::upgrade::Version;
use libp2p::multiaddr::Protocol;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identity, noise, tcp, yamux};

use super::behaviour::{Behaviour, BehaviourConfig, IDLE_CONNECTION_TIMEOUT, hood_topic};
use crate::core::ids::HoodId;

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// A transport or behaviour could not be set up.
    #[error("network: {0}")]
    Setup(String),
    /// A listen address was refused.
    #[error("network: cannot listen on {addr}: {why}")]
    Listen {
        /// Address.
        addr: Multiaddr,
        /// Cause.
        why: String,
    },
}

/// How long a TCP connection may take from connect to a multiplexed,
/// authenticated connection (pnet nonces, multistream, Noise, Yamux). A
/// handshake is a few round trips, well under a second even on a slow home
/// uplink; libp2p's usual 10 s let 32 idle sockets reopened every 10 s hold
/// every pending slot, so a silent dialer gets half that.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The node's TCP transport: pnet under `network_key` when given (see the
/// module docs), then Noise and Yamux. Tests build their raw peers with it
/// too, so they speak exactly what a member's node speaks.
pub fn tcp_transport(
    key: &identity::Keypair,
    network_key: Option<[u8; 32]>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
    let noise = noise::Config::new(key)?;
    let yamux = yamux::Config::default();
    Ok(match network_key {
        Some(psk) => tcp
            .and_then(move |socket, _| PnetConfig::new(PreSharedKey::new(psk)).handshake(socket))
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux)
            .timeout(HANDSHAKE_TIMEOUT)
            .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
            .boxed(),
        None => tcp
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux)
            .timeout(HANDSHAKE_TIMEOUT)
            .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
            .boxed(),
    })
}

/// Builds the swarm for `hood`, subscribed to its topic and listening on
/// `listen`; `network_key` is the hood's pnet key (`None` only for a node
/// configured with `admission = "open"`).
pub fn build(
    key: &identity::Keypair,
    cfg: &BehaviourConfig,
    hood: &HoodId,
    listen: &[Multiaddr],
    network_key: Option<[u8; 32]>,
) -> Result<Swarm<Behaviour>, SwarmError> {
    let err = |e: &dyn std::fmt::Display| SwarmError::Setup(e.to_string());
    let transport = tcp_transport(key, network_key).map_err(|e| err(&e))?;
    // QUIC cannot carry pnet (module docs): only an open node adds it.
    #[cfg(feature = "quic")]
    let transport = match network_key {
        Some(_) => transport,
        None => {
            use libp2p::futures::future::Either;
            let quic = libp2p::quic::tokio::Transport::new(libp2p::quic::Config::new(key))
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
            quic.or_transport(transport)
                .map(|either, _| match either {
                    Either::Left(out) | Either::Right(out) => out,
                })
                .boxed()
        }
    };
    let mut swarm = build_over(key, transport, cfg, &hood_topic(hood), |_| Ok(()))?;
    for addr in listen {
        if network_key.is_some() && addr.iter().any(|p| matches!(p, Protocol::QuicV1 | Protocol::Quic)) {
            return Err(SwarmError::Listen {
                addr: addr.clone(),
                why: "QUIC cannot carry the hood's network key; listen on TCP".into(),
            });
        }
        if is_ip6(addr) && !host_has_ipv6() && listen.iter().any(|a| !is_ip6(a)) {
            // The default listens on IPv6 next to IPv4; a host or container
            // without IPv6 must still start (on IPv4 alone), as it did
            // before IPv6 was in the default.
            tracing::warn!(%addr, "this host has no IPv6; not listening there (IPv6-only neighbors cannot dial in)");
            continue;
        }
        swarm.listen_on(addr.clone()).map_err(|e| SwarmError::Listen { addr: addr.clone(), why: e.to_string() })?;
    }
    Ok(swarm)
}

fn is_ip6(addr: &Multiaddr) -> bool {
    matches!(addr.iter().next(), Some(Protocol::Ip6(_)))
}

/// Whether this host can open IPv6 sockets at all (a kernel booted with
/// `ipv6.disable=1`, or a container without IPv6, cannot): a probe bind
/// to an ephemeral port, closed at once.
pub fn host_has_ipv6() -> bool {
    std::net::TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).is_ok()
}

/// The one swarm builder `stoopd` and the simulator share: a relay client
/// over `transport`, the composed behaviour (changed by `adjust`, e.g. a
/// simulated adversary's gossipsub), the idle timeout, and the hood's
/// topic subscribed. Listening is the caller's (TCP and QUIC addresses for
/// `stoopd`, the link shim's for the simulator).
pub fn build_over(
    key: &identity::Keypair,
    transport: Boxed<(PeerId, StreamMuxerBox)>,
    cfg: &BehaviourConfig,
    topic: &libp2p::gossipsub::IdentTopic,
    adjust: impl FnOnce(&mut Behaviour) -> Result<(), String>,
) -> Result<Swarm<Behaviour>, SwarmError> {
    let err = |e: &dyn std::fmt::Display| SwarmError::Setup(e.to_string());
    let mut swarm = SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_other_transport(move |_| transport)
        .map_err(|e| err(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| err(&e))?
        .with_behaviour(|key, relay| {
            let mut behaviour = Behaviour::new(key, relay, cfg, topic)?;
            adjust(&mut behaviour)?;
            Ok(behaviour)
        })
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    swarm.behaviour_mut().gossipsub.subscribe(topic).map_err(|e| err(&e))?;
    Ok(swarm)
}

/// Whether an address goes through a relay (`/p2p-circuit`).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// Whether an address is IPv6 link-local (`fe80::/10`).
pub fn is_ipv6_link_local(addr: &Multiaddr) -> bool {
    matches!(addr.iter().next(), Some(Protocol::Ip6(ip)) if ip.is_unicast_link_local())
}

/// Whether an address is loopback-only (or in-memory).
pub fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        Protocol::Memory(_) => true,
        _ => false,
    })
}
