//! Origin hiding: Dandelion++-style stem routing as a pure state machine.
//!
//! rust-libp2p's gossipsub sends a node's own publications first-hand to
//! every topic peer at once, so any peer can tell who posted. Here a node
//! never publishes its own messages: it hands each to one *stem* peer after
//! a random delay. A node that receives a stem message either passes it on
//! to its own stem successor (stem phase) or *fluffs* it (publishes it to
//! gossip, which spreads it as usual). An observer then sees the first
//! gossip copy come from some node on the stem path, not from the origin.
//!
//! Following Dandelion++ (Fanti et al., 2018), the choices are made per
//! *epoch* ([`EPOCH_MS`]) per node, not per message, because per-message
//! randomness lets an observer intersect many paths:
//! - each epoch a node is a *fluffer* with probability [`FLUFF_PERCENT`] %,
//!   else a *relayer*; a fluffer publishes every stem message it receives;
//! - a relayer picks up to [`STEM_SUCCESSORS`] successors among its hood
//!   peers and maps each inbound stem peer to one of them for the whole
//!   epoch (never back to the sender), so paths are stable;
//! - own messages always go to one successor fixed for the epoch, whatever
//!   the node's role, so a node's own posts all leave the same way.
//!
//! Fail-safe: every node that stems a message (origin and relayers) sets an
//! *embargo* timer, uniform in [`EMBARGO_MIN_MS`]..=[`EMBARGO_MAX_MS`]. If it
//! has not seen the message arrive through gossip ([`Stem::seen_in_gossip`])
//! by then, [`Stem::tick`] fluffs it: a dropped or withheld stem message
//! still reaches the hood, at worst one embargo late.
//!
//! Bounds: messages in stem state are capped ([`MAX_STEMMED`] relayed,
//! [`MAX_OWN_STEMMED`] own), and each peer may hand this node at most
//! [`STEM_QUOTA`] stem messages. Over a bound a message is *fluffed*, not
//! dropped: it is a message the caller already validated, which gossip would
//! carry anyway, and dropping it would leave its origin's embargo to fluff it
//! first-hand, the one thing this module exists to avoid.
//!
//! # Remaining limits
//! - An observer connected to many nodes still narrows the origin: the
//!   first fluffer is a few hops from it, and a node that sees a message
//!   come out of a peer's stem without having sent it in learns that peer
//!   is on the path, possibly the origin. Stems are short (on average
//!   `100 / FLUFF_PERCENT` hops) and hoods are small.
//! - With one peer there is nothing to hide among: that peer sees every own
//!   message first. With no peers at all [`Stem::own`] returns `Fluff`
//!   (there is no one to stem to; gossip will send it when peers arrive).
//! - If the whole stem path is lost the origin's embargo fires and the
//!   origin fluffs first-hand. Delivery wins over anonymity, by design.
//! - Past [`MAX_OWN_STEMMED`] own messages within an embargo, own messages
//!   are fluffed first-hand (no household posts that fast within quotas).
//! - The seed must come from the operating system (e.g. `getrandom`): an
//!   observer who knows it can predict roles and successors.
//!
//! The caller validates a message before calling [`Stem::received`] (so a
//! stem message costs its author a quota slot like a gossip one) and does
//! not call it for messages it already has. Times are milliseconds.

use std::collections::HashMap;
use std::hash::Hash;

use crate::ids::MessageId;
use crate::peer_budget::{PeerBudget, Quota};

/// Length of an epoch: Dandelion++ suggests minutes, so paths stay stable
/// long enough to defeat intersection but adapt to churn.
pub const EPOCH_MS: u64 = 10 * 60 * 1000;
/// Chance (percent) that a node fluffs during an epoch: 35 % gives stems of
/// about three hops on average, enough that the first relayer an observer
/// sees is not the origin, while keeping an alert's extra delay to a few
/// hop delays. (Dandelion++'s 10-20 % makes longer stems, which in a hood
/// of a few nodes mostly loop back and wait for an embargo: 10 of 16 alerts
/// on five loopback nodes.)
pub const FLUFF_PERCENT: u64 = 35;
/// Successors a relayer picks per epoch: Dandelion++'s 4-regular graph,
/// two out and two in, which resists being eclipsed by one bad successor.
pub const STEM_SUCCESSORS: usize = 2;
/// Shortest embargo: several stem hops with their delays (at most
/// `HOP_DELAY_MAX_MS` each) fit before it.
pub const EMBARGO_MIN_MS: u64 = 3_000;
/// Longest embargo: the most a lost stem message is late. A safety alert
/// several seconds late is acceptable; half a minute was not.
pub const EMBARGO_MAX_MS: u64 = 8_000;
/// Longest random delay before a stem send: blurs send timing between own
/// and relayed messages without slowing an alert noticeably.
pub const HOP_DELAY_MAX_MS: u64 = 500;
/// Most relayed messages in stem state. Each lives at most one embargo
/// (8 s); an honest hood's whole traffic, bounded by author quotas, is far
/// below 256 messages in 30 s, and an entry is ~64 bytes.
pub const MAX_STEMMED: usize = 256;
/// Most own messages in stem state: a household posts a handful per hour.
pub const MAX_OWN_STEMMED: usize = 32;
/// Stem messages one peer may hand this node: 30 per minute, a burst a
/// whole hood's traffic through one link does not reach, so one peer cannot
/// fill [`MAX_STEMMED`] alone.
pub const STEM_QUOTA: Quota = Quota::constant(30, 60_000);

