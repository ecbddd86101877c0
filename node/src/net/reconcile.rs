//! Sync v2 on the wire: reconciliation sessions over
//! `/stoop/reconcile/1.0.0` and fetches by id over `/stoop/fetch/1.0.0`
//! (docs/PROTOCOL.md section 8).
//!
//! The event loop hands every reconcile/fetch event here and carries out the
//! few things only it can do ([`Out`]: relay fresh history, ban). The rounds
//! themselves ([`Reconciler`]) and the store reads run on the replica thread
//! (`Node::try_items`); results come back on this module's own bounded
//! channel. Both sides of a session learn their difference, so both fetch:
//! one session heals both directions. Fetched envelopes are ingested exactly
//! like a v1 sync page (every one validated like gossip, the pending buffer
//! orders dependencies, the first broken one bans the peer).
//!
//! Over 600 lines (about 730): both protocols in both roles share the
//! per-peer maps, the `wanted` set and the strike and budget state, and a
//! session's completion depends on its fetches; split along the protocols
//! the two halves would reach into each other's state. The pure parts (the
//! rounds, the wire checks, the schedule, the budgets) are in core.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::{PeerId, StreamProtocol, Swarm};
use tokio::sync::mpsc;

use super::behaviour::Behaviour;
use super::peer_limits::SYNC_SESSION_QUOTA;
use crate::core::envelope::Envelope;
use crate::core::ids::{HoodId, MessageId};
use crate::core::ledger::Accepted;
use crate::core::peer_budget::{PeerBudget, Quota};
use crate::core::reconcile::{
    FetchRequest, FetchResponse, MAX_FETCH_IDS, MAX_ROUNDS, ReconcileError, ReconcileRequest, ReconcileResponse,
    Reconciler, SessionId, Step,
};
use crate::core::strikes::PeerStrikes;
use crate::core::sync::SyncPlanner;
use crate::replica::Replica;
use crate::service::worker::PageIngest;
use crate::service::{Node, WORK_QUEUE_CAPACITY};

/// How long one reconcile or fetch request may take, both ways.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Inbound streams one connection may have open per protocol. An honest
/// peer runs one session with us and has one request of it in flight, and
/// one fetch page; 2 leaves room for a new session overlapping the end of
/// the last. Bounds what one connection can make us buffer (a fetch
/// response is up to 4 MiB).
pub const MAX_STREAMS_PER_CONNECTION: usize = 2;
/// Reconcile requests a peer may make us answer: two full sessions
/// ([`MAX_ROUNDS`] each) per 10 minutes. An in-sync session is one request
/// every resync interval (300 s), a catch-up of 100,000 items about 100.
pub const RECONCILE_REQUEST_QUOTA: Quota = Quota::constant(2 * MAX_ROUNDS, 600_000);
/// Ids a peer may ask us to fetch: 16,384 a minute, a fresh node's catch-up
/// of a busy hood's history in about a minute from one peer, while one
/// peer can make us read and send at most ~16 MiB a minute of typical
/// (1 KiB) envelopes.
pub const FETCH_IDS_QUOTA: Quota = Quota::constant(16_384, 60_000);
/// Most ids waiting to be fetched, over all peers. Ids learned beyond this
/// are dropped: the next session finds them again. 65,536 x 32 bytes plus
/// the queue entries is ~4 MiB.
pub const MAX_WANTED: usize = 65_536;
/// Ids a peer may leave out of its fetch answers per session before it is
/// struck. An honest peer leaves out only what it deleted between the round
/// and the fetch (a superseded vote, retention): a handful.
pub const MAX_UNSERVED_PER_SESSION: u32 = 32;
/// Fetched pages per peer that may wait for the replica while the next one
/// is asked: one, so the network round trip overlaps verification. More
/// would only queue on the replica thread (a page is up to 4 MiB).
pub const MAX_PAGES_INGESTING: usize = 1;
/// An answering session idle this long is dropped (the initiator's own
/// requests time out at [`REQUEST_TIMEOUT`]).
pub const INBOUND_IDLE_SECS: u64 = 30;

