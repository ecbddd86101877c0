//! The node service: one hood's replica run by a single owner thread, and
//! the cheap [`Node`] handle the network loop and the API use to reach it.
//! It knows neither libp2p nor axum: the network hands it frames and sync
//! requests through [`Node::try_gossip`] and friends and gets results back
//! through callbacks; the API sends commands and awaits one-shot replies.
//!
//! # Layout
//! - [`worker`]: the replica thread and the work items it carries out.
//! - [`feed`]: the live event feed.
//! - [`metrics`]: the Prometheus registry.
//! - [`clock`]: the node's wall clock.
//! - [`ticket`]: invite tickets.
//! - [`network`]: what the API needs from the network, as a trait.

pub mod clock;
pub mod feed;
pub mod metrics;
pub mod network;
pub mod ticket;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use stoop_proto::v1 as pb;
use tokio::sync::{broadcast, mpsc, oneshot};

use self::clock::Clock;
use self::feed::{EVENT_CHANNEL_CAPACITY, FeedEvent};
use self::metrics::Metrics;
use self::worker::{Done, Work, Worker};
use crate::core::envelope::Envelope;
use crate::core::ids::HoodId;
use crate::core::keys::{AuthorKey, PublicKey};
use crate::core::ledger::Outcome;
use crate::core::message::Payload;
use crate::replica::{PublishError, Replica};
use crate::store::StoreError;

pub use self::worker::Origin;

#[cfg(test)]
mod tests;

/// Work items waiting for the replica thread. Gossip beyond this is
/// ignored (counted as `busy`) rather than queued: at roughly 0.1 ms per
/// frame (one signature check and a sled insert) 256 items are a few tens
/// of milliseconds of backlog, enough to ride out a burst, while a flood
/// cannot grow memory past 256 x 16 KiB = 4 MiB of frames. API commands
/// wait for room instead of failing.
pub const WORK_QUEUE_CAPACITY: usize = 256;
/// How often gauges are refreshed (and retention considered).
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(5);

/// Why the service could not take a piece of work.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The queue is full; network work is turned away, not queued.
    #[error("the replica is busy")]
    Busy,
    /// The replica thread has stopped (shutdown).
    #[error("the replica has stopped")]
    Stopped,
    /// The replica thread could not be started.
    #[error("cannot start the replica thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// The handle to a running replica: shared by the network loop and the API.
#[derive(Debug)]
pub struct Node {
    work: mpsc::Sender<Work>,
    hood: HoodId,
    author: PublicKey,
    /// Live feed.
    pub events: broadcast::Sender<FeedEvent>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    clock: Clock,
}