/// Why a stem message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StemDrop {
    /// Already in stem state here (a loop or a resend).
    Duplicate,
    /// The sender is not one of the hood peers given to [`Stem::set_peers`].
    NotAHoodPeer,
}

impl StemDrop {
    /// Stable snake_case code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            StemDrop::Duplicate => "duplicate",
            StemDrop::NotAHoodPeer => "not_a_hood_peer",
        }
    }
}

/// What the caller does next with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StemAction<P> {
    /// Send `id` over the stem protocol to `to` at time `at` (ms).
    SendStem {
        /// The stem successor.
        to: P,
        /// The message.
        id: MessageId,
        /// When to send it.
        at: u64,
    },
    /// Publish `id` to gossip now.
    Fluff {
        /// The message.
        id: MessageId,
    },
    /// Do nothing with `id`.
    Drop {
        /// The message.
        id: MessageId,
        /// Why.
        reason: StemDrop,
    },
}

/// A message in stem state.
#[derive(Debug, Clone, Copy)]
struct Pending {
    embargo_at: u64,
    own: bool,
}

/// Per-node Dandelion++ state over peer ids `P`.
#[derive(Debug, Clone)]
pub struct Stem<P> {
    /// SplitMix64 state.
    rng: u64,
    /// Hood peers, as last given.
    peers: Vec<P>,
    /// End of the current epoch; none before the first call.
    epoch_end: Option<u64>,
    /// This epoch's role.
    fluffing: bool,
    /// This epoch's successors (at most [`STEM_SUCCESSORS`]).
    successors: Vec<P>,
    /// Where own messages go this epoch.
    own_route: Option<P>,
    /// Inbound peer → successor, this epoch; at most one per hood peer.
    routes: HashMap<P, P>,
    pending: HashMap<MessageId, Pending>,
    own_pending: usize,
    inbound: PeerBudget<P>,
}

