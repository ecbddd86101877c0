//! Scenario files: TOML, every table optional except the name, unknown keys
//! refused, values checked with an error that names the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stoop_core::charter::default_categories;

use crate::link::LinkModel;

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid TOML for a scenario.
    #[error("scenario {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What toml said (one line).
        message: String,
    },
    /// A value is out of range.
    #[error("scenario {name}: {key}: {why}")]
    Invalid {
        /// Scenario name.
        name: String,
        /// The offending key.
        key: &'static str,
        /// What is wrong.
        why: String,
    },
    /// No scenario by that name.
    #[error("no scenario named {0:?} (see `stoop-sim list`)")]
    Unknown(String),
}

/// A whole scenario.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (used for output directories).
    pub name: String,
    /// One line about what it shows.
    #[serde(default)]
    pub description: String,
    /// Honest + adversarial nodes.
    #[serde(default = "d_nodes")]
    pub nodes: usize,
    /// Seed for topology, links, workload, faults and adversaries.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// How nodes first connect.
    #[serde(default)]
    pub topology: Topology,
    /// Gossipsub mesh parameters.
    #[serde(default)]
    pub mesh: Mesh,
    /// Link model.
    #[serde(default)]
    pub link: Link,
    /// Phases of the run.
    #[serde(default)]
    pub timing: Timing,
    /// Honest traffic.
    #[serde(default)]
    pub workload: Workload,
    /// Moderator votes.
    #[serde(default)]
    pub moderation: Moderation,
    /// Churn and partitions.
    #[serde(default)]
    pub faults: Faults,
    /// Misbehaving nodes.
    #[serde(default)]
    pub adversaries: Adversaries,
    /// Per-node resources.
    #[serde(default)]
    pub node: NodeResources,
    /// Home routers: without this table every node is public.
    #[serde(default)]
    pub nat: Option<Nat>,
}

fn d_nodes() -> usize {
    10
}
fn d_seed() -> u64 {
    1
}

/// Bootstrap topology.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// Each node dials this many distinct random peers at start. With a
    /// `[nat]` table they are drawn from the public nodes only (all of them
    /// if fewer): an invite ticket lists reachable addresses, and at the
    /// start no node behind NAT has a relay yet.
    pub bootstrap_peers: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Self { bootstrap_peers: 8 }
    }
}

/// Gossipsub mesh parameters.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mesh {
    /// Mesh degree D (D_lo = D-2, D_hi = 2D, as in the node).
    pub d: usize,
    /// Heartbeat, ms.
    pub heartbeat_ms: u64,
}

impl Default for Mesh {
    fn default() -> Self {
        Self { d: 6, heartbeat_ms: 1000 }
    }
}

/// Link model (see [`LinkModel`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Link {
    /// Mean one-way latency, ms.
    pub latency_ms: f64,
    /// Per-link spread: latency drawn in latency × (1 ± spread).
    pub latency_spread: f64,
    /// Per-chunk extra delay in [0, jitter_ms].
    pub jitter_ms: f64,
    /// Chunk loss probability (retransmitted after rto_ms).
    pub loss: f64,
    /// Retransmission timeout, ms.
    pub rto_ms: f64,
    /// Bandwidth per direction, kbit/s (0: unlimited).
    pub bandwidth_kbps: u64,
}

impl Default for Link {
    fn default() -> Self {
        Self { latency_ms: 50.0, latency_spread: 0.1, jitter_ms: 0.0, loss: 0.0, rto_ms: 200.0, bandwidth_kbps: 0 }
    }
}

impl Link {
    /// The shim's model.
    pub fn model(&self) -> LinkModel {
        LinkModel {
            latency_ms: self.latency_ms,
            latency_spread: self.latency_spread,
            jitter_ms: self.jitter_ms,
            loss: self.loss,
            rto_ms: self.rto_ms,
            bandwidth_bps: self.bandwidth_kbps * 1000,
        }
    }
}

/// Run phases, seconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Connect and form meshes before the workload.
    pub warmup_secs: u64,
    /// Workload (and faults) duration.
    pub duration_secs: u64,
    /// Quiet time after the workload for gossip and sync to finish.
    pub settle_secs: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self { warmup_secs: 10, duration_secs: 30, settle_secs: 15 }
    }
}

