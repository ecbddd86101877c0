//! Simulated nodes' libp2p swarms: the production behaviour over the link
//! shim (Noise and Yamux as `stoopd` runs them), and adversaries' gossipsub.

use super::*;

pub(super) fn node_keypair(seed: u64, i: usize) -> Result<identity::Keypair, RunError> {
    let mut bytes = [0u8; 32];
    let mut rng = SimRng::derive(seed, "node-key", i as u64);
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    identity::Keypair::ed25519_from_bytes(bytes).map_err(|e| RunError::Network { node: i, why: e.to_string() })
}

/// The behaviour configuration of simulated nodes: the daemon's, minus LAN
/// discovery and port mapping (no LAN here), and with the process-wide
/// memory limit lifted (it measures the whole simulator process, so at
/// 1,000 nodes it would refuse every connection).
pub(super) fn behaviour_config(s: &Scenario) -> BehaviourConfig {
    BehaviourConfig {
        mdns: false,
        upnp: false,
        max_connections: s.node.max_connections,
        outbound_peers: s.node.outbound_peers,
        max_memory_bytes: usize::MAX / 2,
        mesh_n: s.mesh.d,
        heartbeat: Duration::from_millis(s.mesh.heartbeat_ms),
    }
}

/// An adversary's gossipsub: the nodes' settings (same ids and mesh), but
/// it validates nothing it publishes, allows frames up to 64 KiB, and never
/// forwards what it receives (it asks for manual validation and never
/// answers).
pub(super) fn adversary_gossipsub(cfg: &BehaviourConfig) -> Result<gossipsub::Behaviour, String> {
    let config = stoop_node::net::behaviour::gossipsub_config(cfg)
        .max_transmit_size(64 * 1024)
        .build()
        .map_err(|e| e.to_string())?;
    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(|e| e.to_string())
}

/// A simulated node's swarm: `stoopd`'s builder over the link shim, with
/// the production upgrade (Noise, tapped for byte counts, then Yamux, with
/// the same lazy multistream-select the TCP transport uses).
pub(super) fn build_swarm(
    i: usize,
    key: identity::Keypair,
    fabric: &Arc<Fabric>,
    cast_peers: &Arc<HashMap<PeerId, u32>>,
    cfg: &BehaviourConfig,
    topic: &IdentTopic,
    adversary: bool,
) -> Result<Swarm<Behaviour>, RunError> {
    let err = |e: &dyn std::fmt::Display| RunError::Network { node: i, why: e.to_string() };
    let noise = noise::Config::new(&key).map_err(|e| err(&e))?;
    let tap = TapNoise::new(noise, i as u32, cast_peers.clone(), fabric.shared.clone());
    let transport = LinkTransport::new(i as u32, fabric.clone())
        .upgrade(Version::V1Lazy)
        .authenticate(tap)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed();
    let mut swarm = stoop_node::net::swarm::build_over(&key, transport, cfg, topic, |b| {
        if adversary {
            b.gossipsub = adversary_gossipsub(cfg)?;
        }
        Ok(())
    })
    .map_err(|e| err(&e))?;
    swarm.listen_on(fabric.addr(i)).map_err(|e| match e {
        libp2p::TransportError::Other(e) => err(&format!("cannot listen: {e}")),
        other => err(&other),
    })?;
    Ok(swarm)
}

pub(super) fn dial_addr(fabric: &Fabric, keys: &[identity::Keypair], j: usize) -> Multiaddr {
    fabric.addr(j).with(libp2p::multiaddr::Protocol::P2p(keys[j].public().to_peer_id()))
}
