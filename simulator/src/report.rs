//! The run report: figures computed from what the tap, the shim and the
//! nodes' live feeds recorded, checked against the nodes' stores at the end;
//! written as JSON, CSV and SVG, and summarized on stdout.
//!
//! Definitions (BENCHMARKS.md P2–P7):
//! - a *pair* is (honest alert, honest node other than its origin);
//! - *delivery* is the share of pairs whose node holds the alert in its
//!   store at the end of the run;
//! - *latency* of a pair is the time from the origin's publish to the node
//!   accepting it (validated and stored, from the node's live feed);
//! - *hops* follow the first-arrival tree: hops(node) = hops(the peer it
//!   first got the message from) + 1, the origin at 0 (pairs delivered
//!   only by sync have no hop count);
//! - *copies* are gossip payload copies of the alert a node received;
//! - *control bytes* are IHAVE/IWANT/GRAFT/PRUNE/IDONTWANT bytes received,
//!   measured over the workload and settle phases.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use comfy_table::Table;
use serde::Serialize;
use stoop_core::ids::MessageId;
use stoop_core::ledger::AlertState;
use stoop_node::replica::Replica;

use crate::scenario::{AdversaryKind, Scenario};
use crate::stats::{MsgKey, Shared};

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// File system.
    #[error("cannot write {path}: {source}")]
    Io {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// JSON encoding.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Plotting.
    #[error("plot {0}")]
    Plot(String),
}

/// A message the honest workload published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Message id.
    pub id: MsgKey,
    /// Node that published it.
    pub origin: usize,
    /// When, ms since the run started.
    pub at_ms: f64,
    /// Workload sequence number (of the alert, for votes too).
    pub seq: usize,
    /// Message kind.
    pub kind: &'static str,
    /// For votes: the alert voted on.
    pub vote_on: Option<MsgKey>,
}

/// A frame an adversary sent.
#[derive(Debug, Clone)]
pub struct AdvFrame {
    /// What kind of attack.
    pub kind: AdversaryKind,
    /// Its gossip message id.
    pub id: MsgKey,
    /// The member key that signed it (over-quota posts).
    pub author: Option<[u8; 32]>,
    /// An exact replay of an honest frame (not spam if present).
    pub honest_replay: bool,
    /// The alert a forged vote targets.
    pub targets: Option<MsgKey>,
    /// SHA-256 of the exact frame: a node "holds" an adversarial frame only
    /// if it stored these bytes. (A forged-signature copy of a genuine vote
    /// has the genuine vote's id, since ids do not cover signatures.)
    pub digest: [u8; 32],
}

/// Facts about the run itself.
#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    /// Workload start, ms since the run started.
    pub work_ms: f64,
    /// Workload end, ms.
    pub end_ms: f64,
    /// Settle end, ms.
    pub settle_end_ms: f64,
    /// Wall-clock seconds of the whole run, setup included.
    pub wall_secs: f64,
    /// CPU seconds (user + system) of the whole run.
    pub cpu_secs: f64,
    /// Peak RSS (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// RSS after the stores were built, KiB.
    pub rss_stores_kib: u64,
    /// RSS once every swarm was started, KiB.
    pub rss_started_kib: u64,
    /// Partitions started.
    pub partitions: usize,
    /// Nodes taken offline.
    pub churn_events: usize,
    /// Connections per node at the end, mean.
    pub connections_per_node: f64,
    /// Peak connections per node, mean.
    pub connections_per_node_peak: f64,
    /// Timer overshoot during workload + settle, ms: [pumps [p50, p99], probe [p50, p99]].
    pub lag_window: [[f64; 2]; 2],
    /// Clock hours (of `sent`) the workload touched: each gives a member a fresh quota.
    pub quota_hours: usize,
}

/// Per-node byte counters at one instant:
/// [wire_in, wire_out, payload, ihave, iwant, graft, prune, idontwant, gossip_other].
pub type Counters = Vec<[u64; 9]>;

/// Reads every node's counters.
pub fn snapshot(shared: &Shared, _roles: &[Option<AdversaryKind>]) -> Counters {
    shared
        .nodes
        .iter()
        .map(|n| {
            let r = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            [
                r(&n.wire_in),
                r(&n.wire_out),
                r(&n.payload_in),
                r(&n.ihave_in),
                r(&n.iwant_in),
                r(&n.graft_in),
                r(&n.prune_in),
                r(&n.idontwant_in),
                r(&n.gossip_other_in),
            ]
        })
        .collect()
}

