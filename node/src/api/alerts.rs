//! Alerts: the feed, one alert, and posting, updating, cancelling,
//! reacting to and reporting an alert.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiJson, optional_json};
use super::publish::publish;
use super::verdict::Answer;
use super::views::{self, AlertDetail};
use super::{ApiState, enum_field, parse_id, read};
use crate::core::charter::Charter;
use crate::core::ids::MessageId;
use crate::core::ledger::{AlertMeta, AlertState};
use crate::core::message::{
    Alert, Certainty, MsgType, Payload, Reaction, ReactionKind, Report, ReportReason, Severity, Status, Urgency,
};
use crate::replica::Replica;

/// The alert `id` as this node holds it, or 404 `unknown_alert`.
///
/// Every handler that signs a message about an alert on the user's behalf
/// asks this first. Cancel needs the original's category and area, and a
/// vote the votes already cast, to build the payload at all; and for all of
/// them a reference the ledger would hold as `pending` lives only in memory,
/// so acknowledging it would break the promise that an answered local post
/// is durable, and it is almost always a mistyped id. This is a condition
/// for signing, not a rule about messages: a frame signed elsewhere goes to
/// the ledger unchecked (`POST /v1/messages`).
pub(super) fn require_alert<'r>(replica: &'r Replica, id: &MessageId) -> Result<&'r AlertMeta, ApiError> {
    replica.ledger().alert(id).ok_or_else(|| ApiError::unknown_alert(id))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    since: Option<u64>,
    category: Option<String>,
    state: Option<String>,
    include_hidden: Option<bool>,
    limit: Option<usize>,
}

pub(super) async fn list_alerts(
    State(s): State<ApiState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(name) => Some(AlertState::parse(name).ok_or_else(|| {
            ApiError::bad_request("bad_state", format!("{name:?} is not visible, hidden, cancelled or withdrawn"))
        })?),
    };
    let since = q.since.unwrap_or(0);
    let include_hidden = q.include_hidden.unwrap_or(false);
    let limit = q.limit.unwrap_or(100).min(1000);
    let category = q.category;
    let alerts = read(&s, move |r| views::list(r, since, category.as_deref(), state, include_hidden, limit)).await?;
    Ok(Json(json!({ "alerts": alerts })))
}

pub(super) async fn get_alert(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let id = parse_id(&id)?;
    read(&s, move |r| views::detail(r, &id)).await?.map(Json).ok_or_else(|| ApiError::unknown_alert(&id))
}

/// A new alert as the API takes it. Optional CAP fields get sensible defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRequest {
    category: String,
    event: String,
    headline: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    instruction: String,
    severity: Option<String>,
    urgency: Option<String>,
    certainty: Option<String>,
    status: Option<String>,
    area: Option<String>,
    /// Lifetime in seconds (default: the category's maximum, capped at 6 hours).
    expires_in: Option<u64>,
}

pub(super) fn build_alert(
    charter: &Charter,
    hood: crate::core::ids::HoodId,
    req: AlertRequest,
    msg_type: MsgType,
    references: Option<MessageId>,
    now: u64,
) -> Result<Alert, ApiError> {
    let rule = charter.category(&req.category).ok_or_else(|| {
        let names: Vec<&str> = charter.categories.iter().map(|c| c.name.as_str()).collect();
        ApiError::bad_request("unknown_category", format!("{:?} is not one of: {}", req.category, names.join(", ")))
    })?;
    let lifetime = req.expires_in.unwrap_or(rule.max_lifetime_secs.min(6 * 3600));
    let area = match req.area {
        Some(a) => a.to_ascii_lowercase(),
        None => charter.area.first().map(|c| c.as_str().to_owned()).unwrap_or_default(),
    };
    Ok(Alert {
        hood,
        category: req.category,
        event: req.event,
        urgency: enum_field("urgency", req.urgency.as_deref(), Urgency::parse, Urgency::Expected)?,
        severity: enum_field("severity", req.severity.as_deref(), Severity::parse, Severity::Minor)?,
        certainty: enum_field("certainty", req.certainty.as_deref(), Certainty::parse, Certainty::Observed)?,
        status: enum_field("status", req.status.as_deref(), Status::parse, Status::Actual)?,
        msg_type,
        references,
        headline: req.headline,
        description: req.description,
        instruction: req.instruction,
        area,
        sent: now,
        expires: now.saturating_add(lifetime),
    })
}

pub(super) async fn post_alert(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<AlertRequest>,
) -> Result<Answer, ApiError> {
    let now = s.node.now();
    let alert = read(&s, move |r| build_alert(r.ledger().charter(), r.ledger().hood(), req, MsgType::Alert, None, now))
        .await??;
    publish(&s, Payload::Alert(alert)).await
}

pub(super) async fn update_alert(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AlertRequest>,
) -> Result<Answer, ApiError> {
    let id = parse_id(&id)?;
    let now = s.node.now();
    let alert = read(&s, move |r| {
        require_alert(r, &id)?;
        build_alert(r.ledger().charter(), r.ledger().hood(), req, MsgType::Update, Some(id), now)
    })
    .await??;
    publish(&s, Payload::Alert(alert)).await
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelRequest {
    #[serde(default)]
    note: String,
}

pub(super) async fn cancel_alert(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Answer, ApiError> {
    let id = parse_id(&id)?;
    let note = optional_json::<CancelRequest>(&body)?.note;
    let now = s.node.now();
    let alert = read(&s, move |r| {
        let original = require_alert(r, &id)?;
        let req = AlertRequest {
            category: original.category.clone(),
            event: "cancel".into(),
            headline: "Cancelled".into(),
            description: note,
            instruction: String::new(),
            severity: None,
            urgency: None,
            certainty: None,
            status: None,
            area: None,
            expires_in: Some(600),
        };
        let mut a = build_alert(r.ledger().charter(), r.ledger().hood(), req, MsgType::Cancel, Some(id), now)?;
        if let Some(Payload::Alert(orig)) =
            r.store().envelope(&id).ok().flatten().and_then(|e| Payload::decode(&e).ok())
        {
            a.area = orig.area;
        }
        Ok::<_, ApiError>(a)
    })
    .await??;
    publish(&s, Payload::Alert(alert)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReactRequest {
    kind: String,
}

pub(super) async fn react(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReactRequest>,
) -> Result<Answer, ApiError> {
    let alert = parse_id(&id)?;
    let kind = enum_field("kind", Some(&req.kind), ReactionKind::parse, ReactionKind::SeenToo)?;
    read(&s, move |r| require_alert(r, &alert).map(drop)).await??;
    let hood = s.node.hood();
    publish(&s, Payload::Reaction(Reaction { hood, alert, kind, sent: s.node.now() })).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportRequest {
    reason: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn report(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReportRequest>,
) -> Result<Answer, ApiError> {
    let alert = parse_id(&id)?;
    let reason = enum_field("reason", Some(&req.reason), ReportReason::parse, ReportReason::Spam)?;
    read(&s, move |r| require_alert(r, &alert).map(drop)).await??;
    let hood = s.node.hood();
    publish(&s, Payload::Report(Report { hood, alert, reason, note: req.note, sent: s.node.now() })).await
}