/// Honest traffic.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Honest alerts per second over the whole hood.
    pub alerts_per_sec: f64,
    /// Categories drawn uniformly (charter categories).
    pub categories: Vec<String>,
    /// Description length range, bytes.
    pub description_bytes: [usize; 2],
    /// Members (other than moderators) who post; signed in-process.
    pub posters: usize,
    /// Charter quota: alerts per member per hour.
    pub per_hour: u32,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            alerts_per_sec: 1.0,
            categories: vec!["safety".into(), "traffic".into(), "lost_pet".into(), "crime".into()],
            description_bytes: [60, 400],
            posters: 20,
            per_hour: 6,
        }
    }
}

/// Moderator votes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Moderation {
    /// Founding moderators.
    pub moderators: usize,
    /// Hide votes needed.
    pub quorum: u32,
    /// Fraction of honest alerts that moderators hide.
    pub hide_fraction: f64,
    /// Delay between an alert and each vote on it, ms range.
    pub vote_delay_ms: [u64; 2],
}

impl Default for Moderation {
    fn default() -> Self {
        Self { moderators: 3, quorum: 2, hide_fraction: 0.1, vote_delay_ms: [500, 3000] }
    }
}

/// A partition that heals.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Start, seconds after the workload starts.
    pub start_secs: f64,
    /// Heal, seconds after the workload starts.
    pub heal_secs: f64,
    /// Share of nodes on the smaller side.
    pub fraction: f64,
}

/// Faults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Share of honest nodes that go offline once during the workload.
    pub churn_fraction: f64,
    /// Offline time range, seconds.
    pub churn_down_secs: [u64; 2],
    /// Partitions.
    pub partitions: Vec<Partition>,
}

impl Default for Faults {
    fn default() -> Self {
        Self { churn_fraction: 0.0, churn_down_secs: [5, 15], partitions: Vec::new() }
    }
}

/// What adversarial nodes send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdversaryKind {
    /// A real member posting far beyond the quota.
    OverQuota,
    /// Well-signed alerts from a key that is not a member.
    NonMember,
    /// A member's alert with a corrupted signature.
    BadSignature,
    /// A member's alert re-encoded non-canonically.
    NonCanonical,
    /// Hide votes from non-moderators, and with a moderator's key but a bad signature.
    ForgedVote,
    /// Replays of honest frames and of an old expired alert.
    Replay,
    /// Random bytes.
    Malformed,
    /// Frames over the 16 KiB limit.
    Oversized,
}

impl AdversaryKind {
    /// Every kind.
    pub const ALL: [AdversaryKind; 8] = [
        AdversaryKind::OverQuota,
        AdversaryKind::NonMember,
        AdversaryKind::BadSignature,
        AdversaryKind::NonCanonical,
        AdversaryKind::ForgedVote,
        AdversaryKind::Replay,
        AdversaryKind::Malformed,
        AdversaryKind::Oversized,
    ];

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            AdversaryKind::OverQuota => "over_quota",
            AdversaryKind::NonMember => "non_member",
            AdversaryKind::BadSignature => "bad_signature",
            AdversaryKind::NonCanonical => "non_canonical",
            AdversaryKind::ForgedVote => "forged_vote",
            AdversaryKind::Replay => "replay",
            AdversaryKind::Malformed => "malformed",
            AdversaryKind::Oversized => "oversized",
        }
    }
}

/// Misbehaving nodes: they publish raw frames from their own gossipsub and
/// never forward anyone else's messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Adversaries {
    /// Share of all nodes that are adversarial.
    pub fraction: f64,
    /// Frames per second per adversarial node.
    pub frames_per_sec: f64,
    /// Kinds, assigned round-robin to adversarial nodes.
    pub kinds: Vec<AdversaryKind>,
}

impl Default for Adversaries {
    fn default() -> Self {
        Self { fraction: 0.0, frames_per_sec: 0.5, kinds: AdversaryKind::ALL.to_vec() }
    }
}

/// Per-node resources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeResources {
    /// sled page cache per node, KiB.
    pub cache_kib: u64,
    /// sled write buffer (segment) per node, KiB (0: sled's 512 KiB).
    pub segment_kib: u64,
    /// Most connections per node.
    pub max_connections: u32,
    /// Most peers a node dials itself (the daemon's `outbound_peers`).
    pub outbound_peers: usize,
    /// Own alerts leave through the Dandelion++ stem, as in `stoopd`
    /// (PROTOCOL.md 8a); `false` publishes them first-hand, to measure
    /// what origin hiding costs in latency.
    pub stem: bool,
}

