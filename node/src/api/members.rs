//! Membership: the member list, invites (tickets) and revocations.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiJson, optional_json};
use super::publish::publish;
use super::verdict::Answer;
use super::{ApiState, read};
use crate::core::keys::{AuthorKey, PublicKey};
use crate::core::message::{Invite, Payload, Revocation};

pub(super) async fn members(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let list: Vec<Value> = read(&s, |r| {
        let m = r.ledger().membership();
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
pub(super) struct InviteRequest {
    /// Seconds the invite stays valid (default 24 h, at most 30 days).
    expires_in: Option<u64>,
}

/// Signs an invite and hands back the ticket for it: 201 with the ticket,
/// or the ledger's refusal of the invite.
pub(super) async fn invite(State(s): State<ApiState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let expires_in = optional_json::<InviteRequest>(&body)?.expires_in.unwrap_or(86_400);
    let secret = AuthorKey::generate()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no_randomness", e.to_string()))?;
    let now = s.node.now();
    let (hood, charter) = read(&s, |r| (r.ledger().hood(), r.ledger().signed_charter().clone())).await?;
    let payload = Payload::Invite(Invite {
        hood,
        ticket_key: secret.public(),
        sent: now,
        expires: now.saturating_add(expires_in),
    });
    let env = match s.node.publish(payload, now).await {
        Ok(env) => env,
        Err(e) => return Answer::refused(e).map(IntoResponse::into_response),
    };
    let _ = s.net.publish(env.to_bytes()).await;
    let addrs = s.net.ticket_addrs().await.unwrap_or_default();
    let ticket = s.issuer.ticket(charter, env.clone(), secret, &addrs);
    let reachability = s.net.reachability().state;
    let body = json!({ "ticket": ticket.encode(), "invite": env.id().to_hex(),
        "expires": now.saturating_add(expires_in), "reachability": reachability });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeRequest {
    member: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn revoke(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> Result<Answer, ApiError> {
    let member = PublicKey::from_hex(&req.member)
        .map_err(|_| ApiError::bad_request("bad_key", "member: expected 64 hex digits of a valid key"))?;
    let hood = s.node.hood();
    publish(&s, Payload::Revocation(Revocation { hood, member, reason: req.reason, sent: s.node.now() })).await
}