/// The request-response behaviour for a sync v2 protocol.
pub fn behaviour<C: request_response::Codec<Protocol = StreamProtocol> + Default + Send + Clone + 'static>(
    protocol: StreamProtocol,
) -> request_response::Behaviour<C> {
    request_response::Behaviour::new(
        [(protocol, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
    )
}

/// A result from the replica thread.
pub enum Done {
    /// The first message of a session we started.
    Opened { peer: PeerId, session: SessionId, reconciler: Reconciler, result: Result<Step, ReconcileError> },
    /// Our next step after the peer's answer.
    Stepped { peer: PeerId, session: SessionId, reconciler: Reconciler, result: Result<Step, ReconcileError> },
    /// Our answer to the peer's request.
    Answered {
        peer: PeerId,
        session: SessionId,
        reconciler: Reconciler,
        channel: ResponseChannel<Vec<u8>>,
        result: Result<Step, ReconcileError>,
    },
    /// A fetch answer to send.
    Served { peer: PeerId, channel: ResponseChannel<Vec<u8>>, response: Vec<u8> },
    /// A fetched page was ingested.
    Fetched { peer: PeerId, now: u64, ingest: PageIngest },
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reconcile::Done")
    }
}

/// What the event loop must carry out.
#[derive(Debug)]
pub enum Out {
    /// Gossip what was accepted, if fresh (`relay_after_sync`).
    Relay(Vec<Accepted>, u64),
    /// Ban the peer, with the reason.
    Ban(PeerId, &'static str),
}

/// A session this node started.
struct Outbound {
    id: SessionId,
    /// `None` while a round runs on the replica thread.
    reconciler: Option<Reconciler>,
    request: Option<OutboundRequestId>,
    /// The rounds are over; complete once the fetches are.
    reconciled: bool,
}

/// A session a peer started with us.
struct Inbound {
    id: SessionId,
    reconciler: Option<Reconciler>,
    last: u64,
}

/// Ids to fetch from one peer.
#[derive(Default)]
struct Fetches {
    queue: VecDeque<MessageId>,
    in_flight: Option<(OutboundRequestId, Vec<MessageId>)>,
    /// Pages waiting for the replica to ingest them, at most
    /// [`MAX_PAGES_INGESTING`] + 1.
    ingesting: usize,
    unserved: u32,
    /// This session's pages accepted something / left messages refused
    /// for want of a join we may not have fetched yet. With both, the
    /// session is followed by another (the missing join may have come in a
    /// later page); without progress it is not, so this cannot loop.
    accepted_any: bool,
    awaiting_history: bool,
}

impl Fetches {
    fn idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_none() && self.ingesting == 0
    }
}

/// The swarm and the node, lent by the event loop.
#[allow(missing_debug_implementations)]
pub struct Ctx<'a> {
    /// The swarm.
    pub swarm: &'a mut Swarm<Behaviour>,
    /// The node.
    pub node: &'a Arc<Node>,
}

/// Sync v2 state: sessions both ways, fetch queues, per-peer budgets. Every
/// map is keyed by connected peers and forgotten on disconnect.
pub struct SyncV2 {
    hood: HoodId,
    planner: SyncPlanner<PeerId>,
    outbound: BTreeMap<PeerId, Outbound>,
    inbound: BTreeMap<PeerId, Inbound>,
    fetches: BTreeMap<PeerId, Fetches>,
    /// Every id queued or in flight, so two sessions that find the same
    /// missing message fetch it once. At most [`MAX_WANTED`].
    wanted: HashSet<MessageId>,
    epoch: Instant,
    requests: PeerBudget<PeerId>,
    fetch_ids: PeerBudget<PeerId>,
    session_starts: PeerBudget<PeerId>,
    strikes: PeerStrikes<PeerId>,
    tx: mpsc::Sender<Done>,
    rx: mpsc::Receiver<Done>,
}

impl std::fmt::Debug for SyncV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncV2").field("outbound", &self.outbound.len()).field("wanted", &self.wanted.len()).finish()
    }
}

