//! The write path: publish a message this node signs (validate with the
//! ledger, store, flush, gossip). The service does the first three on its
//! replica thread, so no async worker waits on the disk.

use super::ApiState;
use super::error::ApiError;
use super::verdict::Answer;
use crate::core::message::Payload;

/// Signs `payload` with the node's author key and answers the ledger's
/// verdict; an accepted message is durable before it is gossiped.
pub(super) async fn publish(s: &ApiState, payload: Payload) -> Result<Answer, ApiError> {
    let now = s.node.now();
    match s.node.publish(payload, now).await {
        Ok(env) => {
            // Gossip is best effort (sync covers gaps).
            let _ = s.net.publish(env.to_bytes()).await;
            Ok(Answer::accepted(&env))
        }
        Err(e) => Answer::refused(e),
    }
}