/// Quantiles of a sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dist {
    /// Samples.
    pub n: usize,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Dist {
    /// From unsorted values.
    pub fn of(mut v: Vec<f64>) -> Self {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| Some(v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]);
        Self {
            n: v.len(),
            mean: Some(v.iter().sum::<f64>() / v.len() as f64),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: v.last().copied(),
        }
    }
}

/// One goal of BENCHMARKS.md and how this run did.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// P2..P7.
    pub id: &'static str,
    /// What.
    pub what: String,
    /// Measured.
    pub value: Option<f64>,
    /// Goal.
    pub goal: String,
    /// Met (None: not applicable to this scenario).
    pub met: Option<bool>,
}

/// Per-alert propagation.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    /// Sequence.
    pub seq: usize,
    /// Id (hex).
    pub id: String,
    /// Origin node.
    pub origin: usize,
    /// Published at, ms since workload start.
    pub published_ms: f64,
    /// Honest nodes holding it at the end (origin excluded).
    pub delivered: usize,
    /// Time to reach 50/90/99/100 % of honest nodes, ms.
    pub t_ms: [Option<f64>; 4],
    /// Hops to reach 50/90/99/100 % of honest nodes.
    pub hops: [Option<u32>; 4],
    /// Mean payload copies per receiving node.
    pub mean_copies: f64,
}

/// Per-node traffic.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    /// Index.
    pub node: usize,
    /// honest or the adversary kind.
    pub role: String,
    /// Raw bytes in/out over the measured window.
    pub wire_in: u64,
    /// Raw bytes out.
    pub wire_out: u64,
    /// Gossip payload bytes received.
    pub payload_in: u64,
    /// Gossip control bytes received.
    pub control_in: u64,
    /// Honest alerts held at the end.
    pub alerts_held: usize,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario as run.
    pub scenario: Scenario,
    /// Honest / adversarial nodes.
    pub honest_nodes: usize,
    /// Adversarial nodes.
    pub adversary_nodes: usize,
    /// Honest alerts published.
    pub alerts: usize,
    /// Goals.
    pub goals: Vec<Goal>,
    /// Delivered pairs / pairs.
    pub delivery_ratio: f64,
    /// Pairs.
    pub pairs: usize,
    /// Pairs delivered.
    pub pairs_delivered: usize,
    /// Pair latency, ms.
    pub latency_ms: Dist,
    /// Per alert: time to 50 % of nodes, ms.
    pub t50_ms: Dist,
    /// Per alert: time to 90 %.
    pub t90_ms: Dist,
    /// Per alert: time to 99 %.
    pub t99_ms: Dist,
    /// Per alert: time to 100 %.
    pub t100_ms: Dist,
    /// Alerts that never reached every honest node.
    pub alerts_not_everywhere: usize,
    /// Pair hops.
    pub hops: Dist,
    /// Per alert: hops to the last node.
    pub hops_last: Dist,
    /// Payload copies per pair.
    pub copies: Dist,
    /// Pairs delivered only by sync (no gossip copy).
    pub pairs_by_sync: usize,
    /// Bytes per honest node over the workload + settle window.
    pub bytes_per_node: HashMap<&'static str, f64>,
    /// Control / payload bytes.
    pub control_ratio: Option<f64>,
    /// Bytes received per honest node by substream protocol, whole run.
    pub bytes_by_protocol: HashMap<String, f64>,
    /// Adversarial frames sent, by kind.
    pub adversary_frames: HashMap<&'static str, usize>,
    /// (frame, honest node) acceptances that the rules should have refused, by kind.
    pub spam_accepted: HashMap<&'static str, usize>,
    /// Over-quota members' alerts accepted within their quota (allowed).
    pub over_quota_within_quota: usize,
    /// Forged votes held by any honest node.
    pub forged_votes_counted: usize,
    /// Alerts hidden although no honest quorum voted to hide them.
    pub wrongly_hidden: usize,
    /// Alerts moderators hid.
    pub hidden_alerts: usize,
    /// (alert, honest node) pairs that show the hidden state at the end.
    pub hidden_pairs_converged: usize,
    /// Pairs expected hidden.
    pub hidden_pairs: usize,
    /// From the quorum-completing vote's publish to the last honest node hiding the alert, ms.
    pub moderation_convergence_ms: Dist,
    /// Link pump timer overshoot, ms: p50, p99, max.
    pub pump_lag_ms: [f64; 3],
    /// Probe timer overshoot, ms: p50, p99, max.
    pub probe_lag_ms: [f64; 3],
    /// True when p99 lag exceeds 10 % of the link latency.
    pub lag_flagged: bool,
    /// Live-feed events the collectors missed (should be 0).
    pub events_missed: u64,
    /// Run facts.
    pub run: RunFacts,
    /// Warnings worth reading first.
    pub warnings: Vec<String>,
    /// Per alert (also alerts.csv).
    #[serde(skip)]
    pub alert_rows: Vec<AlertRow>,
    /// Per node (also nodes.csv).
    #[serde(skip)]
    pub node_rows: Vec<NodeRow>,
    /// Pair latencies, ms (for the CDF plot).
    #[serde(skip)]
    pub pair_latencies: Vec<f64>,
}

