//! The ledger's verdict on a write, as an HTTP answer. Every endpoint that
//! stores a message (signed here or elsewhere) answers through [`Answer`],
//! so one verdict has one status and one reason code everywhere, the same
//! code gossip logs and counts (`docs/PROTOCOL.md` section 11).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::core::envelope::{Envelope, Kind};
use crate::core::ids::MessageId;
use crate::core::verdict::{IgnoreReason, Verdict};
use crate::replica::PublishError;

/// The status for a verdict.
///
/// Accept is 201. Pending is 202: the message is valid so far and held in
/// memory until the alert it refers to arrives, but neither stored nor
/// forwarded yet. A rate limit is 429 and a local store failure 503, since
/// retrying later can help; every other Ignore is 409 (the message adds
/// nothing here) and every Reject 422 (no honest node would take it).
pub fn verdict_status(verdict: &Verdict) -> StatusCode {
    match verdict {
        Verdict::Accept => StatusCode::CREATED,
        Verdict::Ignore(IgnoreReason::Pending) => StatusCode::ACCEPTED,
        Verdict::Ignore(IgnoreReason::OverQuota) => StatusCode::TOO_MANY_REQUESTS,
        Verdict::Ignore(IgnoreReason::StoreUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
        Verdict::Ignore(_) => StatusCode::CONFLICT,
        Verdict::Reject(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// What the ledger decided about one message, and which message.
#[derive(Debug)]
pub struct Answer {
    verdict: Verdict,
    id: Option<MessageId>,
    kind: Option<Kind>,
}

impl Answer {
    /// The verdict on a frame whose id and kind are known as far as it decoded.
    pub(super) fn new(verdict: Verdict, id: Option<MessageId>, kind: Option<Kind>) -> Self {
        Self { verdict, id, kind }
    }

    /// An accepted, durable message.
    pub(super) fn accepted(env: &Envelope) -> Self {
        Self::new(Verdict::Accept, Some(env.id()), Some(env.kind()))
    }

    /// A local publish refused by the ledger (a refusal does not carry the
    /// envelope, so no id), or an error if the store failed.
    pub(super) fn refused(e: PublishError) -> Result<Self, ApiError> {
        match e {
            PublishError::Rejected(r) => Ok(Self::new(Verdict::Reject(r), None, None)),
            PublishError::Ignored(r) => Ok(Self::new(Verdict::Ignore(r), None, None)),
            PublishError::Store(e) => Err(ApiError::store(&e)),
            PublishError::Stopped => Err(ApiError::stopped(&"the node is shutting down")),
        }
    }

    /// Whether the ledger accepted the message.
    pub(super) fn is_accept(&self) -> bool {
        self.verdict == Verdict::Accept
    }

    /// `id` and `kind`, where known.
    fn names(&self) -> Map<String, Value> {
        let mut body = Map::new();
        if let Some(id) = self.id {
            body.insert("id".into(), json!(id.to_hex()));
        }
        if let Some(kind) = self.kind {
            body.insert("kind".into(), json!(kind.name()));
        }
        body
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = verdict_status(&self.verdict);
        let message = match &self.verdict {
            Verdict::Accept => return (status, Json(Value::Object(self.names()))).into_response(),
            Verdict::Ignore(IgnoreReason::Pending) => {
                let mut body = self.names();
                body.insert("verdict".into(), json!(self.verdict.kind()));
                body.insert("reason".into(), json!(self.verdict.code()));
                body.insert(
                    "message".into(),
                    json!("held in memory until the alert it refers to arrives; not stored or forwarded yet"),
                );
                return (status, Json(Value::Object(body))).into_response();
            }
            Verdict::Ignore(r) => format!("not accepted: {r}"),
            Verdict::Reject(r) => format!("rejected: {r}"),
        };
        ApiError::new(status, self.verdict.code(), message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verdict::RejectReason;

    #[test]
    fn one_status_per_verdict() {
        let cases = [
            (Verdict::Accept, 201),
            (Verdict::Ignore(IgnoreReason::Pending), 202),
            (Verdict::Ignore(IgnoreReason::Duplicate), 409),
            (Verdict::Ignore(IgnoreReason::Expired), 409),
            (Verdict::Ignore(IgnoreReason::PendingFull), 409),
            (Verdict::Ignore(IgnoreReason::StaleRoster), 409),
            (Verdict::Ignore(IgnoreReason::AlreadyCounted), 409),
            (Verdict::Ignore(IgnoreReason::OverQuota), 429),
            (Verdict::Ignore(IgnoreReason::StoreUnavailable), 503),
            (Verdict::Reject(RejectReason::NotMember), 422),
            (Verdict::Reject(RejectReason::NonCanonical), 422),
        ];
        for (verdict, status) in cases {
            assert_eq!(verdict_status(&verdict).as_u16(), status, "{verdict:?}");
        }
    }
}