fn label(end: &str) -> Vec<(String, String)> {
    vec![("end".to_owned(), end.to_owned())]
}

/// 16 random bytes; a clock-derived id if the OS has no randomness (the id
/// only has to differ from this peer's previous session with us).
fn new_session_id(epoch: Instant) -> SessionId {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        b = epoch.elapsed().as_nanos().to_le_bytes();
    }
    SessionId::new(&b).unwrap_or_else(|_| unreachable!("16 bytes is a valid session id"))
}

impl SyncV2 {
    /// Sync v2 for `hood`, reconciling with each peer every `resync_secs`.
    pub fn new(hood: HoodId, resync_secs: u64) -> Self {
        let (tx, rx) = mpsc::channel(WORK_QUEUE_CAPACITY);
        Self {
            hood,
            planner: SyncPlanner::new().with_resync_interval(resync_secs),
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            fetches: BTreeMap::new(),
            wanted: HashSet::new(),
            epoch: Instant::now(),
            requests: PeerBudget::new(RECONCILE_REQUEST_QUOTA),
            fetch_ids: PeerBudget::new(FETCH_IDS_QUOTA),
            session_starts: PeerBudget::new(SYNC_SESSION_QUOTA),
            strikes: PeerStrikes::new(),
            tx,
            rx,
        }
    }

    /// The next result from the replica thread.
    pub async fn next(&mut self) -> Option<Done> {
        self.rx.recv().await
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A peer connected: reconcile with it now.
    pub fn connected(&mut self, peer: PeerId, cx: &mut Ctx<'_>) {
        let now = cx.node.now();
        if self.planner.connected(peer, now) {
            self.start_counted(peer, cx);
        }
    }

    /// Gossip from `peer` pointed at history we lack: reconcile now (at
    /// most once per `GAP_RESYNC_MIN_SECS`).
    pub fn gap(&mut self, peer: PeerId, cx: &mut Ctx<'_>) {
        let now = cx.node.now();
        if self.planner.gap(&peer, now) {
            tracing::debug!(%peer, "unknown author; reconciling now");
            self.start_counted(peer, cx);
        }
    }

    /// A peer left: forget everything about it but its budgets (a peer
    /// that reconnects keeps its debt).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.planner.disconnected(peer);
        self.outbound.remove(peer);
        self.inbound.remove(peer);
        self.strikes.forget(peer);
        self.drop_fetches(peer);
    }

    /// Periodic work: due sessions, idle answering sessions, budgets.
    pub fn tick(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.node.now();
        for peer in self.planner.tick(now) {
            self.start(peer, cx);
        }
        self.inbound.retain(|_, s| now.saturating_sub(s.last) <= INBOUND_IDLE_SECS);
        let now_ms = self.now_ms();
        for b in [&mut self.requests, &mut self.fetch_ids, &mut self.session_starts] {
            b.prune(now_ms);
        }
    }

    /// Starts a session the peer caused (by connecting or by gossip), within
    /// its [`SYNC_SESSION_QUOTA`].
    fn start_counted(&mut self, peer: PeerId, cx: &mut Ctx<'_>) {
        let now_ms = self.now_ms();
        if self.session_starts.allows(now_ms, &peer, 1).is_err() {
            tracing::debug!(%peer, "session not started: over the peer's session budget");
            self.planner.failed(&peer);
            cx.node.metrics.sync_sessions.get_or_create(&label("over_session_budget")).inc();
            return;
        }
        self.start(peer, cx);
    }

    fn start(&mut self, peer: PeerId, cx: &mut Ctx<'_>) {
        let session = new_session_id(self.epoch);
        let tx = self.tx.clone();
        let id = session.clone();
        let job = move |r: &mut Replica| {
            let reconciler = Reconciler::initiator();
            let (set, _) = r.item_set();
            let result = reconciler.start(set).map(|ranges| Step { reply: Some(ranges), ..Step::default() });
            crate::service::worker::hand_over(&tx, Done::Opened { peer, session: id, reconciler, result });
        };
        if cx.node.try_items(job, "reconcile").is_err() {
            self.planner.failed(&peer);
            cx.node.metrics.sync_sessions.get_or_create(&label("busy")).inc();
            return;
        }
        self.outbound.insert(peer, Outbound { id: session, reconciler: None, request: None, reconciled: false });
    }