fn key_id(k: &MsgKey) -> Option<MessageId> {
    MessageId::from_slice(k).ok()
}

fn hops_of(
    node: usize,
    msg: &MsgKey,
    origin: usize,
    shared: &Shared,
    memo: &mut HashMap<usize, Option<u32>>,
) -> Option<u32> {
    if node == origin {
        return Some(0);
    }
    if let Some(h) = memo.get(&node) {
        return *h;
    }
    // Walk up the first-arrival chain iteratively (bounded by the node count).
    let mut chain = vec![node];
    let mut cur = node;
    let base = loop {
        let from = shared.nodes[cur].arrivals.lock().unwrap_or_else(|p| p.into_inner()).get(msg).map(|a| a.from);
        match from {
            None => break None,
            Some(f) if f as usize == origin => break Some(0),
            Some(f) if f as usize >= shared.nodes.len() => break None,
            Some(f) => {
                if let Some(h) = memo.get(&(f as usize)) {
                    break *h;
                }
                if chain.len() > shared.nodes.len() || chain.contains(&(f as usize)) {
                    break None;
                }
                chain.push(f as usize);
                cur = f as usize;
            }
        }
    };
    let mut h = base;
    for &n in chain.iter().rev() {
        h = h.map(|x| x + 1);
        memo.insert(n, h);
    }
    memo.get(&node).copied().flatten()
}

