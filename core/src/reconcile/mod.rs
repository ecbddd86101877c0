//! Sync v2: range-based set reconciliation (RBSR) of a hood's message ids.
//!
//! Two nodes hold sets of items `(sent, id)` ordered by `(sent, id)`. The
//! initiator sends one fingerprint of its whole set; each side answers every
//! range whose fingerprint differs from its own by splitting it into
//! [`BRANCHING`] sub-ranges with fingerprints, or, when it holds at most
//! [`ID_LIST_THRESHOLD`] items there, by listing its ids, which the peer
//! answers with the difference both ways. Matching ranges are skipped. Each side learns, per message, the ids it holds that the
//! peer lacks (`have`) and those the peer holds that it lacks (`need`), and
//! fetches what it needs with [`FetchRequest`] pages. Two sets in sync cost
//! one fingerprint each way; a difference of `d` costs about
//! `d * log_B(n)` ranges, whatever the outage length (after Aljoscha
//! Meyer's "Range-Based Set Reconciliation"; Nostr NIP-77 / negentropy and
//! Waku Store Sync use the same scheme).
//!
//! # Why not the `negentropy` crate
//! `negentropy` 0.5.3 (MIT, no dependencies, sans-IO) implements the same
//! idea with its own varint wire format. We implement it here instead
//! because: (1) our wire is protobuf like every other stoop.v1 message, so
//! a second implementation needs one codec and the `TryFrom` edge checks
//! sizes as everywhere else; (2) we need named per-message and per-session
//! limits on both sides ([`MAX_RANGES_PER_MESSAGE`], [`MAX_IDS_PER_MESSAGE`],
//! [`MAX_ROUNDS`]) where the crate only bounds the initiator's frame size;
//! (3) we want both sides to learn the difference (so the responder can
//! fetch too), where negentropy tells only the initiator; (4) its storage
//! trait is index-based, while ours is bound-based to fit a sled tree
//! keyed by `sent || id`. The core is a few hundred lines and property-tested.
//!
//! # Fingerprints and collisions
//! A range's fingerprint is SHA-256(tag || sum of its ids mod 2^256 ||
//! count), cut to 16 bytes ([`item::Accumulator`]). The sum is incremental
//! (prefix or bucket sums, also on sled). Ids are SHA-256 outputs, so for
//! honest data two different ranges match with probability 2^-128. A member
//! who grinds message ids could build two different sets with the same sum
//! (a generalized-birthday search over k ids costs about
//! 2^(256 / (1 + log2 k))), but must publish those k signed messages within
//! the posting quotas, and the effect is only that peers holding the two
//! sets believe that range settled until any item in it changes; gossip and
//! sessions with other peers still deliver. Per-session salted hashing
//! would close this at the cost of cacheable sums; not done in this draft.
//!
//! # What is in the set
//! Every stored, validated message of the hood: alerts (with updates and
//! cancels), votes, reports, reactions, invites, joins, revocations and
//! roster changes; not pending messages (they may never validate), not
//! replaced ones, and not tombstoned ids. Tombstones stay out because a
//! node that never saw a deleted alert would otherwise need it in every
//! session while nobody serves it; a tombstoned id that a peer (whose
//! retention ran a little later) still offers is fetched once and refused
//! by the ledger as `duplicate` (later `expired`), so it never comes back.
//! Children of a deleted alert are forgotten the same way. Two peers whose
//! retention ran at different times thus differ for at most one
//! collection period.
//!
//! # Layout
//! - [`item`]: items, bounds, incremental fingerprints.
//! - [`set`]: the [`ItemSet`] view of the local set and an in-memory one.
//! - [`index`]: the node's live set ([`ItemIndex`]), kept with the ledger.
//! - [`session`]: the state machine ([`Reconciler`]).
//! - [`wire`]: domain messages and checked protobuf conversions.

pub mod index;
pub mod item;
pub mod session;
pub mod set;
pub mod wire;

#[cfg(test)]
mod tests;

pub use index::ItemIndex;
pub use item::{Bound, Fingerprint, Item};
pub use session::{Reconciler, Role, Step};
pub use set::{ItemSet, MemSet, StoreError};
pub use wire::{FetchRequest, FetchResponse, Range, RangeBody, ReconcileRequest, ReconcileResponse, SessionId};