impl Default for NodeResources {
    fn default() -> Self {
        Self {
            cache_kib: 256,
            segment_kib: 0,
            max_connections: 64,
            outbound_peers: stoop_core::dial_budget::DEFAULT_OUTBOUND_PEERS,
            stem: true,
        }
    }
}

/// Home routers (the shim's NAT model, see [`crate::nat`]): a node behind
/// NAT accepts no inbound dial except through a relay or a hole punch.
/// Give `share` or `public`, not both; the nodes behind NAT are drawn by
/// the seed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nat {
    /// Share of the nodes behind NAT (rounded); the rest are public.
    pub share: Option<f64>,
    /// Or: this many public nodes, the rest behind NAT (the count stays
    /// when `--nodes` changes the size).
    pub public: Option<usize>,
}

impl Scenario {
    /// Parses and validates TOML text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            message: e.message().lines().next().unwrap_or("invalid TOML").to_owned()
                + &e.span().map(|r| format!(" (at byte {})", r.start)).unwrap_or_default(),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Reads a scenario file, or a built-in scenario by name.
    pub fn load(spec: &str) -> Result<Self, ScenarioError> {
        let path = Path::new(spec);
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })?;
            return Self::parse(&text, path);
        }
        match builtin(spec) {
            Some(text) => Self::parse(text, Path::new(&format!("{spec}.toml"))),
            None => Err(ScenarioError::Unknown(spec.to_owned())),
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |key: &'static str, why: String| Err(ScenarioError::Invalid { name: self.name.clone(), key, why });
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad("name", "use letters, digits, - and _".into());
        }
        if !(2..=5000).contains(&self.nodes) {
            return bad("nodes", format!("{} is outside 2..=5000", self.nodes));
        }
        if self.topology.bootstrap_peers == 0 || self.topology.bootstrap_peers >= self.nodes {
            return bad("topology.bootstrap_peers", format!("must be 1..{}", self.nodes));
        }
        if !(1..=32).contains(&self.mesh.d) {
            return bad("mesh.d", "must be 1..=32".into());
        }
        if !(100..=60_000).contains(&self.mesh.heartbeat_ms) {
            return bad("mesh.heartbeat_ms", "must be 100..=60000".into());
        }
        let l = &self.link;
        if !(0.0..=10_000.0).contains(&l.latency_ms) {
            return bad("link.latency_ms", "must be 0..=10000".into());
        }
        if !(0.0..1.0).contains(&l.latency_spread) {
            return bad("link.latency_spread", "must be in [0, 1)".into());
        }
        if !(0.0..=10_000.0).contains(&l.jitter_ms) {
            return bad("link.jitter_ms", "must be 0..=10000".into());
        }
        if !(0.0..0.5).contains(&l.loss) {
            return bad("link.loss", "must be in [0, 0.5)".into());
        }
        if !(1.0..=60_000.0).contains(&l.rto_ms) {
            return bad("link.rto_ms", "must be 1..=60000".into());
        }
        if self.timing.duration_secs == 0 || self.timing.duration_secs > 24 * 3600 {
            return bad("timing.duration_secs", "must be 1..=86400".into());
        }
        let w = &self.workload;
        if !(0.0..=1000.0).contains(&w.alerts_per_sec) {
            return bad("workload.alerts_per_sec", "must be 0..=1000".into());
        }
        let known: Vec<String> = default_categories().into_iter().map(|c| c.name).collect();
        if w.categories.is_empty() {
            return bad("workload.categories", "name at least one".into());
        }
        if let Some(c) = w.categories.iter().find(|c| !known.contains(c)) {
            return bad("workload.categories", format!("{c:?} is not a charter category ({})", known.join(", ")));
        }
        if w.description_bytes[0] > w.description_bytes[1] || w.description_bytes[1] > 2000 {
            return bad("workload.description_bytes", "must be [min, max] with min <= max <= 2000".into());
        }
        if w.per_hour == 0 {
            return bad("workload.per_hour", "must be at least 1".into());
        }
        if w.posters == 0 || w.posters > 500 {
            return bad("workload.posters", "must be 1..=500".into());
        }
        let alerts = self.honest_alerts();
        let capacity = w.posters * w.per_hour as usize;
        if alerts > capacity {
            return bad(
                "workload.posters",
                format!("{alerts} alerts need posters x per_hour >= {alerts} (have {capacity}); add posters"),
            );
        }
        let m = &self.moderation;
        if !(1..=32).contains(&m.moderators) {
            return bad("moderation.moderators", "must be 1..=32".into());
        }
        if m.quorum == 0 || m.quorum as usize > m.moderators {
            return bad("moderation.quorum", "must be 1..=moderators".into());
        }
        if !(0.0..=1.0).contains(&m.hide_fraction) {
            return bad("moderation.hide_fraction", "must be in [0, 1]".into());
        }
        if m.vote_delay_ms[0] > m.vote_delay_ms[1] {
            return bad("moderation.vote_delay_ms", "must be [min, max]".into());
        }
        let f = &self.faults;
        if !(0.0..=0.9).contains(&f.churn_fraction) {
            return bad("faults.churn_fraction", "must be in [0, 0.9]".into());
        }
        if f.churn_down_secs[0] > f.churn_down_secs[1] {
            return bad("faults.churn_down_secs", "must be [min, max]".into());
        }
        let horizon = (self.timing.duration_secs + self.timing.settle_secs) as f64;
        for p in &f.partitions {
            if !(0.0 <= p.start_secs && p.start_secs < p.heal_secs && p.heal_secs <= horizon) {
                return bad("faults.partitions", format!("need 0 <= start_secs < heal_secs <= {horizon}"));
            }
            if !(0.0 < p.fraction && p.fraction <= 0.5) {
                return bad("faults.partitions", "fraction must be in (0, 0.5]".into());
            }
        }
        let a = &self.adversaries;
        if !(0.0..=0.9).contains(&a.fraction) {
            return bad("adversaries.fraction", "must be in [0, 0.9]".into());
        }
        if a.fraction > 0.0 && a.kinds.is_empty() {
            return bad("adversaries.kinds", "name at least one kind".into());
        }
        if !(0.0..=100.0).contains(&a.frames_per_sec) {
            return bad("adversaries.frames_per_sec", "must be 0..=100".into());
        }
        if self.honest_nodes() < 2 {
            return bad("adversaries.fraction", "leaves fewer than 2 honest nodes".into());
        }
        if !(16..=1024 * 1024).contains(&self.node.cache_kib) {
            return bad("node.cache_kib", "must be 16..=1048576".into());
        }
        if self.node.segment_kib != 0 && !self.node.segment_kib.is_power_of_two() {
            return bad("node.segment_kib", "must be 0 or a power of two".into());
        }
        if let Some(nat) = &self.nat {
            match (nat.share, nat.public) {
                (Some(_), Some(_)) | (None, None) => return bad("nat", "give share or public, not both".into()),
                (Some(share), None) if !(0.0..=1.0).contains(&share) => {
                    return bad("nat.share", "must be in [0, 1]".into());
                }
                (None, Some(public)) if public > self.nodes => {
                    return bad("nat.public", format!("{public} is more than the {} nodes", self.nodes));
                }
                _ => {}
            }
            if self.natted_nodes() >= self.nodes {
                return bad("nat", "leaves no public node: nobody could be dialed first or relay".into());
            }
        }
        Ok(())
    }

    /// Number of nodes behind NAT.
    pub fn natted_nodes(&self) -> usize {
        match &self.nat {
            None => 0,
            Some(Nat { public: Some(p), .. }) => self.nodes.saturating_sub(*p),
            Some(Nat { share, .. }) => ((self.nodes as f64 * share.unwrap_or(0.0)).round() as usize).min(self.nodes),
        }
    }

    /// Number of adversarial nodes.
    pub fn adversary_nodes(&self) -> usize {
        (self.nodes as f64 * self.adversaries.fraction).round() as usize
    }

    /// Number of honest nodes.
    pub fn honest_nodes(&self) -> usize {
        self.nodes - self.adversary_nodes()
    }

    /// Honest alerts the workload publishes.
    pub fn honest_alerts(&self) -> usize {
        (self.workload.alerts_per_sec * self.timing.duration_secs as f64).round() as usize
    }
}

/// Built-in scenarios (the files under `simulator/scenarios/`).
pub const BUILTIN: [(&str, &str); 8] = [
    ("smoke", include_str!("../scenarios/smoke.toml")),
    ("baseline", include_str!("../scenarios/baseline.toml")),
    ("spam30", include_str!("../scenarios/spam30.toml")),
    ("partition-heal", include_str!("../scenarios/partition-heal.toml")),
    ("churn10-loss1", include_str!("../scenarios/churn10-loss1.toml")),
    ("partition-3h", include_str!("../scenarios/partition-3h.toml")),
    ("nat80", include_str!("../scenarios/nat80.toml")),
    ("nat97", include_str!("../scenarios/nat97.toml")),
];

fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests;
