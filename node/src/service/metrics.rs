//! Prometheus metrics: messages by origin, kind, verdict and reason; peers;
//! store size; sync sessions; work turned away because the replica was busy.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label set: a few string pairs.
pub type Labels = Vec<(String, String)>;

/// Every metric the node exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Messages validated, by origin/kind/verdict/reason.
    pub messages: Family<Labels, Counter>,
    /// Connected peers.
    pub peers: Gauge,
    /// Messages in the store.
    pub store_messages: Gauge,
    /// Store size on disk.
    pub store_bytes: Gauge,
    /// Messages held waiting for their alert.
    pub pending: Gauge,
    /// Sync sessions by how they ended.
    pub sync_sessions: Family<Labels, Counter>,
    /// Messages accepted from sync.
    pub synced_messages: Counter,
    /// Gossip frames dropped before validation, by reason.
    pub gossip_dropped: Family<Labels, Counter>,
    /// Corrupt stores moved aside at start (0 or 1 per process).
    pub store_quarantines: Counter,
    /// Peers disconnected and banned for a graylisted gossip score.
    pub peer_bans: Counter,
    /// Peer bans by reason (`invalid_gossip`, `invalid_sync_envelope`).
    pub peer_ban_reasons: Family<Labels, Counter>,
    /// Sync requests refused before serving, by reason.
    pub sync_refused: Family<Labels, Counter>,
    /// Network work turned away because the replica's queue was full, by
    /// kind of work.
    pub busy: Family<Labels, Counter>,
    /// 1 for the node's current reachability state, 0 for the others.
    pub reachability: Family<Labels, Gauge>,
    /// Relay reservations this node holds.
    pub relay_reservations: Gauge,
    /// Hole punches that replaced a relayed connection since start.
    pub hole_punches: Gauge,
    /// DCUtR rounds that failed (all 3 attempts) since start.
    pub hole_punch_failures: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `stoop_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("stoop");
        let m = Self {
            registry: Registry::default(),
            messages: Family::default(),
            peers: Gauge::default(),
            store_messages: Gauge::default(),
            store_bytes: Gauge::default(),
            pending: Gauge::default(),
            sync_sessions: Family::default(),
            synced_messages: Counter::default(),
            gossip_dropped: Family::default(),
            store_quarantines: Counter::default(),
            peer_bans: Counter::default(),
            peer_ban_reasons: Family::default(),
            sync_refused: Family::default(),
            busy: Family::default(),
            reachability: Family::default(),
            relay_reservations: Gauge::default(),
            hole_punches: Gauge::default(),
            hole_punch_failures: Gauge::default(),
        };
        registry.register("messages", "Messages validated, by origin, kind, verdict and reason", m.messages.clone());
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register("store_messages", "Messages held in the store", m.store_messages.clone());
        registry.register("store_bytes", "Store size on disk in bytes", m.store_bytes.clone());
        registry.register("pending_messages", "Messages waiting for the alert they refer to", m.pending.clone());
        registry.register("sync_sessions", "Sync sessions by how they ended", m.sync_sessions.clone());
        registry.register("synced_messages", "Messages accepted from sync", m.synced_messages.clone());
        registry.register("gossip_dropped", "Gossip frames dropped before validation", m.gossip_dropped.clone());
        registry.register(
            "store_quarantines",
            "Corrupt stores moved aside at start (the node then resyncs from peers)",
            m.store_quarantines.clone(),
        );
        registry.register(
            "peer_bans",
            "Peers disconnected and refused for a while after their gossip score hit the graylist",
            m.peer_bans.clone(),
        );
        registry.register("peer_ban_reasons", "Peer bans by reason", m.peer_ban_reasons.clone());
        registry.register("sync_refused", "Sync requests refused over the peer's budget", m.sync_refused.clone());
        registry.register(
            "busy",
            "Network work turned away because the replica's queue was full (gossip is then ignored, a sync page retried later)",
            m.busy.clone(),
        );
        registry.register(
            "reachability",
            "1 for the current reachability (public, relayed, private, unknown)",
            m.reachability.clone(),
        );
        registry.register("relay_reservations", "Relay reservations this node holds", m.relay_reservations.clone());
        registry.register(
            "hole_punches",
            "Hole punches that replaced a relayed connection since start",
            m.hole_punches.clone(),
        );
        registry.register(
            "hole_punch_failures",
            "Hole-punch rounds (DCUtR, 3 attempts each) that failed since start",
            m.hole_punch_failures.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts one validated message.
    pub fn record(&self, origin: &str, kind: &str, verdict: &str, reason: &str) {
        self.messages
            .get_or_create(&vec![
                ("origin".to_owned(), origin.to_owned()),
                ("kind".to_owned(), kind.to_owned()),
                ("verdict".to_owned(), verdict.to_owned()),
                ("reason".to_owned(), reason.to_owned()),
            ])
            .inc();
    }

    /// Counts a peer ban.
    pub fn record_peer_ban(&self, reason: &str) {
        self.peer_ban_reasons.get_or_create(&vec![("reason".to_owned(), reason.to_owned())]).inc();
    }

    /// Counts a sync request refused before serving.
    pub fn record_sync_refused(&self, reason: &str) {
        self.sync_refused.get_or_create(&vec![("reason".to_owned(), reason.to_owned())]).inc();
    }

    /// Counts a gossip frame dropped before validation.
    pub fn record_gossip_dropped(&self, reason: &str) {
        self.gossip_dropped.get_or_create(&vec![("reason".to_owned(), reason.to_owned())]).inc();
    }

    /// Counts work turned away because the replica's queue was full.
    pub fn record_busy(&self, work: &str) {
        self.busy.get_or_create(&vec![("work".to_owned(), work.to_owned())]).inc();
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