/// Computes the report.
#[allow(clippy::too_many_arguments)]
pub fn build(
    s: &Scenario,
    shared: &Arc<Shared>,
    roles: &[Option<AdversaryKind>],
    nodes: &[Option<Replica>],
    published: &[Published],
    adv: &[AdvFrame],
    (c0, c1): (&Counters, &Counters),
    run: RunFacts,
) -> Report {
    let honest: Vec<usize> = (0..s.nodes).filter(|&i| roles[i].is_none()).collect();
    let h = honest.len();
    let alerts: Vec<&Published> = published.iter().filter(|p| p.kind == "alert").collect();
    let mut warnings = Vec::new();

    // Final contents of every honest store.
    let holds = |i: usize, k: &MsgKey| -> bool {
        match (nodes[i].as_ref(), key_id(k)) {
            (Some(n), Some(id)) => n.store().get(&id).ok().flatten().is_some(),
            _ => false,
        }
    };

    let holds_exact = |i: usize, k: &MsgKey, digest: &[u8; 32]| -> bool {
        use sha2::Digest as _;
        match (nodes[i].as_ref(), key_id(k)) {
            (Some(n), Some(id)) => {
                n.store().get(&id).ok().flatten().is_some_and(|b| <[u8; 32]>::from(sha2::Sha256::digest(&b)) == *digest)
            }
            _ => false,
        }
    };

    let mut pairs = 0;
    let mut delivered_pairs = 0;
    let mut pair_lat = Vec::new();
    let mut pair_hops = Vec::new();
    let mut pair_copies = Vec::new();
    let mut by_sync = 0;
    let mut rows = Vec::new();
    let (mut t50, mut t90, mut t99, mut t100, mut hops_last) = (vec![], vec![], vec![], vec![], vec![]);
    let mut not_everywhere = 0;
    let mut held_per_node = vec![0usize; s.nodes];
    for p in &alerts {
        let mut lats = Vec::new();
        let mut hops = Vec::new();
        let mut copies = Vec::new();
        let mut delivered = 0;
        let mut memo = HashMap::new();
        for &i in &honest {
            if i == p.origin {
                held_per_node[i] += 1;
                continue;
            }
            pairs += 1;
            if !holds(i, &p.id) {
                continue;
            }
            delivered += 1;
            held_per_node[i] += 1;
            let st = &shared.nodes[i];
            if let Some(t) = st.accepted.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id) {
                lats.push(t - p.at_ms);
            }
            let arrival = st.arrivals.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id).copied();
            match arrival {
                Some(a) => {
                    copies.push(f64::from(a.copies));
                    if let Some(hh) = hops_of(i, &p.id, p.origin, shared, &mut memo) {
                        hops.push(hh);
                    }
                }
                None => by_sync += 1,
            }
        }
        delivered_pairs += delivered;
        let others = h.saturating_sub(1);
        lats.sort_by(f64::total_cmp);
        hops.sort_unstable();
        let reach = |q: f64| ((others as f64 * q).ceil() as usize).clamp(1, others.max(1));
        let t_at = |q: f64| {
            let need = reach(q);
            (lats.len() >= need && need > 0).then(|| lats[need - 1])
        };
        let h_at = |q: f64| {
            let need = reach(q);
            (hops.len() >= need && need > 0).then(|| hops[need - 1])
        };
        let t = [t_at(0.5), t_at(0.9), t_at(0.99), t_at(1.0)];
        let hq = [h_at(0.5), h_at(0.9), h_at(0.99), h_at(1.0)];
        t50.push(t[0].unwrap_or(f64::INFINITY));
        t90.push(t[1].unwrap_or(f64::INFINITY));
        t99.push(t[2].unwrap_or(f64::INFINITY));
        if t[3].is_none() {
            not_everywhere += 1;
        }
        t100.push(t[3].unwrap_or(f64::INFINITY));
        if let Some(last) = hops.last() {
            hops_last.push(f64::from(*last));
        }
        let mean_copies = if copies.is_empty() { 0.0 } else { copies.iter().sum::<f64>() / copies.len() as f64 };
        pair_lat.extend(lats.iter().copied());
        pair_hops.extend(hops.iter().map(|&x| f64::from(x)));
        pair_copies.extend(copies);
        rows.push(AlertRow {
            seq: p.seq,
            id: hex_of(&p.id),
            origin: p.origin,
            published_ms: p.at_ms - run.work_ms,
            delivered,
            t_ms: t,
            hops: hq,
            mean_copies,
        });
    }
    // Alerts missing a quantile count as infinitely slow for its percentiles
    // (they are reported apart in alerts_not_everywhere).
    let finite_dist = |v: Vec<f64>| {
        let missing = v.iter().filter(|x| !x.is_finite()).count();
        let mut d = Dist::of(v.iter().map(|x| if x.is_finite() { *x } else { f64::MAX }).collect());
        if missing > 0 {
            let fix = |x: Option<f64>| x.filter(|y| *y < f64::MAX);
            d.p99 = fix(d.p99);
            d.max = fix(d.max);
            d.p90 = fix(d.p90);
            d.p50 = fix(d.p50);
            d.mean = None;
        }
        d
    };

    // Bytes over the measured window.
    let window = |i: usize, k: usize| c1[i][k].saturating_sub(c0[i][k]) as f64;
    let mut bytes = HashMap::new();
    let names = ["wire_in", "wire_out", "payload", "ihave", "iwant", "graft", "prune", "idontwant", "gossip_other"];
    for (k, name) in names.iter().enumerate() {
        let total: f64 = honest.iter().map(|&i| window(i, k)).sum();
        bytes.insert(*name, total / h.max(1) as f64);
    }
    let payload: f64 = honest.iter().map(|&i| window(i, 2)).sum();
    let control: f64 = honest.iter().map(|&i| (3..8).map(|k| window(i, k)).sum::<f64>()).sum();
    let control_ratio = (payload > 0.0).then(|| control / payload);
    let mut bytes_by_protocol: HashMap<String, f64> = HashMap::new();
    for &i in &honest {
        for (k, v) in shared.nodes[i].by_protocol.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            *bytes_by_protocol.entry(k.clone()).or_default() += *v as f64 / h.max(1) as f64;
        }
    }

    // Adversaries.
    let mut adversary_frames: HashMap<&'static str, usize> = HashMap::new();
    let mut spam: HashMap<&'static str, usize> = HashMap::new();
    let mut forged_votes_counted = 0;
    let mut over_quota_by_author: HashMap<[u8; 32], Vec<(MsgKey, [u8; 32])>> = HashMap::new();
    let mut forged_targets = HashSet::new();
    for f in adv {
        *adversary_frames.entry(f.kind.name()).or_default() += 1;
        if f.honest_replay {
            continue;
        }
        if f.kind == AdversaryKind::OverQuota {
            if let Some(a) = f.author {
                over_quota_by_author.entry(a).or_default().push((f.id, f.digest));
            }
            continue;
        }
        let held = honest.iter().filter(|&&i| holds_exact(i, &f.id, &f.digest)).count();
        if f.kind == AdversaryKind::ForgedVote {
            forged_votes_counted += held;
            if let Some(t) = f.targets {
                forged_targets.insert(t);
            }
        }
        spam.entry(f.kind.name()).or_insert(0);
        *spam.entry(f.kind.name()).or_default() += held;
    }
    let per_hour = s.workload.per_hour as usize;
    // The quota is per clock hour of `sent`; a run may straddle two hours.
    let hours = run.quota_hours.max(1);
    let mut within = 0;
    let mut over = 0;
    for ids in over_quota_by_author.values() {
        for &i in &honest {
            let held = ids.iter().filter(|(k, d)| holds_exact(i, k, d)).count();
            within += held.min(per_hour * hours);
            over += held.saturating_sub(per_hour * hours);
        }
    }
    if !over_quota_by_author.is_empty() {
        spam.insert(AdversaryKind::OverQuota.name(), over);
    }

    // Moderation.
    let hidden_set: HashSet<MsgKey> = published.iter().filter_map(|p| p.vote_on).collect();
    let mut conv = Vec::new();
    let mut hidden_pairs = 0;
    let mut hidden_converged = 0;
    for a in &hidden_set {
        let votes: Vec<&Published> = published.iter().filter(|p| p.vote_on == Some(*a)).collect();
        if votes.len() < s.moderation.quorum as usize {
            continue;
        }
        let quorum_at = votes.iter().map(|v| v.at_ms).fold(0.0, f64::max);
        let mut last: f64 = 0.0;
        let mut all = true;
        for &i in &honest {
            hidden_pairs += 1;
            let state = nodes[i].as_ref().and_then(|n| key_id(a).and_then(|id| n.ledger().state(&id)));
            if state == Some(AlertState::Hidden) {
                hidden_converged += 1;
            } else {
                all = false;
            }
            match shared.nodes[i].hidden.lock().unwrap_or_else(|e| e.into_inner()).get(a) {
                Some(t) => last = last.max(*t),
                None => all = false,
            }
        }
        conv.push(if all { (last - quorum_at).max(0.0) } else { f64::INFINITY });
    }
    let mut wrongly_hidden = 0;
    for t in forged_targets.difference(&hidden_set) {
        wrongly_hidden += honest
            .iter()
            .filter(|&&i| {
                nodes[i].as_ref().and_then(|n| key_id(t).and_then(|id| n.ledger().state(&id)))
                    == Some(AlertState::Hidden)
            })
            .count();
    }

    // Scheduling lag.
    let ms = |us: u64| us as f64 / 1000.0;
    let pump =
        [ms(shared.pump_lag.quantile_us(0.5)), ms(shared.pump_lag.quantile_us(0.99)), ms(shared.pump_lag.max_us())];
    let probe =
        [ms(shared.probe_lag.quantile_us(0.5)), ms(shared.probe_lag.quantile_us(0.99)), ms(shared.probe_lag.max_us())];
    // Latencies are measured during workload + settle, so that window's
    // lag decides the flag (warmup's dial storm is reported but not used).
    let window_p99 = run.lag_window[0][1].max(run.lag_window[1][1]);
    let lag_flagged = window_p99 > 0.1 * s.link.latency_ms;
    if lag_flagged {
        warnings.push(format!(
            "scheduling lag p99 {window_p99:.1} ms during the workload exceeds 10 % of the link latency ({:.1} ms): latencies are inflated by a saturated CPU",
            0.1 * s.link.latency_ms
        ));
    }
    let events_missed: u64 = shared.nodes.iter().map(|n| n.events_missed.load(Ordering::Relaxed)).sum();
    if events_missed > 0 {
        warnings.push(format!("{events_missed} live-feed events were missed; some latencies are absent"));
    }

    let node_rows = (0..s.nodes)
        .map(|i| NodeRow {
            node: i,
            role: roles[i].map_or("honest", AdversaryKind::name).to_owned(),
            wire_in: window(i, 0) as u64,
            wire_out: window(i, 1) as u64,
            payload_in: window(i, 2) as u64,
            control_in: (3..8).map(|k| window(i, k) as u64).sum(),
            alerts_held: held_per_node[i],
        })
        .collect();

    let delivery_ratio = if pairs == 0 { 1.0 } else { delivered_pairs as f64 / pairs as f64 };
    let latency_ms = Dist::of(pair_lat.clone());
    let t99_ms = finite_dist(t99);
    let hops_last_d = Dist::of(hops_last);
    let copies = Dist::of(pair_copies);
    let faults = s.faults.churn_fraction > 0.0 || !s.faults.partitions.is_empty() || s.link.loss > 0.0;
    let d = s.mesh.d as f64;
    let min_hops = if h > 1 { ((h as f64).ln() / d.ln()).ceil() } else { 0.0 };
    let min_time = min_hops * s.link.latency_ms;
    let goals = vec![
        Goal {
            id: "P2",
            what: "p99 hops to the last node".into(),
            value: hops_last_d.p99,
            goal: format!("<= {} (min {min_hops} + 1)", min_hops + 1.0),
            met: hops_last_d.p99.map(|v| v <= min_hops + 1.0),
        },
        Goal {
            id: "P3",
            what: "p99 time to 99 % of nodes, ms".into(),
            value: t99_ms.p99,
            goal: format!("<= {:.0} (1.5 x {min_hops} hops x {} ms)", 1.5 * min_time, s.link.latency_ms),
            met: Some(t99_ms.p99.is_some_and(|v| v <= 1.5 * min_time)),
        },
        Goal {
            id: "P4",
            what: "delivery ratio".into(),
            value: Some(delivery_ratio),
            goal: if faults { ">= 0.999".into() } else { "1.0".into() },
            met: Some(if faults { delivery_ratio >= 0.999 } else { delivered_pairs == pairs }),
        },
        Goal {
            id: "P5",
            what: "mean payload copies per node".into(),
            value: copies.mean,
            goal: "<= 3.0".into(),
            met: copies.mean.map(|m| m <= 3.0),
        },
        Goal {
            id: "P6",
            what: "control / payload bytes".into(),
            value: control_ratio,
            goal: "<= 0.5".into(),
            met: control_ratio.map(|r| r <= 0.5),
        },
        Goal {
            id: "P7",
            what: "peak RSS, MiB".into(),
            value: Some(run.peak_rss_kib as f64 / 1024.0),
            goal: format!("<= {:.0} (2 MiB x {} nodes)", 2.0 * s.nodes as f64, s.nodes),
            met: Some(run.peak_rss_kib as f64 / 1024.0 <= 2.0 * s.nodes as f64),
        },
    ];

    Report {
        scenario: s.clone(),
        honest_nodes: h,
        adversary_nodes: s.nodes - h,
        alerts: alerts.len(),
        goals,
        delivery_ratio,
        pairs,
        pairs_delivered: delivered_pairs,
        latency_ms,
        t50_ms: finite_dist(t50),
        t90_ms: finite_dist(t90),
        t99_ms,
        t100_ms: finite_dist(t100),
        alerts_not_everywhere: not_everywhere,
        hops: Dist::of(pair_hops),
        hops_last: hops_last_d,
        copies,
        pairs_by_sync: by_sync,
        bytes_per_node: bytes,
        control_ratio,
        bytes_by_protocol,
        adversary_frames,
        spam_accepted: spam,
        over_quota_within_quota: within,
        forged_votes_counted,
        wrongly_hidden,
        hidden_alerts: conv.len(),
        hidden_pairs_converged: hidden_converged,
        hidden_pairs,
        moderation_convergence_ms: finite_dist(conv),
        pump_lag_ms: pump,
        probe_lag_ms: probe,
        lag_flagged,
        events_missed,
        run,
        warnings,
        alert_rows: rows,
        node_rows,
        pair_latencies: pair_lat,
    }
}

