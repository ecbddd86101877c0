//! The node's shared state: the replica behind a mutex, the live event
//! feed, metrics and the local author key. The network loop and the API
//! both go through here, so every message from any origin is validated,
//! counted and announced the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use libp2p::Multiaddr;
use serde::Serialize;
use stoop_proto::v1 as pb;
use tokio::sync::broadcast;

use super::clock::Clock;
use super::datadir::DataDir;
use super::metrics::Metrics;
use crate::core::envelope::{Envelope, Kind};
use crate::core::ids::{HoodId, MessageId};
use crate::core::keys::AuthorKey;
use crate::core::ledger::{Accepted, AlertState, Outcome};
use crate::core::message::Payload;
use crate::core::sync::PAGE_LIMIT;
use crate::replica::{PublishError, Replica};

/// Live events buffered for slow SSE subscribers; a subscriber that falls
/// further behind skips ahead (and is told how many it missed).
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// Retention runs this often.
const GC_INTERVAL_SECS: u64 = 600;
/// Largest page served to a syncing peer, in bytes of envelopes.
const MAX_SYNC_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Where a message came from (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Gossipsub.
    Gossip,
    /// The sync protocol.
    Sync,
    /// This node's API.
    Local,
}

impl Origin {
    fn label(self) -> &'static str {
        match self {
            Origin::Gossip => "gossip",
            Origin::Sync => "sync",
            Origin::Local => "local",
        }
    }
}

/// One entry of the live feed (`GET /v1/events`).
#[derive(Debug, Clone, Serialize)]
pub struct FeedEvent {
    /// `message` (a new message was accepted) or `state` (an alert changed state).
    pub event: &'static str,
    /// Message kind for `message`; `alert` for `state`.
    pub kind: &'static str,
    /// Message id (hex).
    pub id: String,
    /// The alert it concerns (hex), for votes, reports, reactions, updates and state changes.
    pub alert: Option<String>,
    /// New state, for `state` events and new alerts.
    pub state: Option<AlertState>,
}

/// Shared node state.
#[derive(Debug)]
pub struct Node {
    replica: Mutex<Replica>,
    hood: HoodId,
    author: AuthorKey,
    /// Live feed.
    pub events: broadcast::Sender<FeedEvent>,
    /// Metrics.
    pub metrics: Metrics,
    data: Option<DataDir>,
    last_gc: AtomicU64,
    clock: Clock,
}

impl Node {
    /// Wraps an opened replica.
    pub fn new(replica: Replica, author: AuthorKey, data: Option<DataDir>) -> Self {
        let hood = replica.ledger().hood();
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let node = Self {
            replica: Mutex::new(replica),
            hood,
            author,
            events,
            metrics: Metrics::new(),
            data,
            last_gc: AtomicU64::new(0),
            clock: Clock::system(),
        };
        node.update_gauges();
        node
    }

    /// Uses `clock` instead of the plain system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The node's idea of the current unix time: the one clock the network
    /// loop, the API and housekeeping all read.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The hood id.
    pub fn hood(&self) -> HoodId {
        self.hood
    }

    /// The local author key.
    pub fn author(&self) -> &AuthorKey {
        &self.author
    }

    /// Locks the replica. A panic while holding the lock cannot leave the
    /// ledger half-updated in a way later calls could trip on (each ingest is
    /// applied or not), so a poisoned lock is taken over, not propagated.
    pub fn replica(&self) -> MutexGuard<'_, Replica> {
        self.replica.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn announce(&self, accepted: &[Accepted]) {
        for a in accepted {
            let alert = crate::store::reference_of(&a.payload).map(|r| r.to_hex());
            let state = matches!(a.payload, Payload::Alert(_)).then_some(AlertState::Visible);
            let _ = self.events.send(FeedEvent {
                event: "message",
                kind: a.envelope.kind().name(),
                id: a.envelope.id().to_hex(),
                alert,
                state,
            });
            for c in &a.changed {
                let _ = self.events.send(FeedEvent {
                    event: "state",
                    kind: Kind::Alert.name(),
                    id: c.alert.to_hex(),
                    alert: Some(c.alert.to_hex()),
                    state: Some(c.to),
                });
            }
        }
    }

