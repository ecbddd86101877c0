//! A node whose only bootstrap peer is offline when it starts must connect
//! once that peer comes back, without a restart (`core::redial`).

use std::time::Duration;

use stoop_tests::{Node, TestResult, WAIT, free_port, wait_for, with_logs};

#[test]
fn a_node_started_while_its_bootstrap_peer_is_down_connects_when_it_returns() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut a = Node::init(&tmp.path().join("a"))?;
    let ticket = a.invite()?;
    let mut b = Node::join(&tmp.path().join("b"), &ticket)?;
    wait_for(WAIT, "B to reach A", || (b.peer_count() >= 1).then_some(()))?;

    let (port_a, port_b) = (free_port()?, free_port()?);
    let addr_a = format!("/ip4/127.0.0.1/tcp/{port_a}/p2p/{}", a.peer_id()?);
    a.stop()?;
    b.stop()?;
    a.configure(port_a, &[])?;
    b.configure(port_b, &[addr_a])?;

    // B starts alone: its bootstrap dial fails. The control that B did try:
    // it finds itself alone and dials the list again (its log says so; the
    // log is appended across restarts, so count the lines).
    const REDIAL_LINE: &str = "no peers; dialing the bootstrap list again";
    let redials = |n: &Node| n.log().matches(REDIAL_LINE).count();
    let before = redials(&b);
    b.restart()?;
    wait_for(WAIT, "B to dial its bootstrap list again", || (redials(&b) > before).then_some(()))?;
    assert_eq!(b.peer_count(), 0, "A is down, so B has no peer");

    a.restart()?;
    let nodes = [a, b];
    let result = wait_for(Duration::from_secs(60), "B to redial A", || (nodes[1].peer_count() >= 1).then_some(()))
        .and_then(|()| {
            let id = nodes[0].post_alert("After the redial")?;
            wait_for(WAIT, "A's alert on B", || nodes[1].alert_state(&id))
        });
    with_logs(&nodes, result).map(drop)
}