fn hex_of(k: &MsgKey) -> String {
    k.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_default()
}

/// Writes report.json, alerts.csv, nodes.csv, latency_cdf.svg and
/// delivery_over_time.svg under `out`.
pub fn write(
    r: &Report,
    shared: &Shared,
    roles: &[Option<AdversaryKind>],
    published: &[Published],
    out: &Path,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let p = out.join("report.json");
    std::fs::write(&p, serde_json::to_string_pretty(r)?).map_err(io(&p))?;

    let mut csv = String::from(
        "seq,id,origin,published_ms,delivered,t50_ms,t90_ms,t99_ms,t100_ms,hops50,hops90,hops99,hops100,mean_copies\n",
    );
    for a in &r.alert_rows {
        let h = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{},{:.1},{},{},{},{},{},{},{},{},{},{:.2}",
            a.seq,
            a.id,
            a.origin,
            a.published_ms,
            a.delivered,
            opt(a.t_ms[0]),
            opt(a.t_ms[1]),
            opt(a.t_ms[2]),
            opt(a.t_ms[3]),
            h(a.hops[0]),
            h(a.hops[1]),
            h(a.hops[2]),
            h(a.hops[3]),
            a.mean_copies
        );
    }
    let p = out.join("alerts.csv");
    std::fs::write(&p, csv).map_err(io(&p))?;

    let mut csv = String::from("node,role,wire_in,wire_out,payload_in,control_in,alerts_held\n");
    for n in &r.node_rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            n.node, n.role, n.wire_in, n.wire_out, n.payload_in, n.control_in, n.alerts_held
        );
    }
    let p = out.join("nodes.csv");
    std::fs::write(&p, csv).map_err(io(&p))?;

    crate::plot::latency_cdf(r, &out.join("latency_cdf.svg"))?;
    let series = delivery_over_time(r, shared, roles, published);
    crate::plot::delivery_over_time(r, &series, &out.join("delivery_over_time.svg"))?;
    Ok(())
}

