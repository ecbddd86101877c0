//! The replica thread: the one owner of the [`Replica`] (ledger and sled
//! store). Every read and write, from gossip, sync, the API or housekeeping,
//! arrives here as a [`Work`] item on one bounded queue and is carried out
//! in arrival order, so no async task ever waits on sled, on a signature
//! check or on a lock (the design of Lighthouse's beacon processor).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use stoop_proto::v1 as pb;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::clock::Clock;
use super::feed::{FeedEvent, FeedKind};
use super::metrics::Metrics;
use crate::core::envelope::{Envelope, Kind};
use crate::core::ids::MessageId;
use crate::core::keys::AuthorKey;
use crate::core::ledger::{Accepted, AlertState, Outcome};
use crate::core::message::Payload;
use crate::core::sync::PAGE_LIMIT;
use crate::core::verdict::Verdict;
use crate::replica::{PublishError, Replica};
use crate::store::StoreError;

/// Retention runs this often.
const GC_INTERVAL_SECS: u64 = 600;
/// Largest page served to a syncing peer, in bytes of envelopes.
const MAX_SYNC_RESPONSE_BYTES: usize = 2 * 1024 * 1024;
/// Store key of the time of the last completed sync.
const LAST_SYNC_KEY: &str = "last_sync";

/// Where a message came from (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Gossipsub.
    Gossip,
    /// The sync protocol.
    Sync,
    /// This node's API or outbox.
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

/// What ingesting a sync page gave.
#[derive(Debug, Default)]
pub struct PageIngest {
    /// Messages accepted.
    pub accepted: Vec<Accepted>,
    /// The reason code of the first broken frame, where ingesting stopped:
    /// a peer that serves one has no business serving the rest (issue 11:
    /// endless pages of junk envelopes, every one verified).
    pub invalid: Option<&'static str>,
    /// Frames refused because their author's (or inviter's) join is not
    /// held yet: the next page or session may bring it.
    pub awaiting_history: usize,
}

/// A callback run on the replica thread with the result of network work.
/// It must only hand the result over ([`hand_over`] to the network task's
/// result channel), never do slow work itself.
pub type Done<T> = Box<dyn FnOnce(T) + Send>;

/// Hands a replica result to the network task. On the replica thread
/// (`stoopd`) it waits for room in the bounded channel: that wait is the
/// intended back-pressure, and it fails at once if the task is gone. On a
/// runtime (the simulator's replica task, [`super::Node::start_on_runtime`])
/// blocking would stall every node of the runtime, so a full channel gets
/// the result through a task instead; its size is still bounded by the work
/// queue in front of the replica.
pub fn hand_over<T: Send + 'static>(tx: &mpsc::Sender<T>, result: T) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        let _ = tx.blocking_send(result);
        return;
    };
    if let Err(mpsc::error::TrySendError::Full(result)) = tx.try_send(result) {
        let tx = tx.clone();
        runtime.spawn(async move {
            let _ = tx.send(result).await;
        });
    }
}
/// A read of the replica, run on its thread.
pub type Query = Box<dyn FnOnce(&Replica) + Send>;
/// Sync v2 work on the replica thread: a reconcile round over the item set,
/// or a fetch served from the store (`net::reconcile`). It gets `&mut`
/// only so the item set's snapshot can be rebuilt when stale.
pub type ItemsJob = Box<dyn FnOnce(&mut Replica) + Send>;

/// Where [`Work::Close`] hands the replica back, flushed (or not).
pub(crate) type CloseReply = oneshot::Sender<(Replica, Result<usize, StoreError>)>;

