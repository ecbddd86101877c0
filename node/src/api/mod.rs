//! The local HTTP/JSON API (axum), loopback by default.
//!
//! Every endpoint but `/healthz` needs `Authorization: Bearer TOKEN` with the
//! token from the data directory's `api.token`. Bodies are JSON and capped
//! at [`MAX_BODY_BYTES`]; every error is JSON: `{"error": {"reason",
//! "message"}}` where `reason` is a stable snake_case code.

mod views;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::core::charter::Charter;
use crate::core::envelope::Envelope;
use crate::core::ids::MessageId;
use crate::core::keys::{AuthorKey, PublicKey};
use crate::core::ledger::AlertState;
use crate::core::message::{
    Alert, Certainty, Decision, Invite, MsgType, Payload, Reaction, ReactionKind, Report, ReportReason, Revocation,
    RosterChange, RosterOp, Severity, Status, Urgency, Vote,
};
use crate::replica::PublishError;
use crate::service::network::Network;
use crate::service::ticket::Ticket;
use crate::service::{Node, ServiceError};

pub use views::{AlertDetail, AlertView};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Authenticated requests handled at once; more wait their turn. Writes
/// flush the store before they answer, so a flood of them would otherwise
/// occupy every runtime thread. `/healthz` and requests without the token
/// never wait for a permit.
pub const MAX_CONCURRENT_REQUESTS: usize = 32;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The node.
    pub node: Arc<Node>,
    /// The network.
    pub net: Arc<dyn Network>,
    /// Bearer token.
    pub token: Arc<str>,
    /// Start time, for uptime.
    pub started: Instant,
    /// libp2p peer id.
    pub peer_id: String,
}

/// An API error with a named reason.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    reason: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        Self { status, reason: reason.to_owned(), message: message.into() }
    }

    fn bad_request(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "reason": self.reason, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let status = match &e {
            PublishError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PublishError::Ignored(crate::core::verdict::IgnoreReason::OverQuota) => StatusCode::TOO_MANY_REQUESTS,
            PublishError::Ignored(crate::core::verdict::IgnoreReason::Pending) => StatusCode::NOT_FOUND,
            PublishError::Ignored(_) => StatusCode::CONFLICT,
            PublishError::Store(_) | PublishError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        };
        let reason = match &e {
            // Pending means the alert it refers to is unknown here.
            PublishError::Ignored(crate::core::verdict::IgnoreReason::Pending) => "unknown_alert",
            other => other.code(),
        };
        Self::new(status, reason, e.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string())
    }
}

/// `Json` whose rejections are JSON errors (400, 413, 415) with a reason.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let status = rejection.status();
                let reason = match &rejection {
                    _ if status == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
                    JsonRejection::MissingJsonContentType(_) => "not_json",
                    JsonRejection::JsonSyntaxError(_) => "invalid_json",
                    JsonRejection::JsonDataError(_) => "invalid_body",
                    _ => "bad_body",
                };
                Err(ApiError::new(status, reason, rejection.body_text()))
            }
        }
    }
}

