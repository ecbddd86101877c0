//! Multi-node tests over loopback with the real `stoopd` binary.

use std::time::Duration;

use serde_json::json;
use stoop_core::message::{Alert, Certainty, MsgType, Payload, Severity, Status, Urgency};
use stoop_core::testkit::unix_now;
use stoop_node::daemon::datadir::read_author_key;
use stoop_tests::{Node, TestResult, WAIT, join_hood, wait_for, with_logs};

fn hood_of(node: &Node) -> TestResult<stoop_core::ids::HoodId> {
    let (_, v) = node.get("/v1/status")?;
    Ok(stoop_core::ids::HoodId::from_hex(v["hood"].as_str().ok_or("no hood")?)?)
}

#[test]
fn five_nodes_an_alert_posted_on_one_appears_on_all() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let nodes = join_hood(tmp.path(), 5)?;
    let result = (|| {
        let id = nodes[0].post_alert("Tree down on Elm")?;
        for (i, n) in nodes.iter().enumerate() {
            wait_for(WAIT, &format!("node{i} to show the alert"), || n.alert_state(&id).filter(|s| s == "visible"))?;
        }
        // And from a joined member back to everyone.
        let id = nodes[4].post_alert("Power out on Oak")?;
        for (i, n) in nodes.iter().enumerate() {
            wait_for(WAIT, &format!("node{i} to show the member's alert"), || n.alert_state(&id))?;
        }
        Ok(())
    })();
    with_logs(&nodes, result)
}

