//! The composed libp2p behaviour and its configuration.

use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams, ValidationMode,
};
use libp2p::swarm::{NetworkBehaviour, behaviour::toggle::Toggle};
use libp2p::{
    StreamProtocol, allow_block_list, autonat, connection_limits, dcutr, identify, identity, kad, mdns,
    memory_connection_limits, ping, relay, request_response, upnp,
};
use sha2::{Digest, Sha256};

use super::codec::{FETCH_PROTOCOL, FetchCodec, RECONCILE_PROTOCOL, ReconcileCodec, SYNC_PROTOCOL, SyncCodec};
use crate::core::envelope::MAX_ENVELOPE_BYTES;
use crate::core::ids::HoodId;
use crate::core::ip_limits;

/// Kademlia under Stoop's own protocol name, so Stoop nodes never join (or
/// pollute) another network's DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/stoop/kad/1.0.0");
/// identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/stoop/id/1.0.0";
/// How long a connection with nothing keeping it alive stays open. Mesh
/// peers are kept alive by gossipsub's streams; a connection to a peer that
/// does not speak gossipsub (a Kademlia-only peer), or one gossipsub gave
/// up on, closes soon after its last request instead of holding its Noise
/// and Yamux buffers for two minutes.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// How often each connection is pinged. Ping only measures the RTT that
/// `stoop peers` shows (it neither keeps connections open nor closes dead
/// ones), so libp2p's 15 s default buys nothing over a minute here; at
/// 16 connections per node it was a stream open, a Noise frame each way
/// and a timer per connection every 15 s (10 % of the simulator's CPU at
/// 1,000 nodes).
pub const PING_INTERVAL: Duration = Duration::from_secs(60);
/// Bytes gossipsub's wire frame adds around one envelope. An RPC carrying
/// one anonymous message holding a maximum-size envelope (16,384 bytes):
/// - Message.data: tag 1 + length varint 3 (16,384 needs 3 bytes) = 4
/// - Message.topic `/stoop/hood/<64 hex>` (76 bytes): tag 1 + length 1 + 76 = 78
///   (Message = 16,384 + 4 + 78 = 16,466 bytes)
/// - RPC.publish: tag 1 + length varint 3 (16,466) = 4 (RPC = 16,470)
/// - the frame's own length prefix: varint 3 (16,470)
///
/// 4 + 78 + 4 + 3 = 89.
pub const GOSSIP_FRAMING_BYTES: usize = 4 + 78 + 4 + 3;
/// Slack for how libp2p-gossipsub 0.50 applies its limit: it compares it
/// with the whole read buffer, and asynchronous-codec reads 8 KiB at a
/// time, so a frame followed closely by another is measured together with
/// up to 8 KiB - 1 bytes of the next one.
pub const GOSSIP_READ_SLACK_BYTES: usize = 8 * 1024 - 1;
/// Gossipsub's `max_transmit_size`: a maximum-size envelope in its frame,
/// plus the read slack. At the bare envelope cap, envelopes from about
/// 16,296 bytes up (and a big one right behind another) were dropped inside
/// gossipsub, without the `oversized` verdict the protocol promises; now
/// everything up to the cap passes, and frames over it (up to about 24 KiB)
/// reach the ledger and get `oversized`.
pub const MAX_TRANSMIT_BYTES: usize = MAX_ENVELOPE_BYTES + GOSSIP_FRAMING_BYTES + GOSSIP_READ_SLACK_BYTES;
/// Score below which gossipsub ignores a peer; the event loop also
/// disconnects and temporarily bans it (see `core::bans`).
pub const GRAYLIST_THRESHOLD: f64 = -1000.0;

