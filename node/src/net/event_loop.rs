//! The event loop: owns the `Swarm`, carries out commands from a bounded
//! channel, hands gossip frames and sync traffic to the node's service
//! without waiting on it, and reports the verdicts that come back to
//! gossipsub.
//!
//! Over 600 lines (about 730): it is the one match over every swarm event
//! and replica result, which reads best in one place; the per-peer limits
//! it applies live in `peer_limits` and `ip_limits`, the stem's state in
//! `stem`. The publish path (own messages through the stem, fluffs and
//! retries) is the next seam to move out if it grows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns};
use stoop_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot, watch};

use super::behaviour::{Behaviour, BehaviourEvent, GRAYLIST_THRESHOLD};
use super::peer_limits::PeerLimits;
use super::reachability::Reach;
use super::reconcile::{Ctx, Out, SyncV2};
use super::stem::{StemOut, StemRelay};
use crate::core::bans::{BAN_SECS, Bans};
use crate::core::ledger::{Accepted, Outcome};
use crate::core::redial::Redial;
use crate::core::strikes::PeerStrikes;
use crate::core::sync::relay_after_sync;
use crate::core::verdict::{IgnoreReason, RejectReason, Verdict};
use crate::service::network::Network;
use crate::service::{Node, WORK_QUEUE_CAPACITY};

pub use crate::service::network::{NetError, PeerInfo};

/// Frames whose gossip publish found no subscribed peer yet, retried each
/// second until it works or [`PUBLISH_RETRY_SECS`] pass (they are stored
/// already, so sync still spreads them if this gives up).
pub const PUBLISH_RETRY_CAPACITY: usize = 256;
/// How long a frame waits for peers.
pub const PUBLISH_RETRY_SECS: u64 = 60;

/// Weight of one invalid stem frame in the peer's gossip score, squared
/// per frame like gossipsub's P4 for invalid gossip frames (weight -100 in
/// `behaviour::topic_score`, divided by the default P5 weight of 10): an
/// invalid frame costs the same whichever way it came.
pub const STEM_REJECT_APP_SCORE: f64 = -10.0;

/// Commands waiting for the event loop; senders wait when it is full, so a
/// burst of API calls slows down instead of piling up.
pub const COMMAND_CHANNEL_CAPACITY: usize = 256;

/// Results of work handed to the replica, waiting for this loop. Each one
/// answers an item of the replica's queue, so at this size the replica
/// thread only waits on the loop when the loop is a whole queue behind.
pub const RESULT_CHANNEL_CAPACITY: usize = WORK_QUEUE_CAPACITY;

/// What comes back from the replica thread.
enum Finished {
    /// A gossip frame's verdict.
    Gossip { message_id: gossipsub::MessageId, source: PeerId, now: u64, outcome: Outcome, stemmed: bool },
    /// A stem frame's verdict.
    Stem { peer: PeerId, frame: Vec<u8>, now: u64, outcome: Outcome },
    /// The answer to a peer's sync request.
    Served { peer: PeerId, channel: ResponseChannel<pb::SyncResponse>, response: pb::SyncResponse },
}

/// What the rest of the node can ask the network to do.
#[derive(Debug)]
pub enum Command {
    /// Gossip a frame the node already accepted and stored.
    Publish {
        /// Envelope bytes.
        bytes: Vec<u8>,
    },
    /// List connected peers.
    Peers {
        /// Reply.
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    /// Dial an address (bootstrap, tests).
    Dial {
        /// Address, with a /p2p/ suffix when known.
        addr: Multiaddr,
    },
    /// Current listen addresses.
    ListenAddrs {
        /// Reply.
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
}

/// A cheap handle to the event loop.
#[derive(Debug, Clone)]
pub struct NetClient {
    tx: mpsc::Sender<Command>,
    reach: watch::Receiver<(crate::service::network::ReachabilityInfo, crate::service::ticket::TicketAddrs)>,
}

impl NetClient {
    /// Queues a frame for gossip.
    pub async fn publish(&self, bytes: Vec<u8>) -> Result<(), NetError> {
        self.tx.send(Command::Publish { bytes }).await.map_err(|_| NetError::Stopped)
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Peers { reply }).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Dials an address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.tx.send(Command::Dial { addr }).await.map_err(|_| NetError::Stopped)
    }

    /// Addresses the swarm listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::ListenAddrs { reply }).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }
}

impl Network for NetClient {
    fn publish(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), NetError>> {
        Box::pin(NetClient::publish(self, bytes))
    }