    /// Ends our session with `peer` early.
    fn fail(&mut self, peer: &PeerId, reason: &'static str, cx: &mut Ctx<'_>) {
        if self.outbound.remove(peer).is_some() {
            tracing::debug!(%peer, reason, "reconcile session ended early");
            cx.node.metrics.sync_sessions.get_or_create(&label(reason)).inc();
        }
        self.planner.failed(peer);
    }

    /// Something no honest peer does: end both sessions, strike, and ban
    /// once the strikes say so.
    fn violation(&mut self, peer: PeerId, reason: &'static str, cx: &mut Ctx<'_>, out: &mut Vec<Out>) {
        tracing::debug!(%peer, reason, "sync v2 protocol violation");
        cx.node.metrics.record_sync_refused(reason);
        self.inbound.remove(&peer);
        // What we meant to fetch from it is found again with another peer.
        self.drop_fetches(&peer);
        self.fail(&peer, reason, cx);
        if self.strikes.strike(peer, cx.node.now()) {
            out.push(Out::Ban(peer, "reconcile_abuse"));
        }
    }

    /// A request past the peer's budget: refused, and a strike (an honest
    /// node asks far less), so a peer that keeps pushing is banned.
    fn over_budget(&mut self, peer: PeerId, reason: &'static str, cx: &mut Ctx<'_>, out: &mut Vec<Out>) {
        cx.node.metrics.record_sync_refused(reason);
        if self.strikes.strike(peer, cx.node.now()) {
            out.push(Out::Ban(peer, "reconcile_abuse"));
        }
    }

    /// Handles a result from the replica thread.
    pub fn done(&mut self, done: Done, cx: &mut Ctx<'_>) -> Vec<Out> {
        let mut out = Vec::new();
        match done {
            Done::Opened { peer, session, reconciler, result }
            | Done::Stepped { peer, session, reconciler, result } => {
                if self.outbound.get(&peer).is_none_or(|s| s.id != session) {
                    return out; // a session since replaced or ended
                }
                match result {
                    Ok(step) => self.stepped(peer, reconciler, step, cx),
                    Err(ReconcileError::Store(_)) => self.fail(&peer, "store_failed", cx),
                    Err(e) => self.violation(peer, e.code(), cx, &mut out),
                }
            }
            Done::Answered { peer, session, reconciler, channel, result } => {
                let current = self.inbound.get(&peer).is_some_and(|s| s.id == session);
                match result {
                    Ok(step) => {
                        let response =
                            ReconcileResponse { session: session.clone(), ranges: step.reply.unwrap_or_default() };
                        if cx.swarm.behaviour_mut().reconcile.send_response(channel, response.encode()).is_err() {
                            tracing::debug!(%peer, "reconcile answer not sent (peer gone)");
                        }
                        if current {
                            if step.done {
                                self.inbound.remove(&peer);
                            } else if let Some(s) = self.inbound.get_mut(&peer) {
                                s.reconciler = Some(reconciler);
                                s.last = cx.node.now();
                            }
                        }
                        self.want(peer, step.need, cx);
                    }
                    Err(ReconcileError::Store(_)) => {
                        self.inbound.remove(&peer);
                    }
                    Err(e) => self.violation(peer, e.code(), cx, &mut out),
                }
            }
            Done::Served { peer, channel, response } => {
                if cx.swarm.behaviour_mut().fetch.send_response(channel, response).is_err() {
                    tracing::debug!(%peer, "fetch answer not sent (peer gone)");
                }
            }
            Done::Fetched { peer, now, ingest } => {
                let (accepted_any, awaiting_history) = (!ingest.accepted.is_empty(), ingest.awaiting_history > 0);
                out.push(Out::Relay(ingest.accepted, now));
                if let Some(code) = ingest.invalid {
                    tracing::warn!(%peer, reason = code, "peer served a broken envelope; session ended");
                    self.drop_fetches(&peer);
                    self.fail(&peer, "invalid_envelope", cx);
                    out.push(Out::Ban(peer, "invalid_sync_envelope"));
                    return out;
                }
                if let Some(f) = self.fetches.get_mut(&peer) {
                    f.ingesting = f.ingesting.saturating_sub(1);
                    f.accepted_any |= accepted_any;
                    f.awaiting_history |= awaiting_history;
                }
                self.planner.progressed(&peer, now);
                self.pump(peer, cx);
            }
        }
        out
    }