/// Inbound sync streams one connection may have open at once (libp2p's
/// default is 100). The node asks one page at a time and waits for it, so an
/// honest peer never has more than one request in flight per session; 2
/// leaves room for a gap-triggered request overlapping a page. An attacker
/// with 100 streams each asking for a 2 MiB response held ~200 MiB per
/// connection in memory.
pub const MAX_SYNC_STREAMS_PER_CONNECTION: usize = 2;
/// How long a sync request may take, both ways.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Kademlia record store size: zero. Stoop uses Kademlia only to find peers
/// (routing table); it never reads records or provider records, so storing
/// other peers' ADD_PROVIDER/PUT_VALUE was pure memory for an attacker to
/// How often Kademlia refreshes its routing table on its own (libp2p's
/// default is 5 minutes). In a hood every member is known within minutes
/// of joining and addresses change rarely; the simulator measured the
/// 5-minute refresh as the largest steady-state cost of all protocols (3.2
/// MB per node in 3.3 simulated hours at N = 20, more than gossip). A node
/// short of peers still looks for more at once (`net::reachability`).
pub const KAD_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// fill (80 MiB of provider records took a node from 15 to 526 MB of RSS).
pub const KAD_MAX_RECORDS: usize = 0;

/// AutoNAT v1 settings: any peer's dial-back counts, whatever the address
/// class (a hood on a 10.x network is real; confirmation decides, see
/// `core::reachability`); the first probe soon after start, and retries
/// twice a minute while unconfirmed instead of every 90 s.
pub fn autonat_v1_config() -> autonat::v1::Config {
    autonat::v1::Config {
        only_global_ips: false,
        boot_delay: Duration::from_secs(5),
        retry_interval: Duration::from_secs(30),
        throttle_server_period: Duration::from_secs(15),
        ..autonat::v1::Config::default()
    }
}

