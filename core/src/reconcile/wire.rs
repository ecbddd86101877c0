//! Domain forms of the sync v2 messages and their checked conversions from
//! and to the protobuf types (`stoop.v1.Reconcile*`, `Fetch*`).

use prost::Message as _;
use stoop_proto::v1 as pb;

use super::item::{Bound, FINGERPRINT_LEN, Fingerprint};
use super::{
    ID_LIST_THRESHOLD, MAX_FETCH_IDS, MAX_IDS_PER_MESSAGE, MAX_MESSAGE_BYTES, MAX_RANGES_PER_MESSAGE, ReconcileError,
};
use crate::envelope::MAX_ENVELOPE_BYTES;
use crate::ids::{HoodId, MessageId};

/// Longest session id: 16 random bytes never repeat between two peers.
pub const MAX_SESSION_ID_LEN: usize = 16;

/// What a range says about the sender's items in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeBody {
    /// Nothing (settled, or left for later).
    Skip,
    /// The fingerprint of the sender's items in the range.
    Fingerprint(Fingerprint),
    /// All of the sender's ids in the range (at most
    /// [`ID_LIST_THRESHOLD`]); the receiver answers with a `Diff`.
    Ids(Vec<MessageId>),
    /// The answer to `Ids`: the difference, each side at most
    /// [`ID_LIST_THRESHOLD`].
    Diff {
        /// Ids the sender holds in the range that the receiver did not list.
        you_lack: Vec<MessageId>,
        /// Ids the receiver listed that the sender does not hold.
        i_lack: Vec<MessageId>,
    },
}

impl RangeBody {
    /// How many ids this body carries.
    pub fn id_count(&self) -> usize {
        match self {
            RangeBody::Ids(ids) => ids.len(),
            RangeBody::Diff { you_lack, i_lack } => you_lack.len() + i_lack.len(),
            RangeBody::Skip | RangeBody::Fingerprint(_) => 0,
        }
    }
}

/// A range `[previous upper, upper)` and what the sender says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Exclusive upper bound; the lower bound is the previous range's upper
    /// bound ([`Bound::START`] for the first).
    pub upper: Bound,
    /// The sender's statement.
    pub body: RangeBody,
}

/// An opaque session id chosen by the initiator (1 to 16 bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(Vec<u8>);

impl SessionId {
    /// A session id from bytes, checked for length.
    pub fn new(bytes: &[u8]) -> Result<Self, ReconcileError> {
        if bytes.is_empty() || bytes.len() > MAX_SESSION_ID_LEN {
            return Err(ReconcileError::BadSession);
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Initiator to responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRequest {
    /// The hood whose set is reconciled.
    pub hood: HoodId,
    /// The session this message belongs to.
    pub session: SessionId,
    /// The ranges, covering the whole order (or empty).
    pub ranges: Vec<Range>,
}

/// Responder to initiator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileResponse {
    /// Echo of the request's session.
    pub session: SessionId,
    /// The ranges, covering the whole order (or empty).
    pub ranges: Vec<Range>,
}

/// Ask a peer for envelopes by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The hood.
    pub hood: HoodId,
    /// At most [`MAX_FETCH_IDS`] ids.
    pub ids: Vec<MessageId>,
}

/// The envelopes a peer holds of those asked (exact stored bytes, unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// At most [`MAX_FETCH_IDS`] envelopes, each at most `MAX_ENVELOPE_BYTES`.
    pub envelopes: Vec<Vec<u8>>,
}

/// Checks the limits and the shape of a range list: at most
/// [`MAX_RANGES_PER_MESSAGE`] ranges and [`MAX_IDS_PER_MESSAGE`] ids, at
/// most [`ID_LIST_THRESHOLD`] ids per list, upper bounds strictly
/// increasing, the last one the end bound.
pub fn check_ranges(ranges: &[Range]) -> Result<(), ReconcileError> {
    if ranges.len() > MAX_RANGES_PER_MESSAGE {
        return Err(ReconcileError::TooManyRanges);
    }
    let long_list = |r: &Range| match &r.body {
        RangeBody::Ids(ids) => ids.len() > ID_LIST_THRESHOLD,
        RangeBody::Diff { you_lack, i_lack } => you_lack.len() > ID_LIST_THRESHOLD || i_lack.len() > ID_LIST_THRESHOLD,
        RangeBody::Skip | RangeBody::Fingerprint(_) => false,
    };
    if ranges.iter().any(long_list) {
        return Err(ReconcileError::IdListTooLong);
    }
    if ranges.iter().map(|r| r.body.id_count()).sum::<usize>() > MAX_IDS_PER_MESSAGE {
        return Err(ReconcileError::TooManyIds);
    }
    if ranges.windows(2).any(|w| w[0].upper >= w[1].upper) {
        return Err(ReconcileError::UnorderedRanges);
    }
    match ranges.last() {
        Some(r) if r.upper != Bound::End => Err(ReconcileError::IncompleteCover),
        _ => Ok(()),
    }
}

