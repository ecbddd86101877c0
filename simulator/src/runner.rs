//! Runs a scenario: N real node stacks (the `stoop-node` library's replica,
//! `Node`, behaviour and event loop) over the link shim, a seeded timeline
//! of workload, votes, faults and adversarial frames, then the report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use libp2p::core::Transport as _;
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identity, noise, yamux};
use stoop_core::envelope::{Envelope, MAX_ENVELOPE_BYTES};
use stoop_core::ids::MessageId;
use stoop_core::message::Decision;
use stoop_core::testkit::{seeded_key, unix_now};
use stoop_core::verdict::IgnoreReason;
use stoop_node::net::behaviour::{Behaviour, BehaviourConfig, IDLE_CONNECTION_TIMEOUT, hood_topic};
use stoop_node::net::{EventLoop, NetClient};
use stoop_node::replica::{PublishError, Replica};
use stoop_node::service::Node;
use stoop_node::service::clock::Clock;
use stoop_node::service::feed::FeedKind;
use stoop_node::store::{Store, StoreConfig};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::hood::{self, SimHood};
use crate::link::{Fabric, LinkTransport};
use crate::report::{self, AdvFrame, Published, Report, RunFacts};
use crate::rng::SimRng;
use crate::scenario::{AdversaryKind, Scenario};
use crate::stats::{MsgKey, Shared};
use crate::tap::{TapNoise, message_key};

/// Frames queued for one adversarial node's gossipsub.
const ADVERSARY_QUEUE: usize = 64;
/// Resync interval of simulated nodes: the daemon's default. (A shorter one
/// multiplies sync traffic: each resync re-asks every peer for the last
/// hour, `RESYNC_MARGIN_SECS`.) Churned nodes catch up when they reconnect,
/// which starts a sync session with each new peer.
const SIM_RESYNC_SECS: u64 = stoop_core::sync::RESYNC_INTERVAL_SECS;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building the hood failed.
    #[error(transparent)]
    Hood(#[from] hood::HoodError),
    /// A store could not be opened.
    #[error("store of node {node}: {source}")]
    Store {
        /// Node index.
        node: usize,
        /// Cause.
        source: stoop_node::store::StoreError,
    },
    /// A node refused its membership frames.
    #[error("node {node} refused membership frame {frame}: {why}")]
    Membership {
        /// Node index.
        node: usize,
        /// Frame index.
        frame: usize,
        /// Verdict.
        why: String,
    },
    /// A replica thread could not start or stopped early.
    #[error("replica of node {node}: {source}")]
    Service {
        /// Node index.
        node: usize,
        /// Cause.
        source: stoop_node::service::ServiceError,
    },
    /// libp2p setup failed.
    #[error("network setup of node {node}: {why}")]
    Network {
        /// Node index.
        node: usize,
        /// Cause.
        why: String,
    },
    /// Writing the report failed.
    #[error("report: {0}")]
    Report(#[from] report::ReportError),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory for report files.
    pub out: std::path::PathBuf,
    /// Show a progress bar.
    pub progress: bool,
}

/// One timeline action, at ms after the workload starts.
#[derive(Debug, Clone)]
enum Action {
    /// Honest alert `seq` by `poster`, published on `origin`.
    Alert { seq: usize, poster: usize, origin: usize },
    /// Hide vote by `moderator` on honest alert `seq`, published on `origin`.
    Vote { seq: usize, moderator: usize, origin: usize },
    /// An adversarial frame.
    Adversary { node: usize, n: u64 },
    /// Take a node offline.
    Down(usize),
    /// Bring it back.
    Up(usize),
    /// Start a partition.
    PartitionStart(Vec<u8>),
    /// Heal it.
    PartitionHeal,
}

/// A running node.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Honest nodes only.
    net: Option<NetClient>,
    /// Adversaries only: frames to publish.
    frames: Option<mpsc::Sender<Vec<u8>>>,
}

