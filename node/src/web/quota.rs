//! `GET /web/quota`: how many alerts this node's author may still post and,
//! when none, when the quota frees up, so the post form can say
//! "over quota until 14:00" rather than only "over quota".

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::WebState;
use crate::core::keys::PublicKey;
use crate::core::ledger::Ledger;
use crate::core::quota::PROBATION_SECS;

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Whether one more alert signed at `t` fits the author's quota, the
/// probation limits included (as the ledger checks them).
fn fits(ledger: &Ledger, me: &PublicKey, t: u64) -> bool {
    let membership = ledger.membership();
    let on_probation = !membership.is_founder(me)
        && membership.member_since(me).is_some_and(|since| t < since.saturating_add(PROBATION_SECS));
    let quota = ledger.quota();
    quota.check(me, t).is_ok() && (!on_probation || quota.check_probation(me, t).is_ok())
}

/// The first time from `now` on at which an alert fits: `now` itself, the
/// next hour, or the next day (every window is fresh then).
pub fn frees_at(ledger: &Ledger, me: &PublicKey, now: u64) -> u64 {
    let next_hour = (now / HOUR + 1) * HOUR;
    let next_day = (now / DAY + 1) * DAY;
    [now, next_hour].into_iter().find(|t| fits(ledger, me, *t)).unwrap_or(next_day)
}

pub(super) async fn quota(State(web): State<Arc<WebState>>) -> Response {
    let me = web.api.node.author();
    let now = web.api.node.now();
    match web.api.node.read(move |r| (r.ledger().quota().remaining(&me, now), frees_at(r.ledger(), &me, now))).await {
        Ok((remaining, free)) => Json(json!({ "remaining": remaining, "frees_at": free, "now": now })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