    fn record(&self, origin: Origin, outcome: &Outcome) {
        let kind = outcome.kind.map_or("unknown", Kind::name);
        self.metrics.record(origin.label(), kind, outcome.verdict.kind(), outcome.verdict.code());
        if origin == Origin::Sync {
            self.metrics.synced_messages.inc_by(outcome.accepted.len() as u64);
        }
        match &outcome.verdict {
            crate::core::verdict::Verdict::Reject(r) => {
                tracing::debug!(origin = origin.label(), kind, reason = r.code(), "rejected: {r}");
            }
            crate::core::verdict::Verdict::Ignore(r) => {
                tracing::trace!(origin = origin.label(), kind, reason = r.code(), "ignored");
            }
            crate::core::verdict::Verdict::Accept => {}
        }
    }

    /// Validates and stores one frame from the network.
    pub fn ingest(&self, bytes: &[u8], now: u64, origin: Origin) -> Outcome {
        let result = self.replica().ingest(bytes, now);
        match result {
            Ok(outcome) => {
                self.record(origin, &outcome);
                self.announce(&outcome.accepted);
                outcome
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed; message dropped (sync will refetch it)");
                let outcome = Outcome {
                    id: None,
                    kind: None,
                    verdict: crate::core::verdict::Verdict::Ignore(
                        crate::core::verdict::IgnoreReason::StoreUnavailable,
                    ),
                    accepted: Vec::new(),
                };
                self.record(origin, &outcome);
                outcome
            }
        }
    }

    /// Validates and stores a page of frames (sync) with one store pass;
    /// returns what was accepted (empty if the store failed).
    pub fn ingest_batch(&self, frames: &[Vec<u8>], now: u64, origin: Origin) -> Vec<Accepted> {
        let result = self.replica().ingest_batch(frames, now);
        match result {
            Ok(outcomes) => {
                for o in &outcomes {
                    self.record(origin, o);
                    self.announce(&o.accepted);
                }
                outcomes.into_iter().flat_map(|o| o.accepted).collect()
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed during sync");
                Vec::new()
            }
        }
    }

    /// Signs `payload` with the node's author key and stores it durably.
    pub fn publish(&self, payload: &Payload, now: u64) -> Result<Envelope, PublishError> {
        let env = self.replica().publish(payload, &self.author, now);
        self.after_publish(env)
    }

    /// Stores an envelope signed elsewhere (a moderator's own key).
    pub fn publish_signed(&self, bytes: &[u8], now: u64) -> Result<Envelope, PublishError> {
        let env = self.replica().publish_signed(bytes, now);
        self.after_publish(env)
    }

    fn after_publish(&self, result: Result<Envelope, PublishError>) -> Result<Envelope, PublishError> {
        let kind = |e: &Envelope| e.kind().name();
        match &result {
            Ok(env) => {
                self.metrics.record("local", kind(env), "accept", "accept");
                let payload = Payload::decode(env).ok();
                let alert = payload.as_ref().and_then(crate::store::reference_of).map(|r| r.to_hex());
                let _ = self.events.send(FeedEvent {
                    event: "message",
                    kind: env.kind().name(),
                    id: env.id().to_hex(),
                    state: matches!(payload, Some(Payload::Alert(_))).then_some(AlertState::Visible),
                    alert: alert.clone(),
                });
                if let Some(a) = alert.and_then(|a| MessageId::from_hex(&a).ok()) {
                    let state = self.replica().ledger().state(&a);
                    if let Some(state) = state {
                        let _ = self.events.send(FeedEvent {
                            event: "state",
                            kind: "alert",
                            id: a.to_hex(),
                            alert: Some(a.to_hex()),
                            state: Some(state),
                        });
                    }
                }
            }
            Err(e) => self.metrics.record("local", "unknown", "refuse", e.code()),
        }
        result
    }

