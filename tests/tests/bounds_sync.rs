//! Issue 11, the sync protocol from both ends:
//! - serving: `want` lists that repeat one id, many streams at once, more
//!   requests than a peer's budget;
//! - the node's own sessions: a peer answering with endless pages of junk
//!   envelopes.
//!
//! Both attackers are members' peers on the sync protocol (after pnet
//! admission, only a member's key gets this far); they are built by
//! [`attacker`] alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identity};
use stoop_core::envelope::MAX_ENVELOPE_BYTES;
use stoop_node::net::codec::{SYNC_PROTOCOL, SyncCodec};
use stoop_proto::v1 as pb;
use stoop_tests::{Node, TestResult, WAIT, wait_for, with_logs};
use tokio::sync::mpsc;

/// Node memory must stay under this through the attacks.
const MAX_NODE_RSS: u64 = 200 * 1024 * 1024;

/// What the attacker does.
enum Cmd {
    Dial(Multiaddr),
    /// `requests` sync requests, each wanting `id` `copies` times: all at
    /// once, or each after the previous one's answer.
    Want {
        node: PeerId,
        hood: Vec<u8>,
        id: Vec<u8>,
        copies: usize,
        requests: usize,
        at_once: bool,
    },
}

#[derive(Debug, Default)]
struct Stats {
    responses: usize,
    max_envelopes: usize,
    failures: usize,
    /// Junk pages this peer served to the node.
    served: usize,
    connected: bool,
}

struct Attacker {
    tx: mpsc::Sender<Cmd>,
    stats: Arc<Mutex<Stats>>,
    // Dropped last: stopping the runtime closes the connection.
    _runtime: tokio::runtime::Runtime,
}

/// The one place attack peers are built: a fresh key on TCP + Noise +
/// Yamux speaking only the sync protocol. With `junk_pages`, it answers the
/// node's sync requests with full pages of junk envelopes and a cursor that
/// never ends.
fn attacker(junk_pages: bool, network_key: [u8; 32]) -> TestResult<Attacker> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let key = identity::Keypair::generate_ed25519();
    let swarm = {
        let _guard = runtime.enter();
        let transport = stoop_node::net::swarm::tcp_transport(&key, Some(network_key))?;
        SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(move |_| transport)?
            .with_behaviour(|_| {
                request_response::Behaviour::<SyncCodec>::new(
                    [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(30))
                        .with_max_concurrent_streams(10_000),
                )
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build()
    };
    let (tx, rx) = mpsc::channel(16);
    let stats = Arc::new(Mutex::new(Stats::default()));
    runtime.spawn(run(swarm, rx, stats.clone(), junk_pages));
    Ok(Attacker { tx, stats, _runtime: runtime })
}

async fn run(
    mut swarm: Swarm<request_response::Behaviour<SyncCodec>>,
    mut rx: mpsc::Receiver<Cmd>,
    stats: Arc<Mutex<Stats>>,
    junk_pages: bool,
) {
    // Requests still to send one at a time, and their template.
    let mut serial: Option<(PeerId, pb::SyncRequest, usize)> = None;
    let update = |f: &dyn Fn(&mut Stats)| {
        if let Ok(mut s) = stats.lock() {
            f(&mut s);
        }
    };
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Cmd::Dial(addr)) => { let _ = swarm.dial(addr); }
                Some(Cmd::Want { node, hood, id, copies, requests, at_once }) => {
                    let want = vec![id; copies];
                    let req = pb::SyncRequest { hood, since: 0, cursor: Vec::new(), limit: 256, want };
                    if at_once {
                        for _ in 0..requests {
                            swarm.behaviour_mut().send_request(&node, req.clone());
                        }
                    } else if requests > 0 {
                        swarm.behaviour_mut().send_request(&node, req.clone());
                        serial = Some((node, req, requests - 1));
                    }
                }
            },
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::ConnectionEstablished { .. } => update(&|s| s.connected = true),
                SwarmEvent::ConnectionClosed { num_established: 0, .. } => update(&|s| s.connected = false),
                SwarmEvent::Behaviour(request_response::Event::Message { message, .. }) => match message {
                    request_response::Message::Request { channel, .. } if junk_pages => {
                        let envelopes = (0..256u32).map(|i| {
                            // 0xff is no valid protobuf tag: undecodable.
                            let mut e = vec![0xffu8; MAX_ENVELOPE_BYTES];
                            e[..4].copy_from_slice(&i.to_be_bytes());
                            e
                        }).collect();
                        let page = pb::SyncResponse { envelopes, next_cursor: vec![1; 8], done: false };
                        let _ = swarm.behaviour_mut().send_response(channel, page);
                        update(&|s| s.served += 1);
                    }
                    request_response::Message::Request { .. } => {}
                    request_response::Message::Response { response, .. } => {
                        let n = response.envelopes.len();
                        if response == pb::SyncResponse::default() {
                            // A closed stream reads as an empty message: refused.
                            update(&|s| s.failures += 1);
                        } else {
                            update(&|s| { s.responses += 1; s.max_envelopes = s.max_envelopes.max(n); });
                        }
                        next_serial(&mut swarm, &mut serial);
                    }
                },
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                    update(&|s| s.failures += 1);
                    next_serial(&mut swarm, &mut serial);
                }
                _ => {}
            },
        }
    }
}