/// (seconds since workload start, delivered pairs / pairs published so far).
fn delivery_over_time(
    r: &Report,
    shared: &Shared,
    roles: &[Option<AdversaryKind>],
    published: &[Published],
) -> Vec<(f64, f64)> {
    let honest: Vec<usize> = (0..roles.len()).filter(|&i| roles[i].is_none()).collect();
    let others = honest.len().saturating_sub(1) as f64;
    let mut pubs: Vec<f64> = Vec::new();
    let mut accepts: Vec<f64> = Vec::new();
    for p in published.iter().filter(|p| p.kind == "alert") {
        pubs.push(p.at_ms);
        for &i in &honest {
            if i == p.origin {
                continue;
            }
            if let Some(t) = shared.nodes[i].accepted.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id) {
                accepts.push(*t);
            }
        }
    }
    pubs.sort_by(f64::total_cmp);
    accepts.sort_by(f64::total_cmp);
    let (start, end) = (r.run.work_ms, r.run.settle_end_ms);
    let steps = 300;
    (0..=steps)
        .map(|k| {
            let t = start + (end - start) * k as f64 / steps as f64;
            let expected = pubs.partition_point(|&x| x <= t) as f64 * others;
            let got = accepts.partition_point(|&x| x <= t) as f64;
            ((t - start) / 1000.0, if expected > 0.0 { (got / expected).min(1.0) } else { 1.0 })
        })
        .collect()
}