impl<P: Clone + Eq + Hash> Stem<P> {
    /// A node's stem state, its randomness from `seed` (from the OS).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: seed,
            peers: Vec::new(),
            epoch_end: None,
            fluffing: false,
            successors: Vec::new(),
            own_route: None,
            routes: HashMap::new(),
            pending: HashMap::new(),
            own_pending: 0,
            inbound: PeerBudget::new(STEM_QUOTA),
        }
    }

    /// The hood peers (those that joined the topic) changed. Successors
    /// that left are replaced; the rest keep their role for the epoch.
    pub fn set_peers(&mut self, now: u64, peers: impl IntoIterator<Item = P>) {
        self.peers.clear();
        for p in peers {
            if !self.peers.contains(&p) {
                self.peers.push(p);
            }
        }
        let known = &self.peers;
        self.successors.retain(|s| known.contains(s));
        if self.own_route.as_ref().is_some_and(|r| !known.contains(r)) {
            self.own_route = None;
        }
        self.routes.retain(|from, to| known.contains(from) && known.contains(to));
        if !self.rotate_if_due(now) {
            self.top_up_successors();
        }
    }

    /// This node posted `id`: where to send it.
    pub fn own(&mut self, id: MessageId, now: u64) -> StemAction<P> {
        self.rotate_if_due(now);
        if self.pending.contains_key(&id) {
            return StemAction::Drop { id, reason: StemDrop::Duplicate };
        }
        if self.own_pending >= MAX_OWN_STEMMED {
            return StemAction::Fluff { id };
        }
        let route = match self.own_route.clone() {
            Some(r) => Some(r),
            None => {
                let r = self.pick(&self.successors.clone(), None);
                self.own_route.clone_from(&r);
                r
            }
        };
        match route {
            None => StemAction::Fluff { id },
            Some(to) => {
                self.own_pending += 1;
                self.stem(id, to, now, true)
            }
        }
    }

    /// Peer `from` handed this node stem message `id` (already validated).
    pub fn received(&mut self, from: P, id: MessageId, now: u64) -> StemAction<P> {
        self.rotate_if_due(now);
        if !self.peers.contains(&from) {
            return StemAction::Drop { id, reason: StemDrop::NotAHoodPeer };
        }
        if self.pending.contains_key(&id) {
            return StemAction::Drop { id, reason: StemDrop::Duplicate };
        }
        let over_bound =
            self.inbound.allows(now, &from, 1).is_err() || self.pending.len() - self.own_pending >= MAX_STEMMED;
        if self.fluffing || over_bound {
            return StemAction::Fluff { id };
        }
        let route = match self.routes.get(&from) {
            Some(to) => Some(to.clone()),
            None => {
                // A successor other than the sender; failing that, any other peer.
                let r = self
                    .pick(&self.successors.clone(), Some(&from))
                    .or_else(|| self.pick(&self.peers.clone(), Some(&from)));
                if let Some(to) = &r {
                    self.routes.insert(from, to.clone());
                }
                r
            }
        };
        match route {
            // The sender is our only peer: nobody else to stem to.
            None => StemAction::Fluff { id },
            Some(to) => self.stem(id, to, now, false),
        }
    }

    /// `id` arrived through gossip: its embargo is satisfied.
    pub fn seen_in_gossip(&mut self, id: &MessageId) {
        if let Some(p) = self.pending.remove(id)
            && p.own
        {
            self.own_pending -= 1;
        }
    }

    /// Timers: fluffs every message whose embargo has expired (earliest
    /// first) and starts a new epoch when one is due.
    pub fn tick(&mut self, now: u64) -> Vec<StemAction<P>> {
        self.rotate_if_due(now);
        let mut due: Vec<(u64, MessageId)> =
            self.pending.iter().filter(|(_, p)| p.embargo_at <= now).map(|(id, p)| (p.embargo_at, *id)).collect();
        due.sort_unstable();
        due.into_iter()
            .map(|(_, id)| {
                self.seen_in_gossip(&id);
                StemAction::Fluff { id }
            })
            .collect()
    }

    /// The next instant [`Stem::tick`] has work: an embargo or the epoch end.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pending.values().map(|p| p.embargo_at).chain(self.epoch_end).min()
    }

    /// Messages in stem state (own and relayed).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether this node fluffs received stem messages this epoch.
    pub fn is_fluffing(&self) -> bool {
        self.fluffing
    }

    /// This epoch's stem successors.
    pub fn successors(&self) -> &[P] {
        &self.successors
    }

    fn stem(&mut self, id: MessageId, to: P, now: u64, own: bool) -> StemAction<P> {
        let embargo = EMBARGO_MIN_MS + self.below(EMBARGO_MAX_MS - EMBARGO_MIN_MS + 1);
        self.pending.insert(id, Pending { embargo_at: now.saturating_add(embargo), own });
        let at = now.saturating_add(self.below(HOP_DELAY_MAX_MS + 1));
        StemAction::SendStem { to, id, at }
    }

    /// Starts a new epoch if the current one is over; true if it did.
    fn rotate_if_due(&mut self, now: u64) -> bool {
        if self.epoch_end.is_some_and(|end| now < end) {
            return false;
        }
        self.epoch_end = Some(now.saturating_add(EPOCH_MS));
        self.fluffing = self.below(100) < FLUFF_PERCENT;
        self.successors.clear();
        self.own_route = None;
        self.routes.clear();
        self.top_up_successors();
        true
    }

    fn top_up_successors(&mut self) {
        let want = STEM_SUCCESSORS.min(self.peers.len());
        while self.successors.len() < want {
            let candidates: Vec<P> = self.peers.iter().filter(|p| !self.successors.contains(p)).cloned().collect();
            match self.pick(&candidates, None) {
                Some(p) => self.successors.push(p),
                None => break,
            }
        }
    }

    /// A random element of `from` other than `not`.
    fn pick(&mut self, from: &[P], not: Option<&P>) -> Option<P> {
        let choices: Vec<&P> = from.iter().filter(|p| Some(*p) != not).collect();
        let n = choices.len() as u64;
        if n == 0 {
            return None;
        }
        let i = usize::try_from(self.below(n)).ok()?;
        choices.get(i).map(|p| (*p).clone())
    }

    /// Uniform-enough in `0..n` (n > 0; modulo bias below 2^-50 for our n).
    fn below(&mut self, n: u64) -> u64 {
        // SplitMix64.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

#[cfg(test)]
#[path = "stem_tests.rs"]
mod tests;
