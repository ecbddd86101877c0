//! Per-peer limits the event loop keeps: what a peer may ask this node to
//! serve or start over sync, and the invalid gossip a peer sent lately (the
//! only cause for which a graylisted peer is banned).

use std::collections::BTreeMap;
use tokio::time::Instant;

use libp2p::PeerId;
use stoop_proto::v1 as pb;

use crate::core::peer_budget::{PeerBudget, Quota, SYNC_ITEMS_QUOTA, SYNC_REQUEST_QUOTA};
use crate::core::sync::PAGE_LIMIT;

/// Sync sessions a peer may make this node start, by connecting or by
/// gossip that points at missing history: 6 per 10 minutes. Honest peers
/// start one on connect and rarely a gap sync (at most every
/// `GAP_RESYNC_MIN_SECS`); the periodic re-sync paces itself and is not
/// counted. A peer that reconnected to restart sessions got 109 in 30 s.
pub const SYNC_SESSION_QUOTA: Quota = Quota::constant(6, 600_000);
/// Invalid gossip frames (Reject verdicts) from one peer, within
/// [`INVALID_WINDOW_SECS`], before a graylisted score is put down to them
/// and the peer is banned. gossipsub's invalid-delivery penalty is
/// -100 x count^2, so 4 alone reach the -1,000 graylist: a peer graylisted
/// with fewer got there some other way (e.g. a shared address), which is no
/// reason to ban it.
pub const INVALID_FOR_BAN: u32 = 4;
/// Window over which invalid frames are counted, the time gossipsub's 0.9
/// per-second decay takes to forgive most of the penalty.
pub const INVALID_WINDOW_SECS: u64 = 60;

/// The event loop's per-peer budgets and counts.
#[derive(Debug)]
pub struct PeerLimits {
    /// Origin of the millisecond clock the budgets run on.
    epoch: Instant,
    /// Sync requests served per peer (bounded by DEFAULT_MAX_KEYS).
    serve_requests: PeerBudget<PeerId>,
    /// Envelopes served per peer, charged at the most a request can get.
    serve_items: PeerBudget<PeerId>,
    /// Sync sessions peers made this node start.
    session_starts: PeerBudget<PeerId>,
    /// Invalid gossip frames per peer: (window, count). Bounded by the
    /// connected peers: [`PeerLimits::forget`] on disconnect.
    invalid: BTreeMap<PeerId, (u64, u32)>,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            serve_requests: PeerBudget::new(SYNC_REQUEST_QUOTA),
            serve_items: PeerBudget::new(SYNC_ITEMS_QUOTA),
            session_starts: PeerBudget::new(SYNC_SESSION_QUOTA),
            invalid: BTreeMap::new(),
        }
    }
}

impl PeerLimits {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Charges a peer's sync request to its budgets: one request, and as
    /// many envelopes as it may be sent. Err is the refusal's reason code.
    pub fn serve(&mut self, peer: &PeerId, request: &pb::SyncRequest) -> Result<(), &'static str> {
        let now_ms = self.now_ms();
        let asked = if request.want.is_empty() { request.limit } else { request.want.len() as u32 };
        let items = asked.clamp(1, PAGE_LIMIT);
        self.serve_requests.allows(now_ms, peer, 1).map_err(|_| "request_rate")?;
        self.serve_items.allows(now_ms, peer, items).map_err(|_| "item_rate")?;
        Ok(())
    }

    /// Whether `peer` may make this node start one more sync session.
    pub fn session(&mut self, peer: &PeerId) -> bool {
        let now_ms = self.now_ms();
        self.session_starts.allows(now_ms, peer, 1).is_ok()
    }

    /// Counts an invalid frame from `peer` at `now` (seconds).
    pub fn invalid(&mut self, peer: PeerId, now: u64) {
        let window = now / INVALID_WINDOW_SECS;
        let entry = self.invalid.entry(peer).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Whether `peer` sent enough invalid frames lately to explain a graylist.
    pub fn banned_for_invalid(&self, peer: &PeerId, now: u64) -> bool {
        let window = now / INVALID_WINDOW_SECS;
        self.invalid.get(peer).filter(|(w, _)| *w == window).is_some_and(|(_, n)| *n >= INVALID_FOR_BAN)
    }

    /// Drops a disconnected peer's invalid count (budgets stay: a peer that
    /// reconnects keeps its debt).
    pub fn forget(&mut self, peer: &PeerId) {
        self.invalid.remove(peer);
    }

    /// Drops budget entries that carry no debt any more.
    pub fn prune(&mut self) {
        let now_ms = self.now_ms();
        for budget in [&mut self.serve_requests, &mut self.serve_items, &mut self.session_starts] {
            budget.prune(now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_frames_count_per_window_and_budgets_refuse_past_the_quota() {
        let mut l = PeerLimits::default();
        let p = PeerId::random();
        for _ in 0..INVALID_FOR_BAN - 1 {
            l.invalid(p, 600);
        }
        assert!(!l.banned_for_invalid(&p, 600), "fewer than the threshold");
        l.invalid(p, 600);
        assert!(l.banned_for_invalid(&p, 600));
        assert!(!l.banned_for_invalid(&p, 600 + INVALID_WINDOW_SECS), "a new window starts clean");
        l.forget(&p);
        assert!(!l.banned_for_invalid(&p, 600));

        let page = pb::SyncRequest { limit: PAGE_LIMIT, ..Default::default() };
        let pages = SYNC_ITEMS_QUOTA.burst() / PAGE_LIMIT;
        for i in 0..pages {
            assert_eq!(l.serve(&p, &page), Ok(()), "page {i} within the item budget");
        }
        assert_eq!(l.serve(&p, &page), Err("item_rate"));
        for _ in 0..SYNC_SESSION_QUOTA.burst() {
            assert!(l.session(&p));
        }
        assert!(!l.session(&p), "past the session quota");
        assert!(l.session(&PeerId::random()), "other peers have their own");
    }
}