#[test]
fn a_stopped_node_catches_up_by_sync_after_restart() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut nodes = join_hood(tmp.path(), 3)?;
    nodes[2].stop()?;
    let ids: Vec<String> =
        (0..3).map(|i| nodes[0].post_alert(&format!("While you were away {i}"))).collect::<Result<_, _>>()?;
    nodes[2].restart()?;
    for id in &ids {
        wait_for(WAIT, "the restarted node to sync the missed alert", || nodes[2].alert_state(id))?;
    }
    Ok(())
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_alert() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut node = Node::init(&tmp.path().join("node0"))?;
    let url = node.url.clone();
    let token = std::fs::read_to_string(node.dir.join("api.token"))?.trim().to_owned();
    // Post from another thread as fast as the node acknowledges.
    let poster = std::thread::spawn(move || {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build();
        let mut acked = Vec::new();
        let Ok(http) = http else { return acked };
        for i in 0..400 {
            let body = json!({"category": "safety", "event": "hazard", "headline": format!("Burst {i}"), "description": "Burst alert."});
            match http.post(format!("{url}/v1/alerts")).bearer_auth(&token).json(&body).send() {
                Ok(r) if r.status().as_u16() == 201 => {
                    let v = r.json::<serde_json::Value>().unwrap_or_default();
                    if let Some(id) = v["id"].as_str() {
                        acked.push(id.to_owned());
                    }
                }
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    node.kill9()?;
    let acked = poster.join().map_err(|_| "poster panicked")?;
    assert!(!acked.is_empty(), "the node acknowledged nothing before the kill");
    node.restart()?;
    let missing: Vec<&String> = acked.iter().filter(|id| node.alert_state(id).is_none()).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged alerts lost after kill -9", missing.len(), acked.len());
    Ok(())
}

#[test]
fn a_revoked_members_new_alerts_are_rejected_everywhere() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let nodes = join_hood(tmp.path(), 3)?;
    let member = nodes[1].author()?;
    let before = nodes[1].post_alert("Before revocation")?;
    wait_for(WAIT, "the alert to spread", || nodes[2].alert_state(&before))?;
    // Times are whole seconds and a revocation covers alerts signed in its
    // own second, so let the clock move on.
    std::thread::sleep(Duration::from_millis(1100));
    // The founder is the only moderator (quorum 1).
    let (status, body) = nodes[0].post("/v1/members/revocations", &json!({ "member": member, "reason": "spam" }))?;
    assert_eq!(status, 201, "{body}");
    for n in &nodes {
        wait_for(WAIT, "the revocation to spread", || {
            let (_, v) = n.get("/v1/members").ok()?;
            v["members"]
                .as_array()?
                .iter()
                .any(|m| m["key"] == member.as_str() && !m["revoked_at"].is_null())
                .then_some(())
        })?;
    }
    // The member's own node refuses to sign for it...
    let (status, body) = nodes[1].post(
        "/v1/alerts",
        &json!({"category": "safety", "event": "hazard", "headline": "After", "description": "Should not appear."}),
    )?;
    assert_eq!((status, body["error"]["reason"].as_str()), (422, Some("revoked")), "{body}");
    // ...and an alert signed with the revoked key is refused by every other node.
    let key = read_author_key(&nodes[1].dir.join("author.key"))?;
    let now = unix_now();
    let alert = Alert {
        hood: hood_of(&nodes[0])?,
        category: "safety".into(),
        event: "hazard".into(),
        urgency: Urgency::Expected,
        severity: Severity::Minor,
        certainty: Certainty::Observed,
        status: Status::Actual,
        msg_type: MsgType::Alert,
        references: None,
        headline: "Signed after revocation".into(),
        description: "Should be refused.".into(),
        instruction: String::new(),
        area: "dr5ru".into(),
        sent: now,
        expires: now + 3600,
    };
    let env = Payload::Alert(alert).seal(&key);
    for n in [&nodes[0], &nodes[2]] {
        let (status, body) = n.post("/v1/messages", &json!({ "envelope": stoop_node_hex(&env.to_bytes()) }))?;
        assert_eq!((status, body["error"]["reason"].as_str()), (422, Some("revoked")), "{body}");
    }
    // The control: a founder's alert posted now reaches every node, so the
    // revoked one would have had the time to spread too.
    let control = nodes[0].post_alert("After the revocation")?;
    for n in &nodes {
        wait_for(WAIT, "the founder's control alert to spread", || n.alert_state(&control))?;
    }
    let refused = env.id().to_hex();
    for (i, n) in nodes.iter().enumerate() {
        assert!(n.alert_state(&refused).is_none(), "node{i} shows the alert signed after the revocation");
    }
    assert_eq!(nodes[2].alert_state(&before).as_deref(), Some("visible"), "alerts from before stay");
    Ok(())
}

fn stoop_node_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_api_refuses_bad_requests_with_named_reasons() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let node = Node::init(&tmp.path().join("node0"))?;
    let http = node.raw();
    // /healthz needs no token; everything else does.
    assert_eq!(http.get(format!("{}/healthz", node.url)).send()?.status().as_u16(), 200);
    for path in ["/v1/status", "/v1/alerts", "/metrics", "/v1/events"] {
        let r = http.get(format!("{}{path}", node.url)).send()?;
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let v: serde_json::Value = r.json()?;
        assert_eq!(v["error"]["reason"], "missing_token", "{path}");
        let r = http.get(format!("{}{path}", node.url)).bearer_auth("wrong").send()?;
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let token = std::fs::read_to_string(node.dir.join("api.token"))?;
    let post = |body: String| {
        http.post(format!("{}/v1/alerts", node.url))
            .bearer_auth(token.trim())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = post("x".repeat(100 * 1024))?;
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(r.json::<serde_json::Value>()?["error"]["reason"], "body_too_large");
    let r = post("{not json".into())?;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>()?["error"]["reason"], "invalid_json");
    let r = post(json!({"category": "party", "event": "e", "headline": "h", "description": "d"}).to_string())?;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>()?["error"]["reason"], "unknown_category");
    let (status, body) = node.get("/v1/alerts")?;
    assert_eq!((status, body["alerts"].as_array().map(Vec::len)), (200, Some(0)), "nothing was written");
    let (status, body) = node.get("/v1/alerts/nothex")?;
    assert_eq!((status, body["error"]["reason"].as_str()), (400, Some("bad_id")));
    let (status, _) = node.get(&format!("/v1/alerts/{}", "0".repeat(64)))?;
    assert_eq!(status, 404);
    Ok(())
}
