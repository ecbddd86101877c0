//! The sled store: the one module that knows sled 0.34.
//!
//! `messages` (id -> exact envelope bytes) is the source of truth; every
//! other tree is an index derived from it. Writes put the message first and
//! the indexes after, and [`Store::load_into`] repairs any index entry a
//! crash left out, so a kill at any point loses nothing that was flushed.
//! Locally posted messages are flushed before they are acknowledged.
//!
//! Trees and keys (integers big-endian so keys sort by them):
//! - `meta`: `schema_version` -> u32, `charter` -> SignedCharter bytes
//! - `messages`: id -> envelope bytes
//! - `by_time`: sent(8) id(32) -> kind(1) (what sync pages walk)
//! - `tombstones`: alert id(32) -> forget_after(8)
//!
//! Schema 1 also kept `by_author`, `by_ref` and `by_state` indexes that
//! nothing read (the ledger answers those questions from memory); opening a
//! schema 1 store deletes them and moves it to schema 2.

use std::path::{Path, PathBuf};

use crate::core::charter::{CharterError, SignedCharter};
use crate::core::envelope::Envelope;
use crate::core::ids::MessageId;
use crate::core::ledger::{Accepted, Garbage, Ledger};
use crate::core::message::Payload;

/// On-disk layout version; bump with a migration when keys change.
pub const SCHEMA_VERSION: u32 = 2;
/// Trees of schema 1 that schema 2 dropped.
const DROPPED_IN_SCHEMA_2: [&str; 3] = ["by_author", "by_ref", "by_state"];
/// Default sled page cache. sled's own default is 1 GiB, far past a home
/// server's budget (BENCHMARKS.md P8: the whole node <= 48 MiB).
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the data directory.
    #[error("the store at {0} is locked by another process (is stoopd already running?)")]
    Locked(PathBuf),
    /// sled found corrupt data.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// Written by a newer or older layout.
    #[error("store schema version {found} is not supported (this build uses {SCHEMA_VERSION})")]
    Schema {
        /// Version on disk.
        found: u32,
    },
    /// The stored charter does not parse.
    #[error("stored charter is invalid: {0}")]
    Charter(#[from] CharterError),
    /// A store with no charter was opened as a hood.
    #[error("the store holds no hood (run `stoopd init` or `stoopd join`)")]
    NoHood,
    /// The store already belongs to a different hood.
    #[error("the store already belongs to hood {0}")]
    OtherHood(String),
    /// Any other sled or I/O error.
    #[error("store I/O error: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Io(other.to_string()),
        }
    }
}

impl<E: std::fmt::Debug> From<sled::transaction::TransactionError<E>> for StoreError {
    fn from(e: sled::transaction::TransactionError<E>) -> Self {
        StoreError::Io(format!("{e:?}"))
    }
}

/// Where and how to open a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory (ignored for temporary stores).
    pub path: PathBuf,
    /// Page cache budget in bytes.
    pub cache_bytes: u64,
    /// Keep everything in a temporary directory removed on drop.
    pub temporary: bool,
    /// Background flush interval. `Some` gives each open store its own
    /// flusher thread; `None` flushes only on explicit [`Store::flush`]
    /// (local posts still flush before they are acknowledged). The simulator
    /// opens 1,000 stores in one process and cannot afford 1,000 threads.
    pub flush_every_ms: Option<u64>,
    /// sled's write buffer (segment) size; `None` keeps sled's 512 KiB. Each
    /// open store holds about one segment in memory.
    pub segment_bytes: Option<usize>,
}

/// Background flush interval of a daemon's store.
pub const DEFAULT_FLUSH_EVERY_MS: u64 = 1000;

impl StoreConfig {
    /// A persistent store at `path` with the default cache.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            temporary: false,
            flush_every_ms: Some(DEFAULT_FLUSH_EVERY_MS),
            segment_bytes: None,
        }
    }

    /// A throwaway store (simulator, tests).
    pub fn temporary(cache_bytes: u64) -> Self {
        Self { temporary: true, cache_bytes, ..Self::at(PathBuf::new()) }
    }
}

/// A page of envelope bytes and the cursor to continue after it (None when done).
pub type Page = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// What [`Store::load_into`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Messages restored into the ledger.
    pub messages: usize,
    /// Messages that no longer decode (kept out of the ledger, removed).
    pub dropped: usize,
    /// Index entries a crash had left out, now rewritten.
    pub repaired: usize,
    /// Tombstones restored.
    pub tombstones: usize,
}

/// The node's persistent store.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    messages: sled::Tree,
    by_time: sled::Tree,
    tombstones: sled::Tree,
    /// Test switch: every write fails while set (see [`Store::fail_writes`]).
    #[cfg(any(test, feature = "fault-injection"))]
    fail_writes: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn time_key(sent: u64, id: &MessageId) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&sent.to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

