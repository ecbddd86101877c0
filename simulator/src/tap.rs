//! The tap: sees each connection's plaintext between Noise and Yamux and
//! counts gossipsub traffic per node, without changing a byte.
//!
//! [`TapNoise`] is the production Noise upgrade with its output wrapped in
//! [`Tap`]. The tap parses what the node *reads*: Yamux frames, then per
//! substream the multistream-select negotiation and, on `/meshsub/*`
//! streams, the length-prefixed gossipsub RPCs. From each RPC it counts
//! payload bytes (message data), control bytes by type (IHAVE, IWANT,
//! GRAFT, PRUNE, IDONTWANT) and every payload copy by message id with the
//! node it came from. The first copy's sender is the propagation source,
//! which gives hop counts; the number of copies gives duplicates.
//!
//! Gossipsub's own `metrics` feature counts unfiltered receives but not
//! control bytes, and needs a registry per behaviour; the tap counts both
//! with no change to the node.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, FutureExt};
use libp2p::PeerId;
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::noise;
use prost::Message as _;
use sha2::{Digest, Sha256};
use stoop_core::envelope::Envelope;

use crate::stats::{MsgKey, NodeStats, Shared};

/// Longest substream frame the tap buffers; longer ones (never gossipsub,
/// which caps frames at 16 KiB + framing here) stop the tap on that stream.
const MAX_TAPPED_FRAME: usize = 1024 * 1024;

/// The key copies are counted under: the Stoop message id of a gossip
/// payload (the envelope id), or SHA-256 of undecodable bytes. Gossipsub's
/// own id is the hash of the whole frame (`net::behaviour::message_id`);
/// for honest traffic each message has one frame, so the two agree on what
/// a copy is, and the report can name alerts by their Stoop id.
pub fn message_key(data: &[u8]) -> MsgKey {
    match Envelope::decode_unverified(data) {
        Ok(env) => *env.id().as_bytes(),
        Err(_) => Sha256::digest(data).into(),
    }
}

/// Noise, with the secured stream handed to a [`Tap`].
#[derive(Clone)]
pub struct TapNoise {
    noise: noise::Config,
    local: u32,
    peers: Arc<HashMap<PeerId, u32>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TapNoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapNoise").field("local", &self.local).finish()
    }
}

impl TapNoise {
    /// The upgrade of node `local`; `peers` maps every simulated peer id to its node.
    pub fn new(noise: noise::Config, local: u32, peers: Arc<HashMap<PeerId, u32>>, shared: Arc<Shared>) -> Self {
        Self { noise, local, peers, shared }
    }

    fn wrap<T>(&self, peer: PeerId, out: noise::Output<T>) -> (PeerId, Tap<noise::Output<T>>) {
        let remote = self.peers.get(&peer).copied().unwrap_or(u32::MAX);
        (peer, Tap { inner: out, parser: Parser::new(self.local, remote, self.shared.clone()) })
    }
}

impl UpgradeInfo for TapNoise {
    type Info = <noise::Config as UpgradeInfo>::Info;
    type InfoIter = <noise::Config as UpgradeInfo>::InfoIter;

    fn protocol_info(&self) -> Self::InfoIter {
        self.noise.protocol_info()
    }
}

impl<T> InboundConnectionUpgrade<T> for TapNoise
where
    T: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
{
    type Output = (PeerId, Tap<noise::Output<T>>);
    type Error = noise::Error;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: T, info: Self::Info) -> Self::Future {
        let fut = self.noise.clone().upgrade_inbound(socket, info);
        async move {
            let (peer, out) = fut.await?;
            Ok(self.wrap(peer, out))
        }
        .boxed()
    }
}

impl<T> OutboundConnectionUpgrade<T> for TapNoise
where
    T: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
{
    type Output = (PeerId, Tap<noise::Output<T>>);
    type Error = noise::Error;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: T, info: Self::Info) -> Self::Future {
        let fut = self.noise.clone().upgrade_outbound(socket, info);
        async move {
            let (peer, out) = fut.await?;
            Ok(self.wrap(peer, out))
        }
        .boxed()
    }
}

/// A secured stream whose inbound plaintext is parsed for statistics.
pub struct Tap<S> {
    inner: S,
    parser: Parser,
}

