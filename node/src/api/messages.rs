//! Signed envelopes in and out: `POST /v1/messages` takes a message signed
//! elsewhere, `GET /v1/messages/{id}` gives back the exact bytes of any
//! message this node stores, so anyone can check its signature.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiJson};
use super::verdict::Answer;
use super::{ApiState, parse_id, read};
use crate::core::envelope::Envelope;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedRequest {
    /// Hex of a complete signed envelope.
    envelope: String,
}

/// Takes an envelope signed elsewhere (a moderator key kept off the node)
/// through the very path a gossiped frame takes (`Replica::ingest`, made
/// durable), so it gets the verdict and reason code gossip would give the
/// same bytes; the API adds no check of its own. An accepted frame is
/// flushed before the answer and then gossiped.
pub(super) async fn post_signed(
    State(s): State<ApiState>,
    ApiJson(req): ApiJson<SignedRequest>,
) -> Result<Answer, ApiError> {
    let frame = hex::decode(req.envelope.trim())
        .map_err(|_| ApiError::bad_request("bad_envelope", "envelope: expected hex"))?;
    let now = s.node.now();
    let bytes = frame.clone();
    let outcome = s.node.ingest_local(bytes, now).await.map_err(|e| ApiError::stopped(&e))?;
    let answer = Answer::new(outcome.verdict, outcome.id, outcome.kind);
    if answer.is_accept() {
        let _ = s.net.publish(frame).await;
    }
    Ok(answer)
}

/// One stored message as its exact signed bytes.
pub(super) async fn get_message(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let frame = read(&s, move |r| r.store().get(&id)).await?.map_err(|e| ApiError::store(&e))?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_message", format!("message {id} is not stored here"))
    })?;
    // Verified on the way in; decoded again only to name its kind.
    let env = Envelope::decode_unverified(&frame).map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_error", format!("stored message {id} is unreadable: {e}"))
    })?;
    Ok(Json(json!({ "id": env.id().to_hex(), "kind": env.kind().name(), "frame": hex::encode(&frame) })))
}
