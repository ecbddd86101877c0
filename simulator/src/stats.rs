//! What the shim, the tap and the event collectors record during a run.
//!
//! Everything is per node and written from many tasks, so counters are
//! atomics and the per-message maps sit behind short-lived mutexes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// A message id (the Stoop id, or the SHA-256 of undecodable frames).
pub type MsgKey = [u8; 32];

/// First receipt of a gossip message at a node, and how many copies came.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Milliseconds since the run started.
    pub first_ms: f64,
    /// The node it first came from (the propagation source).
    pub from: u32,
    /// Payload copies received (first one included).
    pub copies: u32,
}

/// Counters and maps of one node.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Raw bytes this node wrote to its links (Noise, Yamux and everything).
    pub wire_out: AtomicU64,
    /// Raw bytes this node read from its links.
    pub wire_in: AtomicU64,
    /// Gossipsub message payload bytes received (the envelopes).
    pub payload_in: AtomicU64,
    /// IHAVE bytes received.
    pub ihave_in: AtomicU64,
    /// IWANT bytes received.
    pub iwant_in: AtomicU64,
    /// GRAFT bytes received.
    pub graft_in: AtomicU64,
    /// PRUNE bytes received.
    pub prune_in: AtomicU64,
    /// IDONTWANT bytes received.
    pub idontwant_in: AtomicU64,
    /// Other gossipsub bytes received: subscriptions, topics, framing.
    pub gossip_other_in: AtomicU64,
    /// Gossip arrivals by message (bounded by the messages of one run).
    pub arrivals: Mutex<HashMap<MsgKey, Arrival>>,
    /// When the node accepted (validated and stored) each message, ms.
    pub accepted: Mutex<HashMap<MsgKey, f64>>,
    /// When each alert turned hidden on this node, ms.
    pub hidden: Mutex<HashMap<MsgKey, f64>>,
    /// Bytes received per substream protocol (Yamux payload), bounded by
    /// the handful of protocols a node speaks.
    pub by_protocol: Mutex<HashMap<String, u64>>,
    /// Live-feed events this node's collector missed (broadcast lag).
    pub events_missed: AtomicU64,
}

impl NodeStats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one gossip payload copy.
    pub fn copy_received(&self, key: MsgKey, now_ms: f64, from: u32) {
        let mut map = self.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).and_modify(|a| a.copies += 1).or_insert(Arrival { first_ms: now_ms, from, copies: 1 });
    }

    /// Records an accepted message (first time only).
    pub fn accept(&self, key: MsgKey, now_ms: f64) {
        let mut map = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_insert(now_ms);
    }

    /// Records an alert turning hidden (first time only).
    pub fn hide(&self, key: MsgKey, now_ms: f64) {
        let mut map = self.hidden.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_insert(now_ms);
    }
}

/// Lag histogram: 0.1 ms buckets up to 100 ms, then one overflow bucket
/// (the exact maximum is kept apart); lock-free.
#[derive(Debug)]
pub struct LagHistogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max_us: AtomicU64,
}

const LAG_BUCKET_US: u64 = 100;
const LAG_BUCKETS: usize = 1000;

impl Default for LagHistogram {
    fn default() -> Self {
        Self {
            buckets: (0..=LAG_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl LagHistogram {
    /// Records one overshoot.
    pub fn record_us(&self, us: u64) {
        let i = ((us / LAG_BUCKET_US) as usize).min(LAG_BUCKETS);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Largest overshoot seen, µs.
    pub fn max_us(&self) -> u64 {
        self.max_us.load(Ordering::Relaxed)
    }

    /// Bucket counts now (for a window: subtract an earlier copy).
    pub fn counts(&self) -> Vec<u64> {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect()
    }

    /// Quantile `q` (µs, bucket upper bound; the overflow bucket reads as
    /// 100.1 ms) of the samples recorded between `before` and `after`.
    pub fn window_quantile_us(before: &[u64], after: &[u64], q: f64) -> u64 {
        let diff: Vec<u64> = after.iter().zip(before).map(|(a, b)| a.saturating_sub(*b)).collect();
        let total: u64 = diff.iter().sum();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in diff.iter().enumerate() {
            seen += n;
            if seen >= target {
                return (i as u64 + 1) * LAG_BUCKET_US + u64::from(i == LAG_BUCKETS);
            }
        }
        (LAG_BUCKETS as u64 + 1) * LAG_BUCKET_US
    }

    /// Upper bound of the bucket holding quantile `q` (µs, at most the
    /// maximum seen); 0 with no samples.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target {
                return ((i as u64 + 1) * LAG_BUCKET_US).min(self.max_us());
            }
        }
        self.max_us()
    }
}

/// State shared by every node of a run.
#[derive(Debug)]
pub struct Shared {
    /// When the run started.
    pub t0: Instant,
    /// Per node.
    pub nodes: Vec<NodeStats>,
    /// Overshoot of the link pumps' timers (delivery later than modelled).
    pub pump_lag: LagHistogram,
    /// Overshoot of a probe task sleeping 10 ms in a loop.
    pub probe_lag: LagHistogram,
    /// Connection ends open now (two per connection).
    pub conn_ends: AtomicU64,
    /// Most connection ends open at once.
    pub conn_ends_peak: AtomicU64,
}

impl Shared {
    /// Stats for `n` nodes, clock starting now.
    pub fn new(n: usize) -> Self {
        Self {
            t0: Instant::now(),
            nodes: (0..n).map(|_| NodeStats::default()).collect(),
            pump_lag: LagHistogram::default(),
            probe_lag: LagHistogram::default(),
            conn_ends: AtomicU64::new(0),
            conn_ends_peak: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }

    /// Milliseconds since the run started, at `t`.
    pub fn ms_at(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.t0).as_secs_f64() * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_quantiles() {
        let h = LagHistogram::default();
        for _ in 0..99 {
            h.record_us(100);
        }
        h.record_us(50_000);
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_us(0.5), 200);
        assert_eq!(h.max_us(), 50_000);
        assert_eq!(h.quantile_us(1.0), 50_000);
        let before = h.counts();
        h.record_us(3_050);
        assert_eq!(LagHistogram::window_quantile_us(&before, &h.counts(), 0.5), 3_100);
    }
}
