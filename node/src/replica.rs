//! A node's replica of one hood: the [`Ledger`] (rules, in memory) joined to
//! the [`Store`] (sled, on disk). Every message, from gossip, sync or a local
//! post, goes through [`Replica::ingest`] or [`Replica::publish`]; both
//! validate with the same ledger and persist what it accepts.

use crate::core::charter::SignedCharter;
use crate::core::envelope::Envelope;
use crate::core::keys::AuthorKey;
use crate::core::ledger::{Accepted, Ledger, Outcome, PageOutcome, ingest_page};
use crate::core::message::Payload;
use crate::core::reconcile::{ItemIndex, MemSet};
use crate::core::verdict::{IgnoreReason, RejectReason, Verdict};
use crate::store::{LoadReport, Store, StoreError};

/// Why a local post was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The ledger refused it (the same rule any peer would apply).
    #[error("rejected: {0}")]
    Rejected(RejectReason),
    /// The ledger ignored it (duplicate, over quota, expired...).
    #[error("not accepted: {0}")]
    Ignored(IgnoreReason),
    /// It could not be made durable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The replica has stopped (the node is shutting down).
    #[error("the node is shutting down")]
    Stopped,
}

impl PublishError {
    /// The verdict class for metrics: `reject` or `ignore` (a post that
    /// could not be stored is ignored, as the ledger's `store_unavailable`).
    pub fn verdict(&self) -> &'static str {
        match self {
            PublishError::Rejected(_) => "reject",
            PublishError::Ignored(_) | PublishError::Store(_) | PublishError::Stopped => "ignore",
        }
    }

    /// Stable snake_case reason for API error bodies and exit messages.
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::Rejected(r) => r.code(),
            PublishError::Ignored(r) => r.code(),
            PublishError::Store(_) => "store_error",
            PublishError::Stopped => "stopped",
        }
    }
}

/// One hood's state on this node.
#[derive(Debug)]
pub struct Replica {
    ledger: Ledger,
    store: Store,
    /// The held message ids by (sent, id), for sync v2. Exactly the
    /// messages the ledger holds (not pending, not tombstoned), so it is
    /// bounded by the ledger's own retention and quotas.
    items: ItemIndex,
}

impl Replica {
    /// Binds an empty store to a hood (or reopens it if it already is).
    pub fn create(store: Store, charter: SignedCharter) -> Result<(Self, LoadReport), StoreError> {
        store.set_charter(&charter)?;
        Self::open(store)
    }

    /// Opens the hood held in `store`, rebuilding the ledger from disk.
    pub fn open(store: Store) -> Result<(Self, LoadReport), StoreError> {
        let charter = store.charter()?.ok_or(StoreError::NoHood)?;
        let mut ledger = Ledger::new(charter);
        let report = store.load_into(&mut ledger)?;
        let mut items = ItemIndex::new();
        // Messages the ledger refused to restore stay in the store but are
        // not held, so they are not offered to peers.
        for (sent, id) in store.time_index()? {
            if ledger.is_seen(&id) {
                items.insert(sent, id);
            }
        }
        Ok((Self { ledger, store, items }, report))
    }

    /// The rules and derived state.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The held ids (sync v2's item set).
    pub fn items(&self) -> &ItemIndex {
        &self.items
    }

    /// The item set as sessions read it, and the store to serve fetches.
    pub fn item_set(&mut self) -> (&MemSet, &Store) {
        (self.items.snapshot(), &self.store)
    }

    /// Keeps the item set in step with what an ingest accepted: each
    /// accepted message is in, what it replaced is out.
    fn track(&mut self, outcome: &Outcome) {
        for a in &outcome.accepted {
            self.items.insert(a.payload.sent(), a.envelope.id());
            for old in &a.superseded {
                self.items.remove(old);
            }
        }
    }

    /// Validates a frame from the network and persists what it accepts
    /// (without flushing: gossip is re-fetchable, sled flushes on a timer).
    /// The ledger commits a message only once its store write succeeded: a
    /// failed write gives Ignore `store_unavailable` and leaves the message
    /// new, so the same frame is accepted when it comes again.
    pub fn ingest(&mut self, bytes: &[u8], now: u64) -> Outcome {
        let store = &self.store;
        let outcome = self.ledger.ingest_with(bytes, now, &mut |a| persist(store, a, false).is_ok());
        self.track(&outcome);
        outcome
    }