/// Node roles and their static parts.
struct Cast {
    keys: Vec<identity::Keypair>,
    peers: Arc<HashMap<PeerId, u32>>,
    /// `Some(kind)` for adversaries.
    roles: Vec<Option<AdversaryKind>>,
    /// Honest nodes' shared state (None for adversaries).
    nodes: Vec<Option<Arc<Node>>>,
}

fn node_keypair(seed: u64, i: usize) -> Result<identity::Keypair, RunError> {
    let mut bytes = [0u8; 32];
    let mut rng = SimRng::derive(seed, "node-key", i as u64);
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    identity::Keypair::ed25519_from_bytes(bytes).map_err(|e| RunError::Network { node: i, why: e.to_string() })
}

/// The behaviour configuration of simulated nodes: the daemon's, minus LAN
/// discovery and port mapping (no LAN here), and with the process-wide
/// memory limit lifted (it measures the whole simulator process, so at
/// 1,000 nodes it would refuse every connection).
fn behaviour_config(s: &Scenario) -> BehaviourConfig {
    BehaviourConfig {
        mdns: false,
        upnp: false,
        max_connections: s.node.max_connections,
        outbound_peers: s.node.outbound_peers,
        max_memory_bytes: usize::MAX / 2,
        mesh_n: s.mesh.d,
        heartbeat: Duration::from_millis(s.mesh.heartbeat_ms),
    }
}

/// An adversary's gossipsub: same ids and mesh, but it validates nothing it
/// publishes, allows frames up to 64 KiB, and never forwards what it
/// receives (it asks for manual validation and never answers).
fn adversary_gossipsub(cfg: &BehaviourConfig) -> Result<gossipsub::Behaviour, String> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(stoop_node::net::behaviour::message_id)
        .max_transmit_size(64 * 1024)
        .mesh_n(cfg.mesh_n)
        .mesh_n_low(cfg.mesh_n.saturating_sub(2).max(1))
        .mesh_n_high(cfg.mesh_n * 2)
        .mesh_outbound_min(1.min(cfg.mesh_n / 2))
        .heartbeat_interval(cfg.heartbeat)
        .build()
        .map_err(|e| e.to_string())?;
    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(|e| e.to_string())
}

fn build_swarm(
    i: usize,
    key: identity::Keypair,
    fabric: &Arc<Fabric>,
    cast_peers: &Arc<HashMap<PeerId, u32>>,
    cfg: &BehaviourConfig,
    topic: &IdentTopic,
    adversary: bool,
) -> Result<Swarm<Behaviour>, RunError> {
    let err = |e: &dyn std::fmt::Display| RunError::Network { node: i, why: e.to_string() };
    let noise = noise::Config::new(&key).map_err(|e| err(&e))?;
    let tap = TapNoise::new(noise, i as u32, cast_peers.clone(), fabric.shared.clone());
    let link = LinkTransport::new(i as u32, fabric.clone());
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(move |_| {
            // The production stack: Noise then Yamux, with the same
            // lazy multistream-select the TCP builder uses.
            link.upgrade(Version::V1Lazy).authenticate(tap).multiplex(yamux::Config::default())
        })
        .map_err(|e| err(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| err(&e))?
        .with_behaviour(|key, relay| {
            let mut b = Behaviour::new(key, relay, cfg, topic)?;
            if adversary {
                b.gossipsub = adversary_gossipsub(cfg)?;
            }
            Ok(b)
        })
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    swarm.behaviour_mut().gossipsub.subscribe(topic).map_err(|e| err(&e))?;
    swarm.listen_on(fabric.addr(i)).map_err(|e| match e {
        libp2p::TransportError::Other(e) => err(&format!("cannot listen: {e}")),
        other => err(&other),
    })?;
    Ok(swarm)
}

/// Runs the adversary's swarm: publishes what it is handed, drops the rest.
async fn adversary_loop(
    mut swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    mut frames: mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            f = frames.recv() => match f {
                Some(bytes) => {
                    let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes);
                }
                None => break,
            },
            _ev = swarm.select_next_some() => {}
        }
    }
}

