//! When a node with no peers tries its bootstrap list again.
//!
//! A node dials its bootstrap peers (from its ticket or config) once at
//! start. If they are all offline at that moment, say the inviter's home
//! server is rebooting, nothing else would ever connect the node: nobody
//! knows its address yet. So while it has no peers it keeps trying, with a
//! backoff so that a node whose hood is gone does not dial in a tight loop.

/// First retry after a start (or the last peer leaving) with no peers, s.
pub const REDIAL_MIN_SECS: u64 = 10;
/// Longest wait between retries, s.
pub const REDIAL_MAX_SECS: u64 = 300;

/// The retry schedule; times are unix seconds passed in.
#[derive(Debug, Clone)]
pub struct Redial {
    /// When to try next, once the node is found alone; `None` while it has
    /// peers (the clock starts when it is first seen alone).
    next_at: Option<u64>,
    backoff: u64,
}

impl Default for Redial {
    fn default() -> Self {
        Self { next_at: None, backoff: REDIAL_MIN_SECS }
    }
}

impl Redial {
    /// A schedule for a node that just dialed its bootstrap list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to dial the bootstrap list again now, given how many peers
    /// are connected. Call it periodically.
    pub fn due(&mut self, now: u64, connected_peers: usize) -> bool {
        if connected_peers > 0 {
            *self = Self::default();
            return false;
        }
        match self.next_at {
            None => {
                self.next_at = Some(now + self.backoff);
                false
            }
            Some(at) if now >= at => {
                self.backoff = (self.backoff * 2).min(REDIAL_MAX_SECS);
                self.next_at = Some(now + self.backoff);
                true
            }
            Some(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lonely_node_retries_with_a_growing_wait() {
        let mut r = Redial::new();
        assert!(!r.due(100, 0), "the first check only starts the clock");
        assert!(!r.due(109, 0));
        assert!(r.due(110, 0));
        assert!(!r.due(129, 0));
        assert!(r.due(130, 0), "then 20 s");
        assert!(r.due(170, 0), "then 40 s");
        let mut t = 170;
        for _ in 0..10 {
            t += REDIAL_MAX_SECS;
            assert!(r.due(t, 0), "the wait stops growing at the maximum");
        }
    }

    #[test]
    fn a_peer_resets_the_schedule() {
        let mut r = Redial::new();
        r.due(0, 0);
        assert!(r.due(10, 0));
        assert!(!r.due(15, 3));
        assert!(!r.due(16, 0), "alone again: the clock starts over");
        assert!(r.due(26, 0), "at the minimum wait");
    }

    #[test]
    fn a_node_with_peers_never_redials() {
        let mut r = Redial::new();
        for t in 0..1000 {
            assert!(!r.due(t, 1));
        }
    }
}
