//! Clock skew with real processes (RELIABILITY.md, faults: clock skew): a
//! member whose clock runs ten minutes fast (`STOOP_CLOCK_OFFSET_SECS`)
//! cannot get its future-dated alerts into anyone else's store, by gossip or
//! by sync, and pays for trying in gossip score; it still receives the
//! hood's alerts; a clock a minute fast (inside the 120 s bound) is fine.
//!
//! What the fast node does itself: it signs with the time it believes and
//! keeps its own alert (it cannot tell its clock is wrong). Once real time
//! passes the alert's `sent`, the others accept it at their next sync, so
//! nothing is lost; it only arrives late.

use stoop_tests::{Node, TestResult, WAIT, wait_for};

const FAST: &str = "600";
const SLIGHTLY_FAST: &str = "60";

fn future_dated(node: &Node, origin: &str) -> f64 {
    node.metric("stoop_messages_total", &[("origin", origin), ("reason", "future_dated")]).unwrap_or(0.0)
}

#[test]
fn a_node_ten_minutes_fast_cannot_get_its_alerts_accepted() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let fast_sync = [("STOOP_RESYNC_SECS", "2")];
    Node::init_only(&tmp.path().join("a"), 500, 1000)?;
    let a = Node::start_with_env(&tmp.path().join("a"), &fast_sync)?;
    let ticket = a.invite()?;
    let env = [("STOOP_RESYNC_SECS", "2"), ("STOOP_CLOCK_OFFSET_SECS", FAST)];
    let mut b = Node::join_with_env(&tmp.path().join("b"), &ticket, &env)?;
    let b_key = b.author()?;
    wait_for(WAIT, "B's join to reach A", || {
        let (_, v) = a.get("/v1/members").ok()?;
        v["members"].as_array()?.iter().any(|m| m["key"] == b_key.as_str()).then_some(())
    })?;
    assert!(b.log().contains("clock is shifted"), "the offset is announced in the log");
    let b_id = b.peer_id()?;
    wait_for(WAIT, "A to see B as a gossip peer", || a.peer_score(&b_id))?;

    // B posts: B itself takes it (it believes the time), A refuses it.
    let alert = b.post_alert("Posted from a fast clock")?;
    assert_eq!(b.alert_state(&alert).as_deref(), Some("visible"));
    wait_for(WAIT, "A to reject B's alert as future-dated over gossip", || {
        (future_dated(&a, "gossip") >= 1.0).then_some(())
    })?;
    // A's periodic sync with B fetches the alert again, and refuses it again.
    wait_for(WAIT, "A to reject it over sync too", || (future_dated(&a, "sync") >= 1.0).then_some(()))?;
    assert!(a.alert_state(&alert).is_none(), "A stored a future-dated alert");
    let score = a.peer_score(&b_id).ok_or("B was disconnected")?;
    assert!(score < 0.0, "B's future-dated alert must cost it gossip score, got {score}");

    // The fast node still receives the hood's alerts (ten minutes in its past).
    let from_a = a.post_alert("Posted with a correct clock")?;
    wait_for(WAIT, "B to receive A's alert", || b.alert_state(&from_a))?;

    // A minute fast is within the 120 s bound: accepted.
    b.stop()?;
    let dir = b.dir.clone();
    b = Node::start_with_env(&dir, &[("STOOP_RESYNC_SECS", "2"), ("STOOP_CLOCK_OFFSET_SECS", SLIGHTLY_FAST)])?;
    let slightly = b.post_alert("Posted from a clock a minute fast")?;
    wait_for(WAIT, "A to accept an alert a minute in its future", || a.alert_state(&slightly))?;
    assert!(a.alert_state(&alert).is_none(), "the ten-minute alert is still out");
    println!(
        "+{FAST} s: refused by A over gossip ({}) and sync ({}), B's score on A {score:.1}; +{SLIGHTLY_FAST} s: accepted",
        future_dated(&a, "gossip"),
        future_dated(&a, "sync")
    );
    Ok(())
}