impl<S> std::fmt::Debug for Tap<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap").field("local", &self.parser.local).field("remote", &self.parser.remote).finish()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.parser.feed(&buf[..n]);
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// The gossipsub RPC, reduced to what the tap measures (unknown fields are
/// skipped by prost).
#[derive(Clone, PartialEq, prost::Message)]
struct Rpc {
    #[prost(message, repeated, tag = "2")]
    publish: Vec<PubMessage>,
    #[prost(message, optional, tag = "3")]
    control: Option<Control>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PubMessage {
    #[prost(bytes = "vec", optional, tag = "2")]
    data: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Control {
    #[prost(bytes = "vec", repeated, tag = "1")]
    ihave: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    iwant: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    graft: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "4")]
    prune: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "5")]
    idontwant: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Negotiating,
    Gossip,
    Other,
}

#[derive(Debug)]
struct Substream {
    buf: Vec<u8>,
    proto: Proto,
    name: Option<String>,
}

/// Parses one direction of a connection: Yamux frames, then substreams.
#[derive(Debug)]
struct Parser {
    local: u32,
    remote: u32,
    shared: Arc<Shared>,
    /// Unparsed bytes; at most one Yamux frame (≤ 256 KiB window) plus a read.
    buf: Vec<u8>,
    /// Still in the connection's multistream-select for the muxer, which
    /// runs on the secured stream before the first Yamux frame.
    preamble: bool,
    /// Gave up on this connection (unexpected bytes).
    dead: bool,
    /// Open substreams; entries go on FIN/RST, so bounded by Yamux's stream limit.
    streams: HashMap<u32, Substream>,
}

const YAMUX_HEADER: usize = 12;
const FLAG_FIN: u16 = 4;
const FLAG_RST: u16 = 8;

/// Drops the first `n` bytes, and gives back the allocation once nothing
/// is left: a counter per connection end and stream would otherwise keep
/// the capacity of the largest frame it ever saw (up to 64 KiB), 16,000
/// times over at 1,000 nodes.
fn consume(buf: &mut Vec<u8>, n: usize) {
    buf.drain(..n);
    if buf.is_empty() && buf.capacity() > 1024 {
        *buf = Vec::new();
    }
}

impl Parser {
    fn new(local: u32, remote: u32, shared: Arc<Shared>) -> Self {
        Self { local, remote, shared, buf: Vec::new(), preamble: true, dead: false, streams: HashMap::new() }
    }

    fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while self.preamble {
            let Some((len, n)) = uvarint(&self.buf[at..]) else { break };
            if self.buf.len() - at < n + len {
                break;
            }
            let msg = &self.buf[at + n..at + n + len];
            if !msg.ends_with(b"\n") {
                // Not multistream-select: stop tapping this connection.
                self.preamble = false;
                self.buf = Vec::new();
                self.streams.clear();
                self.dead = true;
                return;
            }
            if msg.starts_with(b"/yamux/") {
                self.preamble = false;
            }
            at += n + len;
        }
        if self.dead {
            return;
        }
        loop {
            let rest = &self.buf[at..];
            if rest.len() < YAMUX_HEADER {
                break;
            }
            let kind = rest[1];
            let flags = u16::from_be_bytes([rest[2], rest[3]]);
            let stream = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let len = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]) as usize;
            let body_len = if kind == 0 { len } else { 0 };
            if rest.len() < YAMUX_HEADER + body_len {
                break;
            }
            if kind == 0 && body_len > 0 {
                let body = self.buf[at + YAMUX_HEADER..at + YAMUX_HEADER + body_len].to_vec();
                self.substream_data(stream, &body);
            }
            if flags & (FLAG_FIN | FLAG_RST) != 0 {
                self.streams.remove(&stream);
            }
            at += YAMUX_HEADER + body_len;
        }
        consume(&mut self.buf, at);
    }

    fn substream_data(&mut self, id: u32, body: &[u8]) {
        let s = self.streams.entry(id).or_insert(Substream { buf: Vec::new(), proto: Proto::Negotiating, name: None });
        if let Some(name) = &s.name {
            let mut map = self.shared.nodes[self.local as usize].by_protocol.lock().unwrap_or_else(|p| p.into_inner());
            *map.entry(name.clone()).or_default() += body.len() as u64;
        }
        if s.proto == Proto::Other {
            return;
        }
        s.buf.extend_from_slice(body);
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some((len, n)) = uvarint(&s.buf[at..]) {
            if len > MAX_TAPPED_FRAME {
                s.proto = Proto::Other;
                s.buf = Vec::new();
                return;
            }
            if s.buf.len() - at < n + len {
                break;
            }
            let frame = &s.buf[at + n..at + n + len];
            if frame.ends_with(b"\n") && (frame.starts_with(b"/") || frame == b"na\n" || frame == b"ls\n") {
                // multistream-select; a protobuf RPC never starts with '/'
                // (it would be field 5 with wire type 7, which does not exist).
                if frame.starts_with(b"/") && !frame.starts_with(b"/multistream") {
                    s.name = Some(String::from_utf8_lossy(&frame[..frame.len() - 1]).into_owned());
                }
                if frame.starts_with(b"/meshsub") {
                    s.proto = Proto::Gossip;
                } else if frame.starts_with(b"/") && !frame.starts_with(b"/multistream") {
                    s.proto = Proto::Other;
                    s.buf = Vec::new();
                    return;
                }
            } else if s.proto == Proto::Gossip {
                frames.push((frame.to_vec(), n + len));
            }
            at += n + len;
        }
        consume(&mut s.buf, at);
        for (frame, total) in frames {
            self.rpc(&frame, total);
        }
    }

    fn rpc(&self, frame: &[u8], total: usize) {
        let stats = &self.shared.nodes[self.local as usize];
        let Ok(rpc) = Rpc::decode(frame) else {
            NodeStats::add(&stats.gossip_other_in, total as u64);
            return;
        };
        let now = self.shared.now_ms();
        let mut accounted = 0usize;
        for m in &rpc.publish {
            if let Some(data) = &m.data {
                accounted += data.len();
                NodeStats::add(&stats.payload_in, data.len() as u64);
                stats.copy_received(message_key(data), now, self.remote);
            }
        }
        if let Some(c) = &rpc.control {
            use prost::encoding::bytes::encoded_len_repeated as len;
            let parts = [
                (&stats.ihave_in, len(1, &c.ihave)),
                (&stats.iwant_in, len(2, &c.iwant)),
                (&stats.graft_in, len(3, &c.graft)),
                (&stats.prune_in, len(4, &c.prune)),
                (&stats.idontwant_in, len(5, &c.idontwant)),
            ];
            for (counter, n) in parts {
                accounted += n;
                NodeStats::add(counter, n as u64);
            }
        }
        NodeStats::add(&stats.gossip_other_in, total.saturating_sub(accounted) as u64);
    }
}

