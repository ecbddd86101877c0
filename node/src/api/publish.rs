//! The write path: run a store write on a blocking thread, and publish a
//! message this node signs (validate with the ledger, store, flush, gossip).

use axum::http::StatusCode;

use super::ApiState;
use super::error::ApiError;
use super::verdict::Answer;
use crate::core::message::Payload;
use crate::daemon::node::Node;

/// Runs a write (validate, store, flush) on a blocking thread: the sled
/// flush waits for the disk, and on an async worker it would stall every
/// other request (and `/healthz`) behind a slow SD card.
pub(super) async fn durable<T: Send + 'static>(
    s: &ApiState,
    write: impl FnOnce(&Node) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let node = s.node.clone();
    tokio::task::spawn_blocking(move || write(&node)).await.map_err(join_error)
}

fn join_error(e: tokio::task::JoinError) -> ApiError {
    tracing::error!(error = %e, "store task failed");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", "the store task failed")
}

/// Signs `payload` with the node's author key and answers the ledger's
/// verdict; an accepted message is durable before it is gossiped.
pub(super) async fn publish(s: &ApiState, payload: Payload) -> Result<Answer, ApiError> {
    let now = s.node.now();
    match durable(s, move |node| node.publish(&payload, now)).await? {
        Ok(env) => {
            // Gossip is best effort (sync covers gaps).
            let _ = s.net.publish(env.to_bytes()).await;
            Ok(Answer::accepted(&env))
        }
        Err(e) => Answer::refused(e),
    }
}