    fn peers(&self) -> BoxFuture<'_, Result<Vec<PeerInfo>, NetError>> {
        Box::pin(NetClient::peers(self))
    }

    fn listen_addrs(&self) -> BoxFuture<'_, Result<Vec<String>, NetError>> {
        Box::pin(async move { Ok(NetClient::listen_addrs(self).await?.iter().map(ToString::to_string).collect()) })
    }

    fn ticket_addrs(&self) -> BoxFuture<'_, Result<crate::service::ticket::TicketAddrs, NetError>> {
        Box::pin(async move {
            let mut addrs = self.reach.borrow().1.clone();
            addrs.listen = NetClient::listen_addrs(self).await?;
            Ok(addrs)
        })
    }

    fn reachability(&self) -> crate::service::network::ReachabilityInfo {
        self.reach.borrow().0.clone()
    }
}

/// The task that owns the swarm.
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    node: Arc<Node>,
    /// Results from the replica thread; the sender is cloned into each
    /// piece of work handed over.
    finished_tx: mpsc::Sender<Finished>,
    finished: mpsc::Receiver<Finished>,
    /// The swarm's listen addresses, for whoever publishes them.
    listen_addrs: watch::Sender<Vec<Multiaddr>>,
    topic: IdentTopic,
    /// Sync v2: reconcile sessions and fetches (`net::reconcile`).
    v2: SyncV2,
    peers: BTreeMap<PeerId, PeerInfo>,
    /// Bounded by PUBLISH_RETRY_CAPACITY.
    unsent: std::collections::VecDeque<(Vec<u8>, u64)>,
    /// Bounded by the connected peers (forgotten on disconnect).
    strikes: PeerStrikes<PeerId>,
    /// Bounded by BAN_CAPACITY; mirrored in the behaviour's block list.
    bans: Bans<PeerId>,
    /// Dialed at start, and again while the node has no peers.
    bootstrap: Vec<Multiaddr>,
    redial: Redial,
    /// Per-peer sync budgets and invalid-frame counts.
    limits: PeerLimits,
    /// Origin hiding: own messages leave through the stem.
    stem: StemRelay,
    /// Reachability, relay reservations, hole punches (`net::reachability`).
    reach: Reach,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop").field("peers", &self.peers.len()).finish()
    }
}

impl EventLoop {
    /// Wraps a built swarm; returns the loop and its client handle.
    pub fn new(mut swarm: Swarm<Behaviour>, node: Arc<Node>, topic: IdentTopic, resync_secs: u64) -> (Self, NetClient) {
        let (tx, commands) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
        let (finished_tx, finished) = mpsc::channel(RESULT_CHANNEL_CAPACITY);
        let v2 = SyncV2::new(node.hood(), resync_secs);
        let reach = Reach::new(&mut swarm, &[], node.now());
        let reach_rx = reach.watch();
        let this = Self {
            swarm,
            commands,
            node,
            finished_tx,
            finished,
            listen_addrs: watch::Sender::new(Vec::new()),
            topic,
            v2,
            peers: BTreeMap::new(),
            unsent: std::collections::VecDeque::new(),
            strikes: PeerStrikes::new(),
            bans: Bans::new(),
            bootstrap: Vec::new(),
            redial: Redial::new(),
            limits: PeerLimits::default(),
            stem: StemRelay::new(),
            reach,
        };
        (this, NetClient { tx, reach: reach_rx })
    }

    /// The swarm's listen addresses as they change.
    pub fn watch_listen_addrs(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.listen_addrs.subscribe()
    }

    /// Peers to dial when the loop starts, and again (with a backoff) for
    /// as long as the node has no peers at all.
    pub fn with_bootstrap(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.reach.bootstrap(&addrs);
        self.bootstrap = addrs;
        self
    }

    /// Addresses the operator says reach this node (`external_addresses`).
    pub fn with_external_addresses(mut self, addrs: &[Multiaddr]) -> Self {
        self.reach.configure(&mut self.swarm, addrs, self.node.now());
        self
    }

