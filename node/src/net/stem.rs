//! Origin hiding on the wire: the `/stoop/stem/1.0.0` request-response
//! protocol that carries Dandelion++ stem hops, and the glue between the
//! sans-IO [`Stem`] state machine and the event loop.
//!
//! A request is one envelope frame (the exact signed bytes, no other
//! framing), read with a hard cap of [`MAX_STEM_REQUEST_BYTES`]; the
//! response is an empty acknowledgement. The event loop validates an
//! inbound frame through the replica exactly like a gossip frame and calls
//! [`StemRelay::received`] only for a frame that was newly accepted.
//!
//! Messages are keyed by the SHA-256 of the whole frame, the same id
//! gossipsub gives them here (`behaviour::message_id`), so a gossip copy
//! clears the embargo without decoding anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::{PeerId, StreamProtocol};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::core::envelope::MAX_ENVELOPE_BYTES;
use crate::core::ids::MessageId;
use crate::core::peer_budget::PeerBudget;
use crate::core::stem::{MAX_OWN_STEMMED, MAX_STEMMED, STEM_QUOTA, Stem, StemAction};

/// Protocol name of the stem protocol.
pub const STEM_PROTOCOL: StreamProtocol = StreamProtocol::new("/stoop/stem/1.0.0");
/// Largest stem request: one maximum-size envelope, nothing else.
pub const MAX_STEM_REQUEST_BYTES: usize = MAX_ENVELOPE_BYTES;
/// Concurrent stem streams per connection: a hop is one short frame, and an
/// honest peer sends a few per minute (libp2p's default of 100 would let one
/// connection hold 100 envelopes in flight).
pub const STEM_MAX_CONCURRENT_STREAMS: usize = 8;
/// Frames held for messages in stem state: exactly what [`Stem`] may hold
/// (relayed plus own), so the two cannot disagree about what is pending.
pub const MAX_STEM_FRAMES: usize = MAX_STEMMED + MAX_OWN_STEMMED;

/// Codec for [`STEM_PROTOCOL`]: request = one frame, response = nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct StemCodec;

impl request_response::Codec for StemCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io.take(MAX_STEM_REQUEST_BYTES as u64 + 1).read_to_end(&mut buf).await?;
        if buf.len() > MAX_STEM_REQUEST_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "stem frame over the size cap"));
        }
        Ok(buf)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()> {
        // The ack is empty; anything more is not read.
        let mut buf = Vec::new();
        io.take(1).read_to_end(&mut buf).await?;
        Ok(())
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        frame: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&frame).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        (): (),
    ) -> io::Result<()> {
        io.close().await
    }
}

