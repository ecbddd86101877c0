//! Issue 11, the sync protocols from both ends:
//! - serving v1 (still served to older nodes): `want` lists that repeat one
//!   id, many streams at once, more requests than a peer's budget;
//! - the node's own sessions (sync v2): a peer that advertises hundreds of
//!   ids in reconciliation and serves junk envelopes for them.
//!
//! Both attackers are members' peers on the sync protocols (after pnet
//! admission, only a member's key gets this far); they are built by
//! [`attacker`] and [`junk_server`] alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identity};
use stoop_core::envelope::MAX_ENVELOPE_BYTES;
use stoop_core::ids::{HoodId, MessageId};
use stoop_core::reconcile::{
    Bound, FetchRequest, Fingerprint, Range, RangeBody, ReconcileRequest, ReconcileResponse, SessionId,
};
use stoop_node::net::codec::{
    FETCH_PROTOCOL, FetchCodec, RECONCILE_PROTOCOL, ReconcileCodec, SYNC_PROTOCOL, SyncCodec,
};
use stoop_proto::v1 as pb;
use stoop_tests::{Node, TestResult, WAIT, wait_for, with_logs};
use tokio::sync::mpsc;

/// Node memory must stay under this through the attacks.
const MAX_NODE_RSS: u64 = 200 * 1024 * 1024;

/// What the attacker does.
enum Cmd {
    Dial(Multiaddr),
    /// `count` sync v2 session openings, each after the previous answer.
    Open {
        node: PeerId,
        hood: HoodId,
        count: u32,
    },
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

/// The v1 attack peer: a fresh key on TCP + Noise + Yamux speaking only the
/// v1 sync protocol.
fn attacker(network_key: [u8; 32]) -> TestResult<Attacker> {
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
    runtime.spawn(run(swarm, rx, stats.clone()));
    Ok(Attacker { tx, stats, _runtime: runtime })
}

async fn run(
    mut swarm: Swarm<request_response::Behaviour<SyncCodec>>,
    mut rx: mpsc::Receiver<Cmd>,
    stats: Arc<Mutex<Stats>>,
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
                Some(Cmd::Open { .. }) => {}
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
        let a = attacker(node.network_key()?)?;
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

/// Both sync v2 protocols of the junk server.
#[derive(NetworkBehaviour)]
struct JunkBehaviour {
    reconcile: request_response::Behaviour<ReconcileCodec>,
    fetch: request_response::Behaviour<FetchCodec>,
}

/// Ranges the junk server answers the node's opening fingerprint with, each
/// listing [`JUNK_IDS_PER_RANGE`] made-up ids: 1,024 ids to fetch, four
/// full fetch pages.
const JUNK_RANGES: u64 = 64;
/// Ids per listed range (the protocol's most).
const JUNK_IDS_PER_RANGE: u64 = 16;

/// The sync v2 attack peer. With `junk`, it answers the node's
/// reconciliation by listing hundreds of made-up ids, and every fetch with
/// a full page of junk envelopes; without, it has nothing to say.
fn junk_server(network_key: [u8; 32], junk: bool) -> TestResult<Attacker> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let key = identity::Keypair::generate_ed25519();
    let swarm = {
        let _guard = runtime.enter();
        let transport = stoop_node::net::swarm::tcp_transport(&key, Some(network_key))?;
        let cfg = || request_response::Config::default().with_request_timeout(Duration::from_secs(30));
        SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(move |_| transport)?
            .with_behaviour(|_| JunkBehaviour {
                reconcile: request_response::Behaviour::new([(RECONCILE_PROTOCOL, ProtocolSupport::Full)], cfg()),
                fetch: request_response::Behaviour::new([(FETCH_PROTOCOL, ProtocolSupport::Full)], cfg()),
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build()
    };
    let (tx, rx) = mpsc::channel(16);
    let stats = Arc::new(Mutex::new(Stats::default()));
    runtime.spawn(serve_junk(swarm, rx, stats.clone(), junk));
    Ok(Attacker { tx, stats, _runtime: runtime })
}

async fn serve_junk(
    mut swarm: Swarm<JunkBehaviour>,
    mut rx: mpsc::Receiver<Cmd>,
    stats: Arc<Mutex<Stats>>,
    junk: bool,
) {
    let update = |f: &dyn Fn(&mut Stats)| {
        if let Ok(mut s) = stats.lock() {
            f(&mut s);
        }
    };
    let fake = |n: u64| MessageId::from_bytes(sha2_like(n));
    // Session openings still to send: (node, hood, left, sent so far).
    let mut opening: Option<(PeerId, HoodId, u32, u32)> = None;
    let open = |swarm: &mut Swarm<JunkBehaviour>, opening: &mut Option<(PeerId, HoodId, u32, u32)>| {
        if let Some((node, hood, left, n)) = opening.as_mut()
            && *left > 0
        {
            *left -= 1;
            *n += 1;
            let Ok(session) = SessionId::new(&n.to_le_bytes()) else { return };
            let ranges = vec![Range { upper: Bound::End, body: RangeBody::Fingerprint(Fingerprint([7; 16])) }];
            let req = ReconcileRequest { hood: *hood, session, ranges };
            swarm.behaviour_mut().reconcile.send_request(node, req.encode());
        }
    };
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Dial(addr)) => { let _ = swarm.dial(addr); }
                Some(Cmd::Open { node, hood, count }) => {
                    opening = Some((node, hood, count, 0));
                    open(&mut swarm, &mut opening);
                }
                Some(Cmd::Want { .. }) => {}
                None => return,
            },
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::ConnectionEstablished { .. } => update(&|s| s.connected = true),
                SwarmEvent::ConnectionClosed { num_established: 0, .. } => update(&|s| s.connected = false),
                SwarmEvent::Behaviour(JunkBehaviourEvent::Reconcile(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. }, ..
                })) => {
                    let Ok(req) = ReconcileRequest::decode(&request) else { continue };
                    // The opening fingerprint gets the id lists; the node's
                    // diffs after it get "nothing left to say".
                    let opening = junk && matches!(req.ranges.as_slice(), [Range { body: RangeBody::Fingerprint(_), .. }]);
                    let ranges = if opening {
                        (0..JUNK_RANGES).map(|r| Range {
                            upper: if r + 1 == JUNK_RANGES { Bound::End } else {
                                Bound::from_parts(r + 1, &[]).unwrap_or(Bound::End)
                            },
                            body: RangeBody::Ids((0..JUNK_IDS_PER_RANGE).map(|i| fake(r * 100 + i)).collect()),
                        }).collect()
                    } else {
                        Vec::new()
                    };
                    let resp = ReconcileResponse { session: req.session, ranges };
                    let _ = swarm.behaviour_mut().reconcile.send_response(channel, resp.encode());
                }
                SwarmEvent::Behaviour(JunkBehaviourEvent::Reconcile(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. }, ..
                })) => {
                    let ok = ReconcileResponse::decode(&response).is_ok();
                    update(&|s| if ok { s.responses += 1 } else { s.failures += 1 });
                    open(&mut swarm, &mut opening);
                }
                SwarmEvent::Behaviour(JunkBehaviourEvent::Reconcile(request_response::Event::OutboundFailure { .. })) => {
                    update(&|s| s.failures += 1);
                    open(&mut swarm, &mut opening);
                }
                SwarmEvent::Behaviour(JunkBehaviourEvent::Fetch(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. }, ..
                })) => {
                    let asked = FetchRequest::decode(&request).map(|r| r.ids.len()).unwrap_or(0);
                    let envelopes: Vec<Vec<u8>> = (0..asked as u32).map(|i| {
                        // 0xff is no valid protobuf tag: undecodable.
                        let mut e = vec![0xffu8; MAX_ENVELOPE_BYTES];
                        e[..4].copy_from_slice(&i.to_be_bytes());
                        e
                    }).collect();
                    let page = stoop_core::reconcile::FetchResponse { envelopes };
                    let _ = swarm.behaviour_mut().fetch.send_response(channel, page.encode());
                    update(&|s| s.served += 1);
                }
                _ => {}
            },
        }
    }
}

