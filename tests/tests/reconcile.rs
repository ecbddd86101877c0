//! Sync v2 between real processes: a partition longer than the old
//! one-hour resync margin heals exactly.
//!
//! Three nodes: A and C stay linked (so A keeps completing sessions, which
//! is what made v1 ask a healed peer only for the last hour before its last
//! completed sync), B is cut off. Both sides post at T and again at T + 2 h
//! (`STOOP_CLOCK_OFFSET_SECS`, no real waiting). After B is linked to A
//! again, every node holds the same set. Under v1, A asked B only for what
//! was signed after (T + 2 h) - 1 h, so B's alert from T never reached A or C.

use std::time::Duration;

use stoop_tests::{Node, TestResult, WAIT, free_port, join_hood, wait_for, with_logs};

/// Two hours: longer than v1's one-hour margin, shorter than the alerts'
/// six-hour default lifetime (they must still be live after the jump).
const LATER: &str = "7200";

fn status(node: &Node, key: &str) -> TestResult<String> {
    let (_, v) = node.get("/v1/status")?;
    Ok(v[key].as_str().ok_or("missing status field")?.to_owned())
}

fn complete_sessions(node: &Node) -> f64 {
    node.metric("stoop_sync_sessions_total", &[("end", "complete")]).unwrap_or(0.0)
}

/// Stops every node, writes each one's bootstrap list, starts them all
/// with the clock offset `offset`.
fn restart_all(nodes: &mut [Node], configs: &[(u16, Vec<String>)], offset: &str) -> TestResult {
    for n in nodes.iter_mut() {
        n.stop()?;
    }
    for (n, (port, boot)) in nodes.iter_mut().zip(configs) {
        n.configure(*port, boot)?;
        *n = Node::start_with_env(&n.dir.clone(), &[("STOOP_CLOCK_OFFSET_SECS", offset)])?;
    }
    Ok(())
}

#[test]
fn a_partition_longer_than_an_hour_heals_exactly() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut nodes = join_hood(tmp.path(), 3)?;
    let ids: Vec<String> = nodes.iter().map(|n| status(n, "peer_id")).collect::<Result<_, _>>()?;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
    let addr = |i: usize| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", ports[i], ids[i]);
    // A (0) and C (2) linked, B (1) alone.
    let split = vec![(ports[0], vec![addr(2)]), (ports[1], vec![]), (ports[2], vec![addr(0)])];

    let result = (|| -> TestResult {
        restart_all(&mut nodes, &split, "0")?;
        wait_for(WAIT, "A and C to link", || (nodes[0].peer_count() >= 1).then_some(()))?;
        let a1 = nodes[0].post_alert("A at T")?;
        let b1 = nodes[1].post_alert("B at T")?;
        wait_for(WAIT, "A's first alert at C", || nodes[2].alert_state(&a1))?;

        // Two hours later, still split.
        restart_all(&mut nodes, &split, LATER)?;
        wait_for(WAIT, "A and C to link again", || (nodes[0].peer_count() >= 1).then_some(()))?;
        let a2 = nodes[0].post_alert("A at T + 2 h")?;
        let b2 = nodes[1].post_alert("B at T + 2 h")?;
        // The control: A keeps completing sessions with C after the jump
        // (v1 would now ask a new peer only from T + 1 h), and gossip
        // within the linked half works.
        wait_for(WAIT, "A's second alert at C", || nodes[2].alert_state(&a2))?;
        let before = complete_sessions(&nodes[0]);
        wait_for(WAIT, "two more complete sessions of A with C", || {
            (complete_sessions(&nodes[0]) >= before + 2.0).then_some(())
        })?;
        assert_eq!(nodes[1].peer_count(), 0, "B is cut off");
        for n in [&nodes[0], &nodes[2]] {
            assert!(n.alert_state(&b1).is_none() && n.alert_state(&b2).is_none(), "the split was real");
        }
        assert!(nodes[1].alert_state(&a1).is_none() && nodes[1].alert_state(&a2).is_none());

        // Heal: B links to A.
        nodes[1].stop()?;
        nodes[1].configure(ports[1], &[addr(0)])?;
        nodes[1] = Node::start_with_env(&nodes[1].dir.clone(), &[("STOOP_CLOCK_OFFSET_SECS", LATER)])?;
        for (i, n) in nodes.iter().enumerate() {
            wait_for(Duration::from_secs(60), &format!("node {i} to hold all four alerts"), || {
                [&a1, &a2, &b1, &b2].iter().all(|id| n.alert_state(id).is_some()).then_some(())
            })?;
        }
        // The same set everywhere: every message, not only the alerts.
        wait_for(WAIT, "the same number of messages everywhere", || {
            let counts: Vec<u64> = nodes.iter().map(Node::store_messages).collect::<Result<_, _>>().ok()?;
            counts.windows(2).all(|w| w[0] == w[1]).then_some(counts)
        })?;
        Ok(())
    })();
    with_logs(&nodes, result)
}