/// The summary table printed after a run.
pub fn summary(r: &Report) -> String {
    let mut t = Table::new();
    t.set_header(vec!["goal", "what", "measured", "target", "met"]);
    for g in &r.goals {
        t.add_row(vec![
            g.id.to_owned(),
            g.what.clone(),
            // Ratios get four decimals: 59,934 of 59,940 pairs must not
            // print as a "1.000" that misses the goal.
            g.value.map_or("n/a".into(), |v| {
                if v <= 1.0 {
                    format!("{v:.4}")
                } else if v < 10.0 {
                    format!("{v:.3}")
                } else {
                    format!("{v:.0}")
                }
            }),
            g.goal.clone(),
            match g.met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]);
    }
    let mut d = Table::new();
    d.set_header(vec!["figure", "p50", "p90", "p99", "max"]);
    let row = |name: &str, x: &Dist| vec![name.to_owned(), opt(x.p50), opt(x.p90), opt(x.p99), opt(x.max)];
    d.add_row(row("pair latency, ms", &r.latency_ms));
    d.add_row(row("time to 50 % of nodes, ms", &r.t50_ms));
    d.add_row(row("time to 90 % of nodes, ms", &r.t90_ms));
    d.add_row(row("time to 99 % of nodes, ms", &r.t99_ms));
    d.add_row(row("time to 100 % of nodes, ms", &r.t100_ms));
    d.add_row(row("hops (pairs)", &r.hops));
    d.add_row(row("hops to the last node", &r.hops_last));
    d.add_row(row("payload copies per node", &r.copies));
    d.add_row(row("moderation convergence, ms", &r.moderation_convergence_ms));
    let mut out = format!(
        "scenario {}: {} honest + {} adversarial nodes, {} alerts, seed {}\n",
        r.scenario.name, r.honest_nodes, r.adversary_nodes, r.alerts, r.scenario.seed
    );
    let _ = writeln!(out, "{t}\n{d}");
    let spam: usize = r.spam_accepted.values().sum();
    let _ = writeln!(
        out,
        "delivery {}/{} pairs ({:.4}), {} by sync only; {} alerts missed some node",
        r.pairs_delivered, r.pairs, r.delivery_ratio, r.pairs_by_sync, r.alerts_not_everywhere
    );
    let _ = writeln!(
        out,
        "bytes per honest node: wire in {:.0}, payload {:.0}, control {:.0} (IHAVE {:.0}, IWANT {:.0}, GRAFT {:.0}, PRUNE {:.0}); control/payload {}",
        r.bytes_per_node.get("wire_in").unwrap_or(&0.0),
        r.bytes_per_node.get("payload").unwrap_or(&0.0),
        ["ihave", "iwant", "graft", "prune", "idontwant"]
            .iter()
            .map(|k| r.bytes_per_node.get(k).unwrap_or(&0.0))
            .sum::<f64>(),
        r.bytes_per_node.get("ihave").unwrap_or(&0.0),
        r.bytes_per_node.get("iwant").unwrap_or(&0.0),
        r.bytes_per_node.get("graft").unwrap_or(&0.0),
        r.bytes_per_node.get("prune").unwrap_or(&0.0),
        opt(r.control_ratio.map(|x| x * 100.0)).to_owned() + " %"
    );
    let mut protos: Vec<_> = r.bytes_by_protocol.iter().collect();
    protos.sort_by(|a, b| b.1.total_cmp(a.1));
    let list: Vec<String> = protos.iter().map(|(k, v)| format!("{k} {:.0}", v)).collect();
    let _ = writeln!(out, "bytes received per honest node by protocol (whole run): {}", list.join(", "));
    if !r.adversary_frames.is_empty() {
        let mut kinds: Vec<_> = r.adversary_frames.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{k} {n} sent/{} accepted", r.spam_accepted.get(*k).copied().unwrap_or(0)))
            .collect();
        let _ = writeln!(out, "adversaries: {}", list.join(", "));
        let _ = writeln!(
            out,
            "spam accepted by honest nodes: {spam}; forged votes counted: {}; alerts wrongly hidden: {}; over-quota posts within quota (allowed): {}",
            r.forged_votes_counted, r.wrongly_hidden, r.over_quota_within_quota
        );
    }
    let _ = writeln!(
        out,
        "moderation: {} alerts hidden, {}/{} (alert, node) pairs converged",
        r.hidden_alerts, r.hidden_pairs_converged, r.hidden_pairs
    );
    let _ = writeln!(
        out,
        "resources: peak RSS {:.0} MiB ({:.2} MiB/node; {:.0} MiB after stores, {:.0} MiB after swarms), CPU {:.0} s over {:.0} s wall",
        r.run.peak_rss_kib as f64 / 1024.0,
        r.run.peak_rss_kib as f64 / 1024.0 / r.scenario.nodes as f64,
        r.run.rss_stores_kib as f64 / 1024.0,
        r.run.rss_started_kib as f64 / 1024.0,
        r.run.cpu_secs,
        r.run.wall_secs
    );
    let _ = writeln!(
        out,
        "connections per node: {:.1} at the end of the settle phase, {:.1} at the peak",
        r.run.connections_per_node, r.run.connections_per_node_peak
    );
    let _ = writeln!(
        out,
        "timer overshoot, workload + settle: link pumps p50 {:.2} / p99 {:.2} ms; probe p50 {:.2} / p99 {:.2} ms{}",
        r.run.lag_window[0][0],
        r.run.lag_window[0][1],
        r.run.lag_window[1][0],
        r.run.lag_window[1][1],
        if r.lag_flagged { "  <-- FLAGGED (> 10 % of link latency)" } else { "" }
    );
    let _ = writeln!(
        out,
        "timer overshoot, whole run (warmup included): link pumps p50 {:.2} / p99 {:.2} / max {:.1} ms; probe p50 {:.2} / p99 {:.2} / max {:.1} ms",
        r.pump_lag_ms[0], r.pump_lag_ms[1], r.pump_lag_ms[2], r.probe_lag_ms[0], r.probe_lag_ms[1], r.probe_lag_ms[2]
    );
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