    /// Answers a peer's sync request from the store.
    pub fn serve_sync(&self, req: &pb::SyncRequest) -> pb::SyncResponse {
        if req.hood.as_slice() != self.hood.as_bytes() {
            return pb::SyncResponse { envelopes: Vec::new(), next_cursor: Vec::new(), done: true };
        }
        let replica = self.replica();
        let store = replica.store();
        if !req.want.is_empty() {
            let envelopes = req
                .want
                .iter()
                .take(PAGE_LIMIT as usize)
                .filter_map(|id| MessageId::from_slice(id).ok())
                .filter_map(|id| store.get(&id).ok().flatten())
                .collect();
            return pb::SyncResponse { envelopes, next_cursor: Vec::new(), done: true };
        }
        let limit = req.limit.clamp(1, PAGE_LIMIT) as usize;
        let cursor = (!req.cursor.is_empty()).then_some(req.cursor.as_slice());
        match store.page(req.since, cursor, limit) {
            Ok((envelopes, next)) => {
                // Keep the response under its byte budget. A shortened page
                // is asked for again with exactly that many envelopes, so its
                // cursor points right after the last one sent and the peer
                // resumes there instead of skipping the rest.
                let mut total = 0;
                let keep = envelopes
                    .iter()
                    .take_while(|e| {
                        total += e.len();
                        total <= MAX_SYNC_RESPONSE_BYTES
                    })
                    .count()
                    .max(1);
                if keep < envelopes.len() {
                    return match store.page(req.since, cursor, keep) {
                        Ok((envelopes, next)) => {
                            pb::SyncResponse { envelopes, done: next.is_none(), next_cursor: next.unwrap_or_default() }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not serve a sync page");
                            pb::SyncResponse { envelopes: Vec::new(), next_cursor: Vec::new(), done: true }
                        }
                    };
                }
                pb::SyncResponse { envelopes, done: next.is_none(), next_cursor: next.unwrap_or_default() }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not serve a sync page");
                pb::SyncResponse { envelopes: Vec::new(), next_cursor: Vec::new(), done: true }
            }
        }
    }

    /// Periodic housekeeping: retention and gauges.
    pub fn periodic(&self, now: u64) {
        if now.saturating_sub(self.last_gc.load(Ordering::Relaxed)) >= GC_INTERVAL_SECS {
            self.last_gc.store(now, Ordering::Relaxed);
            match self.replica().collect_garbage(now) {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "retention removed expired alerts"),
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        let replica = self.replica();
        self.metrics.store_messages.set(replica.store().len() as i64);
        self.metrics.pending.set(replica.ledger().pending_len() as i64);
        if let Ok(bytes) = replica.store().size_on_disk() {
            self.metrics.store_bytes.set(bytes as i64);
        }
    }

    /// When this node last completed a sync (persisted across restarts).
    pub fn last_sync(&self) -> Option<u64> {
        let bytes = self.replica().store().meta_get("last_sync").ok().flatten()?;
        bytes.as_slice().try_into().ok().map(u64::from_be_bytes)
    }

    /// Records a completed sync.
    pub fn set_last_sync(&self, at: u64) {
        if let Err(e) = self.replica().store().meta_set("last_sync", &at.to_be_bytes()) {
            tracing::warn!(error = %e, "could not record the sync time");
        }
    }

    /// The swarm's listen addresses changed: publish them for the CLI.
    pub fn listen_addrs_changed(&self, addrs: Vec<Multiaddr>) {
        if let Some(data) = &self.data
            && let Err(e) = data.write_listen_addrs(&addrs)
        {
            tracing::warn!(error = %e, "could not write the listen address file");
        }
    }

    /// Flushes the store (shutdown).
    pub fn flush(&self) -> Result<usize, crate::store::StoreError> {
        self.replica().flush()
    }
}