/// One item of work for the replica thread.
pub(crate) enum Work {
    /// A gossip frame to validate and store.
    Gossip { bytes: Vec<u8>, now: u64, done: Done<Outcome> },
    /// A page of frames from a sync response.
    SyncPage { frames: Vec<Vec<u8>>, now: u64, done: Done<PageIngest> },
    /// A peer's sync request to answer from the store.
    ServeSync { request: pb::SyncRequest, done: Done<pb::SyncResponse> },
    /// A frame handed over locally (the outbox's join, `POST /v1/messages`),
    /// judged like gossip and flushed before the reply.
    Local { bytes: Vec<u8>, now: u64, reply: oneshot::Sender<Outcome> },
    /// A local post, signed with the node's author key.
    Publish { payload: Box<Payload>, now: u64, reply: oneshot::Sender<Result<Envelope, PublishError>> },
    /// A local post signed elsewhere.
    PublishSigned { bytes: Vec<u8>, now: u64, reply: oneshot::Sender<Result<Envelope, PublishError>> },
    /// A read (API views, status).
    Read(Query),
    /// A sync v2 round or fetch.
    Items(ItemsJob),
    /// Record a completed sync.
    SetLastSync(u64),
    /// Retention (when due) and gauges; the reply says they are fresh.
    Housekeeping { reply: Option<oneshot::Sender<()>> },
    /// Flush and hand the replica back; the thread then ends.
    Close { reply: CloseReply },
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Work::Gossip { .. } => "Gossip",
            Work::SyncPage { .. } => "SyncPage",
            Work::ServeSync { .. } => "ServeSync",
            Work::Local { .. } => "Local",
            Work::Publish { .. } => "Publish",
            Work::PublishSigned { .. } => "PublishSigned",
            Work::Read(_) => "Read",
            Work::Items(_) => "Items",
            Work::SetLastSync(_) => "SetLastSync",
            Work::Housekeeping { .. } => "Housekeeping",
            Work::Close { .. } => "Close",
        };
        f.write_str(name)
    }
}

/// The state the replica thread owns.
pub(crate) struct Worker {
    pub(crate) replica: Replica,
    pub(crate) author: AuthorKey,
    pub(crate) events: broadcast::Sender<FeedEvent>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    pub(crate) last_gc: u64,
}

impl Worker {
    /// Runs on its own thread until [`Work::Close`] or until every sender
    /// is gone.
    pub(crate) fn run(mut self, mut work: mpsc::Receiver<Work>) {
        self.update_gauges();
        while let Some(item) = work.blocking_recv() {
            if let Some(reply) = self.step(item) {
                return self.close(reply);
            }
        }
        self.finish();
    }

    /// Like [`Worker::run`], as a task of the caller's runtime: each item
    /// runs to completion on the runtime's thread, so on a paused
    /// (virtual-time) runtime no time passes while the replica works.
    pub(crate) async fn run_on_runtime(mut self, mut work: mpsc::Receiver<Work>) {
        self.update_gauges();
        while let Some(item) = work.recv().await {
            if let Some(reply) = self.step(item) {
                return self.close(reply);
            }
            // Let the other tasks of the runtime in between items.
            tokio::task::yield_now().await;
        }
        self.finish();
    }

