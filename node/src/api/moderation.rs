//! Moderation: the review queue, votes, the moderator roster and the
//! public moderation log.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::alerts::require_alert;
use super::error::{ApiError, ApiJson};
use super::publish::publish;
use super::verdict::Answer;
use super::views;
use super::{ApiState, enum_field, parse_id, read};
use crate::core::ids::MessageId;
use crate::core::keys::PublicKey;
use crate::core::message::{Decision, Payload, ReportReason, RosterChange, RosterOp, Vote};
use crate::replica::Replica;

pub(super) async fn queue(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "queue": read(&s, views::queue).await? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VoteRequest {
    alert: String,
    decision: String,
    reason: Option<String>,
    #[serde(default)]
    note: String,
}

pub(super) async fn vote(State(s): State<ApiState>, ApiJson(req): ApiJson<VoteRequest>) -> Result<Answer, ApiError> {
    let alert = parse_id(&req.alert)?;
    let decision = enum_field("decision", Some(&req.decision), Decision::parse, Decision::Hide)?;
    let reason = match req.reason.as_deref() {
        None if decision == Decision::Hide => {
            return Err(ApiError::bad_request("invalid_field", "reason: required for a hide vote"));
        }
        None => None,
        Some(r) => Some(enum_field("reason", Some(r), ReportReason::parse, ReportReason::Spam)?),
    };
    let hood = s.node.hood();
    let now = s.node.now();
    let sent = read(&s, move |r| require_alert(r, &alert).map(|_| vote_time(r, &alert, now))).await??;
    publish(&s, Payload::Vote(Vote { hood, alert, decision, reason, note: req.note, sent })).await
}

/// A vote is signed later than every vote this node has seen on the alert.
/// Times are whole seconds and the tally orders votes by (sent, id), so
/// without this a restore cast in the same second as the hide it answers
/// could sort before it.
fn vote_time(replica: &Replica, alert: &MessageId, now: u64) -> u64 {
    let latest = replica.ledger().alert(alert).and_then(|m| m.votes.iter().map(|v| v.sent).max());
    latest.map_or(now, |t| now.max(t + 1))
}

pub(super) async fn roster(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(read(&s, roster_view).await?))
}

fn roster_view(replica: &Replica) -> Value {
    let book = replica.ledger().roster_book();
    let r = book.current();
    json!({
        "version": r.version,
        "quorum": r.quorum,
        "moderators": r.moderators.iter().map(PublicKey::to_hex).collect::<Vec<_>>(),
        "history": book.history(),
        "pending": book.signatures().iter().filter(|sig| sig.base_version >= r.version).map(|sig| json!({
            "id": sig.id.to_hex(), "signer": sig.signer.to_hex(), "base_version": sig.base_version, "change": sig.op, "sent": sig.sent,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RosterRequest {
    /// `add`, `remove` or `quorum`.
    op: String,
    key: Option<String>,
    quorum: Option<u32>,
}

pub(super) async fn roster_change(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<RosterRequest>,
) -> Result<Answer, ApiError> {
    let key = || -> Result<PublicKey, ApiError> {
        let k = req.key.as_deref().ok_or_else(|| ApiError::bad_request("invalid_field", "key: required"))?;
        PublicKey::from_hex(k)
            .map_err(|_| ApiError::bad_request("bad_key", "key: expected 64 hex digits of a valid key"))
    };
    let op = match req.op.as_str() {
        "add" => RosterOp::AddModerator(key()?),
        "remove" => RosterOp::RemoveModerator(key()?),
        "quorum" => {
            RosterOp::SetQuorum(req.quorum.ok_or_else(|| ApiError::bad_request("invalid_field", "quorum: required"))?)
        }
        other => {
            return Err(ApiError::bad_request("invalid_field", format!("op: {other:?} is not add, remove or quorum")));
        }
    };
    let (hood, base_version) = read(&s, |r| (r.ledger().hood(), r.ledger().roster().version)).await?;
    publish(&s, Payload::RosterChange(RosterChange { hood, base_version, op, sent: s.node.now() })).await
}

pub(super) async fn mod_log(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(read(&s, views::moderation_log).await?))
}