/// A spread-out 32-byte id from a number (no hashing crate needed).
fn sha2_like(n: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        let x = n.wrapping_add(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ 0x5bd1_e995;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// A peer that advertises ids in reconciliation and serves junk for them is
/// dropped at its first fetch page: the session ends, the peer is banned,
/// and the node neither verifies the rest of the page nor asks for the next.
#[test]
fn a_peer_serving_junk_pages_is_banned_at_the_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    let node = Node::init(dir.path())?;
    let attack = || -> TestResult {
        let a = junk_server(node.network_key()?, true)?;
        a.send(Cmd::Dial(node.dial_addr()?.parse()?))?;
        wait_for(WAIT, "the node to fetch from the attacker", || a.stats(|s| s.served >= 1).then_some(()))?;
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
        // One page verified, the next one asked while it was (pipelining).
        assert!(served <= 2, "no further pages were asked for ({served} of 4)");
        assert!(!a.stats(|s| s.connected), "the peer was disconnected");
        Ok(())
    };
    let result = attack();
    with_logs(&[node], result)
}

/// A member that opens session after session is answered up to its
/// reconcile budget (512 requests per 10 minutes); past it each request is
/// refused and a strike, and the peer is banned at the strike limit.
#[test]
fn reconcile_requests_past_the_peer_budget_are_refused() -> TestResult {
    const OPENINGS: u32 = 600;
    let dir = tempfile::tempdir()?;
    let node = Node::init(dir.path())?;
    let attack = || -> TestResult {
        let a = junk_server(node.network_key()?, false)?;
        let node_id: PeerId = node.peer_id()?.parse()?;
        a.send(Cmd::Dial(node.dial_addr()?.parse()?))?;
        wait_for(WAIT, "the attacker's connection", || a.stats(|s| s.connected).then_some(()))?;
        let hood = HoodId::from_slice(&hood_bytes(&node)?)?;
        a.send(Cmd::Open { node: node_id, hood, count: OPENINGS })?;
        wait_for(Duration::from_secs(120), "every opening answered or refused", || {
            a.stats(|s| s.responses + s.failures >= OPENINGS as usize).then_some(())
        })?;
        let (ok, failed) = a.stats(|s| (s.responses, s.failures));
        let refused = node.metric("stoop_sync_refused_total", &[("reason", "reconcile_rate")])?;
        let banned = node.metric("stoop_peer_ban_reasons_total", &[("reason", "reconcile_abuse")])?;
        eprintln!("{OPENINGS} openings: {ok} answered, {failed} failed; node refused {refused}, bans {banned}");
        assert!(ok >= 500, "positive control: a member's sessions are answered ({ok})");
        // The budget refills one request every ~1.2 s while the test runs.
        assert!(ok <= 512 + 4, "at most the budget is answered ({ok})");
        assert!(refused >= 20.0, "requests past the budget are refused ({refused})");
        // Strikes count in fixed 60 s windows: a boundary in the middle
        // can let up to two windows' worth through.
        assert!(refused <= 42.0, "and the peer is banned at the strike limit ({refused})");
        assert_eq!(banned, 1.0, "banned once");
        assert!(!a.stats(|s| s.connected), "the peer was disconnected");
        Ok(())
    };
    let result = attack();
    with_logs(&[node], result)
}