/// The alert a message refers to (votes, reports, reactions, updates, cancels).
pub fn reference_of(payload: &Payload) -> Option<MessageId> {
    match payload {
        Payload::Alert(a) => a.references,
        Payload::Report(r) => Some(r.alert),
        Payload::Vote(v) => Some(v.alert),
        Payload::Reaction(r) => Some(r.alert),
        _ => None,
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock"))
}

/// sled releases its file lock from a background thread shortly after the
/// last handle is dropped, so a reopen right after a close (a restart in the
/// same process) can briefly see it held. Retry for up to a second before
/// calling the directory locked.
fn open_with_retry(cfg: &sled::Config, path: &Path) -> Result<sled::Db, StoreError> {
    const ATTEMPTS: u32 = 50;
    for attempt in 1..=ATTEMPTS {
        match cfg.open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_error(&e) && attempt < ATTEMPTS => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) if is_lock_error(&e) => return Err(StoreError::Locked(path.to_path_buf())),
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Locked(path.to_path_buf()))
}

impl Store {
    /// Opens (creating if needed) a store.
    pub fn open(cfg: &StoreConfig) -> Result<Self, StoreError> {
        let mut sled_cfg = sled::Config::new()
            .cache_capacity(cfg.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(cfg.flush_every_ms);
        if let Some(bytes) = cfg.segment_bytes {
            sled_cfg = sled_cfg.segment_size(bytes);
        }
        sled_cfg = if cfg.temporary { sled_cfg.temporary(true) } else { sled_cfg.path(&cfg.path) };
        let db = open_with_retry(&sled_cfg, &cfg.path)?;
        let store = Self {
            meta: db.open_tree("meta")?,
            messages: db.open_tree("messages")?,
            by_time: db.open_tree("by_time")?,
            tombstones: db.open_tree("tombstones")?,
            #[cfg(any(test, feature = "fault-injection"))]
            fail_writes: Default::default(),
            db,
        };
        match store.meta.get("schema_version")? {
            None => {
                store.meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => match v.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0) {
                SCHEMA_VERSION => {}
                1 => store.migrate_from_1()?,
                found => return Err(StoreError::Schema { found }),
            },
        }
        Ok(store)
    }

    /// Schema 1 -> 2: deletes the indexes nothing read. The messages and
    /// the trees that stay are the same, so this is all there is to it; a
    /// crash halfway leaves version 1 and the next open drops the rest.
    fn migrate_from_1(&self) -> Result<(), StoreError> {
        for tree in DROPPED_IN_SCHEMA_2 {
            self.db.drop_tree(tree)?;
        }
        self.db.flush()?;
        self.meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
        self.db.flush()?;
        tracing::info!(from = 1, to = SCHEMA_VERSION, "store schema migrated");
        Ok(())
    }

    /// Makes every later write and flush fail (until called with `false`),
    /// as a full or failing disk would: for tests of what a node does then.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, std::sync::atomic::Ordering::SeqCst);
    }