fn ids_from_pb(ids: &[Vec<u8>]) -> Result<Vec<MessageId>, ReconcileError> {
    if ids.len() > ID_LIST_THRESHOLD {
        return Err(ReconcileError::IdListTooLong);
    }
    ids.iter().map(|b| MessageId::from_slice(b).map_err(|_| ReconcileError::BadId)).collect()
}

fn ids_to_pb(ids: &[MessageId]) -> Vec<Vec<u8>> {
    ids.iter().map(|id| id.as_bytes().to_vec()).collect()
}

fn range_from_pb(r: pb::ReconcileRange) -> Result<Range, ReconcileError> {
    let upper = Bound::from_parts(r.upper_sent, &r.upper_id_prefix).ok_or(ReconcileError::BadBound)?;
    let body = match r.body {
        None => return Err(ReconcileError::MissingBody),
        Some(pb::reconcile_range::Body::Skip(_)) => RangeBody::Skip,
        Some(pb::reconcile_range::Body::Fingerprint(fp)) => {
            let fp: [u8; FINGERPRINT_LEN] = fp.as_slice().try_into().map_err(|_| ReconcileError::BadFingerprint)?;
            RangeBody::Fingerprint(Fingerprint(fp))
        }
        Some(pb::reconcile_range::Body::Ids(list)) => RangeBody::Ids(ids_from_pb(&list.ids)?),
        Some(pb::reconcile_range::Body::Diff(d)) => {
            RangeBody::Diff { you_lack: ids_from_pb(&d.you_lack)?, i_lack: ids_from_pb(&d.i_lack)? }
        }
    };
    Ok(Range { upper, body })
}

fn ranges_from_pb(ranges: Vec<pb::ReconcileRange>) -> Result<Vec<Range>, ReconcileError> {
    // Counted before converting so an oversized list costs no allocation.
    if ranges.len() > MAX_RANGES_PER_MESSAGE {
        return Err(ReconcileError::TooManyRanges);
    }
    let out = ranges.into_iter().map(range_from_pb).collect::<Result<Vec<_>, _>>()?;
    check_ranges(&out)?;
    Ok(out)
}

fn range_to_pb(r: &Range) -> pb::ReconcileRange {
    let (upper_sent, prefix) = r.upper.to_parts();
    let body = match &r.body {
        RangeBody::Skip => pb::reconcile_range::Body::Skip(true),
        RangeBody::Fingerprint(fp) => pb::reconcile_range::Body::Fingerprint(fp.0.to_vec()),
        RangeBody::Ids(ids) => pb::reconcile_range::Body::Ids(pb::ReconcileIds { ids: ids_to_pb(ids) }),
        RangeBody::Diff { you_lack, i_lack } => pb::reconcile_range::Body::Diff(pb::ReconcileDiff {
            you_lack: ids_to_pb(you_lack),
            i_lack: ids_to_pb(i_lack),
        }),
    };
    pb::ReconcileRange { upper_sent, upper_id_prefix: prefix.to_vec(), body: Some(body) }
}

/// Decodes wire bytes after checking their length against `max`.
fn decode_capped<M: prost::Message + Default>(bytes: &[u8], max: usize) -> Result<M, ReconcileError> {
    if bytes.len() > max {
        return Err(ReconcileError::MessageTooLarge);
    }
    M::decode(bytes).map_err(|_| ReconcileError::Malformed)
}

impl TryFrom<pb::ReconcileRequest> for ReconcileRequest {
    type Error = ReconcileError;
    fn try_from(m: pb::ReconcileRequest) -> Result<Self, ReconcileError> {
        Ok(Self {
            hood: HoodId::from_slice(&m.hood).map_err(|_| ReconcileError::BadHood)?,
            session: SessionId::new(&m.session)?,
            ranges: ranges_from_pb(m.ranges)?,
        })
    }
}

impl From<&ReconcileRequest> for pb::ReconcileRequest {
    fn from(m: &ReconcileRequest) -> Self {
        Self {
            hood: m.hood.as_bytes().to_vec(),
            session: m.session.as_bytes().to_vec(),
            ranges: m.ranges.iter().map(range_to_pb).collect(),
        }
    }
}