fn next_serial(
    swarm: &mut Swarm<request_response::Behaviour<SyncCodec>>,
    serial: &mut Option<(PeerId, pb::SyncRequest, usize)>,
) {
    if let Some((node, req, left)) = serial.as_mut()
        && *left > 0
    {
        *left -= 1;
        swarm.behaviour_mut().send_request(node, req.clone());
    }
}

impl Attacker {
    fn send(&self, cmd: Cmd) -> TestResult {
        self.tx.blocking_send(cmd).map_err(|_| "attacker stopped")?;
        Ok(())
    }

    fn stats<T>(&self, f: impl Fn(&Stats) -> T) -> T {
        let s = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&s)
    }
}

fn hood_bytes(node: &Node) -> TestResult<Vec<u8>> {
    let (_, v) = node.get("/v1/status")?;
    Ok(hex::decode(v["hood"].as_str().ok_or("no hood")?)?)
}

/// Repeated ids are served once; past two streams per connection and the
/// peer's request budget the node refuses, and its memory stays bounded.
#[test]
fn a_want_flood_is_deduplicated_and_budgeted() -> TestResult {
    const BURST: usize = 300;
    const SERIAL: usize = 160;
    let dir = tempfile::tempdir()?;
    let node = Node::init(dir.path())?;
    let attack = || -> TestResult {
        let alert = node.post_alert("Tree down on Elm")?;
        let rss_before = node.rss_bytes().unwrap_or(0);
        let a = attacker(false, node.network_key()?)?;
        let node_id: PeerId = node.peer_id()?.parse()?;
        a.send(Cmd::Dial(node.dial_addr()?.parse()?))?;
        wait_for(WAIT, "the attacker's connection", || a.stats(|s| s.connected).then_some(()))?;
        let (hood, id) = (hood_bytes(&node)?, hex::decode(&alert)?);
        let mut peak = rss_before;
        let mut wave = |requests: usize, at_once: bool| -> TestResult<(usize, usize)> {
            let before = a.stats(|s| s.responses + s.failures);
            let want = Cmd::Want { node: node_id, hood: hood.clone(), id: id.clone(), copies: 256, requests, at_once };
            a.send(want)?;
            let start = Instant::now();
            let done = || a.stats(|s| s.responses + s.failures >= before + requests);
            while !done() && start.elapsed() < Duration::from_secs(25) {
                peak = peak.max(node.rss_bytes().unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(a.stats(|s| (s.responses, s.failures)))
        };
        // Many streams at once: past 2 per connection they are refused.
        let (burst_ok, burst_failed) = wave(BURST, true)?;
        // One at a time (within the stream cap): the request budget ends it.
        let (ok, failed) = wave(SERIAL, false)?;
        let max_envelopes = a.stats(|s| s.max_envelopes);
        let refused = node.metric("stoop_sync_refused_total", &[])?;
        eprintln!(
            "burst of {BURST}: {burst_ok} answered, {burst_failed} refused; then {SERIAL} one at a time: {} answered, \
             {} refused (node counted {refused}); most envelopes in one response {max_envelopes}; RSS {} -> peak {} MiB",
            ok - burst_ok,
            failed - burst_failed,
            rss_before >> 20,
            peak >> 20
        );
        assert!(burst_ok >= 1, "positive control: the node serves a member's request");
        assert_eq!(max_envelopes, 1, "a repeated id is served once");
        assert!(burst_failed > 0, "streams past the per-connection cap are refused");
        assert!(refused > 0.0 && failed > burst_failed, "requests past the peer's budget are refused");
        assert!(ok <= 130, "at most the request budget (120) and the streams' share are served ({ok})");
        assert!(peak < MAX_NODE_RSS, "node RSS peaked at {} MiB", peak >> 20);
        Ok(())
    };
    let result = attack();
    with_logs(&[node], result)
}

/// A peer that answers the node's sync requests with junk is dropped at its
/// first page: the session ends, the peer is banned, and the node does not
/// go on verifying page after page.
#[test]
fn a_peer_serving_junk_pages_is_banned_at_the_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    let node = Node::init(dir.path())?;
    let attack = || -> TestResult {
        let a = attacker(true, node.network_key()?)?;
        a.send(Cmd::Dial(node.dial_addr()?.parse()?))?;
        wait_for(WAIT, "the node to ask the attacker for pages", || a.stats(|s| s.served >= 1).then_some(()))?;
        wait_for(Duration::from_secs(20), "the ban for an invalid sync envelope", || {
            node.metric("stoop_peer_ban_reasons_total", &[("reason", "invalid_sync_envelope")])
                .ok()
                .filter(|n| *n >= 1.0)
        })?;
        // Let a node that carried on show it.
        std::thread::sleep(Duration::from_secs(5));
        let rejected = node.metric("stoop_messages_total", &[("origin", "sync"), ("verdict", "reject")])?;
        let served = a.stats(|s| s.served);
        eprintln!("junk pages served {served}, sync envelopes rejected {rejected}");
        assert!(rejected >= 1.0, "positive control: the junk reached the ledger");
        assert!(rejected <= 2.0, "verification stops at the first junk envelope ({rejected} rejected)");
        assert!(served <= 2, "no further pages were asked for ({served})");
        assert!(!a.stats(|s| s.connected), "the peer was disconnected");
        Ok(())
    };
    let result = attack();
    with_logs(&[node], result)
}
