//! Runs a scenario: N real node stacks (the `stoop-node` library's replica,
//! `Node`, behaviour and event loop) over the link shim, a seeded timeline
//! of workload, votes, faults and adversarial frames, then the report.

//!
//! # Layout
//! - [`swarm`]: simulated nodes' swarms over the link shim.
//! - [`nodes`]: honest node stacks, collectors, publishing.
//! - [`adversary`]: adversarial nodes and their frames.
//! - [`timeline`]: the seeded workload timeline.
//! - [`measure`]: the simulator's own lag, RSS and CPU.
//! - [`reach`]: NAT scenarios: samples peers and reachability.

mod adversary;
mod measure;
mod nodes;
mod reach;
mod swarm;
mod timeline;

pub use measure::{cpu_secs, proc_status_kib};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use libp2p::core::Transport as _;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::{Multiaddr, PeerId, Swarm, identity, noise, yamux};
use stoop_core::envelope::{Envelope, MAX_ENVELOPE_BYTES};
use stoop_core::ids::MessageId;
use stoop_core::message::Decision;
use stoop_core::testkit::{seeded_key, unix_now};

pub use crate::clock::ClockMode;
use stoop_core::verdict::IgnoreReason;
use stoop_node::net::behaviour::{Behaviour, BehaviourConfig, hood_topic};
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
use adversary::*;
use measure::*;
use nodes::*;
use swarm::*;
use timeline::*;

/// Resync interval of simulated nodes: the daemon's default. (Each resync
/// reconciles with every peer: one fingerprint each way when in sync.)
/// Churned nodes catch up when they reconnect, which starts a sync session
/// with each new peer.
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
    /// Virtual time (a paused current-thread runtime) or the machine's.
    pub clock: ClockMode,
}

/// Runs `s` to completion and writes the report under `opts.out`.
pub async fn run(s: &Scenario, opts: &RunOptions) -> Result<Report, RunError> {
    let cpu0 = cpu_secs().unwrap_or(0.0);
    let wall0 = std::time::Instant::now();
    let clock = match opts.clock {
        ClockMode::Virtual => {
            web_time::restart_epoch();
            crate::entropy::reseed(s.seed);
            Clock::following_tokio(web_time::VIRTUAL_EPOCH_UNIX_SECS)
        }
        ClockMode::Real => Clock::following_tokio(unix_now()),
    };
    let setup_unix = clock.now();
    let hood = SimHood::build(s, setup_unix)?;
    let topic = hood_topic(&hood.fixture.hood());
    let shared = Arc::new(Shared::new(s.nodes));
    // Home routers: which nodes are behind NAT, drawn by the seed.
    let behind: Option<Vec<bool>> = s.nat.as_ref().map(|_| {
        let mut idx: Vec<usize> = (0..s.nodes).collect();
        SimRng::derive(s.seed, "nat", 0).shuffle(&mut idx);
        let mut behind = vec![false; s.nodes];
        for &i in idx.iter().take(s.natted_nodes()) {
            behind[i] = true;
        }
        behind
    });
    let fabric = Fabric::with_nat(s.seed, s.link.model(), s.nodes, shared.clone(), behind.clone());

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
        let node = match opts.clock {
            ClockMode::Virtual => Node::start_on_runtime(replica, author, clock),
            ClockMode::Real => {
                Node::start(replica, author, clock).map_err(|source| RunError::Service { node: i, source })?
            }
        };
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

    // Bootstrap topology: each node dials k distinct random others; with
    // home routers, public ones only (what a ticket lists), all if fewer.
    let mut trng = SimRng::derive(s.seed, "topology", 0);
    let dialable: Vec<usize> = match &behind {
        Some(b) => (0..s.nodes).filter(|&j| !b[j]).collect(),
        None => (0..s.nodes).collect(),
    };
    let bootstrap: Vec<Vec<usize>> = (0..s.nodes)
        .map(|i| {
            let want = s.topology.bootstrap_peers.min(dialable.iter().filter(|&&j| j != i).count());
            let mut picks = Vec::new();
            while picks.len() < want {
                let j = dialable[trng.below(dialable.len())];
                if j != i && !picks.contains(&j) {
                    picks.push(j);
                }
            }
            picks
        })
        .collect();
    let reach_probe = behind.as_ref().map(|b| reach::Probe::start(&fabric, &cast, b));
    let mark_started = |i: usize, r: &Running| {
        if let Some(p) = &reach_probe {
            p.started(i, r.net.clone());
        }
    };

    bar.set_prefix("swarms");
    let mut running: Vec<Option<Running>> = Vec::with_capacity(s.nodes);
    // Starts staggered over one heartbeat: nodes started at one instant
    // keep their heartbeats in lockstep for the whole run.
    let t_start = Instant::now();
    let stagger = Duration::from_millis(s.mesh.heartbeat_ms);
    for (i, dial) in bootstrap.iter().enumerate() {
        bar.set_position(i as u64);
        tokio::time::sleep_until(t_start + stagger.mul_f64(i as f64 / s.nodes as f64)).await;
        let r = start_node(i, s, &cast, &fabric, &topic, dial)?;
        mark_started(i, &r);
        running.push(Some(r));
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
    let work_unix = clock.now();
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
        tokio::time::sleep_until(due).await;
        let now = clock.now();
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
                let origin = holding_origin(live_origin(origin, &running, &cast), alert_id, &running, &cast).await;
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
                if let Some(p) = &reach_probe {
                    p.stopped(i);
                }
                if let Some(r) = running[i].take() {
                    let _ = r.stop.send(true);
                    let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
                    churn_events += 1;
                }
            }
            Action::Up(i) => {
                if running[i].is_none() {
                    let r = start_node(i, s, &cast, &fabric, &topic, &bootstrap[i])?;
                    mark_started(i, &r);
                    running[i] = Some(r);
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
            let r = start_node(i, s, &cast, &fabric, &topic, &bootstrap[i])?;
            mark_started(i, &r);
            running[i] = Some(r);
        }
    }
    fabric.set_partition(None);
    tokio::time::sleep(Duration::from_secs(s.timing.settle_secs)).await;
    let counters_at_end = report::snapshot(&shared, &roles);
    let lag_at_end = (shared.pump_lag.counts(), shared.probe_lag.counts());
    let conns_end = shared.conn_ends.load(std::sync::atomic::Ordering::Relaxed) as f64 / s.nodes as f64;
    let settle_end_ms = shared.now_ms();
    let nat_report = match reach_probe {
        Some(p) => Some(p.finish(&fabric, &cast).await),
        None => None,
    };

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
        quota_hours: (clock.now() / 3600 - work_unix / 3600) as usize + 1,
        clock: opts.clock,
        simulated_secs: shared.now_ms() / 1000.0,
    };
    let mut report = report::build(
        s,
        &shared,
        &roles,
        &replicas,
        &published,
        &adv_frames,
        (&counters_at_work, &counters_at_end),
        facts,
    );
    if let (Some(mut nat), Some(behind)) = (nat_report, &behind) {
        nat.finish(&report, behind, &shared, &published);
        report.nat = Some(nat);
    }
    report::write(&report, &shared, &roles, &published, &opts.out)?;
    Ok(report)
}