/// The stem protocol's behaviour.
pub fn behaviour() -> request_response::Behaviour<StemCodec> {
    request_response::Behaviour::new(
        [(STEM_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(10))
            .with_max_concurrent_streams(STEM_MAX_CONCURRENT_STREAMS),
    )
}

/// The id a frame has in stem state and in gossipsub: SHA-256 of the bytes.
pub fn frame_id(frame: &[u8]) -> MessageId {
    MessageId::from_bytes(Sha256::digest(frame).into())
}

/// What the event loop must do with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StemOut {
    /// Send it over the stem protocol to this peer, now.
    Send {
        /// The successor.
        to: PeerId,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Publish it to gossip now.
    Fluff {
        /// The frame.
        frame: Vec<u8>,
    },
}

/// [`Stem`] plus the frames and timers it needs on a real network.
#[derive(Debug)]
pub struct StemRelay {
    stem: Stem<PeerId>,
    /// Frames in stem state, and whether this node posted them; bounded
    /// by [`MAX_STEM_FRAMES`].
    frames: HashMap<MessageId, (Vec<u8>, bool)>,
    /// Delayed sends, by (time, sequence); at most one per held frame.
    sends: BTreeMap<(u64, u64), (PeerId, MessageId)>,
    seq: u64,
    /// Peers whose identify info lists [`STEM_PROTOCOL`]; pruned to the
    /// connected peers by [`StemRelay::set_peers`].
    capable: BTreeSet<PeerId>,
    /// Stem requests per peer before validation, at [`STEM_QUOTA`]: one
    /// peer cannot make the replica validate more stem frames than that.
    inbound: PeerBudget<PeerId>,
    /// Invalid stem frames per connected peer (for the gossip score).
    rejects: HashMap<PeerId, u32>,
    start: Instant,
    /// Added to the clock; only tests move it.
    skew_ms: u64,
    /// Own frames are fluffed first-hand, without a stem: only for the
    /// simulator's measurement of what the stem costs in latency.
    first_hand: bool,
}

impl StemRelay {
    /// Stem state seeded from the operating system's randomness.
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        if let Err(e) = getrandom::fill(&mut seed) {
            // Predictable routes are a privacy loss, not a failure: the
            // messages still get through.
            tracing::warn!(error = %e, "no OS randomness for the stem seed");
        }
        Self {
            stem: Stem::new(u64::from_le_bytes(seed)),
            frames: HashMap::new(),
            sends: BTreeMap::new(),
            seq: 0,
            capable: BTreeSet::new(),
            inbound: PeerBudget::new(STEM_QUOTA),
            rejects: HashMap::new(),
            start: Instant::now(),
            skew_ms: 0,
            first_hand: false,
        }
    }

    /// A relay that publishes own frames first-hand (no origin hiding);
    /// it still relays the stem messages of others. For measuring the
    /// stem's latency cost against it in the simulator; `stoopd` never
    /// uses it.
    pub fn first_hand() -> Self {
        Self { first_hand: true, ..Self::new() }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(self.skew_ms)
    }

    #[cfg(test)]
    fn advance(&mut self, by: Duration) {
        self.skew_ms += u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
    }

    /// A peer's identify info arrived: note whether it speaks the stem.
    pub fn identified(&mut self, peer: PeerId, protocols: &[StreamProtocol]) {
        if protocols.contains(&STEM_PROTOCOL) {
            self.capable.insert(peer);
        } else {
            self.capable.remove(&peer);
        }
    }

    /// The connected peers subscribed to the hood topic; only those that
    /// also speak the stem protocol become stem peers.
    pub fn set_peers(&mut self, topic_peers: impl IntoIterator<Item = PeerId>, connected: &BTreeSet<PeerId>) {
        self.capable.retain(|p| connected.contains(p));
        self.rejects.retain(|p, _| connected.contains(p));
        for p in self.capable.iter().filter(|p| !connected.contains(p)).copied().collect::<Vec<_>>() {
            self.inbound.forget(&p);
        }
        let capable = &self.capable;
        let peers: Vec<PeerId> = topic_peers.into_iter().filter(|p| capable.contains(p)).collect();
        let now = self.now();
        self.stem.set_peers(now, peers);
    }

    /// This node posted `frame`.
    pub fn own(&mut self, frame: Vec<u8>) -> Vec<StemOut> {
        if self.first_hand {
            return vec![StemOut::Fluff { frame }];
        }
        let id = frame_id(&frame);
        let action = self.stem.own(id, self.now());
        self.apply(action, frame, true)
    }

    /// Whether `from` may hand over one more stem frame for validation.
    pub fn allows(&mut self, from: &PeerId) -> bool {
        let now = self.now();
        self.inbound.allows(now, from, 1).is_ok()
    }

    /// `from` handed over `frame` and the replica newly accepted it.
    pub fn received(&mut self, from: PeerId, frame: Vec<u8>) -> Vec<StemOut> {
        let id = frame_id(&frame);
        let action = self.stem.received(from, id, self.now());
        self.apply(action, frame, false)
    }

    /// A stem frame came back to a node that already has it: the stem
    /// looped. A relayer on the loop fluffs it now rather than leave it to
    /// an embargo, which would most likely fire first at the origin (it
    /// started earliest) and so publish the message first-hand there. The
    /// origin itself keeps waiting: fluffing there is what the stem avoids.
    pub fn looped(&mut self, frame: &[u8]) -> Vec<StemOut> {
        let id = frame_id(frame);
        match self.frames.get(&id) {
            Some((_, false)) => {
                self.stem.seen_in_gossip(&id);
                self.frames.remove(&id).map(|(frame, _)| StemOut::Fluff { frame }).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// A stem frame from `from` was rejected; returns the peer's count.
    pub fn rejected(&mut self, from: PeerId) -> u32 {
        let n = self.rejects.entry(from).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// A gossip message with this gossipsub id arrived (duplicates too).
    /// True if this node held it in stem state.
    pub fn seen_in_gossip(&mut self, gossip_id: &[u8]) -> bool {
        let Ok(id) = MessageId::from_slice(gossip_id) else { return false };
        self.stem.seen_in_gossip(&id);
        self.frames.remove(&id).is_some()
    }

    /// Sends and embargo fluffs that are due now.
    pub fn due(&mut self) -> Vec<StemOut> {
        let now = self.now();
        let mut out = Vec::new();
        for action in self.stem.tick(now) {
            if let StemAction::Fluff { id } = action
                && let Some((frame, _)) = self.frames.remove(&id)
            {
                out.push(StemOut::Fluff { frame });
            }
        }
        while let Some(entry) = self.sends.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to, id) = entry.remove();
            // Gone means seen in gossip or fluffed meanwhile: nothing to send.
            if let Some((frame, _)) = self.frames.get(&id) {
                out.push(StemOut::Send { to, frame: frame.clone() });
            }
        }
        out
    }

    /// How long until [`StemRelay::due`] has work.
    pub fn next_wake(&self) -> Duration {
        let next = self.stem.next_deadline().into_iter().chain(self.sends.keys().next().map(|k| k.0)).min();
        Duration::from_millis(next.map_or(1_000, |at| at.saturating_sub(self.now())))
    }

    /// Frames held in stem state.
    pub fn held(&self) -> usize {
        self.frames.len()
    }

    fn apply(&mut self, action: StemAction<PeerId>, frame: Vec<u8>, own: bool) -> Vec<StemOut> {
        match action {
            StemAction::SendStem { to, id, at } => {
                if self.frames.len() >= MAX_STEM_FRAMES && !self.frames.contains_key(&id) {
                    // Cannot happen while Stem keeps its own bounds; fluffing
                    // delivers the message either way.
                    self.stem.seen_in_gossip(&id);
                    return vec![StemOut::Fluff { frame }];
                }
                self.frames.insert(id, (frame, own));
                self.seq += 1;
                self.sends.insert((at, self.seq), (to, id));
                Vec::new()
            }
            StemAction::Fluff { .. } => vec![StemOut::Fluff { frame }],
            StemAction::Drop { id, reason } => {
                tracing::debug!(id = %id.to_hex(), reason = reason.code(), "stem message dropped");
                Vec::new()
            }
        }
    }
}

impl Default for StemRelay {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    fn relay_with(peers: &[PeerId]) -> StemRelay {
        let mut r = StemRelay::new();
        for p in peers {
            r.identified(*p, &[STEM_PROTOCOL]);
        }
        r.set_peers(peers.iter().copied(), &peers.iter().copied().collect());
        r
    }

    #[test]
    fn an_own_frame_goes_to_one_stem_peer_and_not_to_gossip() {
        let ps = peers(3);
        let mut r = relay_with(&ps);
        assert!(r.own(b"frame".to_vec()).is_empty(), "an own frame is never fluffed at once with peers");
        let wake = r.next_wake();
        r.advance(wake);
        let out = r.due();
        assert!(matches!(&out[..], [StemOut::Send { to, frame }] if ps.contains(to) && frame == b"frame"));
        // Nobody fluffed it: the embargo fires and fluffs it.
        r.advance(Duration::from_millis(crate::core::stem::EMBARGO_MAX_MS));
        assert_eq!(r.due(), vec![StemOut::Fluff { frame: b"frame".to_vec() }]);
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn a_gossip_copy_cancels_the_embargo() {
        let ps = peers(2);
        let mut r = relay_with(&ps);
        let frame = b"frame".to_vec();
        r.own(frame.clone());
        assert!(r.seen_in_gossip(frame_id(&frame).as_bytes()));
        r.advance(Duration::from_millis(crate::core::stem::EMBARGO_MAX_MS + 1));
        assert!(r.due().is_empty());
    }

    #[test]
    fn a_looped_relayed_frame_is_fluffed_but_a_looped_own_frame_is_not() {
        let ps = peers(3);
        // A relayer for the epoch: a fluffer (FLUFF_PERCENT of random
        // seeds) would publish the relayed frame at once, not hold it.
        let mut r = relay_with(&ps);
        while r.stem.is_fluffing() {
            r = relay_with(&ps);
        }
        let (own, relayed) = (b"own".to_vec(), b"relayed".to_vec());
        r.own(own.clone());
        r.received(ps[0], relayed.clone());
        assert!(r.looped(&own).is_empty());
        assert_eq!(r.looped(&relayed), vec![StemOut::Fluff { frame: relayed }]);
        assert_eq!(r.held(), 1);
    }

    #[test]
    fn peers_without_the_stem_protocol_are_never_stem_peers() {
        let ps = peers(2);
        let mut r = StemRelay::new();
        r.set_peers(ps.iter().copied(), &ps.iter().copied().collect());
        // No stem-capable peer: fluff (gossip carries it when it can).
        assert_eq!(r.own(b"x".to_vec()), vec![StemOut::Fluff { frame: b"x".to_vec() }]);
    }

    #[test]
    fn held_frames_stay_within_the_bound() {
        let ps = peers(3);
        let mut r = relay_with(&ps);
        for i in 0..(MAX_STEM_FRAMES * 2) as u32 {
            r.own(i.to_le_bytes().to_vec());
            r.received(ps[0], (i + 1_000_000).to_le_bytes().to_vec());
        }
        assert!(r.held() <= MAX_STEM_FRAMES);
        assert!(r.held() > 0, "positive control: frames were held");
    }

    #[test]
    fn inbound_stem_requests_are_rate_limited_per_peer() {
        let ps = peers(2);
        let mut r = relay_with(&ps);
        let allowed = (0..100).filter(|_| r.allows(&ps[0])).count();
        assert_eq!(allowed, STEM_QUOTA.burst() as usize);
        assert!(r.allows(&ps[1]), "another peer has its own budget");
    }
}