/// What the behaviour needs to know beyond the key.
#[derive(Debug, Clone)]
pub struct BehaviourConfig {
    /// Local multicast discovery.
    pub mdns: bool,
    /// Ask the home router for a port mapping.
    pub upnp: bool,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most connections this node opens to new peers itself (see
    /// `core::dial_budget`).
    pub outbound_peers: usize,
    /// Refuse new connections above this process memory use.
    pub max_memory_bytes: usize,
    /// Gossipsub mesh degree D (D_lo = D-2, D_hi = 2D).
    pub mesh_n: usize,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Self {
            mdns: true,
            upnp: true,
            max_connections: 64,
            outbound_peers: crate::core::dial_budget::DEFAULT_OUTBOUND_PEERS,
            max_memory_bytes: 512 * 1024 * 1024,
            mesh_n: 6,
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// The per-IP limits for `cfg`: its connection cap and outbound budget, the
/// member reservation scaled down with a small cap so strangers always keep
/// at least a quarter of the slots (a new neighbor must be able to get in).
pub fn ip_limits(cfg: &BehaviourConfig) -> ip_limits::Limits {
    let max_established = cfg.max_connections as usize;
    let reserved_outbound = cfg.outbound_peers.min(max_established / 4);
    let reserved_members = ip_limits::DEFAULT_RESERVED_MEMBERS.min(max_established / 2);
    ip_limits::Limits { max_established, reserved_outbound, reserved_members, ..ip_limits::Limits::default() }
}

/// The gossipsub topic of a hood: one topic per hood, named by its id.
pub fn hood_topic(hood: &HoodId) -> IdentTopic {
    IdentTopic::new(format!("/stoop/hood/{}", hood.to_hex()))
}

/// Gossip message ids are SHA-256 of the whole frame, signature included.
///
/// Not the Stoop id: that one leaves the signature out, and gossipsub files
/// an id in its duplicate cache before validation and keeps it there after
/// a Reject. With the Stoop id a peer that copies a genuine alert with a
/// broken signature, ahead of it, would make every node it reaches drop the
/// genuine alert as a duplicate for `duplicate_cache_time` (censorship until
/// the next sync). The frame hash is still the same on every hop, and a
/// second valid signature over the same message can only come from its own
/// author; the ledger ignores it as a duplicate.
pub fn message_id(m: &gossipsub::Message) -> gossipsub::MessageId {
    gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
}

fn topic_score(topic: &IdentTopic) -> (PeerScoreParams, PeerScoreThresholds) {
    let mut params = PeerScoreParams {
        // P6 (IP colocation) off: neighbors share addresses (carrier-grade
        // NAT, one house, one building's network), and with libp2p's default
        // 30 identities on an honest member's IP graylisted every peer there,
        // the member included. Per-IP connection caps (net::ip_limits) bound
        // what one address can hold instead.
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        // P4: invalid messages (Reject verdicts) cost a lot, squared.
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        // P1 (time in mesh): libp2p's default counts milliseconds with a
        // cap of 3,600, so any peer in the mesh for four seconds holds a
        // +3,600 credit that absorbs six invalid frames before the graylist.
        // Count seconds instead, worth at most +36 after an hour.
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_weight: 0.01,
        time_in_mesh_cap: 3600.0,
        // P3 (mesh delivery deficits) stays off: a quiet hood is normal.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..TopicScoreParams::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: GRAYLIST_THRESHOLD,
        ..PeerScoreThresholds::default()
    };
    (params, thresholds)
}

/// The gossipsub settings every Stoop node uses (the simulator's
/// adversaries start from them too): anonymous, manual validation, content
/// ids, the transmit cap, the mesh degrees and heartbeat of `cfg`.
pub fn gossipsub_config(cfg: &BehaviourConfig) -> gossipsub::ConfigBuilder {
    let mut builder = gossipsub::ConfigBuilder::default();
    builder
        // No from / seqno / signature: the node key never signs an alert.
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(MAX_TRANSMIT_BYTES)
        .mesh_n(cfg.mesh_n)
        .mesh_n_low(cfg.mesh_n.saturating_sub(2).max(1))
        .mesh_n_high(cfg.mesh_n * 2)
        .mesh_outbound_min(1.min(cfg.mesh_n / 2))
        .heartbeat_interval(cfg.heartbeat)
        .duplicate_cache_time(Duration::from_secs(120))
        // Own messages go out through the stem (`net::stem`); when this node
        // publishes (a fluff, a retry) it sends to its mesh only, like any
        // relayer, instead of first-hand to every topic peer.
        .flood_publish(false);
    builder
}

/// Builds the gossipsub behaviour: anonymous, manual validation, content ids.
pub fn gossipsub(cfg: &BehaviourConfig, topic: &IdentTopic) -> Result<gossipsub::Behaviour, String> {
    let config = gossipsub_config(cfg).build().map_err(|e| e.to_string())?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
    let (params, thresholds) = topic_score(topic);
    behaviour.with_peer_score(params, thresholds)?;
    Ok(behaviour)
}

/// Every protocol a Stoop node speaks.
#[allow(missing_debug_implementations)] // the sub-behaviours mostly lack Debug
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers refused for a while after their score hit the graylist.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Caps the peers this node dials itself, before any handshake.
    pub dials: super::dial_budget::Behaviour,
    /// Caps on connection counts.
    pub limits: connection_limits::Behaviour,
    /// Per-IP caps, reserved slots, strangers evicted after a grace period.
    pub ip_limits: super::ip_limits::Behaviour,
    /// Refuses connections when the process uses too much memory.
    pub memory: memory_connection_limits::Behaviour,
    /// Alert gossip.
    pub gossipsub: gossipsub::Behaviour,
    /// Learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Measures each peer's round-trip time (shown by `stoop peers`).
    pub ping: ping::Behaviour,
    /// Peer discovery beyond the bootstrap list (never told hole-punched
    /// addresses, see `net::kademlia`).
    pub kad: super::kademlia::Kademlia,
    /// LAN discovery.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Asks peers to dial this node's candidate addresses back (AutoNAT v2).
    pub autonat: autonat::v2::client::Behaviour,
    /// Dials peers' candidate addresses back for them (AutoNAT v2).
    pub autonat_server: autonat::v2::server::Behaviour,
    /// AutoNAT v1, for what v2 cannot do: a v2 client only asks peers it
    /// dialed itself, and a public node behind no NAT is mostly dialed by
    /// homes (whose addresses it cannot dial), so it would never learn it
    /// is public. v1 asks any connected peer.
    pub autonat_v1: autonat::v1::Behaviour,
    /// Reaches peers behind NAT through relays.
    pub relay: relay::client::Behaviour,
    /// Relays for members behind NAT; serves only once this node has a
    /// confirmed external address (see `net::relay`).
    pub relay_server: super::relay_server::RelayServer,
    /// Hole punching through a relayed connection.
    pub dcutr: dcutr::Behaviour,
    /// Port mapping on the home router.
    pub upnp: Toggle<upnp::tokio::Behaviour>,
    /// History catch-up, v1 (served to older nodes, no longer asked).
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Sync v2 reconciliation rounds (`net::reconcile`).
    pub reconcile: request_response::Behaviour<ReconcileCodec>,
    /// Sync v2 fetch by id.
    pub fetch: request_response::Behaviour<FetchCodec>,
    /// Stem hops of own messages (origin hiding, see `net::stem`).
    pub stem: request_response::Behaviour<super::stem::StemCodec>,
}

impl Behaviour {
    /// Composes the behaviour for `key` in `hood`.
    pub fn new(
        key: &identity::Keypair,
        relay: relay::client::Behaviour,
        cfg: &BehaviourConfig,
        topic: &IdentTopic,
    ) -> Result<Self, String> {
        let peer_id = key.public().to_peer_id();
        let store_config = kad::store::MemoryStoreConfig {
            max_records: KAD_MAX_RECORDS,
            max_provided_keys: KAD_MAX_RECORDS,
            max_providers_per_key: KAD_MAX_RECORDS,
            ..kad::store::MemoryStoreConfig::default()
        };
        let store = kad::store::MemoryStore::with_config(peer_id, store_config);
        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config.set_periodic_bootstrap_interval(Some(KAD_BOOTSTRAP_INTERVAL));
        let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
        kad.set_mode(Some(kad::Mode::Server));
        let kad = super::kademlia::Kademlia::new(kad);
        let mdns = if cfg.mdns {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(cfg.max_connections))
            .with_max_established_per_peer(Some(2))
            .with_max_pending_incoming(Some(ip_limits::DEFAULT_MAX_PENDING as u32));
        Ok(Self {
            blocked: allow_block_list::Behaviour::default(),
            dials: super::dial_budget::Behaviour::new(cfg.outbound_peers),
            limits: connection_limits::Behaviour::new(limits),
            ip_limits: super::ip_limits::Behaviour::new(ip_limits(cfg)).map_err(|e| e.to_string())?,
            memory: memory_connection_limits::Behaviour::with_max_bytes(cfg.max_memory_bytes),
            gossipsub: gossipsub(cfg, topic)?,
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                    .with_agent_version(format!("stoopd/{}", env!("CARGO_PKG_VERSION")))
                    // New circuit addresses reach peers at once, not at the
                    // next 5-minute identify round.
                    .with_push_listen_addr_updates(true)
                    // No cache: it would hand every listen address a peer
                    // reports (loopback, its LAN) to Kademlia and the dialer;
                    // `net::reachability` passes on only confirmed ones.
                    .with_cache_size(0),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL)),
            kad,
            mdns: mdns.into(),
            autonat: autonat::v2::client::Behaviour::default(),
            autonat_server: autonat::v2::server::Behaviour::default(),
            autonat_v1: autonat::v1::Behaviour::new(peer_id, autonat_v1_config()),
            relay,
            relay_server: super::relay_server::RelayServer::new(relay::Behaviour::new(
                peer_id,
                super::relay::server_config(),
            )),
            dcutr: dcutr::Behaviour::new(peer_id),
            upnp: cfg.upnp.then(upnp::tokio::Behaviour::default).into(),
            sync: request_response::Behaviour::new(
                [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(MAX_SYNC_STREAMS_PER_CONNECTION),
            ),
            reconcile: super::reconcile::behaviour(RECONCILE_PROTOCOL),
            fetch: super::reconcile::behaviour(FETCH_PROTOCOL),
            stem: super::stem::behaviour(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::Payload;
    use stoop_core::testkit::HoodFixture;

    fn gossip(data: Vec<u8>) -> gossipsub::Message {
        gossipsub::Message { source: None, data, sequence_number: None, topic: IdentTopic::new("t").hash() }
    }

    #[test]
    fn a_forged_copy_does_not_share_the_genuine_frames_gossip_id() -> Result<(), Box<dyn std::error::Error>> {
        let f = HoodFixture::new(1, 1)?;
        let genuine = Payload::Alert(f.alert(1_800_000_000, "Tree")).seal(&f.founders[0]).to_bytes();
        let mut forged = genuine.clone();
        let last = forged.len() - 1; // inside the signature, the last field
        forged[last] ^= 1;
        assert_ne!(message_id(&gossip(genuine.clone())), message_id(&gossip(forged)));
        assert_eq!(message_id(&gossip(genuine.clone())), message_id(&gossip(genuine)));
        Ok(())
    }
}

#[cfg(test)]
mod frame_size_tests {
    use std::time::Duration;

    use futures::StreamExt;
    use libp2p::core::transport::MemoryTransport;
    use libp2p::core::upgrade::Version;
    use libp2p::core::{Multiaddr, Transport};
    use libp2p::swarm::SwarmEvent;
    use libp2p::{Swarm, SwarmBuilder, noise, yamux};
    use stoop_core::ledger::Ledger;
    use stoop_core::testkit::HoodFixture;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn memory_swarm(topic: &IdentTopic) -> Result<Swarm<gossipsub::Behaviour>, Box<dyn std::error::Error>> {
        let cfg = BehaviourConfig { mdns: false, upnp: false, ..BehaviourConfig::default() };
        let key = identity::Keypair::generate_ed25519();
        let noise = noise::Config::new(&key)?;
        let mut swarm = SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(move |_| {
                MemoryTransport::default().upgrade(Version::V1).authenticate(noise).multiplex(yamux::Config::default())
            })?
            .with_behaviour(|_| gossipsub(&cfg, topic).map_err(Into::into))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
            .build();
        swarm.behaviour_mut().subscribe(topic)?;
        Ok(swarm)
    }

    /// The test's real hood topic has the length the overhead was computed for.
    #[tokio::test]
    async fn a_max_size_envelope_crosses_gossipsub_and_one_over_the_cap_gets_oversized() -> TestResult {
        let f = HoodFixture::new(1, 1)?;
        let topic = hood_topic(&f.hood());
        assert_eq!(topic.hash().as_str().len(), 76);
        let (mut a, mut b) = (memory_swarm(&topic)?, memory_swarm(&topic)?);
        a.listen_on("/memory/0".parse::<Multiaddr>()?)?;
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = a.select_next_some().await {
                break address;
            }
        };
        b.dial(addr)?;
        let wait = Duration::from_secs(20);
        tokio::time::timeout(wait, async {
            loop {
                tokio::select! {
                    ev = a.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) = ev { break }
                    }
                    _ = b.select_next_some() => {}
                }
            }
        })
        .await?;
        let max = vec![7u8; MAX_ENVELOPE_BYTES];
        let over = vec![9u8; MAX_ENVELOPE_BYTES + 1];
        a.behaviour_mut().publish(topic.clone(), max.clone())?;
        a.behaviour_mut().publish(topic.clone(), over.clone())?;
        let mut got = Vec::new();
        tokio::time::timeout(wait, async {
            while got.len() < 2 {
                tokio::select! {
                    _ = a.select_next_some() => {}
                    ev = b.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) = ev {
                            got.push(message.data);
                        }
                    }
                }
            }
        })
        .await?;
        assert!(got.contains(&max), "the maximum-size envelope was dropped by gossipsub");
        assert!(got.contains(&over), "the over-cap frame never reached validation");
        let mut ledger = Ledger::new(f.charter.clone());
        assert_eq!(ledger.ingest(&over, 1_800_000_000).verdict.code(), "oversized");
        assert_ne!(ledger.ingest(&max, 1_800_000_000).verdict.code(), "oversized");
        Ok(())
    }
}
