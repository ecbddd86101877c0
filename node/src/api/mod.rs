//! The local HTTP/JSON API (axum), loopback by default.
//!
//! Every endpoint but `/healthz` needs `Authorization: Bearer TOKEN` with the
//! token from the data directory's `api.token`. Bodies are JSON and capped
//! at [`MAX_BODY_BYTES`]; every error is JSON: `{"error": {"reason",
//! "message"}}` where `reason` is a stable snake_case code.
//!
//! # Layout
//! - this file: the router, the shared [`ApiState`] and small parsers.
//! - [`auth`]: the bearer-token middleware.
//! - [`error`]: [`ApiError`], its JSON body, and JSON body extraction.
//! - `publish`: the write path (blocking store writes, messages this node
//!   signs).
//! - `status`: `/v1/status`, `/v1/peers`, `/metrics`.
//! - `alerts`: the feed and the author's and neighbors' alert actions.
//! - `moderation`: queue, votes, roster, moderation log.
//! - `members`: member list, invites, revocations.
//! - `messages`: signed envelopes in (`POST /v1/messages`) and out
//!   (`GET /v1/messages/{id}`).
//! - `verdict`: the ledger's verdict as an HTTP answer (one status table).
//! - `stream`: the live feed as server-sent events.
//! - `views`: JSON views of alerts, the queue and the log.
//! - [`serve`]: the accept loop (header-read timeout, connection cap).

mod alerts;
pub(crate) mod auth;
mod error;
mod members;
mod messages;
mod moderation;
mod publish;
pub mod serve;
mod status;
mod stream;
#[cfg(test)]
pub(crate) mod tests;
mod verdict;
mod views;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

use crate::core::ids::MessageId;
use crate::replica::Replica;
use crate::service::Node;
use crate::service::network::Network;

pub use alerts::AlertRequest;
pub use error::{ApiError, ApiJson};
pub use verdict::{Answer, verdict_status};
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
    /// Signs tickets' address lists and gives them the hood secret.
    pub issuer: Arc<crate::service::ticket::Issuer>,
}

/// The `/v1` routes and `/metrics` without authentication: [`router`] puts
/// them behind the bearer token, the web page (`crate::web`) behind its
/// session and CSRF checks, so both run the same handlers.
pub(crate) fn v1_routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/status", get(status::status))
        .route("/v1/peers", get(status::peers))
        .route("/v1/alerts", get(alerts::list_alerts).post(alerts::post_alert))
        .route("/v1/alerts/{id}", get(alerts::get_alert))
        .route("/v1/alerts/{id}/update", post(alerts::update_alert))
        .route("/v1/alerts/{id}/cancel", post(alerts::cancel_alert))
        .route("/v1/alerts/{id}/reactions", post(alerts::react))
        .route("/v1/alerts/{id}/reports", post(alerts::report))
        .route("/v1/mod/queue", get(moderation::queue))
        .route("/v1/mod/votes", post(moderation::vote))
        .route("/v1/mod/roster", get(moderation::roster).post(moderation::roster_change))
        .route("/v1/mod/log", get(moderation::mod_log))
        .route("/v1/members", get(members::members))
        .route("/v1/members/invites", post(members::invite))
        .route("/v1/members/revocations", post(members::revoke))
        .route("/v1/messages", post(messages::post_signed))
        .route("/v1/messages/{id}", get(messages::get_message))
        .route("/v1/events", get(stream::events))
        .route("/metrics", get(status::metrics))
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let v1 = v1_routes()
        // Inside the token check: only authenticated requests take a permit.
        .route_layer(tower::limit::GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(v1)
        .fallback(|| async { ApiError::not_found("endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Runs `f` on the node's replica thread: the one place handlers read node
/// state, so no async worker touches the ledger or sled. Fails only when
/// the node is shutting down.
async fn read<T: Send + 'static>(
    s: &ApiState,
    f: impl FnOnce(&Replica) -> T + Send + 'static,
) -> Result<T, error::ApiError> {
    s.node.read(f).await.map_err(|e| error::ApiError::stopped(&e))
}

fn parse_id(s: &str) -> Result<MessageId, ApiError> {
    MessageId::from_hex(s).map_err(|_| ApiError::bad_request("bad_id", format!("{s:?} is not a 64-hex-digit id")))
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

/// Entry points for the fuzz targets in `fuzz/` (not used by the node).
#[doc(hidden)]
pub mod fuzzing {
    use super::alerts::{AlertRequest, CancelRequest, ListQuery, ReactRequest, ReportRequest, build_alert};
    use super::error::optional_json;
    use super::members::{InviteRequest, RevokeRequest};
    use super::messages::SignedRequest;
    use super::moderation::{RosterRequest, VoteRequest};
    use crate::core::area::Cell;
    use crate::core::charter::Charter;
    use crate::core::ids::HoodId;
    use crate::core::message::MsgType;

    /// Parses `data` as every request body the API accepts, and builds an
    /// alert from it when it parses as one: never panics.
    pub fn parse_bodies(data: &[u8]) {
        // An unsigned charter with the default categories is all
        // `build_alert` reads; the core's testkit is not compiled into the
        // node's library, so no signed fixture here.
        if let Ok(req) = serde_json::from_slice::<AlertRequest>(data)
            && let Ok(cell) = Cell::parse("dr5ru")
            && let Ok(hood) = HoodId::from_slice(&[7; 32])
        {
            let charter = Charter::new("Fuzz Hood", vec![cell], Vec::new(), 1_800_000_000);
            let _ = build_alert(&charter, hood, req, MsgType::Alert, None, 1_800_000_000);
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
