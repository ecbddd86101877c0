//! Sync planning: when to ask which peer for what, and when to stop.
//!
//! A node that starts, reconnects or joins asks each new peer for every
//! message of the hood, oldest first, a bounded page at a time; later it
//! re-asks periodically for what was signed since its last completed sync
//! (minus a margin for late gossip). Everything received is validated by the
//! ledger exactly like gossip, so a lying peer can only waste a bounded
//! number of pages, and a slow one only its own session: sessions run per
//! peer and time out.

use std::collections::BTreeMap;

/// Most envelopes a peer may return in one page.
pub const PAGE_LIMIT: u32 = 256;
/// Most pages one session may take (256 x 4096 = 1M messages).
pub const MAX_PAGES_PER_SESSION: u32 = 4096;
/// How often a connected peer is asked again, by default.
pub const RESYNC_INTERVAL_SECS: u64 = 300;
/// Re-ask this far before the last completed sync: gossip can deliver a
/// message signed a while ago, and the category lifetimes bound how old a
/// still-useful alert can be.
pub const RESYNC_MARGIN_SECS: u64 = 3600;
/// A page not answered within this time ends the session.
pub const PAGE_TIMEOUT_SECS: u64 = 30;
/// A gap-triggered sync with a peer waits at least this long after the last
/// attempt with it, so a stream of messages we cannot place (a spammer's, or
/// a burst from a member whose join we lack) costs at most one session per
/// peer per window.
pub const GAP_RESYNC_MIN_SECS: u64 = 5;
/// A message learned by sync that was signed this recently is gossiped on:
/// it may have reached us only by sync because its gossip copy arrived where
/// the message was already known (and so was not forwarded), and peers that
/// missed it would otherwise reject what depends on it (a new member's
/// alerts) until their next periodic sync. Older messages are history that
/// every peer gets by sync anyway. Matches the gossip duplicate-cache window.
pub const FRESH_RELAY_SECS: u64 = 120;

/// Whether a message signed at `sent`, accepted from sync at `now`, should be
/// gossiped on (see [`FRESH_RELAY_SECS`]). Future-dated messages within the
/// skew bound count as fresh.
pub fn relay_after_sync(sent: u64, now: u64) -> bool {
    sent.saturating_add(FRESH_RELAY_SECS) >= now
}

/// One page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Oldest `sent` wanted.
    pub since: u64,
    /// Resume after this opaque cursor.
    pub cursor: Vec<u8>,
    /// Page size.
    pub limit: u32,
}

/// What a peer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageResponse {
    /// Number of envelopes in the page.
    pub count: usize,
    /// Cursor for the next page; empty when done.
    pub next_cursor: Vec<u8>,
    /// The peer says there is nothing more.
    pub done: bool,
}

/// Why a session ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// All pages received.
    Complete,
    /// The peer sent more than the page limit.
    OversizedPage,
    /// The peer claimed more pages while sending an empty one, or never ends.
    Endless,
    /// The request failed or timed out.
    Failed,
}

#[derive(Debug, Clone)]
struct Session {
    since: u64,
    pages: u32,
    started: u64,
    waiting_since: u64,
}

#[derive(Debug, Clone, Default)]
struct PeerSync {
    session: Option<Session>,
    last_complete: Option<u64>,
    last_attempt: Option<u64>,
}

/// Per-peer sync state, generic over the peer id type.
#[derive(Debug, Clone)]
pub struct SyncPlanner<P: Ord + Clone> {
    peers: BTreeMap<P, PeerSync>,
    /// Time of this node's last completed sync with anyone: a new peer is
    /// asked from there (minus the margin) rather than from the beginning.
    last_complete_any: Option<u64>,
    resync_secs: u64,
}

impl<P: Ord + Clone> Default for SyncPlanner<P> {
    fn default() -> Self {
        Self { peers: BTreeMap::new(), last_complete_any: None, resync_secs: RESYNC_INTERVAL_SECS }
    }
}

impl<P: Ord + Clone> SyncPlanner<P> {
    /// No peers, never synced.
    pub fn new() -> Self {
        Self::default()
    }