fn dial_addr(fabric: &Fabric, keys: &[identity::Keypair], j: usize) -> Multiaddr {
    fabric.addr(j).with(libp2p::multiaddr::Protocol::P2p(keys[j].public().to_peer_id()))
}

/// Starts node `i` (first start or after churn).
fn start_node(
    i: usize,
    s: &Scenario,
    cast: &Cast,
    fabric: &Arc<Fabric>,
    topic: &IdentTopic,
    dial: &[usize],
) -> Result<Running, RunError> {
    let cfg = behaviour_config(s);
    let adversary = cast.roles[i].is_some();
    let mut swarm = build_swarm(i, cast.keys[i].clone(), fabric, &cast.peers, &cfg, topic, adversary)?;
    let bootstrap: Vec<Multiaddr> = dial.iter().map(|&j| dial_addr(fabric, &cast.keys, j)).collect();
    let (stop, stop_rx) = watch::channel(false);
    match &cast.nodes[i] {
        Some(node) => {
            // Honest nodes dial (and redial) through the event loop, as stoopd does.
            let (event_loop, net) = EventLoop::new(swarm, node.clone(), topic.clone(), SIM_RESYNC_SECS);
            let event_loop = event_loop.with_bootstrap(bootstrap);
            let task = tokio::spawn(event_loop.run(stop_rx));
            Ok(Running { stop, task, net: Some(net), frames: None })
        }
        None => {
            for addr in bootstrap {
                let _ = swarm.dial(addr);
            }
            let (tx, rx) = mpsc::channel(ADVERSARY_QUEUE);
            let task = tokio::spawn(adversary_loop(swarm, topic.clone(), rx, stop_rx));
            Ok(Running { stop, task, net: None, frames: Some(tx) })
        }
    }
}

/// Records what a node accepts and hides, from its live feed.
fn spawn_collector(node: &Arc<Node>, shared: Arc<Shared>, i: usize) -> JoinHandle<()> {
    let mut rx = node.events.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let now = shared.now_ms();
                    let Ok(id) = MessageId::from_hex(&ev.id) else { continue };
                    let stats = &shared.nodes[i];
                    if ev.event == FeedKind::Message {
                        stats.accept(*id.as_bytes(), now);
                    } else if ev.event == FeedKind::State && ev.state == Some(stoop_core::ledger::AlertState::Hidden) {
                        stats.hide(*id.as_bytes(), now);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    stats_missed(&shared, i, n);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

fn stats_missed(shared: &Shared, i: usize, n: u64) {
    crate::stats::NodeStats::add(&shared.nodes[i].events_missed, n);
}

/// Samples the runtime's timer overshoot every 10 ms until stopped.
fn spawn_lag_probe(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let due = Instant::now() + Duration::from_millis(10);
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep_until(due.into()) => {
                    let late = Instant::now().saturating_duration_since(due);
                    shared.probe_lag.record_us(late.as_micros() as u64);
                }
            }
        }
    })
}

/// Reads a field of /proc/self/status in KiB.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