impl TryFrom<pb::ReconcileResponse> for ReconcileResponse {
    type Error = ReconcileError;
    fn try_from(m: pb::ReconcileResponse) -> Result<Self, ReconcileError> {
        Ok(Self { session: SessionId::new(&m.session)?, ranges: ranges_from_pb(m.ranges)? })
    }
}

impl From<&ReconcileResponse> for pb::ReconcileResponse {
    fn from(m: &ReconcileResponse) -> Self {
        Self { session: m.session.as_bytes().to_vec(), ranges: m.ranges.iter().map(range_to_pb).collect() }
    }
}

impl ReconcileRequest {
    /// Decodes and checks wire bytes (at most [`MAX_MESSAGE_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReconcileError> {
        decode_capped::<pb::ReconcileRequest>(bytes, MAX_MESSAGE_BYTES)?.try_into()
    }

    /// Wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::ReconcileRequest::from(self).encode_to_vec()
    }
}

impl ReconcileResponse {
    /// Decodes and checks wire bytes (at most [`MAX_MESSAGE_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReconcileError> {
        decode_capped::<pb::ReconcileResponse>(bytes, MAX_MESSAGE_BYTES)?.try_into()
    }

    /// Wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::ReconcileResponse::from(self).encode_to_vec()
    }
}

/// Most bytes of an encoded fetch request: the ids and a hood, with tags.
pub const MAX_FETCH_REQUEST_BYTES: usize = MAX_FETCH_IDS * 34 + 64;
/// Most bytes of an encoded fetch response: full envelopes with length
/// prefixes (3 bytes each for 16 KiB) and tags.
pub const MAX_FETCH_RESPONSE_BYTES: usize = MAX_FETCH_IDS * (MAX_ENVELOPE_BYTES + 4);

impl TryFrom<pb::FetchRequest> for FetchRequest {
    type Error = ReconcileError;
    fn try_from(m: pb::FetchRequest) -> Result<Self, ReconcileError> {
        if m.ids.len() > MAX_FETCH_IDS {
            return Err(ReconcileError::TooManyIds);
        }
        Ok(Self {
            hood: HoodId::from_slice(&m.hood).map_err(|_| ReconcileError::BadHood)?,
            ids: m
                .ids
                .iter()
                .map(|b| MessageId::from_slice(b).map_err(|_| ReconcileError::BadId))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&FetchRequest> for pb::FetchRequest {
    fn from(m: &FetchRequest) -> Self {
        Self { hood: m.hood.as_bytes().to_vec(), ids: m.ids.iter().map(|id| id.as_bytes().to_vec()).collect() }
    }
}

impl TryFrom<pb::FetchResponse> for FetchResponse {
    type Error = ReconcileError;
    fn try_from(m: pb::FetchResponse) -> Result<Self, ReconcileError> {
        if m.envelopes.len() > MAX_FETCH_IDS {
            return Err(ReconcileError::TooManyIds);
        }
        if m.envelopes.iter().any(|e| e.len() > MAX_ENVELOPE_BYTES) {
            return Err(ReconcileError::MessageTooLarge);
        }
        Ok(Self { envelopes: m.envelopes })
    }
}

impl From<&FetchResponse> for pb::FetchResponse {
    fn from(m: &FetchResponse) -> Self {
        Self { envelopes: m.envelopes.clone() }
    }
}

impl FetchRequest {
    /// Pages of at most [`MAX_FETCH_IDS`] ids covering `need`, in order.
    pub fn pages(hood: HoodId, need: &[MessageId]) -> Vec<FetchRequest> {
        need.chunks(MAX_FETCH_IDS).map(|c| FetchRequest { hood, ids: c.to_vec() }).collect()
    }

    /// Decodes and checks wire bytes (at most [`MAX_FETCH_REQUEST_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReconcileError> {
        decode_capped::<pb::FetchRequest>(bytes, MAX_FETCH_REQUEST_BYTES)?.try_into()
    }

    /// Wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::FetchRequest::from(self).encode_to_vec()
    }
}

impl FetchResponse {
    /// Decodes and checks wire bytes (at most [`MAX_FETCH_RESPONSE_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReconcileError> {
        decode_capped::<pb::FetchResponse>(bytes, MAX_FETCH_RESPONSE_BYTES)?.try_into()
    }

    /// Wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::FetchResponse::from(self).encode_to_vec()
    }
}