/// A JSON body that may be left out (empty means all defaults).
fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        let reason = if e.is_syntax() || e.is_eof() { "invalid_json" } else { "invalid_body" };
        ApiError::bad_request(reason, e.to_string())
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<ApiState>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), state.token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "bad_token", "the bearer token is wrong").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send Authorization: Bearer <token from the data directory's api.token>",
        )
        .into_response(),
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/alerts", get(list_alerts).post(post_alert))
        .route("/v1/alerts/{id}", get(get_alert))
        .route("/v1/alerts/{id}/update", post(update_alert))
        .route("/v1/alerts/{id}/cancel", post(cancel_alert))
        .route("/v1/alerts/{id}/reactions", post(react))
        .route("/v1/alerts/{id}/reports", post(report))
        .route("/v1/mod/queue", get(queue))
        .route("/v1/mod/votes", post(vote))
        .route("/v1/mod/roster", get(roster).post(roster_change))
        .route("/v1/mod/log", get(mod_log))
        .route("/v1/members", get(members))
        .route("/v1/members/invites", post(invite))
        .route("/v1/members/revocations", post(revoke))
        .route("/v1/messages", post(post_signed))
        .route("/v1/events", get(events))
        .route("/metrics", get(metrics))
        // Inside the token check: only authenticated requests take a permit.
        .route_layer(tower::limit::GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(v1)
        .fallback(|| async { ApiError::not_found("endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn parse_id(s: &str) -> Result<MessageId, ApiError> {
    MessageId::from_hex(s).map_err(|_| ApiError::bad_request("bad_id", format!("{s:?} is not a 64-hex-digit id")))
}

async fn status(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let peers = s.net.peers().await.map(|p| p.len()).unwrap_or(0);
    let listen = s.net.listen_addrs().await.unwrap_or_default();
    let me = s.node.author();
    let now = s.node.now();
    let (peer_id, uptime_secs) = (s.peer_id.clone(), s.started.elapsed().as_secs());
    let body = s
        .node
        .read(move |replica| {
            let ledger = replica.ledger();
            json!({
                "hood": ledger.hood().to_hex(),
                "hood_name": ledger.charter().name,
                "peer_id": peer_id,
                "author": me.to_hex(),
                "member": ledger.membership().require_member(&me, now).is_ok(),
                "moderator": ledger.roster().is_moderator(&me),
                "peers": peers,
                "listen": listen,
                "store_messages": replica.store().len(),
                "alerts": ledger.alerts().count(),
                "pending": ledger.pending_len(),
                "uptime_secs": uptime_secs,
                "quota_remaining_this_hour": ledger.quota().remaining(&me, now),
                "categories": ledger.charter().categories.iter().map(|c| json!({
                    "name": c.name, "max_lifetime_secs": c.max_lifetime_secs, "about_person": c.about_person,
                })).collect::<Vec<_>>(),
                "area": ledger.charter().area.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>(),
                "quorum": ledger.roster().quorum,
            })
        })
        .await?;
    Ok(Json(body))
}

async fn peers(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let peers =
        s.net.peers().await.map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string()))?;
    Ok(Json(json!({ "peers": peers })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    since: Option<u64>,
    category: Option<String>,
    state: Option<String>,
    include_hidden: Option<bool>,
    limit: Option<usize>,
}

async fn list_alerts(State(s): State<ApiState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let state = match q.state.as_deref() {
        None => None,
        Some(name) => Some(AlertState::parse(name).ok_or_else(|| {
            ApiError::bad_request("bad_state", format!("{name:?} is not visible, hidden, cancelled or withdrawn"))
        })?),
    };
    let limit = q.limit.unwrap_or(100).min(1000);
    let alerts = s
        .node
        .read(move |replica| {
            views::list(
                replica,
                q.since.unwrap_or(0),
                q.category.as_deref(),
                state,
                q.include_hidden.unwrap_or(false),
                limit,
            )
        })
        .await?;
    Ok(Json(json!({ "alerts": alerts })))
}

async fn get_alert(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<AlertDetail>, ApiError> {
    let id = parse_id(&id)?;
    s.node.read(move |replica| views::detail(replica, &id)).await?.map(Json).ok_or_else(|| ApiError::not_found("alert"))
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

fn enum_field<T>(
    name: &'static str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    default: T,
) -> Result<T, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => {
            parse(v).ok_or_else(|| ApiError::bad_request("invalid_field", format!("{name}: unknown value {v:?}")))
        }
    }
}

fn build_alert(
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

/// The charter and hood id, for building a post.
async fn charter(s: &ApiState) -> Result<(Charter, crate::core::ids::HoodId), ApiError> {
    Ok(s.node.read(|replica| (replica.ledger().charter().clone(), replica.ledger().hood())).await?)
}

/// Signs, validates, stores and flushes a local post on the replica thread
/// (the flush never waits on an async worker), then gossips it.
async fn publish(s: &ApiState, payload: Payload) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = s.node.now();
    let env: Envelope = s.node.publish(payload, now).await?;
    // Durable before this point; gossip is best effort (sync covers gaps).
    let _ = s.net.publish(env.to_bytes()).await;
    Ok((StatusCode::CREATED, Json(json!({ "id": env.id().to_hex(), "kind": env.kind().name() }))))
}

async fn post_alert(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<AlertRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (charter, hood) = charter(&s).await?;
    let alert = build_alert(&charter, hood, req, MsgType::Alert, None, s.node.now())?;
    publish(&s, Payload::Alert(alert)).await
}

async fn update_alert(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AlertRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let (charter, hood) = charter(&s).await?;
    let alert = build_alert(&charter, hood, req, MsgType::Update, Some(id), s.node.now())?;
    publish(&s, Payload::Alert(alert)).await
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelRequest {
    #[serde(default)]
    note: String,
}

async fn cancel_alert(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let note = optional_json::<CancelRequest>(&body)?.note;
    let (charter, hood) = charter(&s).await?;
    let original = s
        .node
        .read(move |replica| {
            let category = replica.ledger().alert(&id)?.category.clone();
            let area = match replica.store().envelope(&id).ok().flatten().and_then(|e| Payload::decode(&e).ok()) {
                Some(Payload::Alert(orig)) => Some(orig.area),
                _ => None,
            };
            Some((category, area))
        })
        .await?;
    let alert = {
        let (category, area) = original.ok_or_else(|| ApiError::not_found("alert"))?;
        let req = AlertRequest {
            category,
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
        let mut a = build_alert(&charter, hood, req, MsgType::Cancel, Some(id), s.node.now())?;
        if let Some(area) = area {
            a.area = area;
        }
        a
    };
    publish(&s, Payload::Alert(alert)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactRequest {
    kind: String,
}

async fn react(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReactRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let alert = parse_id(&id)?;
    let kind = enum_field("kind", Some(&req.kind), ReactionKind::parse, ReactionKind::SeenToo)?;
    let hood = s.node.hood();
    publish(&s, Payload::Reaction(Reaction { hood, alert, kind, sent: s.node.now() })).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportRequest {
    reason: String,
    #[serde(default)]
    note: String,
}

async fn report(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let alert = parse_id(&id)?;
    let reason = enum_field("reason", Some(&req.reason), ReportReason::parse, ReportReason::Spam)?;
    let hood = s.node.hood();
    publish(&s, Payload::Report(Report { hood, alert, reason, note: req.note, sent: s.node.now() })).await
}

async fn queue(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let queue = s.node.read(views::queue).await?;
    Ok(Json(json!({ "queue": queue })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteRequest {
    alert: String,
    decision: String,
    reason: Option<String>,
    #[serde(default)]
    note: String,
}

async fn vote(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<VoteRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let sent = vote_time(&s.node, alert).await?;
    publish(&s, Payload::Vote(Vote { hood, alert, decision, reason, note: req.note, sent })).await
}

/// A vote is signed later than every vote this node has seen on the alert.
/// Times are whole seconds and the tally orders votes by (sent, id), so
/// without this a restore cast in the same second as the hide it answers
/// could sort before it.
async fn vote_time(node: &Node, alert: MessageId) -> Result<u64, ApiError> {
    let latest =
        node.read(move |r| r.ledger().alert(&alert).and_then(|m| m.votes.iter().map(|v| v.sent).max())).await?;
    let now = node.now();
    Ok(latest.map_or(now, |t| now.max(t + 1)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedRequest {
    /// Hex of a complete signed envelope.
    envelope: String,
}

/// Accepts an envelope signed elsewhere (a moderator key kept off the node):
/// validated like any peer's, stored, then gossiped.
async fn post_signed(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<SignedRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = hex::decode(req.envelope.trim())
        .map_err(|_| ApiError::bad_request("bad_envelope", "envelope: expected hex"))?;
    let now = s.node.now();
    let env = s.node.publish_signed(bytes, now).await?;
    let _ = s.net.publish(env.to_bytes()).await;
    Ok((StatusCode::CREATED, Json(json!({ "id": env.id().to_hex(), "kind": env.kind().name() }))))
}

async fn roster(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.node.read(|replica| {
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
    }).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterRequest {
    /// `add`, `remove` or `quorum`.
    op: String,
    key: Option<String>,
    quorum: Option<u32>,
}

async fn roster_change(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<RosterRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let (hood, base_version) = s.node.read(|r| (r.ledger().hood(), r.ledger().roster().version)).await?;
    publish(&s, Payload::RosterChange(RosterChange { hood, base_version, op, sent: s.node.now() })).await
}

async fn mod_log(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.node.read(views::moderation_log).await?))
}

async fn members(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let list: Vec<Value> = s
        .node
        .read(|replica| {
            let m = replica.ledger().membership();
            m.members()
                .into_iter()
                .map(|(k, since)| json!({ "key": k.to_hex(), "since": since, "revoked_at": m.revoked_at(&k) }))
                .collect()
        })
        .await?;
    Ok(Json(json!({ "members": list })))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    /// Seconds the invite stays valid (default 24 h, at most 30 days).
    expires_in: Option<u64>,
}

async fn invite(State(s): State<ApiState>, body: axum::body::Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let expires_in = optional_json::<InviteRequest>(&body)?.expires_in.unwrap_or(86_400);
    let secret = AuthorKey::generate()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no_randomness", e.to_string()))?;
    let now = s.node.now();
    let (hood, charter) = s.node.read(|r| (r.ledger().hood(), r.ledger().signed_charter().clone())).await?;
    let payload = Payload::Invite(Invite {
        hood,
        ticket_key: secret.public(),
        sent: now,
        expires: now.saturating_add(expires_in),
    });
    let env = s.node.publish(payload, now).await?;
    let _ = s.net.publish(env.to_bytes()).await;
    let bootstrap = s.net.ticket_addrs().await.unwrap_or_default();
    let ticket = Ticket { charter, invite: env.clone(), secret, bootstrap };
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "ticket": ticket.encode(), "invite": env.id().to_hex(), "expires": now.saturating_add(expires_in) }),
        ),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    member: String,
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let member = PublicKey::from_hex(&req.member)
        .map_err(|_| ApiError::bad_request("bad_key", "member: expected 64 hex digits of a valid key"))?;
    let hood = s.node.hood();
    publish(&s, Payload::Revocation(Revocation { hood, member, reason: req.reason, sent: s.node.now() })).await
}

async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    // Fresh gauges (store size, pending), computed on the replica thread.
    let _ = s.node.housekeeping().await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.node.metrics.encode())
}

async fn events(State(s): State<ApiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.node.events.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(ev) => Event::default().event(ev.event.name()).data(serde_json::to_string(&ev).unwrap_or_default()),
            // A slow reader skips ahead and is told how much it missed.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(json!({ "event": "lagged", "missed": n }).to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Entry points for the fuzz targets in `fuzz/` (not used by the node).
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Parses `data` as every request body the API accepts, and builds an
    /// alert from it when it parses as one: never panics.
    pub fn parse_bodies(data: &[u8]) {
        if let Ok(req) = serde_json::from_slice::<AlertRequest>(data)
            && let Ok(f) = stoop_core::testkit::HoodFixture::new(1, 1)
        {
            let _ = build_alert(f.charter.charter(), f.hood(), req, MsgType::Alert, None, 1_800_000_000);
        }
        let _ = serde_json::from_slice::<ListQuery>(data);
        let _ = serde_json::from_slice::<ReactRequest>(data);
        let _ = serde_json::from_slice::<ReportRequest>(data);
        let _ = serde_json::from_slice::<VoteRequest>(data);
        let _ = serde_json::from_slice::<SignedRequest>(data);
        let _ = serde_json::from_slice::<RosterRequest>(data);
        let _ = serde_json::from_slice::<RevokeRequest>(data);
        let _ = optional_json::<CancelRequest>(data);
        let _ = optional_json::<InviteRequest>(data);
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn parse_bodies_takes_anything() {
            for body in [
                &b""[..],
                b"{",
                b"{\"category\":\"safety\",\"event\":\"e\",\"headline\":\"h\",\"severity\":\"x\"}",
                &[0xff, 0x00],
            ] {
                super::parse_bodies(body);
            }
        }
    }
}