/// User + system CPU seconds of this process (from /proc/self/stat, at the
/// usual 100 ticks per second).
pub fn cpu_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = text.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Builds the seeded timeline (ms after the workload starts).
fn timeline(s: &Scenario, roles: &[Option<AdversaryKind>]) -> Vec<(f64, Action)> {
    let mut rng = SimRng::derive(s.seed, "timeline", 0);
    let honest: Vec<usize> = (0..s.nodes).filter(|&i| roles[i].is_none()).collect();
    let duration_ms = s.timing.duration_secs as f64 * 1000.0;
    let mut plan: Vec<(f64, Action)> = Vec::new();

    // Churn first, so publishers can avoid nodes that are down.
    let mut down: Vec<(usize, f64, f64)> = Vec::new();
    let churners = (honest.len() as f64 * s.faults.churn_fraction).round() as usize;
    let mut pool = honest.clone();
    rng.shuffle(&mut pool);
    for &i in pool.iter().take(churners) {
        let [lo, hi] = s.faults.churn_down_secs;
        let len = rng.range_u64(lo, hi) as f64 * 1000.0;
        let start = rng.range_f64(0.0, (duration_ms - len).max(0.0));
        down.push((i, start, start + len));
        plan.push((start, Action::Down(i)));
        plan.push((start + len, Action::Up(i)));
    }
    let is_up = |i: usize, t: f64, down: &[(usize, f64, f64)]| !down.iter().any(|&(n, a, b)| n == i && a <= t && t < b);
    let pick_origin = |t: f64, rng: &mut SimRng| loop {
        let i = honest[rng.below(honest.len())];
        if is_up(i, t, &down) {
            break i;
        }
    };

    let alerts = s.honest_alerts();
    let interval = if s.workload.alerts_per_sec > 0.0 { 1000.0 / s.workload.alerts_per_sec } else { 0.0 };
    for seq in 0..alerts {
        let t = seq as f64 * interval + rng.range_f64(0.0, interval * 0.5);
        let origin = pick_origin(t, &mut rng);
        plan.push((t, Action::Alert { seq, poster: seq % s.workload.posters, origin }));
        if rng.chance(s.moderation.hide_fraction) {
            for moderator in 0..s.moderation.quorum as usize {
                let [lo, hi] = s.moderation.vote_delay_ms;
                let tv = t + rng.range_u64(lo, hi) as f64;
                let origin = pick_origin(tv, &mut rng);
                plan.push((tv, Action::Vote { seq, moderator, origin }));
            }
        }
    }

    for p in &s.faults.partitions {
        let mut sides = vec![0u8; s.nodes];
        let mut all: Vec<usize> = (0..s.nodes).collect();
        rng.shuffle(&mut all);
        for &i in all.iter().take((s.nodes as f64 * p.fraction).round() as usize) {
            sides[i] = 1;
        }
        plan.push((p.start_secs * 1000.0, Action::PartitionStart(sides)));
        plan.push((p.heal_secs * 1000.0, Action::PartitionHeal));
    }

    if s.adversaries.frames_per_sec > 0.0 {
        let gap = 1000.0 / s.adversaries.frames_per_sec;
        for (node, role) in roles.iter().enumerate() {
            if role.is_none() {
                continue;
            }
            let mut t = rng.range_f64(0.0, gap);
            let mut n = 0;
            while t < duration_ms {
                plan.push((t, Action::Adversary { node, n }));
                n += 1;
                t += gap;
            }
        }
    }
    plan.sort_by(|a, b| a.0.total_cmp(&b.0));
    plan
}