/// Sub-ranges a mismatched range is split into. 16 keeps a round's ranges
/// for one difference (16 x ~30 bytes) about the size of one id list, and a
/// set of a million items 5 levels deep.
pub const BRANCHING: usize = 16;

/// A range holding at most this many of the sender's items is sent as ids
/// rather than split: 16 ids (~550 bytes) cost about what 16 fingerprinted
/// sub-ranges do, and end the descent.
pub const ID_LIST_THRESHOLD: usize = 16;

/// Most ranges in one message. A peer can make us compute one fingerprint
/// per range (a binary search each in memory, a bounded bucket scan on
/// sled); 2048 ranges of at most 66 bytes are ~135 KiB. Enough for 128
/// differences to be split per round.
pub const MAX_RANGES_PER_MESSAGE: usize = 2048;

/// Most ids in one message, over all its id lists: 8192 x 34 bytes = 272
/// KiB. A peer can make us compare and report at most this many per round.
pub const MAX_IDS_PER_MESSAGE: usize = 8192;

/// Most bytes of an encoded reconcile message; checked before decoding. The
/// two count limits above fit within it (135 + 272 KiB plus the header).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;

/// Most messages one side handles in a session. A catch-up of 100,000
/// items from nothing takes ~100 (a diff carries at most 16 ids, a message
/// at most ~256 diffs), so this allows ~250,000; beyond that a peer is
/// lying, or the gap is for the paged v1 sync. The session's total work and
/// the ids it can report are at most this times the per-message limits.
pub const MAX_ROUNDS: u32 = 256;

/// Most ids in one fetch request (and envelopes in its response), like a
/// v1 sync page: 256 x 16 KiB = 4 MiB at most per response.
pub const MAX_FETCH_IDS: usize = 256;

/// Why a reconciliation message or session was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// Encoded message over its byte limit.
    #[error("message_too_large")]
    MessageTooLarge,
    /// Not a valid protobuf message.
    #[error("malformed")]
    Malformed,
    /// An id list or diff side over [`ID_LIST_THRESHOLD`] ids.
    #[error("id_list_too_long")]
    IdListTooLong,
    /// More than [`MAX_RANGES_PER_MESSAGE`] ranges.
    #[error("too_many_ranges")]
    TooManyRanges,
    /// More than [`MAX_IDS_PER_MESSAGE`] ids (or [`MAX_FETCH_IDS`] in a fetch).
    #[error("too_many_ids")]
    TooManyIds,
    /// Range upper bounds not strictly increasing.
    #[error("unordered_ranges")]
    UnorderedRanges,
    /// The last range does not end at the end bound.
    #[error("incomplete_cover")]
    IncompleteCover,
    /// An id prefix over 32 bytes.
    #[error("bad_bound")]
    BadBound,
    /// A range with no body.
    #[error("missing_body")]
    MissingBody,
    /// A fingerprint that is not 16 bytes.
    #[error("bad_fingerprint")]
    BadFingerprint,
    /// An id that is not 32 bytes.
    #[error("bad_id")]
    BadId,
    /// A hood id that is not 32 bytes.
    #[error("bad_hood")]
    BadHood,
    /// A session id that is empty or over 16 bytes.
    #[error("bad_session")]
    BadSession,
    /// More than [`MAX_ROUNDS`] messages in the session.
    #[error("too_many_rounds")]
    TooManyRounds,
    /// A message after the session ended.
    #[error("session_finished")]
    SessionFinished,
    /// The local store failed.
    #[error("store_failed")]
    Store(#[from] StoreError),
}

impl ReconcileError {
    /// The snake_case reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MessageTooLarge => "message_too_large",
            Self::Malformed => "malformed",
            Self::TooManyRanges => "too_many_ranges",
            Self::IdListTooLong => "id_list_too_long",
            Self::TooManyIds => "too_many_ids",
            Self::UnorderedRanges => "unordered_ranges",
            Self::IncompleteCover => "incomplete_cover",
            Self::BadBound => "bad_bound",
            Self::MissingBody => "missing_body",
            Self::BadFingerprint => "bad_fingerprint",
            Self::BadId => "bad_id",
            Self::BadHood => "bad_hood",
            Self::BadSession => "bad_session",
            Self::TooManyRounds => "too_many_rounds",
            Self::SessionFinished => "session_finished",
            Self::Store(_) => "store_failed",
        }
    }
}