    /// Our step in a session we started: fetch what we lack, send the next
    /// message or finish.
    fn stepped(&mut self, peer: PeerId, reconciler: Reconciler, step: Step, cx: &mut Ctx<'_>) {
        self.planner.progressed(&peer, cx.node.now());
        self.want(peer, step.need, cx);
        let Some(s) = self.outbound.get_mut(&peer) else { return };
        match step.reply {
            Some(ranges) => {
                let request = ReconcileRequest { hood: self.hood, session: s.id.clone(), ranges };
                s.request = Some(cx.swarm.behaviour_mut().reconcile.send_request(&peer, request.encode()));
                s.reconciler = Some(reconciler);
            }
            None => {
                s.reconciled = true;
                self.maybe_complete(peer, cx);
            }
        }
    }

    /// A session is complete once its rounds are over and everything it
    /// found missing was fetched (or refused).
    fn maybe_complete(&mut self, peer: PeerId, cx: &mut Ctx<'_>) {
        let reconciled = self.outbound.get(&peer).is_some_and(|s| s.reconciled);
        let fetched = self.fetches.get(&peer).is_none_or(Fetches::idle);
        if reconciled && fetched {
            self.outbound.remove(&peer);
            let mut again = false;
            if let Some(f) = self.fetches.get_mut(&peer) {
                f.unserved = 0;
                again = f.accepted_any && f.awaiting_history;
                f.accepted_any = false;
                f.awaiting_history = false;
            }
            let now = cx.node.now();
            self.planner.completed(&peer, now);
            if again {
                tracing::debug!(%peer, "some fetched messages await a join; reconciling again");
                self.planner.gap(&peer, now);
            }
            cx.node.record_last_sync(now);
            cx.node.metrics.sync_sessions.get_or_create(&label("complete")).inc();
        }
    }

    /// Queues ids to fetch from `peer` (each id once over all peers).
    fn want(&mut self, peer: PeerId, need: Vec<MessageId>, cx: &mut Ctx<'_>) {
        if need.is_empty() {
            return;
        }
        let f = self.fetches.entry(peer).or_default();
        for id in need {
            if self.wanted.len() >= MAX_WANTED {
                cx.node.metrics.record_sync_refused("fetch_queue_full");
                break;
            }
            if self.wanted.insert(id) {
                f.queue.push_back(id);
            }
        }
        self.pump(peer, cx);
    }

    /// Sends the next fetch page to `peer` if none is in flight.
    fn pump(&mut self, peer: PeerId, cx: &mut Ctx<'_>) {
        let Some(f) = self.fetches.get_mut(&peer) else { return };
        if f.in_flight.is_some() || f.ingesting > MAX_PAGES_INGESTING {
            return;
        }
        let ids: Vec<MessageId> = f.queue.drain(..f.queue.len().min(MAX_FETCH_IDS)).collect();
        if ids.is_empty() {
            self.maybe_complete(peer, cx);
            return;
        }
        let request = FetchRequest { hood: self.hood, ids: ids.clone() };
        let rid = cx.swarm.behaviour_mut().fetch.send_request(&peer, request.encode());
        f.in_flight = Some((rid, ids));
    }

    fn drop_fetches(&mut self, peer: &PeerId) {
        if let Some(f) = self.fetches.remove(peer) {
            for id in f.queue.iter().chain(f.in_flight.iter().flat_map(|(_, ids)| ids)) {
                self.wanted.remove(id);
            }
        }
    }

