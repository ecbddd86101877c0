//! A bare libp2p peer that speaks only gossipsub (TCP + Noise + Yamux on
//! loopback, under the hood's pnet key when given one: the node's own
//! transport, `stoop_node::net::swarm::tcp_transport`), for sending a real
//! `stoopd` frames no honest node would: the bad-input table, the flood
//! test, the outsider of the admission test. It runs its own one-thread
//! tokio runtime so the blocking tests drive it with plain method calls.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identity};
use tokio::sync::{mpsc, oneshot};

use crate::{TestResult, WAIT, wait_for};

/// How the raw peer fills gossipsub's author fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorship {
    /// No `from`/`seqno`/`signature`, like a Stoop node.
    Anonymous,
    /// Signed by the peer key: `from`, `seqno` and `signature` are set
    /// (RELIABILITY.md row 7: a Stoop node must drop these).
    Signed,
}

/// Largest frame the raw peer itself will send: far above the node's
/// 16 KiB cap, so it can send oversized frames.
pub const RAW_MAX_TRANSMIT: usize = 256 * 1024;

/// Commands queued for the peer's task; a full queue makes the test wait.
const COMMAND_CAPACITY: usize = 64;

enum Command {
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
    Publish(Vec<u8>, oneshot::Sender<Result<(), String>>),
    PublishMany(Vec<Vec<u8>>, oneshot::Sender<usize>),
}

/// What the peer's task has seen, for the test to poll.
#[derive(Debug, Default)]
struct Seen {
    connected: HashSet<PeerId>,
    subscribed: HashSet<PeerId>,
    /// Connections closed by either side since the start.
    closed: usize,
    /// Dials that failed (refused, or died in the handshake).
    dial_failures: usize,
    /// The last [`MAX_RECEIVED`] frames gossiped to us on the topic.
    received: std::collections::VecDeque<Vec<u8>>,
}

/// Frames the peer remembers: tests look for one fresh frame, so a short
/// window is enough and a flood cannot grow the test's memory.
const MAX_RECEIVED: usize = 256;

/// A raw gossipsub peer.
#[derive(Debug)]
pub struct RawPeer {
    peer_id: PeerId,
    topic: IdentTopic,
    tx: mpsc::Sender<Command>,
    seen: Arc<Mutex<Seen>>,
    // Dropped last: stopping the runtime closes the connection.
    runtime: tokio::runtime::Runtime,
}

fn gossipsub_behaviour(key: &identity::Keypair, authorship: Authorship) -> Result<gossipsub::Behaviour, String> {
    let (auth, mode) = match authorship {
        Authorship::Anonymous => (MessageAuthenticity::Anonymous, ValidationMode::Anonymous),
        Authorship::Signed => (MessageAuthenticity::Signed(key.clone()), ValidationMode::Strict),
    };
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(mode)
        .max_transmit_size(RAW_MAX_TRANSMIT)
        // Content ids, so the same bytes are one message (as on the node),
        // and different bad frames are never mistaken for duplicates.
        .message_id_fn(|m: &gossipsub::Message| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            m.data.hash(&mut h);
            m.sequence_number.hash(&mut h);
            gossipsub::MessageId::from(h.finish().to_be_bytes().to_vec())
        })
        .heartbeat_interval(Duration::from_millis(500))
        // Never hold back a flood: the point is to send it.
        .connection_handler_queue_len(100_000)
        .build()
        .map_err(|e| e.to_string())?;
    gossipsub::Behaviour::new(auth, config).map_err(str::to_owned)
}