    /// Hood peers reached before, saved at `path`: dialed at start and
    /// while alone, like the bootstrap list.
    pub fn with_address_book(mut self, path: &std::path::Path) -> Self {
        let known = self.reach.use_book(super::address_book::AddressBook::load(path));
        for addr in known {
            if !self.bootstrap.contains(&addr) {
                self.bootstrap.push(addr);
            }
        }
        self
    }

    /// Publishes own messages first-hand instead of through the stem (no
    /// origin hiding): the simulator's baseline for the stem's cost.
    pub fn without_stem(mut self) -> Self {
        self.stem = StemRelay::first_hand();
        self
    }

    fn dial_bootstrap(&mut self) {
        for addr in &self.bootstrap {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "bootstrap dial failed");
            }
        }
    }

    /// Runs until `shutdown` turns true or every client is dropped.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.dial_bootstrap();
        loop {
            tokio::select! {
                // Local work first (the rust-libp2p guideline): commands and
                // shutdown before new remote work.
                biased;
                _ = shutdown.changed() => break,
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some(done) = self.finished.recv() => self.finished(done),
                Some(done) = self.v2.next() => {
                    let out = self.v2.done(done, &mut Ctx { swarm: &mut self.swarm, node: &self.node });
                    self.v2_out(out);
                }
                _ = tick.tick() => self.tick(),
                _ = retry.tick(), if !self.unsent.is_empty() => self.retry_unsent(),
                _ = tokio::time::sleep(self.stem.next_wake()) => {
                    let due = self.stem.due();
                    self.carry_out(due);
                }
                event = self.swarm.select_next_some() => self.event(event),
            }
        }
        tracing::info!("network stopped");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { bytes } => {
                self.refresh_stem_peers();
                let out = self.stem.own(bytes);
                self.carry_out(out);
            }
            Command::Peers { reply } => {
                let gossip = &self.swarm.behaviour().gossipsub;
                let peers = self.peers.iter().map(|(id, p)| PeerInfo { score: gossip.peer_score(id), ..p.clone() });
                let _ = reply.send(peers.collect());
            }
            Command::Dial { addr } => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(%addr, error = %e, "dial failed");
                }
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
        }
    }

    /// Carries out what the stem decided: stem hops and fluffs.
    fn carry_out(&mut self, out: Vec<StemOut>) {
        for o in out {
            match o {
                StemOut::Send { to, frame } => {
                    tracing::debug!(peer = %to, "stem hop sent");
                    self.swarm.behaviour_mut().stem.send_request(&to, frame);
                }
                StemOut::Fluff { frame } => {
                    tracing::debug!("stem message fluffed");
                    self.fluff(frame);
                }
            }
        }
    }

    /// Publishes a frame to gossip, queueing it for a retry if no peer could
    /// take it yet.
    fn fluff(&mut self, bytes: Vec<u8>) {
        if let Some(bytes) = self.try_publish(bytes) {
            if self.unsent.len() >= PUBLISH_RETRY_CAPACITY {
                tracing::warn!("publish retry queue full; the message will spread by sync");
            } else {
                self.unsent.push_back((bytes, self.node.now() + PUBLISH_RETRY_SECS));
            }
        }
    }

    /// Connected peers subscribed to the hood's topic.
    fn stem_peer_count(&self) -> usize {
        let topic = self.topic.hash();
        self.swarm.behaviour().gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count()
    }

    /// Tells the stem which connected peers are in the hood topic.
    fn refresh_stem_peers(&mut self) {
        let connected: BTreeSet<PeerId> = self.peers.keys().copied().collect();
        let topic = self.topic.hash();
        let in_topic: Vec<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic))
            .map(|(p, _)| *p)
            .collect();
        self.stem.set_peers(in_topic, &connected);
    }

    /// A peer handed over a stem frame: acknowledge it, then validate it
    /// like a gossip frame before the stem sees it.
    fn stem_request(&mut self, peer: PeerId, frame: Vec<u8>, channel: ResponseChannel<()>) {
        let _ = self.swarm.behaviour_mut().stem.send_response(channel, ());
        if !self.stem.allows(&peer) {
            tracing::debug!(%peer, "stem request over the per-peer quota; dropped");
            return;
        }
        let now = self.node.now();
        let kept = frame.clone();
        let done = self.finish(move |outcome| Finished::Stem { peer, frame: kept, now, outcome });
        if let Err(e) = self.node.try_gossip(frame, now, done) {
            // The origin's embargo still fluffs the message.
            tracing::debug!(%peer, "stem frame not validated: {e}");
        }
    }

    /// A stem frame's verdict: relay it if new, penalize it if invalid.
    fn stem_verdict(&mut self, peer: PeerId, frame: Vec<u8>, now: u64, outcome: Outcome) {
        let own = outcome.id;
        self.relay_fresh(outcome.accepted.iter().filter(|a| Some(a.envelope.id()) != own), now);
        match outcome.verdict {
            Verdict::Accept => {
                self.refresh_stem_peers();
                let out = self.stem.received(peer, frame);
                self.carry_out(out);
            }
            Verdict::Reject(reason) => {
                tracing::debug!(%peer, %reason, "invalid stem frame");
                self.node.metrics.record_gossip_dropped("invalid_stem_frame");
                let n = f64::from(self.stem.rejected(peer));
                self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, STEM_REJECT_APP_SCORE * n * n);
                self.ban_if_graylisted(peer);
            }
            Verdict::Ignore(IgnoreReason::Duplicate) => {
                let out = self.stem.looped(&frame);
                self.carry_out(out);
            }
            Verdict::Ignore(_) => {}
        }
    }

    /// Publishes a frame; gives it back if no peer could take it yet.
    fn try_publish(&mut self, bytes: Vec<u8>) -> Option<Vec<u8>> {
        let topic = self.topic.clone();
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes.clone()) {
            // Duplicate: an earlier attempt already went out.
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => None,
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic | gossipsub::PublishError::AllQueuesFull(_)) => {
                Some(bytes)
            }
            Err(e) => {
                tracing::warn!(error = %e, "gossip publish failed; the message will spread by sync");
                None
            }
        }
    }

    /// Gossips accepted messages that did not arrive as this gossip message
    /// and are recent enough that peers may still lack them (see
    /// [`relay_after_sync`]). Envelopes are canonical (the ledger refuses any
    /// other encoding), so re-encoding gives back the exact signed bytes.
    fn relay_fresh<'a>(&mut self, accepted: impl Iterator<Item = &'a Accepted>, now: u64) {
        for a in accepted.filter(|a| relay_after_sync(a.payload.sent(), now)) {
            // No peer yet: the message is stored and spreads by sync.
            let _ = self.try_publish(a.envelope.to_bytes());
        }
    }

    fn retry_unsent(&mut self) {
        let now = self.node.now();
        let queued = std::mem::take(&mut self.unsent);
        for (bytes, deadline) in queued {
            if deadline < now {
                tracing::info!("no peer took a message in time; it will spread by sync");
                continue;
            }
            if let Some(bytes) = self.try_publish(bytes) {
                self.unsent.push_back((bytes, deadline));
            }
        }
    }

    fn tick(&mut self) {
        let now = self.node.now();
        self.v2.tick(&mut Ctx { swarm: &mut self.swarm, node: &self.node });
        // gossipsub also penalizes on its own (e.g. non-anonymous frames).
        let connected: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in connected {
            self.ban_if_graylisted(peer);
        }
        self.limits.prune();
        for peer in self.swarm.behaviour_mut().ip_limits.overdue() {
            tracing::info!(%peer, reason = "stranger_evicted", "inbound peer never joined the hood's topic; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        for peer in self.bans.sweep(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        self.refresh_stem_peers();
        let hood_peers = self.stem_peer_count();
        self.reach.tick(&mut self.swarm, now, hood_peers, &self.node.metrics);
        // A connection to a relay alone is not the hood: count topic peers.
        if self.redial.due(now, hood_peers) {
            tracing::info!(addrs = self.bootstrap.len(), "no peers; dialing the bootstrap list again");
            self.dial_bootstrap();
            // Peers met before (now offline, or moved) may be back too.
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        self.node.metrics.peers.set(self.peers.len() as i64);
    }

    /// Disconnects and refuses a peer whose score fell to the graylist:
    /// gossipsub alone would only ignore it while it keeps its connection.
    fn ban_if_graylisted(&mut self, peer: PeerId) {
        if self.bans.is_banned(&peer, self.node.now()) {
            return;
        }
        let graylisted =
            self.swarm.behaviour().gossipsub.peer_score(&peer).is_some_and(|score| score < GRAYLIST_THRESHOLD);
        if !graylisted || !self.limits.banned_for_invalid(&peer, self.node.now()) {
            return;
        }
        self.ban(peer, "invalid_gossip");
    }

    /// Disconnects and refuses `peer` for [`BAN_SECS`].
    fn ban(&mut self, peer: PeerId, reason: &'static str) {
        tracing::warn!(%peer, reason, "peer banned for {BAN_SECS} s");
        self.node.metrics.peer_bans.inc();
        self.node.metrics.record_peer_ban(reason);
        if let Some(evicted) = self.bans.ban(peer, self.node.now()) {
            self.swarm.behaviour_mut().blocked.unblock_peer(evicted);
        }
        // Blocking also closes the peer's open connections.
        self.swarm.behaviour_mut().blocked.block_peer(peer);
    }

    /// Carries out what sync v2 asked for.
    fn v2_out(&mut self, out: Vec<Out>) {
        for o in out {
            match o {
                Out::Relay(accepted, now) => self.relay_fresh(accepted.iter(), now),
                Out::Ban(peer, reason) => self.ban(peer, reason),
            }
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen_addrs.send_replace(self.swarm.listeners().cloned().collect());
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
                self.reach.connected(&mut self.swarm, peer_id, connection_id, &endpoint);
                let entry = self.peers.entry(peer_id).or_insert_with(|| PeerInfo {
                    peer_id: peer_id.to_string(),
                    address: endpoint.get_remote_address().to_string(),
                    connections: 0,
                    rtt_ms: None,
                    agent: None,
                    score: None,
                });
                entry.connections = num_established.get();
                if num_established.get() == 1 {
                    tracing::info!(%peer_id, "peer connected");
                    self.v2.connected(peer_id, &mut Ctx { swarm: &mut self.swarm, node: &self.node });
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                self.reach.disconnected(peer_id, connection_id, num_established);
                if num_established == 0 {
                    tracing::info!(%peer_id, "peer disconnected");
                    self.peers.remove(&peer_id);
                    self.v2.disconnected(&peer_id);
                    self.strikes.forget(&peer_id);
                    self.limits.forget(&peer_id);
                } else if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.connections = num_established;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let now = self.node.now();
                // Any gossip copy, valid or not yet known, ends an embargo.
                let stemmed = self.stem.seen_in_gossip(&message_id.0);
                // Anonymous mode: a message carrying author fields is not ours.
                if message.source.is_some() || message.sequence_number.is_some() {
                    self.node.metrics.record_gossip_dropped("not_anonymous");
                    let verdict = Verdict::Reject(RejectReason::InvalidField {
                        field: "gossipsub",
                        why: "message is not anonymous",
                    });
                    self.judge(&message_id, propagation_source, &verdict, now);
                    return;
                }
                let (id, source) = (message_id.clone(), propagation_source);
                let done =
                    self.finish(move |outcome| Finished::Gossip { message_id: id, source, now, outcome, stemmed });
                if let Err(e) = self.node.try_gossip(message.data, now, done) {
                    // Busy (counted) or stopping: neither forwarded nor held
                    // against the peer; other peers and sync still bring it.
                    tracing::debug!(peer = %propagation_source, "gossip frame not validated: {e}");
                    self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. })) => {
                match message {
                    request_response::Message::Request { request, channel, .. } => {
                        if let Err(reason) = self.limits.serve(&peer, &request) {
                            // Dropping the channel closes the stream: the
                            // peer sees a failure and may retry later.
                            tracing::debug!(%peer, reason, "sync request refused");
                            self.node.metrics.record_sync_refused(reason);
                            return;
                        }
                        let done = self.finish(move |response| Finished::Served { peer, channel, response });
                        if let Err(e) = self.node.try_serve_sync(request, done) {
                            // The dropped channel tells the peer; it retries later.
                            tracing::debug!(%peer, "sync request not served: {e}");
                        }
                    }
                    // This node asks by sync v2 only.
                    request_response::Message::Response { .. } => {}
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Reconcile(ev)) => {
                let out = self.v2.reconcile_event(ev, &mut Ctx { swarm: &mut self.swarm, node: &self.node });
                self.v2_out(out);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(ev)) => {
                let out = self.v2.fetch_event(ev, &mut Ctx { swarm: &mut self.swarm, node: &self.node });
                self.v2_out(out);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic }))
                if topic == self.topic.hash() =>
            {
                self.swarm.behaviour_mut().ip_limits.joined_topic(&peer_id);
                self.reach.hood_peer(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Stem(request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            })) => self.stem_request(peer, request, channel),
            SwarmEvent::Behaviour(BehaviourEvent::Stem(request_response::Event::OutboundFailure {
                peer,
                error,
                ..
            })) => {
                // The embargo fluffs the message if no one else does.
                tracing::debug!(%peer, %error, "stem hop failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                self.stem.identified(peer_id, &info.protocols);
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.agent = Some(info.agent_version.clone());
                }
                self.reach.identified(&mut self.swarm, peer_id, &info);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ev)) => {
                if let (Ok(rtt), Some(p)) = (ev.result, self.peers.get_mut(&ev.peer)) {
                    p.rtt_ms = Some(rtt.as_millis() as u64);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                // An IPv6 link-local address needs the interface as its zone,
                // which a multiaddr cannot carry: nobody can dial it.
                for (peer, addr) in found.into_iter().filter(|(_, a)| !super::swarm::is_ipv6_link_local(a)) {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr.with(Protocol::P2p(peer)));
                    }
                }
            }
            other => self.reach.event(&mut self.swarm, other, self.node.now()),
        }
    }

    /// Wraps a result from the replica thread for this loop. The callback
    /// runs on the replica thread, where blocking on the bounded channel is
    /// the intended back-pressure (and fails at once if the loop is gone).
    fn finish<T: Send + 'static>(
        &self,
        wrap: impl FnOnce(T) -> Finished + Send + 'static,
    ) -> impl FnOnce(T) + Send + 'static {
        let tx = self.finished_tx.clone();
        move |result| {
            crate::service::worker::hand_over(&tx, wrap(result));
        }
    }

    fn finished(&mut self, done: Finished) {
        match done {
            Finished::Stem { peer, frame, now, outcome } => self.stem_verdict(peer, frame, now, outcome),
            Finished::Gossip { message_id, source, now, outcome, stemmed } => {
                // Messages this one released from the pending buffer were
                // ignored (so not forwarded) when they arrived.
                let own = outcome.id;
                self.relay_fresh(outcome.accepted.iter().filter(|a| Some(a.envelope.id()) != own), now);
                if let Verdict::Reject(RejectReason::NotMember | RejectReason::InviterNotMember) = outcome.verdict {
                    // Likely a join we missed rather than an outsider: ask
                    // the forwarder for the history now.
                    self.v2.gap(source, &mut Ctx { swarm: &mut self.swarm, node: &self.node });
                }
                // A node on a stem path stored the message before its
                // gossip copy came: forward that copy (the ledger calls it a
                // duplicate), or the nodes behind this one never get it.
                let verdict = match outcome.verdict {
                    Verdict::Ignore(IgnoreReason::Duplicate) if stemmed => Verdict::Accept,
                    v => v,
                };
                self.judge(&message_id, source, &verdict, now);
            }
            Finished::Served { peer, channel, response } => {
                if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
                    tracing::debug!(%peer, "sync response not sent (peer gone)");
                }
            }
        }
    }

    /// Turns a verdict into gossipsub's acceptance, with strikes for peers
    /// that keep forwarding over-quota alerts, and bans graylisted peers.
    fn judge(&mut self, message_id: &gossipsub::MessageId, source: PeerId, verdict: &Verdict, now: u64) {
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Ignore(IgnoreReason::OverQuota) if self.strikes.strike(source, now) => {
                tracing::debug!(peer = %source, "peer keeps forwarding over-quota alerts");
                self.node.metrics.record_gossip_dropped("persistent_over_quota");
                MessageAcceptance::Reject
            }
            Verdict::Ignore(_) => MessageAcceptance::Ignore,
            Verdict::Reject(_) => MessageAcceptance::Reject,
        };
        let rejected = acceptance == MessageAcceptance::Reject;
        self.report(message_id, &source, acceptance);
        if rejected {
            self.limits.invalid(source, now);
            self.ban_if_graylisted(source);
        }
    }

    fn report(&mut self, message_id: &gossipsub::MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(message_id, source, acceptance);
    }
}
