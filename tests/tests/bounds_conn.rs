//! Issue 11: identities that connect but never join the hood's topic (one
//! sync stream each is enough to defeat the idle timeout) took all 64
//! connection slots. Now inbound peers not yet on the topic ("strangers")
//! hold at most the strangers' share; the slots reserved for the node's
//! own dials and for members stay free, and members stay connected.
//!
//! (Per-IP caps exempt loopback, so this loopback test shows the shares;
//! `core/src/ip_limits.rs` tests the per-IP caps.)

use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::dummy;
use libp2p::{Multiaddr, Swarm, SwarmBuilder, identity};
use stoop_core::ip_limits::{DEFAULT_MAX_ESTABLISHED, DEFAULT_RESERVED_MEMBERS, DEFAULT_RESERVED_OUTBOUND};
use stoop_tests::{Node, TestResult, WAIT, wait_for, with_logs};

/// Identities the attacker brings: more than the strangers' share.
const IDENTITIES: usize = 48;

/// The one place attack peers are built: a fresh key on TCP + Noise +
/// Yamux that never subscribes to anything.
fn attacker(network_key: [u8; 32]) -> TestResult<Swarm<dummy::Behaviour>> {
    let key = identity::Keypair::generate_ed25519();
    let transport = stoop_node::net::swarm::tcp_transport(&key, Some(network_key))?;
    Ok(SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(move |_| transport)?
        .with_behaviour(|_| dummy::Behaviour)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

#[test]
fn strangers_cannot_take_the_members_and_own_dials_slots() -> TestResult {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = Node::init(da.path())?;
    let b = Node::join(db.path(), &a.invite()?)?;
    let nodes = [a, b];
    let attack = || -> TestResult {
        let (a, b) = (&nodes[0], &nodes[1]);
        wait_for(WAIT, "the member to connect", || (a.peer_count() >= 1).then_some(()))?;
        let addr: Multiaddr = a.dial_addr()?.parse()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        for _ in 0..IDENTITIES {
            let _guard = runtime.enter();
            let mut swarm = attacker(a.network_key()?)?;
            swarm.dial(addr.clone())?;
            runtime.spawn(async move {
                loop {
                    swarm.select_next_some().await;
                }
            });
        }
        let strangers_cap = DEFAULT_MAX_ESTABLISHED - DEFAULT_RESERVED_OUTBOUND - DEFAULT_RESERVED_MEMBERS;
        std::thread::sleep(Duration::from_secs(4));
        let peers = a.peer_count();
        eprintln!(
            "{IDENTITIES} strangers dialed; node has {peers} peers (strangers' share {strangers_cap} + 1 member)"
        );
        assert!(peers > strangers_cap / 2, "positive control: strangers do get in ({peers})");
        assert!(peers <= strangers_cap + 1, "strangers took {peers} slots (share {strangers_cap})");
        // The member is still there: its alert arrives during the attack.
        let id = b.post_alert("Power line down")?;
        wait_for(WAIT, "the member's alert", || a.alert_state(&id))?;
        drop(runtime);
        Ok(())
    };
    let result = attack();
    with_logs(&nodes, result)
}
