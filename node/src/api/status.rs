//! The node's own state: `GET /v1/status`, `GET /v1/peers`, `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ApiState, read};

pub(super) async fn status(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let peers = s.net.peers().await.map(|p| p.len()).unwrap_or(0);
    let listen = s.net.listen_addrs().await.unwrap_or_default();
    let reachability = s.net.reachability();
    let me = s.node.author();
    let now = s.node.now();
    let uptime_secs = s.started.elapsed().as_secs();
    let peer_id = s.peer_id.clone();
    Ok(Json(
        read(&s, move |replica| {
            let ledger = replica.ledger();
            json!({
            "hood": ledger.hood().to_hex(),
            "hood_name": ledger.charter().name,
            "peer_id": peer_id,
            "author": me.to_hex(),
            "member": ledger.membership().require_member(&me, now).is_ok(),
            "moderator": ledger.roster().is_moderator(&me),
            "peers": peers,
            "listen": listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "reachability": reachability,
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
        .await?,
    ))
}

pub(super) async fn peers(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let peers =
        s.net.peers().await.map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string()))?;
    Ok(Json(json!({ "peers": peers })))
}

pub(super) async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    // Fresh gauges (store size, pending), computed on the replica thread.
    let _ = s.node.housekeeping().await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.node.metrics.encode())
}
