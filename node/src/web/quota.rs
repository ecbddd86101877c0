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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::Payload;
    use crate::core::testkit::HoodFixture;
    use crate::core::verdict::Verdict;

    #[test]
    fn frees_at_the_next_hour_or_the_next_day() -> Result<(), Box<dyn std::error::Error>> {
        let hood = HoodFixture::with_rules(1, |c| {
            c.quotas.per_hour = 2;
            c.quotas.per_day = 3;
        })?;
        let me = &hood.founders[0];
        let mut ledger = Ledger::new(hood.charter.clone());
        let day = 20_000 * DAY;
        let t0 = day + 10 * HOUR + 5;
        assert_eq!(frees_at(&ledger, &me.public(), t0), t0, "nothing posted: now");
        for (i, t) in [t0, t0 + 1].into_iter().enumerate() {
            let env = Payload::Alert(hood.alert(t, &format!("alert {i}"))).seal(me);
            assert_eq!(ledger.ingest(&env.to_bytes(), t).verdict, Verdict::Accept);
        }
        assert_eq!(frees_at(&ledger, &me.public(), t0 + 2), day + 11 * HOUR, "the hour is full");
        let t1 = day + 11 * HOUR + 3;
        let env = Payload::Alert(hood.alert(t1, "alert 2")).seal(me);
        assert_eq!(ledger.ingest(&env.to_bytes(), t1).verdict, Verdict::Accept);
        assert_eq!(frees_at(&ledger, &me.public(), t1 + 1), day + DAY, "the day is full");
        Ok(())
    }
}
