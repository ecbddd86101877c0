//! The one write path for messages this node signs: validate with the
//! ledger, store and flush on a blocking thread, then gossip.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;
use crate::core::envelope::Envelope;
use crate::core::message::Payload;
use crate::daemon::node::Node;
use crate::replica::PublishError;

/// Runs a local publish (sign or check, validate, store, flush) on a
/// blocking thread: the sled flush waits for the disk, and on an async
/// worker it would stall every other request (and `/healthz`) behind a slow
/// SD card.
pub(super) async fn durable(
    s: &ApiState,
    publish: impl FnOnce(&Node) -> Result<Envelope, PublishError> + Send + 'static,
) -> Result<Envelope, ApiError> {
    let node = s.node.clone();
    tokio::task::spawn_blocking(move || publish(&node)).await.map_err(join_error)?.map_err(Into::into)
}

fn join_error(e: tokio::task::JoinError) -> ApiError {
    tracing::error!(error = %e, "store task failed");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", "the store task failed")
}

pub(super) async fn publish(s: &ApiState, payload: Payload) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = s.node.now();
    let env = durable(s, move |node| node.publish(&payload, now)).await?;
    // Durable before this point; gossip is best effort (sync covers gaps).
    let _ = s.net.publish(env.to_bytes()).await;
    Ok((StatusCode::CREATED, Json(json!({ "id": env.id().to_hex(), "kind": env.kind().name() }))))
}