    /// Handles one item; hands back the reply of [`Work::Close`].
    fn step(&mut self, item: Work) -> Option<CloseReply> {
        if let Work::Close { reply } = item {
            return Some(reply);
        }
        // A panic in one item (a bug) must not take the whole node down:
        // each ingest is applied or not, as with the old poisoned lock.
        if std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(item))).is_err() {
            tracing::error!("a replica work item panicked; carrying on with the next one");
        }
        None
    }

    fn close(self, reply: CloseReply) {
        let flushed = self.replica.flush();
        let _ = reply.send((self.replica, flushed));
    }

    fn finish(&mut self) {
        if let Err(e) = self.replica.flush() {
            tracing::warn!(error = %e, "final store flush failed");
        }
    }

    fn handle(&mut self, item: Work) {
        match item {
            Work::Gossip { bytes, now, done } => done(self.ingest(&bytes, now, Origin::Gossip)),
            Work::SyncPage { frames, now, done } => done(self.ingest_batch(&frames, now, Origin::Sync)),
            Work::ServeSync { request, done } => done(self.serve_sync(&request)),
            Work::Local { bytes, now, reply } => {
                let outcome = self.replica.ingest_durable(&bytes, now);
                self.record(Origin::Local, &outcome);
                self.announce(&outcome.accepted);
                let _ = reply.send(outcome);
            }
            Work::Publish { payload, now, reply } => {
                let env = payload.seal(&self.author);
                let kind = Some(env.kind());
                let result = self.replica.publish_sealed(env, now);
                let _ = reply.send(self.after_publish(kind, result));
            }
            Work::PublishSigned { bytes, now, reply } => {
                // The kind is known before admission, so a refusal is
                // counted under it (unknown only if the frame does not decode).
                let kind = Envelope::decode_unverified(&bytes).ok().map(|e| e.kind());
                let result = self.replica.publish_signed(&bytes, now);
                let _ = reply.send(self.after_publish(kind, result));
            }
            Work::Read(query) => query(&self.replica),
            Work::Items(job) => job(&mut self.replica),
            Work::SetLastSync(at) => {
                if let Err(e) = self.replica.store().meta_set(LAST_SYNC_KEY, &at.to_be_bytes()) {
                    tracing::warn!(error = %e, "could not record the sync time");
                }
            }
            Work::Housekeeping { reply } => {
                self.housekeeping(self.clock.now());
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
            Work::Close { .. } => {}
        }
    }

    fn announce(&self, accepted: &[Accepted]) {
        for a in accepted {
            let _ = self.events.send(FeedEvent::message(a));
            for c in &a.changed {
                let _ = self.events.send(FeedEvent::state(c));
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
            Verdict::Reject(r) => {
                tracing::debug!(origin = origin.label(), kind, reason = r.code(), "rejected: {r}");
            }
            Verdict::Ignore(r) => {
                tracing::trace!(origin = origin.label(), kind, reason = r.code(), "ignored");
            }
            Verdict::Accept => {}
        }
    }

    /// Validates and stores one frame from the network.
    fn ingest(&mut self, bytes: &[u8], now: u64, origin: Origin) -> Outcome {
        let outcome = self.replica.ingest(bytes, now);
        self.record(origin, &outcome);
        self.announce(&outcome.accepted);
        outcome
    }

    /// Validates and stores a page of frames (sync) up to the first broken
    /// one; returns what was accepted and where it stopped.
    fn ingest_batch(&mut self, frames: &[Vec<u8>], now: u64, origin: Origin) -> PageIngest {
        let page = self.replica.ingest_page(frames, now);
        let mut out =
            PageIngest { invalid: page.broken, awaiting_history: page.awaiting_history, ..PageIngest::default() };
        for (_, outcome) in page.outcomes {
            self.record(origin, &outcome);
            self.announce(&outcome.accepted);
            out.accepted.extend(outcome.accepted);
        }
        out
    }

    fn after_publish(
        &self,
        kind: Option<Kind>,
        result: Result<Envelope, PublishError>,
    ) -> Result<Envelope, PublishError> {
        let kind = kind.map_or("unknown", Kind::name);
        match &result {
            Ok(env) => {
                self.metrics.record(Origin::Local.label(), kind, "accept", "accept");
                let payload = Payload::decode(env).ok();
                let alert = payload.as_ref().and_then(crate::store::reference_of).map(|r| r.to_hex());
                let _ = self.events.send(FeedEvent {
                    event: FeedKind::Message,
                    kind: env.kind(),
                    id: env.id().to_hex(),
                    state: matches!(payload, Some(Payload::Alert(_))).then_some(AlertState::Visible),
                    alert: alert.clone(),
                });
                if let Some(a) = alert.and_then(|a| MessageId::from_hex(&a).ok())
                    && let Some(state) = self.replica.ledger().state(&a)
                {
                    let _ = self.events.send(FeedEvent {
                        event: FeedKind::State,
                        kind: Kind::Alert,
                        id: a.to_hex(),
                        alert: Some(a.to_hex()),
                        state: Some(state),
                    });
                }
            }
            Err(e) => self.metrics.record(Origin::Local.label(), kind, e.verdict(), e.code()),
        }
        result
    }

    /// Answers a peer's sync request from the store.
    fn serve_sync(&self, req: &pb::SyncRequest) -> pb::SyncResponse {
        let empty = || pb::SyncResponse { envelopes: Vec::new(), next_cursor: Vec::new(), done: true };
        if req.hood.as_slice() != self.replica.ledger().hood().as_bytes() {
            return empty();
        }
        let store = self.replica.store();
        if !req.want.is_empty() {
            return pb::SyncResponse {
                envelopes: serve_wanted(&req.want, |id| store.get(id).ok().flatten()),
                next_cursor: Vec::new(),
                done: true,
            };
        }
        let limit = req.limit.clamp(1, PAGE_LIMIT) as usize;
        let cursor = (!req.cursor.is_empty()).then_some(req.cursor.as_slice());
        let page = store.page(req.since, cursor, limit).and_then(|(envelopes, next)| {
            // Keep the response under its byte budget. A shortened page is
            // asked for again with exactly that many envelopes, so its
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
            if keep < envelopes.len() { store.page(req.since, cursor, keep) } else { Ok((envelopes, next)) }
        });
        match page {
            Ok((envelopes, next)) => {
                pb::SyncResponse { envelopes, done: next.is_none(), next_cursor: next.unwrap_or_default() }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not serve a sync page");
                empty()
            }
        }
    }

    /// Retention (every [`GC_INTERVAL_SECS`]) and gauges.
    fn housekeeping(&mut self, now: u64) {
        if now.saturating_sub(self.last_gc) >= GC_INTERVAL_SECS {
            self.last_gc = now;
            match self.replica.collect_garbage(now) {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "retention removed expired alerts"),
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        self.metrics.store_messages.set(self.replica.store().len() as i64);
        self.metrics.pending.set(self.replica.ledger().pending_len() as i64);
        if let Ok(bytes) = self.replica.store().size_on_disk() {
            self.metrics.store_bytes.set(bytes as i64);
        }
    }
}

/// The envelopes a peer asked for by id: each id once (a `want` repeating
/// one id 256 times made the node copy the same alert 256 times into one
/// response), at most [`PAGE_LIMIT`] ids, and no more than
/// [`MAX_SYNC_RESPONSE_BYTES`] in all (at least one envelope, so any single
/// envelope can still be fetched).
fn serve_wanted(want: &[Vec<u8>], get: impl Fn(&MessageId) -> Option<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0usize;
    let mut envelopes = Vec::new();
    for id in want.iter().take(PAGE_LIMIT as usize).filter_map(|id| MessageId::from_slice(id).ok()) {
        if !seen.insert(id) {
            continue;
        }
        let Some(env) = get(&id) else { continue };
        total += env.len();
        if total > MAX_SYNC_RESPONSE_BYTES && !envelopes.is_empty() {
            break;
        }
        envelopes.push(env);
    }
    envelopes
}

/// When the store says the last sync completed.
pub(crate) fn last_sync(replica: &Replica) -> Option<u64> {
    let bytes = replica.store().meta_get(LAST_SYNC_KEY).ok().flatten()?;
    bytes.as_slice().try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_ids_are_served_once_and_within_the_byte_cap() {
        let a = [1u8; 32].to_vec();
        let b = [2u8; 32].to_vec();
        let big = |id: &MessageId| Some(vec![id.as_bytes()[0]; MAX_SYNC_RESPONSE_BYTES / 3]);
        let repeated: Vec<Vec<u8>> = std::iter::repeat_n(a.clone(), 256).collect();
        assert_eq!(serve_wanted(&repeated, big).len(), 1, "one copy of a repeated id");
        let many: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i + 1; 32]).chain([b]).collect();
        let served = serve_wanted(&many, big);
        assert_eq!(served.len(), 3, "the byte cap ends the response");
        assert!(served.iter().map(Vec::len).sum::<usize>() <= MAX_SYNC_RESPONSE_BYTES);
    }
}
