//! Sync planning: when to reconcile with which peer.
//!
//! A node reconciles its whole item set with every peer when the peer
//! connects, periodically after that, and at once when gossip from the peer
//! points at history it lacks (see [`crate::reconcile`]). There is no time
//! window: a session compares the two complete sets, so a partition of any
//! length heals exactly. This module only decides *when*; the rounds are
//! [`crate::reconcile::Reconciler`]'s. Sessions run per peer, one at a time,
//! and time out, so a slow peer only stalls its own.

use std::collections::BTreeMap;

/// Most envelopes in one page of the v1 sync protocol (`/stoop/sync/1.0.0`),
/// still served to nodes of the previous release.
pub const PAGE_LIMIT: u32 = 256;
/// How often each connected peer is reconciled with again, by default. An
/// in-sync round costs one fingerprint each way (about 90 bytes), so this
/// only bounds how late a message that gossip missed arrives.
pub const RESYNC_INTERVAL_SECS: u64 = 300;
/// A session that made no progress (no answer, no fetch page) for this
/// long is dropped; the next tick may start another.
pub const SESSION_TIMEOUT_SECS: u64 = 30;
/// A gap-triggered session with a peer waits at least this long after the
/// last one with it, so a stream of messages we cannot place (a spammer's,
/// or a burst from a member whose join we lack) costs at most one session
/// per peer per window.
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

#[derive(Debug, Clone, Default)]
struct PeerSync {
    /// When the running session last made progress.
    active_since: Option<u64>,
    last_start: Option<u64>,
    /// A gap came while a session ran or too soon after one: start another
    /// once [`GAP_RESYNC_MIN_SECS`] have passed since the last start.
    gap_owed: bool,
}

/// Per-peer session scheduling, generic over the peer id type. Bounded by
/// the connected peers: [`SyncPlanner::disconnected`] forgets one.
#[derive(Debug, Clone)]
pub struct SyncPlanner<P: Ord + Clone> {
    peers: BTreeMap<P, PeerSync>,
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

    /// Reconciles with each connected peer every `secs` (at least 1)
    /// instead of the default.
    pub fn with_resync_interval(mut self, secs: u64) -> Self {
        self.resync_secs = secs.max(1);
        self
    }

    fn start(&mut self, peer: &P, now: u64) -> bool {
        let Some(state) = self.peers.get_mut(peer) else { return false };
        if state.active_since.is_some() {
            return false;
        }
        state.active_since = Some(now);
        state.last_start = Some(now);
        state.gap_owed = false;
        true
    }

    /// A peer connected: whether to start a session with it now (yes,
    /// unless one runs).
    pub fn connected(&mut self, peer: P, now: u64) -> bool {
        self.peers.entry(peer.clone()).or_default();
        self.start(&peer, now)
    }

    /// A peer left: forget it.
    pub fn disconnected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// Something from `peer` referred to history this node lacks (an author
    /// or inviter it does not know as a member): whether to start a session
    /// now. If one runs or one started less than [`GAP_RESYNC_MIN_SECS`]
    /// ago, one is owed instead and [`SyncPlanner::tick`] starts it when the
    /// window has passed: a gap is never dropped, and never costs more than
    /// one session per window.
    pub fn gap(&mut self, peer: &P, now: u64) -> bool {
        let Some(state) = self.peers.get_mut(peer) else { return false };
        if state.active_since.is_some() || !gap_window_passed(state, now) {
            state.gap_owed = true;
            return false;
        }
        self.start(peer, now)
    }

    /// The session with `peer` made progress (an answer, a fetched page).
    pub fn progressed(&mut self, peer: &P, now: u64) {
        if let Some(s) = self.peers.get_mut(peer).and_then(|s| s.active_since.as_mut()) {
            *s = now;
        }
    }

    /// Whether a session with `peer` is running.
    pub fn is_active(&self, peer: &P) -> bool {
        self.peers.get(peer).is_some_and(|s| s.active_since.is_some())
    }

    /// The session with `peer` ended with both sets reconciled.
    pub fn completed(&mut self, peer: &P, now: u64) {
        if let Some(state) = self.peers.get_mut(peer)
            && state.active_since.take().is_some()
        {
            self.last_complete_any = Some(self.last_complete_any.map_or(now, |t| t.max(now)));
        }
    }