/// Runs `s` to completion and writes the report under `opts.out`.
pub async fn run(s: &Scenario, opts: &RunOptions) -> Result<Report, RunError> {
    let cpu0 = cpu_secs().unwrap_or(0.0);
    let wall0 = Instant::now();
    let setup_unix = unix_now();
    let hood = SimHood::build(s, setup_unix)?;
    let topic = hood_topic(&hood.fixture.hood());
    let shared = Arc::new(Shared::new(s.nodes));
    let fabric = Fabric::new(s.seed, s.link.model(), s.nodes, shared.clone());

    // Roles: adversaries are spread over the index range by the seed.
    let mut idx: Vec<usize> = (0..s.nodes).collect();
    SimRng::derive(s.seed, "roles", 0).shuffle(&mut idx);
    let mut roles: Vec<Option<AdversaryKind>> = vec![None; s.nodes];
    for (k, &i) in idx.iter().take(s.adversary_nodes()).enumerate() {
        roles[i] = Some(s.adversaries.kinds[k % s.adversaries.kinds.len()]);
    }
    let adversary_member: HashMap<usize, usize> =
        idx.iter().take(s.adversary_nodes()).enumerate().map(|(k, &i)| (i, k)).collect();

    let keys = (0..s.nodes).map(|i| node_keypair(s.seed, i)).collect::<Result<Vec<_>, _>>()?;
    let peers: Arc<HashMap<PeerId, u32>> =
        Arc::new(keys.iter().enumerate().map(|(i, k)| (k.public().to_peer_id(), i as u32)).collect());

    let bar = if opts.progress { ProgressBar::new(s.nodes as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("stores");

    // Stores and replicas: each honest node gets its own sled store and
    // ingests the membership frames through its own ledger.
    let mut nodes: Vec<Option<Arc<Node>>> = Vec::with_capacity(s.nodes);
    for (i, role) in roles.iter().enumerate() {
        bar.set_position(i as u64);
        if role.is_some() {
            nodes.push(None);
            continue;
        }
        let cfg = StoreConfig {
            flush_every_ms: None,
            segment_bytes: (s.node.segment_kib > 0).then_some(s.node.segment_kib as usize * 1024),
            ..StoreConfig::temporary(s.node.cache_kib * 1024)
        };
        let store = Store::open(&cfg).map_err(|source| RunError::Store { node: i, source })?;
        let (mut replica, _) = Replica::create(store, hood.fixture.charter.clone())
            .map_err(|source| RunError::Store { node: i, source })?;
        let outcomes = replica.ingest_batch(&hood.membership, setup_unix);
        for (frame, o) in outcomes.iter().enumerate() {
            if !matches!(o.verdict, stoop_core::verdict::Verdict::Accept) {
                return Err(RunError::Membership { node: i, frame, why: format!("{:?}", o.verdict) });
            }
        }
        let author = seeded_key(&format!("node-author-{i}"));
        let node =
            Node::start(replica, author, Clock::system()).map_err(|source| RunError::Service { node: i, source })?;
        nodes.push(Some(Arc::new(node)));
    }
    let rss_stores_kib = proc_status_kib("VmRSS:").unwrap_or(0);
    let cast = Cast { keys, peers, roles: roles.clone(), nodes };

    // Collectors before the network starts, so no event is missed.
    let mut collectors = Vec::new();
    for (i, n) in cast.nodes.iter().enumerate() {
        if let Some(n) = n {
            collectors.push(spawn_collector(n, shared.clone(), i));
        }
    }
    let (probe_stop, probe_rx) = watch::channel(false);
    let probe = spawn_lag_probe(shared.clone(), probe_rx);

    // Bootstrap topology: each node dials k distinct random others.
    let mut trng = SimRng::derive(s.seed, "topology", 0);
    let bootstrap: Vec<Vec<usize>> = (0..s.nodes)
        .map(|i| {
            let mut picks = Vec::new();
            while picks.len() < s.topology.bootstrap_peers {
                let j = trng.below(s.nodes);
                if j != i && !picks.contains(&j) {
                    picks.push(j);
                }
            }
            picks
        })
        .collect();

    bar.set_prefix("swarms");
    let mut running: Vec<Option<Running>> = Vec::with_capacity(s.nodes);
    for (i, dial) in bootstrap.iter().enumerate() {
        bar.set_position(i as u64);
        running.push(Some(start_node(i, s, &cast, &fabric, &topic, dial)?));
        // Let the runtime breathe while 1,000 dial storms start.
        if i % 50 == 49 {
            tokio::task::yield_now().await;
        }
    }
    let rss_started_kib = proc_status_kib("VmRSS:").unwrap_or(0);

    let total_secs = s.timing.warmup_secs + s.timing.duration_secs + s.timing.settle_secs;
    bar.set_length(total_secs);
    bar.set_position(0);
    bar.set_prefix("warmup");
    let started = Instant::now();
    let ticker = {
        let bar = bar.clone();
        let shared = shared.clone();
        let warm = s.timing.warmup_secs;
        let work = s.timing.duration_secs;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let e = started.elapsed().as_secs();
                bar.set_position(e.min(total_secs));
                bar.set_prefix(if e < warm {
                    "warmup"
                } else if e < warm + work {
                    "workload"
                } else {
                    "settle"
                });
                let rss = proc_status_kib("VmRSS:").unwrap_or(0) / 1024;
                let lag = shared.probe_lag.quantile_us(0.99) as f64 / 1000.0;
                bar.set_message(format!("RSS {rss} MiB, timer lag p99 {lag:.1} ms"));
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(s.timing.warmup_secs)).await;
    let t_work = Instant::now();
    let work_unix = unix_now();
    let work_ms = shared.ms_at(t_work);
    let counters_at_work = report::snapshot(&shared, &roles);
    let lag_at_work = (shared.pump_lag.counts(), shared.probe_lag.counts());

    // The timeline.
    let plan = timeline(s, &roles);
    let mut wrng = SimRng::derive(s.seed, "workload", 0);
    let mut published: Vec<Published> = Vec::new();
    let mut alert_frames: Vec<(MsgKey, Vec<u8>, usize)> = Vec::new();
    let mut adv_frames: Vec<AdvFrame> = Vec::new();
    let mut partitions = 0usize;
    let mut churn_events = 0usize;
    for (t, action) in plan {
        let due = t_work + Duration::from_secs_f64(t / 1000.0);
        tokio::time::sleep_until(due.into()).await;
        let now = unix_now();
        match action {
            Action::Alert { seq, poster, origin } => {
                let alert = hood.alert(s, &mut wrng, now, &format!("Alert {seq}"));
                let env = hood::seal_alert(alert, &hood.posters[poster]);
                let origin = live_origin(origin, &running, &cast);
                if let Some(p) = publish_honest(&cast, &running, &shared, origin, &env, now, seq).await {
                    alert_frames.push((p.id, env.to_bytes(), seq));
                    published.push(p);
                }
            }
            Action::Vote { seq, moderator, origin } => {
                let Some((id, _, _)) = alert_frames.iter().find(|(_, _, s)| *s == seq) else { continue };
                let Ok(alert_id) = MessageId::from_slice(id) else { continue };
                let env = hood.fixture.vote(&hood.fixture.founders[moderator], alert_id, Decision::Hide, now);
                let origin = live_origin(origin, &running, &cast);
                if let Some(mut p) = publish_honest(&cast, &running, &shared, origin, &env, now, seq).await {
                    p.vote_on = Some(*id);
                    published.push(p);
                }
            }
            Action::Adversary { node, n } => {
                let kind = roles[node].unwrap_or(AdversaryKind::Malformed);
                let member = adversary_member.get(&node).copied().unwrap_or(0);
                let frame = adversarial_frame(s, &hood, kind, member, n, now, &mut wrng, &alert_frames);
                if let (Some(frame), Some(Some(r))) = (frame, running.get(node)) {
                    use sha2::Digest as _;
                    adv_frames.push(AdvFrame {
                        kind,
                        id: message_key(&frame.bytes),
                        digest: sha2::Sha256::digest(&frame.bytes).into(),
                        author: frame.author,
                        honest_replay: frame.honest_replay,
                        targets: frame.targets,
                    });
                    if let Some(tx) = &r.frames {
                        let _ = tx.try_send(frame.bytes);
                    }
                }
            }
            Action::Down(i) => {
                if let Some(r) = running[i].take() {
                    let _ = r.stop.send(true);
                    let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
                    churn_events += 1;
                }
            }
            Action::Up(i) => {
                if running[i].is_none() {
                    running[i] = Some(start_node(i, s, &cast, &fabric, &topic, &bootstrap[i])?);
                }
            }
            Action::PartitionStart(sides) => {
                fabric.set_partition(Some(sides));
                partitions += 1;
            }
            Action::PartitionHeal => fabric.set_partition(None),
        }
    }
    let end_ms = work_ms + s.timing.duration_secs as f64 * 1000.0;
    let remaining = (end_ms - shared.now_ms()).max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(remaining / 1000.0)).await;
    // Any node still down comes back for the settle phase.
    for i in 0..s.nodes {
        if running[i].is_none() {
            running[i] = Some(start_node(i, s, &cast, &fabric, &topic, &bootstrap[i])?);
        }
    }
    fabric.set_partition(None);
    tokio::time::sleep(Duration::from_secs(s.timing.settle_secs)).await;
    let counters_at_end = report::snapshot(&shared, &roles);
    let lag_at_end = (shared.pump_lag.counts(), shared.probe_lag.counts());
    let conns_end = shared.conn_ends.load(std::sync::atomic::Ordering::Relaxed) as f64 / s.nodes as f64;
    let settle_end_ms = shared.now_ms();

    // Stop everything.
    let mut tasks = Vec::new();
    for r in running.iter_mut().filter_map(Option::take) {
        let _ = r.stop.send(true);
        tasks.push(r.task);
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = probe_stop.send(true);
    let _ = probe.await;
    ticker.abort();
    bar.finish_and_clear();
    for c in collectors {
        c.abort();
    }
    // Take each replica back from its thread for the report.
    let mut replicas: Vec<Option<Replica>> = Vec::with_capacity(s.nodes);
    for (i, node) in cast.nodes.iter().enumerate() {
        match node {
            Some(n) => replicas.push(Some(n.close().await.map_err(|source| RunError::Service { node: i, source })?.0)),
            None => replicas.push(None),
        }
    }

    let facts = RunFacts {
        work_ms,
        end_ms,
        settle_end_ms,
        wall_secs: wall0.elapsed().as_secs_f64(),
        cpu_secs: cpu_secs().unwrap_or(0.0) - cpu0,
        peak_rss_kib: proc_status_kib("VmHWM:").unwrap_or(0),
        rss_stores_kib,
        rss_started_kib,
        partitions,
        churn_events,
        connections_per_node: conns_end,
        connections_per_node_peak: shared.conn_ends_peak.load(std::sync::atomic::Ordering::Relaxed) as f64
            / s.nodes as f64,
        lag_window: [
            [0.5, 0.99].map(|q| {
                crate::stats::LagHistogram::window_quantile_us(&lag_at_work.0, &lag_at_end.0, q) as f64 / 1000.0
            }),
            [0.5, 0.99].map(|q| {
                crate::stats::LagHistogram::window_quantile_us(&lag_at_work.1, &lag_at_end.1, q) as f64 / 1000.0
            }),
        ],
        quota_hours: (unix_now() / 3600 - work_unix / 3600) as usize + 1,
    };
    let report = report::build(
        s,
        &shared,
        &roles,
        &replicas,
        &published,
        &adv_frames,
        (&counters_at_work, &counters_at_end),
        facts,
    );
    report::write(&report, &shared, &roles, &published, &opts.out)?;
    Ok(report)
}

/// `origin` if it is running, else the next running honest node.
fn live_origin(origin: usize, running: &[Option<Running>], cast: &Cast) -> usize {
    let n = running.len();
    (0..n).map(|k| (origin + k) % n).find(|&i| running[i].is_some() && cast.nodes[i].is_some()).unwrap_or(origin)
}

async fn publish_honest(
    cast: &Cast,
    running: &[Option<Running>],
    shared: &Shared,
    origin: usize,
    env: &Envelope,
    now: u64,
    seq: usize,
) -> Option<Published> {
    let node = cast.nodes[origin].as_ref()?;
    let net = running[origin].as_ref()?.net.as_ref()?;
    let bytes = env.to_bytes();
    let held = match node.publish_signed(bytes.clone(), now).await {
        Ok(_) => false,
        // A vote for an alert the origin has not received yet waits in its
        // pending buffer and is gossiped when the alert arrives, so it
        // still counts as published (the report would otherwise call the
        // hide it causes unexplained).
        Err(PublishError::Ignored(IgnoreReason::Pending)) => {
            tracing::debug!(origin, "honest publish held until its alert arrives");
            true
        }
        Err(e) => {
            tracing::warn!(origin, error = %e, "honest publish refused");
            return None;
        }
    };
    let at_ms = shared.now_ms();
    if !held {
        let _ = net.publish(bytes).await;
    }
    Some(Published { id: *env.id().as_bytes(), origin, at_ms, seq, kind: env.kind().name(), vote_on: None })
}

struct Frame {
    bytes: Vec<u8>,
    author: Option<[u8; 32]>,
    honest_replay: bool,
    targets: Option<MsgKey>,
}

#[allow(clippy::too_many_arguments)]
fn adversarial_frame(
    s: &Scenario,
    hood: &SimHood,
    kind: AdversaryKind,
    member: usize,
    n: u64,
    now: u64,
    rng: &mut SimRng,
    honest: &[(MsgKey, Vec<u8>, usize)],
) -> Option<Frame> {
    let member_key = hood.bad_members.get(member)?;
    let label = format!("Notice {member}-{n}");
    let plain = |bytes: Vec<u8>| Frame { bytes, author: None, honest_replay: false, targets: None };
    Some(match kind {
        AdversaryKind::OverQuota => {
            let env = hood::seal_alert(hood.alert(s, rng, now, &label), member_key);
            Frame { author: Some(*member_key.public().as_bytes()), ..plain(env.to_bytes()) }
        }
        AdversaryKind::NonMember => {
            let outsider = seeded_key(&format!("outsider-{member}"));
            plain(hood::seal_alert(hood.alert(s, rng, now, &label), &outsider).to_bytes())
        }
        AdversaryKind::BadSignature => {
            plain(hood::corrupt_signature(&hood::seal_alert(hood.alert(s, rng, now, &label), member_key)))
        }
        AdversaryKind::NonCanonical => {
            plain(hood::non_canonical(&hood::seal_alert(hood.alert(s, rng, now, &label), member_key)))
        }
        AdversaryKind::ForgedVote => {
            // Target an honest alert (if any yet) that moderators did not vote on.
            let (target, _, _) = honest.get(rng.below(honest.len().max(1)))?;
            let id = MessageId::from_slice(target).ok()?;
            let vote = hood.fixture.vote(member_key, id, Decision::Hide, now);
            let bytes = if n.is_multiple_of(2) {
                // A member who is not a moderator.
                vote.to_bytes()
            } else {
                // Claims a moderator's key, signed with another.
                hood::forged_signer(&vote, &hood.fixture.founders[0])
            };
            Frame { targets: Some(*target), ..plain(bytes) }
        }
        AdversaryKind::Replay => {
            if n.is_multiple_of(2) && !honest.is_empty() {
                let (_, bytes, _) = &honest[rng.below(honest.len())];
                Frame { honest_replay: true, ..plain(bytes.clone()) }
            } else {
                // An old alert by a real poster, long expired.
                let old = now.saturating_sub(3 * 86_400 + n * 60);
                let poster = &hood.posters[member % hood.posters.len()];
                plain(hood::seal_alert(hood.alert(s, rng, old, &label), poster).to_bytes())
            }
        }
        AdversaryKind::Malformed => {
            let len = rng.range_u64(16, 600) as usize;
            plain((0..len).map(|_| rng.next_u64() as u8).collect())
        }
        AdversaryKind::Oversized => {
            let len = MAX_ENVELOPE_BYTES + 4096;
            plain((0..len).map(|_| rng.next_u64() as u8).collect())
        }
    })
}
