//! Issue 11: ADD_PROVIDER records on Stoop's Kademlia protocol must not be
//! stored (Stoop never uses provider records); they took a node from 15 to
//! 526 MB of RSS.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::kad::{self, GetProvidersOk, QueryResult};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identity};
use stoop_node::net::behaviour::KAD_PROTOCOL;
use stoop_tests::{Node, TestResult, wait_for, with_logs};
use tokio::sync::mpsc;

/// Keys the attacker claims to provide.
const KEYS: usize = 40;
/// Fake addresses in each provider record (as many as fit Kademlia's
/// 16 KiB message cap).
const ADDRS_PER_RECORD: u32 = 1000;
/// Node memory must stay under this through the attack.
const MAX_NODE_RSS: u64 = 200 * 1024 * 1024;

enum Cmd {
    Provide(Vec<Vec<u8>>),
    Lookup(Vec<Vec<u8>>),
}

#[derive(Debug, Default)]
struct Seen {
    provided: usize,
    lookups_done: usize,
    /// Lookups the node answered.
    lookups_answered: usize,
    /// Providers the node gave back, for any key.
    providers: HashSet<PeerId>,
}

struct Attacker {
    tx: mpsc::Sender<Cmd>,
    seen: Arc<Mutex<Seen>>,
    _runtime: tokio::runtime::Runtime,
}

/// The one place attack peers are built: a fresh key speaking Stoop's
/// Kademlia protocol, knowing only the node, and claiming `addrs` external
/// addresses (which go into each provider record it sends).
fn attacker(node: PeerId, node_addr: Multiaddr, addrs: u32, network_key: [u8; 32]) -> TestResult<Attacker> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let key = identity::Keypair::generate_ed25519();
    let mut swarm = {
        let _guard = runtime.enter();
        let transport = stoop_node::net::swarm::tcp_transport(&key, Some(network_key))?;
        SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(move |_| transport)?
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), kad::Config::new(KAD_PROTOCOL))
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build()
    };
    swarm.behaviour_mut().set_mode(Some(kad::Mode::Client));
    swarm.behaviour_mut().add_address(&node, node_addr);
    for i in 0..addrs {
        let [a, b, c, d] = i.to_be_bytes();
        swarm.add_external_address(format!("/ip4/10.{b}.{c}.{d}/tcp/{}", 1000 + u16::from(a)).parse()?);
    }
    let (tx, rx) = mpsc::channel(16);
    let seen = Arc::new(Mutex::new(Seen::default()));
    runtime.spawn(run(swarm, rx, seen.clone()));
    Ok(Attacker { tx, seen, _runtime: runtime })
}

async fn run(
    mut swarm: Swarm<kad::Behaviour<kad::store::MemoryStore>>,
    mut rx: mpsc::Receiver<Cmd>,
    seen: Arc<Mutex<Seen>>,
) {
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Cmd::Provide(keys)) => for k in keys {
                    let _ = swarm.behaviour_mut().start_providing(kad::RecordKey::new(&k));
                },
                Some(Cmd::Lookup(keys)) => for k in keys {
                    swarm.behaviour_mut().get_providers(kad::RecordKey::new(&k));
                },
            },
            ev = swarm.select_next_some() => {
                let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed { result, step, stats, .. }) = ev else { continue };
                let Ok(mut s) = seen.lock() else { return };
                match result {
                    QueryResult::StartProviding(_) => s.provided += 1,
                    QueryResult::GetProviders(r) => {
                        if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = r {
                            s.providers.extend(providers);
                        }
                        if step.last {
                            s.lookups_done += 1;
                            if stats.num_successes() > 0 { s.lookups_answered += 1; }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Attacker {
    fn send(&self, cmd: Cmd) -> TestResult {
        self.tx.blocking_send(cmd).map_err(|_| "attacker stopped")?;
        Ok(())
    }

    fn seen<T>(&self, f: impl Fn(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

#[test]
fn provider_records_are_not_stored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let node = Node::init(dir.path())?;
    let attack = || -> TestResult {
        let node_id: PeerId = node.peer_id()?.parse()?;
        let addr: Multiaddr = node.dial_addr()?.parse()?;
        let keys: Vec<Vec<u8>> = (0..KEYS).map(|i| format!("stoop-bounds-kad-{i}").into_bytes()).collect();
        let rss_before = node.rss_bytes().unwrap_or(0);
        let flooder = attacker(node_id, addr.clone(), ADDRS_PER_RECORD, node.network_key()?)?;
        flooder.send(Cmd::Provide(keys.clone()))?;
        let start = Instant::now();
        let mut peak = rss_before;
        wait_for(Duration::from_secs(40), "the attacker's ADD_PROVIDER rounds", || {
            peak = peak.max(node.rss_bytes().unwrap_or(0));
            (flooder.seen(|s| s.provided) >= KEYS).then_some(())
        })?;
        // A second identity asks the node who provides those keys.
        let prober = attacker(node_id, addr, 0, node.network_key()?)?;
        prober.send(Cmd::Lookup(keys))?;
        wait_for(Duration::from_secs(20), "the provider lookups", || {
            (prober.seen(|s| s.lookups_done) >= KEYS).then_some(())
        })?;
        peak = peak.max(node.rss_bytes().unwrap_or(0));
        let (stored, answered) = prober.seen(|s| (s.providers.len(), s.lookups_answered));
        eprintln!(
            "{KEYS} records x {ADDRS_PER_RECORD} addresses in {:?}; lookups answered {answered}; providers the node gave back {stored}; RSS {} -> peak {} MiB",
            start.elapsed(),
            rss_before >> 20,
            peak >> 20
        );
        assert!(answered >= 1, "positive control: the node answered the lookups");
        assert_eq!(stored, 0, "the node kept provider records");
        assert!(peak < MAX_NODE_RSS, "node RSS peaked at {} MiB", peak >> 20);
        Ok(())
    };
    let result = attack();
    with_logs(&[node], result)
}
