//! Issue 11: many identities on an honest member's address (a shared house,
//! a carrier-grade NAT) must not get the member banned. gossipsub's IP
//! colocation penalty graylisted every peer on the address, and the node
//! banned every graylisted peer whatever the cause.

use std::time::Duration;

use stoop_tests::raw_peer::{Authorship, RawPeer};
use stoop_tests::{Node, TestResult, WAIT, wait_for, with_logs};

/// Identities on the member's address, as in the measured attack.
const IDENTITIES: usize = 30;

/// The one place attack peers are built: a fresh key on loopback, the
/// member's address, subscribed to the hood's topic like any member.
fn attacker(topic: &str, network_key: [u8; 32]) -> TestResult<RawPeer> {
    RawPeer::spawn(topic, Authorship::Anonymous, Some(network_key))
}

#[test]
fn identities_sharing_a_members_address_do_not_get_it_banned() -> TestResult {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = Node::init(da.path())?;
    let b = Node::join(db.path(), &a.invite()?)?;
    let nodes = [a, b];
    let attack = || -> TestResult {
        let (a, b) = (&nodes[0], &nodes[1]);
        wait_for(WAIT, "the member to connect", || (a.peer_count() >= 1).then_some(()))?;
        let member = b.peer_id()?;
        let (topic, addr, node) = (a.hood_topic()?, a.dial_addr()?, a.peer_id()?.parse()?);
        let mut peers = Vec::new();
        for _ in 0..IDENTITIES {
            let p = attacker(&topic, a.network_key()?)?;
            p.connect(&addr, node)?;
            peers.push(p);
        }
        // Several heartbeats and score refreshes with all of them on.
        std::thread::sleep(Duration::from_secs(8));
        let score = a.peer_score(&member);
        let bans = a.metric("stoop_peer_bans_total", &[])?;
        eprintln!("member score {score:?}, bans {bans}, peers {}", a.peer_count());
        assert_eq!(bans, 0.0, "nobody sent an invalid message, so nobody is banned");
        assert!(score.is_some(), "the member is still connected");
        // Positive control in the same window: the member's alert arrives.
        let id = b.post_alert("Water main break")?;
        wait_for(WAIT, "the member's alert", || a.alert_state(&id))?;
        drop(peers);
        Ok(())
    };
    let result = attack();
    with_logs(&nodes, result)
}