    /// Like [`Replica::ingest`], but flushed inside the persist step: a frame
    /// this node was handed locally is accepted only once it is durable.
    pub fn ingest_durable(&mut self, bytes: &[u8], now: u64) -> Outcome {
        let store = &self.store;
        let outcome = self.ledger.ingest_with(bytes, now, &mut |a| persist(store, a, true).is_ok());
        self.track(&outcome);
        outcome
    }

    /// Ingests a batch of frames (e.g. a sync page) in order, each like
    /// [`Replica::ingest`]. Outcomes are in frame order.
    pub fn ingest_batch<B: AsRef<[u8]>>(&mut self, frames: &[B], now: u64) -> Vec<Outcome> {
        frames.iter().map(|f| self.ingest(f.as_ref(), now)).collect()
    }

    /// Ingests a page of frames in no causal order (a sync fetch answer),
    /// each like [`Replica::ingest`], in dependency order with retries (see
    /// [`ingest_page`]).
    pub fn ingest_page<B: AsRef<[u8]>>(&mut self, frames: &[B], now: u64) -> PageOutcome {
        ingest_page(frames, |f| self.ingest(f, now))
    }

    /// Signs `payload` with `key`, validates it exactly like a peer would,
    /// persists and flushes it. Returns the envelope to gossip only once it
    /// is durable, so an acknowledged post survives a crash.
    pub fn publish(&mut self, payload: &Payload, key: &AuthorKey, now: u64) -> Result<Envelope, PublishError> {
        self.publish_sealed(payload.seal(key), now)
    }

    /// Like [`Replica::publish`] for an envelope signed elsewhere (a
    /// moderator's key kept off the node). The signature is checked here.
    pub fn publish_signed(&mut self, bytes: &[u8], now: u64) -> Result<Envelope, PublishError> {
        let env = Envelope::open(bytes).map_err(PublishError::Rejected)?;
        self.publish_sealed(env, now)
    }

    /// Like [`Replica::publish`] for an envelope already signed (and, if it
    /// came from elsewhere, verified). The store write and its flush happen
    /// inside the ledger's persist step: a failed write or flush leaves the
    /// post uncommitted (the same post can be sent again), never half there.
    pub fn publish_sealed(&mut self, env: Envelope, now: u64) -> Result<Envelope, PublishError> {
        let store = &self.store;
        let mut failure = None;
        let outcome = self.ledger.admit_with(env.clone(), now, &mut |a| match persist(store, a, true) {
            Ok(()) => true,
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        });
        self.track(&outcome);
        match outcome.verdict {
            Verdict::Accept => Ok(env),
            Verdict::Ignore(IgnoreReason::StoreUnavailable) => match failure {
                Some(e) => Err(PublishError::Store(e)),
                None => Err(PublishError::Ignored(IgnoreReason::StoreUnavailable)),
            },
            Verdict::Ignore(r) => Err(PublishError::Ignored(r)),
            Verdict::Reject(r) => Err(PublishError::Rejected(r)),
        }
    }

    /// Applies retention: deletes alerts past expiry + retention (keeping
    /// tombstones), and trims in-memory windows. Returns alerts deleted.
    pub fn collect_garbage(&mut self, now: u64) -> Result<usize, StoreError> {
        let garbage = self.ledger.collect_garbage(now);
        // Tombstoned alerts leave the set too: a peer that still holds one
        // (its retention ran a little later) offers it, and fetching it
        // costs one `duplicate`; counting tombstones as items instead would
        // make a node that never saw them ask for them every round, and
        // nobody serves them.
        for id in garbage.alerts.iter().map(|(id, _)| id).chain(&garbage.messages).chain(&garbage.invites) {
            self.items.remove(id);
        }
        self.store.remove_garbage(&garbage)?;
        Ok(garbage.alerts.len())
    }

    /// Flushes the store.
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.store.flush()
    }
}

/// The ledger's persist step: writes one accepted message (and flushes it
/// when `durable`), logging a failure.
fn persist(store: &Store, accepted: &Accepted, durable: bool) -> Result<(), StoreError> {
    let written =
        store.insert(std::iter::once(accepted)).and_then(|()| if durable { store.flush().map(drop) } else { Ok(()) });
    if let Err(e) = &written {
        tracing::error!(error = %e, id = %accepted.envelope.id().to_hex(), "store write failed; message not accepted (it will be accepted when it comes again)");
    }
    written
}

#[cfg(test)]
mod tests;