impl Node {
    /// Starts the replica thread for `replica`, posting with `author`.
    /// Inside a tokio runtime it also starts the housekeeping ticker, which
    /// stops once every handle is gone.
    pub fn start(replica: Replica, author: AuthorKey, clock: Clock) -> Result<Self, ServiceError> {
        let (node, worker, rx) = Self::new(replica, author, clock);
        std::thread::Builder::new().name("stoop-replica".into()).spawn(move || worker.run(rx))?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(housekeeping(node.work.downgrade()));
        }
        Ok(node)
    }

    /// Like [`Node::start`], with the replica as a task of the current
    /// runtime instead of a thread of its own: for the simulator on a
    /// paused (virtual-time) runtime, where work on another thread would
    /// let time jump while it runs. Each item then blocks the runtime while
    /// it runs, so `stoopd` keeps the thread.
    pub fn start_on_runtime(replica: Replica, author: AuthorKey, clock: Clock) -> Self {
        let (node, worker, rx) = Self::new(replica, author, clock);
        tokio::spawn(worker.run_on_runtime(rx));
        tokio::spawn(housekeeping(node.work.downgrade()));
        node
    }

    fn new(replica: Replica, author: AuthorKey, clock: Clock) -> (Self, Worker, mpsc::Receiver<Work>) {
        let hood = replica.ledger().hood();
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let metrics = Arc::new(Metrics::new());
        let (work, rx) = mpsc::channel(WORK_QUEUE_CAPACITY);
        let node =
            Self { work, hood, author: author.public(), events: events.clone(), metrics: metrics.clone(), clock };
        (node, Worker { replica, author, events, metrics, clock, last_gc: 0 }, rx)
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

    /// The local author's public key.
    pub fn author(&self) -> PublicKey {
        self.author
    }

    async fn ask<T>(&self, work: impl FnOnce(oneshot::Sender<T>) -> Work) -> Result<T, ServiceError> {
        let (reply, rx) = oneshot::channel();
        self.work.send(work(reply)).await.map_err(|_| ServiceError::Stopped)?;
        rx.await.map_err(|_| ServiceError::Stopped)
    }

    /// Runs `f` on the replica thread and returns its result.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Replica) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        self.ask(|reply| {
            Work::Read(Box::new(move |replica| {
                let _ = reply.send(f(replica));
            }))
        })
        .await
    }

    /// Signs `payload` with the node's author key and stores it durably.
    pub async fn publish(&self, payload: Payload, now: u64) -> Result<Envelope, PublishError> {
        self.ask(|reply| Work::Publish { payload: Box::new(payload), now, reply })
            .await
            .unwrap_or(Err(PublishError::Stopped))
    }

    /// Stores an envelope signed elsewhere (a moderator's own key).
    pub async fn publish_signed(&self, bytes: Vec<u8>, now: u64) -> Result<Envelope, PublishError> {
        self.ask(|reply| Work::PublishSigned { bytes, now, reply }).await.unwrap_or(Err(PublishError::Stopped))
    }

    /// Validates a frame handed over locally (the outbox, a post signed
    /// elsewhere) exactly like gossip, and stores and flushes it if accepted.
    pub async fn ingest_local(&self, bytes: Vec<u8>, now: u64) -> Result<Outcome, ServiceError> {
        self.ask(|reply| Work::Local { bytes, now, reply }).await
    }

    fn try_submit(&self, work: Work, label: &str) -> Result<(), ServiceError> {
        self.work.try_send(work).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.metrics.record_busy(label);
                ServiceError::Busy
            }
            mpsc::error::TrySendError::Closed(_) => ServiceError::Stopped,
        })
    }

    /// Hands a gossip frame to the replica without waiting; `done` gets the
    /// verdict on the replica thread. A full queue is counted as `busy`.
    pub fn try_gossip(
        &self,
        bytes: Vec<u8>,
        now: u64,
        done: impl FnOnce(Outcome) + Send + 'static,
    ) -> Result<(), ServiceError> {
        self.try_submit(Work::Gossip { bytes, now, done: Box::new(done) as Done<Outcome> }, "gossip")
    }

    /// Hands a page of sync frames to the replica without waiting; `done`
    /// gets what was accepted.
    pub fn try_sync_page(
        &self,
        frames: Vec<Vec<u8>>,
        now: u64,
        done: impl FnOnce(worker::PageIngest) + Send + 'static,
    ) -> Result<(), ServiceError> {
        self.try_submit(Work::SyncPage { frames, now, done: Box::new(done) }, "sync_page")
    }

    /// Hands a peer's sync request to the replica without waiting; `done`
    /// gets the response to send.
    pub fn try_serve_sync(
        &self,
        request: pb::SyncRequest,
        done: impl FnOnce(pb::SyncResponse) + Send + 'static,
    ) -> Result<(), ServiceError> {
        self.try_submit(Work::ServeSync { request, done: Box::new(done) }, "sync_serve")
    }

    /// Hands sync v2 work (a reconcile round, a fetch to serve) to the
    /// replica without waiting; the job hands its own result back.
    pub fn try_items(&self, job: impl FnOnce(&mut Replica) + Send + 'static, label: &str) -> Result<(), ServiceError> {
        self.try_submit(Work::Items(Box::new(job)), label)
    }

    /// Records a completed sync (best effort: a full queue skips it, and
    /// the next completed sync records a later time anyway).
    pub fn record_last_sync(&self, at: u64) {
        if self.try_submit(Work::SetLastSync(at), "last_sync").is_err() {
            tracing::debug!("sync time not recorded (replica busy)");
        }
    }

    /// When this node last completed a sync (persisted across restarts).
    pub async fn last_sync(&self) -> Option<u64> {
        self.read(worker::last_sync).await.ok().flatten()
    }

    /// Refreshes the gauges now (and runs retention if due).
    pub async fn housekeeping(&self) -> Result<(), ServiceError> {
        self.ask(|reply| Work::Housekeeping { reply: Some(reply) }).await
    }

    /// Flushes the store and stops the replica thread; returns the replica
    /// and how the flush went. Later requests fail with `Stopped`.
    pub async fn close(&self) -> Result<(Replica, Result<usize, StoreError>), ServiceError> {
        self.ask(|reply| Work::Close { reply }).await
    }
}

/// Asks for housekeeping every [`HOUSEKEEPING_INTERVAL`] until the last
/// [`Node`] is dropped (a weak sender does not keep the thread alive).
async fn housekeeping(work: mpsc::WeakSender<Work>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(work) = work.upgrade() else { return };
        // A full queue skips a round: gauges are refreshed on the next one.
        if let Err(mpsc::error::TrySendError::Closed(_)) = work.try_send(Work::Housekeeping { reply: None }) {
            return;
        }
    }
}
