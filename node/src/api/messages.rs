//! Signed envelopes in and out: `POST /v1/messages` takes a message signed
//! elsewhere.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::error::{ApiError, ApiJson};
use super::publish::durable;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedRequest {
    /// Hex of a complete signed envelope.
    envelope: String,
}

/// Accepts an envelope signed elsewhere (a moderator key kept off the node):
/// validated like any peer's, stored, then gossiped.
pub(super) async fn post_signed(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<SignedRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = hex::decode(req.envelope.trim())
        .map_err(|_| ApiError::bad_request("bad_envelope", "envelope: expected hex"))?;
    let now = s.node.now();
    let env = durable(&s, move |node| node.publish_signed(&bytes, now)).await?;
    let _ = s.net.publish(env.to_bytes()).await;
    Ok((StatusCode::CREATED, Json(json!({ "id": env.id().to_hex(), "kind": env.kind().name() }))))
}
