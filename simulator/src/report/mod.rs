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
//!
//! # Layout
//! - [`collect`]: counters at an instant, and what the nodes hold at the
//!   end (the only code here that reads `stoop_node` state).
//! - [`figures`]: the figures, from those readings and the published list.
//! - [`goals`]: the P2–P7 checks against the figures.
//! - [`files`]: report.json, the CSVs and the SVGs.
//! - [`summary`]: the table printed after a run.
//! - [`nat`]: NAT scenarios: join times, reachability, direct and relayed
//!   links, delivery behind NAT.

use std::collections::HashMap;

use serde::Serialize;

use crate::scenario::{AdversaryKind, Scenario};
use crate::stats::MsgKey;

mod collect;
mod figures;
mod files;
mod goals;
pub mod nat;
mod summary;

pub use collect::{Counters, NodeSlot, snapshot};
pub use figures::build;
pub use files::write;
pub use goals::Goal;
pub use summary::summary;

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
    /// Envelope bytes.
    pub bytes: usize,
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
    /// Virtual or real time.
    pub clock: crate::clock::ClockMode,
    /// Simulated seconds from the start of the run to the end of settle.
    pub simulated_secs: f64,
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
    /// P11: wire bytes received by honest nodes during workload + settle
    /// per byte of distinct alerts delivered to them.
    pub bytes_per_alert_byte: Option<f64>,
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
    /// Scenarios with a `[nat]` table: reachability and links.
    pub nat: Option<nat::NatReport>,
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