    fn writable(&self) -> Result<(), StoreError> {
        #[cfg(any(test, feature = "fault-injection"))]
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Io("injected write failure".into()));
        }
        Ok(())
    }

    /// The hood this store belongs to, if any.
    pub fn charter(&self) -> Result<Option<SignedCharter>, StoreError> {
        match self.meta.get("charter")? {
            None => Ok(None),
            Some(b) => Ok(Some(SignedCharter::from_bytes(&b)?)),
        }
    }

    /// Records the hood this store belongs to (once), flushed.
    pub fn set_charter(&self, charter: &SignedCharter) -> Result<(), StoreError> {
        if let Some(existing) = self.charter()? {
            if existing.hood() != charter.hood() {
                return Err(StoreError::OtherHood(existing.hood().to_hex()));
            }
            return Ok(());
        }
        self.meta.insert("charter", charter.to_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Small node-level values (e.g. sync cursors).
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    /// Sets a node-level value.
    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.writable()?;
        self.meta.insert(key, value)?;
        Ok(())
    }

    /// Persists accepted messages and deletes the ones they supersede. Not flushed:
    /// call [`Store::flush`] before acknowledging a local post.
    pub fn insert<'a>(&self, accepted: impl IntoIterator<Item = &'a Accepted> + Clone) -> Result<(), StoreError> {
        // Source of truth first, so a crash between the two leaves at worst a
        // message without index entries, which load_into repairs. Plain
        // inserts: sled's Batch costs more than it saves at these sizes.
        self.writable()?;
        for a in accepted.clone() {
            self.messages.insert(a.envelope.id().as_bytes(), a.envelope.to_bytes())?;
        }
        for a in accepted.clone() {
            let id = a.envelope.id();
            self.by_time.insert(&time_key(a.payload.sent(), &id)[..], &[a.envelope.kind().code()])?;
        }
        // What the new messages replaced (a moderator's older vote, a later
        // cancel) goes last: a crash before this leaves both, and the
        // ledger replaces the old one again when it reloads them.
        for a in accepted {
            for old in &a.superseded {
                self.remove_message(old)?;
            }
        }
        Ok(())
    }

    /// Flushes everything written so far to disk; returns bytes flushed.
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.writable()?;
        Ok(self.db.flush()?)
    }

    /// The exact envelope bytes of a message.
    pub fn get(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.messages.get(id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// A stored message, decoded (it was verified when it arrived).
    pub fn envelope(&self, id: &MessageId) -> Result<Option<Envelope>, StoreError> {
        Ok(self.get(id)?.and_then(|b| Envelope::decode_unverified(&b).ok()))
    }

    /// A page of every stored message ordered by (sent, id), starting after
    /// `cursor` (the last key of the previous page) or at `since`: what the
    /// sync protocol serves. Returns the envelopes and the next cursor.
    pub fn page(&self, since: u64, cursor: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        let start = time_key(since, &MessageId::MIN);
        let iter = match cursor {
            Some(c) => self.by_time.range::<&[u8], _>((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded)),
            None => self.by_time.range::<&[u8], _>(&start[..]..),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (k, _) = kv?;
            let Ok(id) = MessageId::from_slice(&k[8..]) else { continue };
            if let Some(bytes) = self.get(&id)? {
                out.push(bytes);
            }
            if out.len() >= limit {
                return Ok((out, Some(k.to_vec())));
            }
        }
        Ok((out, None))
    }

    /// Every `(sent, id)` of the time index, in order: what the item set
    /// of sync v2 is rebuilt from at start.
    pub fn time_index(&self) -> Result<Vec<(u64, MessageId)>, StoreError> {
        let mut out = Vec::with_capacity(self.by_time.len());
        for kv in self.by_time.iter() {
            let (k, _) = kv?;
            let (Ok(sent), Ok(id)) =
                (<[u8; 8]>::try_from(&k[..8.min(k.len())]), MessageId::from_slice(&k[8.min(k.len())..]))
            else {
                continue;
            };
            out.push((u64::from_be_bytes(sent), id));
        }
        Ok(out)
    }

    /// Number of stored messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Deletes what retention collected and writes the tombstones.
    pub fn remove_garbage(&self, garbage: &Garbage) -> Result<(), StoreError> {
        self.writable()?;
        for (id, forget_after) in &garbage.alerts {
            self.tombstones.insert(id.as_bytes(), &forget_after.to_be_bytes())?;
            self.remove_message(id)?;
        }
        for id in &garbage.messages {
            self.remove_message(id)?;
        }
        for id in &garbage.forgotten {
            self.tombstones.remove(id.as_bytes())?;
        }
        for id in &garbage.invites {
            self.remove_message(id)?;
        }

        Ok(())
    }

    fn remove_message(&self, id: &MessageId) -> Result<(), StoreError> {
        let Some(env) = self.envelope(id)? else { return Ok(()) };
        if let Ok(payload) = Payload::decode(&env) {
            self.by_time.remove(&time_key(payload.sent(), id)[..])?;
        }
        self.messages.remove(id.as_bytes())?;
        Ok(())
    }

    /// Rebuilds `ledger` from the stored messages and tombstones, repairing
    /// time index entries a crash may have left out.
    pub fn load_into(&self, ledger: &mut Ledger) -> Result<LoadReport, StoreError> {
        let mut report = LoadReport::default();
        let mut envelopes = Vec::with_capacity(self.messages.len());
        for kv in self.messages.iter() {
            let (k, v) = kv?;
            match Envelope::decode_unverified(&v).and_then(|e| Payload::decode(&e).map(|p| (e, p))) {
                Ok((env, payload)) if env.id().as_bytes()[..] == k[..] => envelopes.push((env, payload)),
                _ => {
                    tracing::warn!(key = %hex::encode(&k), "dropping a stored message that no longer decodes");
                    self.messages.remove(k)?;
                    report.dropped += 1;
                }
            }
        }
        envelopes.sort_by_key(|(e, p)| (crate::core::ledger::dependency_rank(e.kind()), p.sent(), e.id()));
        for (env, payload) in &envelopes {
            if ledger.restore(env).is_err() {
                report.dropped += 1;
                continue;
            }
            report.messages += 1;
            let id = env.id();
            let sent = payload.sent();
            let kind = [env.kind().code()];
            if self.by_time.insert(&time_key(sent, &id)[..], &kind)?.is_none() {
                report.repaired += 1;
            }
        }
        for kv in self.tombstones.iter() {
            let (k, v) = kv?;
            if let (Ok(id), Ok(t)) = (MessageId::from_slice(&k), <[u8; 8]>::try_from(v.as_ref())) {
                ledger.restore_tombstone(id, u64::from_be_bytes(t));
                report.tombstones += 1;
            }
        }
        Ok(report)
    }
}

/// Whether a sled directory exists at `path` (it has a `db` file).
pub fn exists(path: &Path) -> bool {
    path.join("db").exists() || path.join("conf").exists()
}

#[cfg(test)]
mod tests;
