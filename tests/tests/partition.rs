//! Partition and heal with real processes: two halves of a hood that cannot
//! reach each other post and vote, then reconnect; every node must end with
//! the same alerts and the same moderation state.

use std::time::Duration;

use serde_json::json;
use stoop_tests::{Node, TestResult, WAIT, free_port, wait_for};

fn status(node: &Node, key: &str) -> TestResult<String> {
    let (_, v) = node.get("/v1/status")?;
    Ok(v[key].as_str().ok_or("missing status field")?.to_owned())
}

fn post(node: &Node, headline: &str) -> TestResult<String> {
    node.post_alert(headline)
}

fn vote(node: &Node, alert: &str, decision: &str) -> TestResult {
    let mut body = json!({ "alert": alert, "decision": decision });
    if decision == "hide" {
        body["reason"] = json!("spam");
    }
    let (code, v) = node.post("/v1/mod/votes", &body)?;
    if code != 201 {
        return Err(format!("vote failed: {code} {v}").into());
    }
    Ok(())
}

#[test]
fn a_partitioned_hood_converges_after_healing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut nodes = vec![Node::init(&tmp.path().join("a"))?];
    for name in ["b", "c", "d"] {
        let ticket = nodes[0].invite()?;
        let n = Node::join(&tmp.path().join(name), &ticket)?;
        let me = n.author()?;
        wait_for(WAIT, "the join to reach the founder", || {
            let (_, v) = nodes[0].get("/v1/members").ok()?;
            v["members"].as_array()?.iter().any(|m| m["key"] == me.as_str()).then_some(())
        })?;
        nodes.push(n);
    }
    // C becomes a second moderator (the quorum stays 1), so both halves can moderate.
    let (code, v) = nodes[0].post("/v1/mod/roster", &json!({ "op": "add", "key": nodes[2].author()? }))?;
    assert_eq!(code, 201, "{v}");
    let z = post(&nodes[1], "Before the split: Z")?;
    let w = post(&nodes[3], "Before the split: W")?;
    for n in &nodes {
        wait_for(WAIT, "the roster and both alerts everywhere", || {
            let (_, r) = n.get("/v1/mod/roster").ok()?;
            (r["moderators"].as_array()?.len() == 2 && n.alert_state(&z).is_some() && n.alert_state(&w).is_some())
                .then_some(())
        })?;
    }

    // Split: {A, B} and {C, D}, each half knowing only its own addresses.
    let ids: Vec<String> = nodes.iter().map(|n| status(n, "peer_id")).collect::<Result<_, _>>()?;
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect::<Result<_, _>>()?;
    let addr = |i: usize| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", ports[i], ids[i]);
    for n in nodes.iter_mut() {
        n.stop()?;
    }
    for (i, other) in [(0, 1), (1, 0), (2, 3), (3, 2)] {
        nodes[i].configure(ports[i], &[addr(other)])?;
    }
    for n in nodes.iter_mut() {
        n.restart()?;
    }
    for n in &nodes {
        wait_for(WAIT, "each half to reconnect", || (n.peer_count() >= 1).then_some(()))?;
    }

    // Both halves post and vote.
    let x = post(&nodes[0], "Left half: X")?;
    let y = post(&nodes[3], "Right half: Y")?;
    vote(&nodes[0], &z, "hide")?;
    wait_for(WAIT, "Z hidden on the left", || nodes[1].alert_state(&z).filter(|s| s == "hidden"))?;
    std::thread::sleep(Duration::from_millis(1100));
    vote(&nodes[2], &z, "restore")?; // later than the hide, cast without knowing it
    vote(&nodes[2], &w, "hide")?;
    wait_for(WAIT, "W hidden on the right", || nodes[3].alert_state(&w).filter(|s| s == "hidden"))?;
    // The controls: X and Y reach the other node of their own half by
    // gossip, and both nodes then finish two more sync sessions with their
    // peer (so one started after X and Y existed). Across a real link
    // either path would have carried the other half's alert by now.
    wait_for(WAIT, "X on the left", || nodes[1].alert_state(&x))?;
    wait_for(WAIT, "Y on the right", || nodes[2].alert_state(&y))?;
    let synced = |n: &Node| n.metric("stoop_sync_sessions_total", &[("end", "complete")]);
    let (left, right) = (synced(&nodes[1])?, synced(&nodes[2])?);
    wait_for(WAIT, "two more complete sync sessions in each half", || {
        (synced(&nodes[1]).ok()? >= left + 2.0 && synced(&nodes[2]).ok()? >= right + 2.0).then_some(())
    })?;
    assert!(nodes[1].alert_state(&y).is_none() && nodes[2].alert_state(&x).is_none(), "the halves were not split");
    assert_eq!(nodes[0].alert_state(&z).as_deref(), Some("hidden"));
    assert_eq!(nodes[3].alert_state(&z).as_deref(), Some("visible"));

    // Heal: B also dials C.
    nodes[1].stop()?;
    nodes[1].configure(ports[1], &[addr(0), addr(2)])?;
    nodes[1].restart()?;

    // Everyone converges: both new alerts everywhere; Z restored (the
    // restore is later than the hide), W hidden, on every node.
    for (i, n) in nodes.iter().enumerate() {
        wait_for(Duration::from_secs(60), &format!("node {i} to converge"), || {
            let states = (n.alert_state(&x)?, n.alert_state(&y)?, n.alert_state(&z)?, n.alert_state(&w)?);
            (states == ("visible".into(), "visible".into(), "visible".into(), "hidden".into())).then_some(())
        })?;
    }
    // And the same audit trail for Z everywhere.
    let trail = |n: &Node| -> TestResult<String> {
        let (_, v) = n.get(&format!("/v1/alerts/{z}"))?;
        Ok(v["votes"].to_string())
    };
    let first = trail(&nodes[0])?;
    for n in &nodes[1..] {
        assert_eq!(trail(n)?, first);
    }
    Ok(())
}