/// An unsigned LEB128 varint: (value, bytes used), or None if incomplete.
fn uvarint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v as usize, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::Ordering;

    fn yamux(stream: u32, flags: u16, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8, 0];
        f.extend_from_slice(&flags.to_be_bytes());
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn lp(b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        prost::encoding::encode_varint(b.len() as u64, &mut v);
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn counts_payload_copies_and_control_bytes() {
        let shared = Arc::new(Shared::new(2));
        let mut p = Parser::new(0, 1, shared.clone());
        let rpc = Rpc {
            publish: vec![PubMessage { data: Some(b"frame".to_vec()) }],
            control: Some(Control { ihave: vec![vec![1; 40]], ..Default::default() }),
        };
        let mut stream = lp(b"/multistream/1.0.0\n");
        stream.extend(lp(b"/meshsub/1.1.0\n"));
        stream.extend(lp(&rpc.encode_to_vec()));
        stream.extend(lp(&rpc.encode_to_vec()));
        let mut wire = lp(b"/multistream/1.0.0\n");
        wire.extend(lp(b"/yamux/1.0.0\n"));
        wire.extend(yamux(3, 1, &stream));
        // Split across reads at an awkward place.
        p.feed(&wire[..7]);
        p.feed(&wire[7..30]);
        p.feed(&wire[30..]);
        let s = &shared.nodes[0];
        assert_eq!(s.payload_in.load(Ordering::Relaxed), 10);
        assert_eq!(s.ihave_in.load(Ordering::Relaxed), 2 * 42);
        let arrivals = s.arrivals.lock().unwrap();
        let a = arrivals.get(&message_key(b"frame")).unwrap();
        assert_eq!((a.copies, a.from), (2, 1));
    }

    #[test]
    fn other_protocols_are_not_parsed() {
        let shared = Arc::new(Shared::new(2));
        let mut p = Parser::new(0, 1, shared.clone());
        p.feed(&lp(b"/multistream/1.0.0\n"));
        p.feed(&lp(b"/yamux/1.0.0\n"));
        let mut stream = lp(b"/multistream/1.0.0\n");
        stream.extend(lp(b"/ipfs/ping/1.0.0\n"));
        stream.extend(vec![0u8; 32]);
        p.feed(&yamux(5, 1, &stream));
        p.feed(&yamux(5, FLAG_FIN, &[]));
        assert!(p.streams.is_empty());
        assert_eq!(shared.nodes[0].payload_in.load(Ordering::Relaxed), 0);
    }
}