impl RawPeer {
    /// Starts a peer with a fresh identity, subscribed to `topic`, whose
    /// TCP runs under `network_key` (a member's key: `Node::network_key`),
    /// or without pnet (an outsider) when `None`.
    pub fn spawn(topic: &str, authorship: Authorship, network_key: Option<[u8; 32]>) -> TestResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let key = identity::Keypair::generate_ed25519();
        let peer_id = key.public().to_peer_id();
        let topic = IdentTopic::new(topic);
        let mut swarm = {
            let _guard = runtime.enter();
            let transport = stoop_node::net::swarm::tcp_transport(&key, network_key)?;
            SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_other_transport(move |_| transport)?
                .with_behaviour(|key| gossipsub_behaviour(key, authorship).map_err(Into::into))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build()
        };
        swarm.behaviour_mut().subscribe(&topic)?;
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let seen = Arc::new(Mutex::new(Seen::default()));
        runtime.spawn(run(swarm, topic.clone(), rx, seen.clone()));
        Ok(Self { peer_id, topic, tx, seen, runtime })
    }

    /// The peer's id (as the node's `/v1/peers` lists it).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> TestResult<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.blocking_send(make(reply)).map_err(|_| "raw peer stopped")?;
        let got = self.runtime.block_on(async { tokio::time::timeout(WAIT, rx).await });
        Ok(got.map_err(|_| "raw peer did not answer in time")?.map_err(|_| "raw peer stopped")?)
    }

    /// Dials `addr` (with its /p2p/ suffix) and waits until `node` is
    /// connected and has told us it is subscribed to the hood topic.
    pub fn connect(&self, addr: &str, node: PeerId) -> TestResult {
        let addr: Multiaddr = addr.parse()?;
        self.call(|reply| Command::Dial(addr, reply))??;
        wait_for(WAIT, "the node's subscription to reach the raw peer", || {
            let seen = self.seen.lock().ok()?;
            (seen.connected.contains(&node) && seen.subscribed.contains(&node)).then_some(())
        })
    }

    /// Whether `node` is still connected.
    pub fn is_connected(&self, node: &PeerId) -> bool {
        self.seen.lock().map(|s| s.connected.contains(node)).unwrap_or(false)
    }

    /// Dials that failed so far (refused, or died in the handshake).
    pub fn dial_failures(&self) -> usize {
        self.seen.lock().map(|s| s.dial_failures).unwrap_or(0)
    }

    /// The last frames gossiped to us on the topic, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.seen.lock().map(|s| s.received.iter().cloned().collect()).unwrap_or_default()
    }

    /// Dials `addr` without waiting for anything (for a dial expected to fail).
    pub fn dial(&self, addr: &str) -> TestResult {
        let addr: Multiaddr = addr.parse()?;
        Ok(self.call(|reply| Command::Dial(addr, reply))??)
    }

    /// Connections closed so far.
    pub fn closed_connections(&self) -> usize {
        self.seen.lock().map(|s| s.closed).unwrap_or(0)
    }

    /// Publishes one frame on the hood topic.
    pub fn publish(&self, frame: Vec<u8>) -> TestResult {
        Ok(self.call(|reply| Command::Publish(frame, reply))??)
    }

    /// Publishes many frames back to back; returns how many gossipsub took
    /// (it refuses some once the node graylists us or the queue is full).
    pub fn publish_many(&self, frames: Vec<Vec<u8>>) -> TestResult<usize> {
        self.call(|reply| Command::PublishMany(frames, reply))
    }

    /// The topic it speaks on.
    pub fn topic(&self) -> &IdentTopic {
        &self.topic
    }
}

async fn run(
    mut swarm: Swarm<gossipsub::Behaviour>,
    topic: IdentTopic,
    mut rx: mpsc::Receiver<Command>,
    seen: Arc<Mutex<Seen>>,
) {
    let publish = |swarm: &mut Swarm<gossipsub::Behaviour>, frame: Vec<u8>| {
        swarm.behaviour_mut().publish(topic.clone(), frame).map(|_| ()).map_err(|e| e.to_string())
    };
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Command::Dial(addr, reply)) => {
                    let _ = reply.send(swarm.dial(addr).map_err(|e| e.to_string()));
                }
                Some(Command::Publish(frame, reply)) => {
                    let _ = reply.send(publish(&mut swarm, frame));
                }
                Some(Command::PublishMany(frames, reply)) => {
                    let sent = frames.into_iter().filter(|f| publish(&mut swarm, f.clone()).is_ok()).count();
                    let _ = reply.send(sent);
                }
            },
            event = swarm.select_next_some() => {
                let Ok(mut s) = seen.lock() else { return };
                match event {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        s.connected.insert(peer_id);
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                        s.connected.remove(&peer_id);
                        s.subscribed.remove(&peer_id);
                        s.closed += 1;
                    }
                    SwarmEvent::OutgoingConnectionError { .. } => {
                        s.dial_failures += 1;
                    }
                    SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) if message.topic == topic.hash() => {
                        if s.received.len() == MAX_RECEIVED {
                            s.received.pop_front();
                        }
                        s.received.push_back(message.data);
                    }
                    SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, topic: t }) if t == topic.hash() => {
                        s.subscribed.insert(peer_id);
                    }
                    _ => {}
                }
            }
        }
    }
}