    /// A reconcile request or response, or a failure.
    pub fn reconcile_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>, cx: &mut Ctx<'_>) -> Vec<Out> {
        let mut out = Vec::new();
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.reconcile_request(peer, &request, channel, cx, &mut out);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(s) = self.outbound.get_mut(&peer).filter(|s| s.request == Some(request_id)) else {
                        return out;
                    };
                    s.request = None;
                    let Some(reconciler) = s.reconciler.take() else { return out };
                    let session = s.id.clone();
                    match ReconcileResponse::decode(&response) {
                        Err(e) => self.violation(peer, e.code(), cx, &mut out),
                        Ok(r) if r.session != session => self.violation(peer, "bad_session", cx, &mut out),
                        Ok(r) => {
                            let tx = self.tx.clone();
                            let job = move |rep: &mut Replica| {
                                let mut reconciler = reconciler;
                                let (set, _) = rep.item_set();
                                let result = reconciler.handle(set, &r.ranges);
                                crate::service::worker::hand_over(
                                    &tx,
                                    Done::Stepped { peer, session, reconciler, result },
                                );
                            };
                            if cx.node.try_items(job, "reconcile").is_err() {
                                self.fail(&peer, "busy", cx);
                            }
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. }
                if self.outbound.get(&peer).is_some_and(|s| s.request == Some(request_id)) =>
            {
                // Also how a peer over its budget for us says no.
                tracing::debug!(%peer, %error, "reconcile request failed");
                self.fail(&peer, "failed", cx);
            }
            _ => {}
        }
        out
    }

    fn reconcile_request(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        channel: ResponseChannel<Vec<u8>>,
        cx: &mut Ctx<'_>,
        out: &mut Vec<Out>,
    ) {
        let now_ms = self.now_ms();
        if self.requests.allows(now_ms, &peer, 1).is_err() {
            // Dropping the channel closes the stream: the peer sees a
            // failure and comes back at its next resync.
            return self.over_budget(peer, "reconcile_rate", cx, out);
        }
        let request = match ReconcileRequest::decode(bytes) {
            Ok(r) if r.hood == self.hood => r,
            Ok(_) => return self.violation(peer, "bad_hood", cx, out),
            Err(e) => return self.violation(peer, e.code(), cx, out),
        };
        let now = cx.node.now();
        let reconciler = match self.inbound.get_mut(&peer) {
            Some(s) if s.id == request.session => match s.reconciler.take() {
                Some(r) => r,
                // A second request while the last is being answered.
                None => return self.violation(peer, "concurrent_request", cx, out),
            },
            // A new session replaces the peer's previous one.
            _ => {
                self.inbound.insert(peer, Inbound { id: request.session.clone(), reconciler: None, last: now });
                Reconciler::responder()
            }
        };
        let tx = self.tx.clone();
        let session = request.session;
        let ranges = request.ranges;
        let job = move |rep: &mut Replica| {
            let mut reconciler = reconciler;
            let (set, _) = rep.item_set();
            let result = reconciler.handle(set, &ranges);
            crate::service::worker::hand_over(&tx, Done::Answered { peer, session, reconciler, channel, result });
        };
        if cx.node.try_items(job, "reconcile_serve").is_err() {
            self.inbound.remove(&peer);
        }
    }

    /// A fetch request or response, or a failure.
    pub fn fetch_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>, cx: &mut Ctx<'_>) -> Vec<Out> {
        let mut out = Vec::new();
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.fetch_request(peer, &request, channel, cx, &mut out);
                }
                request_response::Message::Response { request_id, response } => {
                    self.fetch_response(peer, request_id, &response, cx, &mut out);
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. }
                if self
                    .fetches
                    .get(&peer)
                    .and_then(|f| f.in_flight.as_ref())
                    .is_some_and(|(r, _)| *r == request_id) =>
            {
                tracing::debug!(%peer, %error, "fetch failed");
                self.drop_fetches(&peer);
                self.fail(&peer, "failed", cx);
            }
            _ => {}
        }
        out
    }

    fn fetch_request(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        channel: ResponseChannel<Vec<u8>>,
        cx: &mut Ctx<'_>,
        out: &mut Vec<Out>,
    ) {
        let request = match FetchRequest::decode(bytes) {
            Ok(r) if r.hood == self.hood => r,
            Ok(_) => return self.violation(peer, "bad_hood", cx, out),
            Err(e) => return self.violation(peer, e.code(), cx, out),
        };
        let now_ms = self.now_ms();
        let asked = u32::try_from(request.ids.len()).unwrap_or(u32::MAX).max(1);
        if self.requests.allows(now_ms, &peer, 1).is_err() || self.fetch_ids.allows(now_ms, &peer, asked).is_err() {
            return self.over_budget(peer, "fetch_rate", cx, out);
        }
        let tx = self.tx.clone();
        let job = move |rep: &mut Replica| {
            let response =
                FetchResponse { envelopes: serve_fetch(&request.ids, |id| rep.store().get(id).ok().flatten()) };
            crate::service::worker::hand_over(&tx, Done::Served { peer, channel, response: response.encode() });
        };
        if cx.node.try_items(job, "fetch_serve").is_err() {
            tracing::debug!(%peer, "fetch not served (replica busy)");
        }
    }

    fn fetch_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        bytes: &[u8],
        cx: &mut Ctx<'_>,
        out: &mut Vec<Out>,
    ) {
        let Some(f) = self.fetches.get_mut(&peer) else { return };
        let Some((_, asked)) = f.in_flight.take_if(|(r, _)| *r == request_id) else { return };
        for id in &asked {
            self.wanted.remove(id);
        }
        let response = match FetchResponse::decode(bytes) {
            Ok(r) => r,
            Err(e) => return self.violation(peer, e.code(), cx, out),
        };
        let asked: BTreeSet<MessageId> = asked.into_iter().collect();
        let mut served = BTreeSet::new();
        let mut frames = Vec::with_capacity(response.envelopes.len());
        let mut unsolicited = false;
        for env in response.envelopes {
            match Envelope::decode_unverified(&env).map(|e| e.id()) {
                Ok(id) if !asked.contains(&id) => unsolicited = true,
                Ok(id) if !served.insert(id) => unsolicited = true,
                Ok(_) => frames.push(env),
                // Undecodable: the ledger names it and the peer is banned.
                Err(_) => frames.push(env),
            }
        }
        let unserved = (asked.len() - served.len()) as u32;
        f.unserved = f.unserved.saturating_add(unserved);
        let over = f.unserved > MAX_UNSERVED_PER_SESSION;
        if over {
            f.unserved = 0;
        }
        let now = cx.node.now();
        self.planner.progressed(&peer, now);
        if !frames.is_empty() {
            let tx = self.tx.clone();
            let done = move |ingest| {
                crate::service::worker::hand_over(&tx, Done::Fetched { peer, now, ingest });
            };
            if cx.node.try_sync_page(frames, now, done).is_ok() {
                f.ingesting += 1;
            } else {
                tracing::debug!(%peer, "fetched page not ingested (replica busy)");
            }
        }
        if unsolicited {
            self.violation(peer, "unsolicited_envelope", cx, out);
        } else if over {
            self.violation(peer, "unserved_ids", cx, out);
        }
        self.pump(peer, cx);
    }
}

/// The stored envelopes of the ids asked, each id once, in request order;
/// ids not held (deleted since, never held) are left out.
fn serve_fetch(ids: &[MessageId], get: impl Fn(&MessageId) -> Option<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seen = HashSet::new();
    ids.iter().take(MAX_FETCH_IDS).filter(|id| seen.insert(**id)).filter_map(get).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_are_served_once_per_id_and_skip_what_is_not_held() {
        let a = MessageId::from_bytes([1; 32]);
        let b = MessageId::from_bytes([2; 32]);
        let get = |id: &MessageId| (id == &a).then(|| vec![1u8; 10]);
        assert_eq!(serve_fetch(&[a, a, b, a], get), vec![vec![1u8; 10]]);
        let many = vec![a; MAX_FETCH_IDS * 2];
        assert_eq!(serve_fetch(&many, |_| Some(vec![0])).len(), 1);
    }
}