    /// The session with `peer` failed (refused, timed out, over a limit).
    pub fn failed(&mut self, peer: &P) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.active_since = None;
        }
    }

    /// Periodic work: drop stalled sessions; the peers due a session now
    /// (their sessions are started).
    pub fn tick(&mut self, now: u64) -> Vec<P> {
        let mut due = Vec::new();
        for (peer, state) in &mut self.peers {
            if let Some(t) = state.active_since {
                if now.saturating_sub(t) > SESSION_TIMEOUT_SECS {
                    state.active_since = None;
                }
                continue;
            }
            let periodic = state.last_start.is_none_or(|t| now.saturating_sub(t) >= self.resync_secs);
            if periodic || (state.gap_owed && gap_window_passed(state, now)) {
                due.push(peer.clone());
            }
        }
        due.retain(|p| self.start(p, now));
        due
    }

    /// Time of the last completed session with any peer.
    pub fn last_complete(&self) -> Option<u64> {
        self.last_complete_any
    }

    /// Peers with a session running.
    pub fn active(&self) -> usize {
        self.peers.values().filter(|p| p.active_since.is_some()).count()
    }
}

fn gap_window_passed(state: &PeerSync, now: u64) -> bool {
    state.last_start.is_none_or(|t| now.saturating_sub(t) >= GAP_RESYNC_MIN_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_session_per_peer_started_on_connect_and_periodically() {
        let mut p = SyncPlanner::new().with_resync_interval(300);
        assert!(p.connected(1u8, 1000));
        assert!(!p.connected(1u8, 1001), "a session already runs");
        assert_eq!(p.active(), 1);
        p.completed(&1, 1002);
        assert_eq!(p.last_complete(), Some(1002));
        assert!(p.tick(1200).is_empty(), "not due yet");
        assert_eq!(p.tick(1300), vec![1]);
        assert!(p.tick(1301).is_empty(), "running");
        p.failed(&1);
        assert_eq!(p.last_complete(), Some(1002), "a failure completes nothing");
        p.disconnected(&1);
        assert!(p.tick(5000).is_empty(), "forgotten");
    }

    #[test]
    fn stalled_sessions_time_out_unless_they_progress() {
        let mut p = SyncPlanner::new().with_resync_interval(10);
        assert!(p.connected(1u8, 0));
        p.progressed(&1, 25);
        assert!(p.tick(25 + SESSION_TIMEOUT_SECS).is_empty());
        assert!(p.is_active(&1), "progress keeps it alive");
        assert!(p.tick(26 + SESSION_TIMEOUT_SECS).is_empty(), "timed out now");
        assert!(!p.is_active(&1));
        assert_eq!(p.tick(27 + SESSION_TIMEOUT_SECS), vec![1], "and restarted when due");
    }

    #[test]
    fn a_gap_syncs_now_but_at_most_once_per_window() {
        let mut p = SyncPlanner::new();
        assert!(p.connected(1u8, 100));
        p.completed(&1, 101);
        assert!(!p.gap(&1, 100 + GAP_RESYNC_MIN_SECS - 1), "too soon after the last start");
        assert!(p.gap(&1, 100 + GAP_RESYNC_MIN_SECS));
        assert!(!p.gap(&1, 200), "one runs");
        assert!(!p.gap(&2, 200), "not connected");
    }

    #[test]
    fn a_gap_during_a_session_is_owed_not_dropped() {
        let mut p = SyncPlanner::new();
        assert!(p.connected(1u8, 100));
        assert!(!p.gap(&1, 101), "a session runs");
        assert!(!p.gap(&1, 102), "owed once, however many gaps");
        p.completed(&1, 102);
        assert!(p.tick(100 + GAP_RESYNC_MIN_SECS - 1).is_empty(), "not before the window");
        assert_eq!(p.tick(100 + GAP_RESYNC_MIN_SECS), vec![1], "then exactly one");
        p.completed(&1, 106);
        assert!(p.tick(200).is_empty(), "paid: nothing until the periodic resync");
    }

    #[test]
    fn only_fresh_synced_messages_are_relayed() {
        assert!(relay_after_sync(1000, 1000 + FRESH_RELAY_SECS));
        assert!(!relay_after_sync(1000, 1001 + FRESH_RELAY_SECS));
        assert!(relay_after_sync(2000, 1000), "future-dated within skew");
    }
}
