//! Building the production swarm: TCP (and QUIC with the `quic` feature),
//! Noise, Yamux, a relay client, and the composed behaviour subscribed to
//! the hood's topic and listening where configured.

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, Swarm, SwarmBuilder, identity, noise, tcp, yamux};

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

/// Builds the swarm for `hood`, subscribed to its topic and listening on `listen`.
pub fn build(
    key: &identity::Keypair,
    cfg: &BehaviourConfig,
    hood: &HoodId,
    listen: &[Multiaddr],
) -> Result<Swarm<Behaviour>, SwarmError> {
    let topic = hood_topic(hood);
    let err = |e: &dyn std::fmt::Display| SwarmError::Setup(e.to_string());
    let builder = SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| err(&e))?;
    #[cfg(feature = "quic")]
    let builder = builder.with_quic();
    let mut swarm = builder
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| err(&e))?
        .with_behaviour(|key, relay| Behaviour::new(key, relay, cfg, &topic).map_err(Into::into))
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| err(&e))?;
    for addr in listen {
        swarm.listen_on(addr.clone()).map_err(|e| SwarmError::Listen { addr: addr.clone(), why: e.to_string() })?;
    }
    Ok(swarm)
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