    /// A planner that already completed a sync at `at` in an earlier run.
    pub fn resuming(at: Option<u64>) -> Self {
        Self { last_complete_any: at, ..Self::default() }
    }

    /// Re-asks each connected peer every `secs` (at least 1) instead of the default.
    pub fn with_resync_interval(mut self, secs: u64) -> Self {
        self.resync_secs = secs.max(1);
        self
    }

    fn since_for(&self, peer: &PeerSync) -> u64 {
        peer.last_complete.or(self.last_complete_any).map_or(0, |t| t.saturating_sub(RESYNC_MARGIN_SECS))
    }

    fn start(&mut self, peer: &P, now: u64) -> Option<PageRequest> {
        let since = self.since_for(self.peers.get(peer)?);
        let state = self.peers.get_mut(peer)?;
        if state.session.is_some() {
            return None;
        }
        state.session = Some(Session { since, pages: 0, started: now, waiting_since: now });
        state.last_attempt = Some(now);
        Some(PageRequest { since, cursor: Vec::new(), limit: PAGE_LIMIT })
    }

    /// A peer connected: sync with it now.
    pub fn connected(&mut self, peer: P, now: u64) -> Option<PageRequest> {
        self.peers.entry(peer.clone()).or_default();
        self.start(&peer, now)
    }

    /// A peer left: forget its session.
    pub fn disconnected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// Handles a page; returns the next request, or how the session ended.
    pub fn page(&mut self, peer: &P, resp: &PageResponse, now: u64) -> Result<PageRequest, SessionEnd> {
        let state = self.peers.get_mut(peer).ok_or(SessionEnd::Failed)?;
        let session = state.session.as_mut().ok_or(SessionEnd::Failed)?;
        session.pages += 1;
        let end = if resp.count > PAGE_LIMIT as usize {
            Some(SessionEnd::OversizedPage)
        } else if resp.done || resp.next_cursor.is_empty() {
            Some(SessionEnd::Complete)
        } else if resp.count == 0 || session.pages >= MAX_PAGES_PER_SESSION {
            Some(SessionEnd::Endless)
        } else {
            None
        };
        match end {
            None => {
                session.waiting_since = now;
                Ok(PageRequest { since: session.since, cursor: resp.next_cursor.clone(), limit: PAGE_LIMIT })
            }
            Some(end) => {
                let started = session.started;
                state.session = None;
                if end == SessionEnd::Complete {
                    state.last_complete = Some(started);
                    self.last_complete_any = Some(self.last_complete_any.map_or(started, |t| t.max(started)));
                }
                Err(end)
            }
        }
    }

    /// Gossip from `peer` referred to history this node lacks (an author or
    /// inviter it does not know as a member): sync with that peer now, unless
    /// a session is running or one started less than
    /// [`GAP_RESYNC_MIN_SECS`] ago.
    pub fn gap(&mut self, peer: &P, now: u64) -> Option<PageRequest> {
        let state = self.peers.get(peer)?;
        if state.last_attempt.is_some_and(|t| now.saturating_sub(t) < GAP_RESYNC_MIN_SECS) {
            return None;
        }
        self.start(peer, now)
    }

