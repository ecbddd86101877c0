//! Posting, reading and reacting to alerts.

use serde_json::{Value, json};
use stoop_cli::client::{Client, ClientError};
use stoop_cli::clock::unix_now;
use stoop_core::text::check_profiling;

use super::id_arg;
use crate::args::AlertFields;
use crate::render::{self, created, print_json};

/// `stoop post`.
pub fn post(c: &Client, json: bool, fields: &AlertFields) -> Result<(), ClientError> {
    let body = alert_body(c, fields)?;
    created(json, &c.post("/v1/alerts", &body)?, "posted");
    Ok(())
}

/// `stoop update`.
pub fn update(c: &Client, json: bool, id: &str, fields: &AlertFields) -> Result<(), ClientError> {
    let body = alert_body(c, fields)?;
    created(json, &c.post(&format!("/v1/alerts/{}/update", id_arg(id)?), &body)?, "updated");
    Ok(())
}

/// `stoop cancel`.
pub fn cancel(c: &Client, json: bool, id: &str, note: &str) -> Result<(), ClientError> {
    let v = c.post(&format!("/v1/alerts/{}/cancel", id_arg(id)?), &json!({ "note": note }))?;
    created(json, &v, "cancelled");
    Ok(())
}

/// `stoop confirm` and `stoop resolve`: a reaction of `kind`, reported as `what`.
pub fn react(c: &Client, json: bool, id: &str, kind: &str, what: &str) -> Result<(), ClientError> {
    let v = c.post(&format!("/v1/alerts/{}/reactions", id_arg(id)?), &json!({ "kind": kind }))?;
    created(json, &v, what);
    Ok(())
}

/// `stoop report`.
pub fn report(c: &Client, json: bool, id: &str, reason: &str, note: &str) -> Result<(), ClientError> {
    let v = c.post(&format!("/v1/alerts/{}/reports", id_arg(id)?), &json!({ "reason": reason, "note": note }))?;
    created(json, &v, "reported");
    Ok(())
}

/// `stoop show`.
pub fn show(c: &Client, json: bool, id: &str) -> Result<(), ClientError> {
    let v = c.get(&format!("/v1/alerts/{}", id_arg(id)?))?;
    if json {
        print_json(&v);
    } else {
        print!("{}", render::show(&v, unix_now()));
    }
    Ok(())
}

/// The query of `GET /v1/alerts` for `stoop feed`'s filters (`since` is how
/// far back from `now`); the client encodes it.
fn feed_query(
    category: Option<&str>,
    since: Option<u64>,
    include_hidden: bool,
    now: u64,
) -> Vec<(&'static str, String)> {
    let mut q = vec![("include_hidden", include_hidden.to_string())];
    if let Some(cat) = category {
        q.push(("category", cat.to_owned()));
    }
    if let Some(s) = since {
        q.push(("since", now.saturating_sub(s).to_string()));
    }
    q
}

/// `stoop feed`: the alerts so far, then with `follow` each new one as it
/// arrives (one JSON object a line with `json`).
pub fn feed(
    c: &Client,
    json: bool,
    category: Option<&str>,
    since: Option<u64>,
    follow: bool,
    include_hidden: bool,
) -> Result<(), ClientError> {
    let v = c.get_query("/v1/alerts", &feed_query(category, since, include_hidden, unix_now()))?;
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    if json && !follow {
        print_json(&v);
    } else if json {
        for a in &alerts {
            println!("{a}");
        }
    } else {
        print!("{}", render::feed(&alerts, unix_now()));
    }
    if follow {
        c.follow(|ev| {
            if ev["event"] == "message" && ev["kind"] == "alert" {
                // The id goes into a path, so only a well-formed one.
                let id = id_arg(ev["id"].as_str().unwrap_or(""));
                if let Ok(d) = id.and_then(|id| c.get(&format!("/v1/alerts/{id}"))) {
                    let a = &d["alert"];
                    let wanted = category.is_none_or(|cat| a["category"] == cat);
                    if wanted && a["msg_type"] == "alert" {
                        if json {
                            println!("{a}");
                        } else {
                            print!("{}", render::alert_line(a, unix_now()));
                        }
                    }
                }
            }
            true
        })?;
    }
    Ok(())
}

/// The request body for a new alert or an update, after the profiling guard.
fn alert_body(c: &Client, f: &AlertFields) -> Result<Value, ClientError> {
    let mut body = json!({
        "category": f.category, "event": f.event, "headline": f.headline,
        "description": f.description, "instruction": f.instruction,
    });
    for (k, v) in [
        ("severity", &f.severity),
        ("urgency", &f.urgency),
        ("certainty", &f.certainty),
        ("area", &f.area),
        ("status", &f.status),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    if let Some(e) = f.expires {
        body["expires_in"] = json!(e);
    }
    // The profiling guard, before anything is signed; the node applies the same rule.
    profiling_guard(c, &body)?;
    Ok(body)
}

/// The profiling guard on a request body, before anything is signed.
pub fn profiling_guard(c: &Client, body: &Value) -> Result<(), ClientError> {
    let (Some(category), Some(description)) = (body["category"].as_str(), body["description"].as_str()) else {
        return Ok(());
    };
    let status = c.get("/v1/status")?;
    let about_person = status["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|cat| cat["name"] == category && cat["about_person"] == true);
    if about_person && let Err(e) = check_profiling("description", description) {
        return Err(ClientError::Rejected { reason: e.code().to_owned(), message: e.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_query_has_only_the_filters_given() {
        let q = feed_query(None, None, false, 1_000);
        assert_eq!(q, [("include_hidden", "false".to_owned())]);
        let q = feed_query(Some("a&b"), Some(7_200), true, 10_000);
        assert_eq!(
            q,
            [("include_hidden", "true".to_owned()), ("category", "a&b".to_owned()), ("since", "2800".to_owned())]
        );
        // Further back than the epoch: since 0, not an underflow.
        assert_eq!(feed_query(None, Some(u64::MAX), false, 10)[1], ("since", "0".to_owned()));
    }
}