    /// A request failed.
    pub fn failed(&mut self, peer: &P) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.session = None;
        }
    }

    /// Periodic work: time out stalled sessions and start due re-syncs.
    pub fn tick(&mut self, now: u64) -> Vec<(P, PageRequest)> {
        let mut due = Vec::new();
        for (peer, state) in &mut self.peers {
            if let Some(s) = &state.session {
                if now.saturating_sub(s.waiting_since) > PAGE_TIMEOUT_SECS {
                    state.session = None;
                }
                continue;
            }
            if state.last_attempt.is_none_or(|t| now.saturating_sub(t) >= self.resync_secs) {
                due.push(peer.clone());
            }
        }
        due.into_iter().filter_map(|p| self.start(&p, now).map(|r| (p, r))).collect()
    }

    /// Time of the last completed sync with any peer.
    pub fn last_complete(&self) -> Option<u64> {
        self.last_complete_any
    }

    /// Peers with a session in flight.
    pub fn active(&self) -> usize {
        self.peers.values().filter(|p| p.session.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(count: usize, next: &[u8], done: bool) -> PageResponse {
        PageResponse { count, next_cursor: next.to_vec(), done }
    }

    #[test]
    fn first_contact_asks_for_everything_then_pages_until_done() {
        let mut p = SyncPlanner::new();
        let first = p.connected("a", 100);
        assert_eq!(first, Some(PageRequest { since: 0, cursor: vec![], limit: PAGE_LIMIT }));
        assert_eq!(p.connected("a", 101), None, "one session per peer");
        let next = p.page(&"a", &page(256, b"k1", false), 102);
        assert_eq!(next.map(|r| r.cursor), Ok(b"k1".to_vec()));
        assert_eq!(p.page(&"a", &page(10, b"", true), 103), Err(SessionEnd::Complete));
        assert_eq!(p.last_complete(), Some(100));
        // A new peer is asked from the last completed sync minus the margin.
        let later = 100 + 2 * RESYNC_MARGIN_SECS;
        assert_eq!(p.connected("b", later).map(|r| r.since), Some(100u64.saturating_sub(RESYNC_MARGIN_SECS)));
    }

    #[test]
    fn lying_peers_end_their_session() {
        let mut p = SyncPlanner::new();
        p.connected("a", 0);
        assert_eq!(p.page(&"a", &page(257, b"x", false), 1), Err(SessionEnd::OversizedPage));
        p.tick(RESYNC_INTERVAL_SECS);
        assert_eq!(p.page(&"a", &page(0, b"x", false), RESYNC_INTERVAL_SECS + 1), Err(SessionEnd::Endless));
        assert_eq!(p.last_complete(), None);
    }

    #[test]
    fn stalled_sessions_time_out_and_resync_is_periodic() {
        let mut p = SyncPlanner::new();
        p.connected("a", 0);
        assert!(p.tick(PAGE_TIMEOUT_SECS).is_empty());
        assert_eq!(p.active(), 1);
        assert!(p.tick(PAGE_TIMEOUT_SECS + 1).is_empty(), "timed out, not yet due again");
        assert_eq!(p.active(), 0);
        let due = p.tick(RESYNC_INTERVAL_SECS);
        assert_eq!(due.len(), 1);
        assert_eq!(p.active(), 1);
        p.disconnected(&"a");
        assert!(p.tick(10 * RESYNC_INTERVAL_SECS).is_empty());
    }

    #[test]
    fn a_gap_syncs_now_but_at_most_once_per_window() {
        let mut p = SyncPlanner::new();
        assert_eq!(p.gap(&"a", 0), None, "unknown peer");
        p.connected("a", 0);
        assert_eq!(p.gap(&"a", 1), None, "session in flight");
        assert_eq!(p.page(&"a", &page(0, b"", true), 1), Err(SessionEnd::Complete));
        assert_eq!(p.gap(&"a", GAP_RESYNC_MIN_SECS - 1), None, "too soon after the last attempt");
        let req = p.gap(&"a", GAP_RESYNC_MIN_SECS);
        assert_eq!(req.map(|r| r.since), Some(0), "asks from the last complete sync minus the margin");
        assert_eq!(p.gap(&"a", 10 * GAP_RESYNC_MIN_SECS), None, "one session at a time");
    }

    #[test]
    fn only_fresh_synced_messages_are_relayed() {
        assert!(relay_after_sync(1_000, 1_000));
        assert!(relay_after_sync(1_000, 1_000 + FRESH_RELAY_SECS));
        assert!(!relay_after_sync(1_000, 1_001 + FRESH_RELAY_SECS));
        assert!(relay_after_sync(1_030, 1_000), "slightly future-dated");
        assert!(relay_after_sync(u64::MAX, 0), "no overflow");
    }

    #[test]
    fn never_more_than_the_page_budget() {
        let mut p = SyncPlanner::new();
        p.connected("a", 0);
        let mut pages = 0;
        loop {
            pages += 1;
            match p.page(&"a", &page(1, b"more", false), 0) {
                Ok(_) => continue,
                Err(e) => {
                    assert_eq!(e, SessionEnd::Endless);
                    break;
                }
            }
        }
        assert_eq!(pages, MAX_PAGES_PER_SESSION);
    }
}
