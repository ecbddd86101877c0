//! The link shim: a libp2p [`Transport`] around [`MemoryTransport`] that
//! gives every connection a modelled link.
//!
//! Each direction of a connection has a pump task fed by a bounded queue of
//! written chunks. A chunk is delivered at
//! `max(previous delivery, departure + one-way latency + jitter [+ RTO])`,
//! where departure waits for the link to be free when a bandwidth cap is
//! set. Order is always preserved, as TCP preserves it. Loss is modelled as
//! TCP does it: the segment is retransmitted after an RTO, so loss is extra
//! delay (and head-of-line blocking), never corrupted bytes under Noise.
//! While a partition separates two nodes, dials between them fail and
//! their pumps hold data until the partition heals (long stalls end in
//! ping/idle timeouts, as they would on a real network).
//!
//! The dialer sends its node index as the first 4 bytes (a simulator-only
//! preamble below Noise, like a PROXY header) so that both ends know the
//! link and can count bytes per node.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Instant;

use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, StreamExt};
use libp2p::Multiaddr;
use libp2p::core::transport::memory::Channel;
use libp2p::core::transport::{DialOpts, ListenerId, MemoryTransport, Transport, TransportError, TransportEvent};
use libp2p::multiaddr::Protocol;
use tokio::sync::watch;

use crate::rng::SimRng;
use crate::stats::{NodeStats, Shared};

/// Chunks waiting in one direction of one connection before the writer has
/// to wait (backpressure, like a full socket buffer). Noise writes at most
/// one 64 KiB frame per chunk, so this bounds a direction at 2 MiB.
pub const CHUNK_QUEUE: usize = 32;

/// How long a listener waits for the dialer's preamble.
const PREAMBLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The link parameters of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// Mean one-way latency, ms.
    pub latency_ms: f64,
    /// Each link's latency is drawn once, uniformly in latency × (1 ± spread).
    pub latency_spread: f64,
    /// Extra per-chunk delay drawn uniformly in [0, jitter], ms.
    pub jitter_ms: f64,
    /// Probability that a chunk is lost (and retransmitted after `rto_ms`).
    pub loss: f64,
    /// Retransmission timeout, ms.
    pub rto_ms: f64,
    /// Bandwidth cap per direction, bits per second (0: none).
    pub bandwidth_bps: u64,
}

/// Memory ports are process-global; each run takes its own range so that
/// tests can run simulations side by side.
static NEXT_PORT: AtomicU64 = AtomicU64::new(1_000_000);

/// The simulated network: addresses, link parameters and partitions.
#[derive(Debug)]
pub struct Fabric {
    seed: u64,
    model: LinkModel,
    port_base: u64,
    nodes: usize,
    /// While a partition is active: the side of each node.
    partition: RwLock<Option<Vec<u8>>>,
    /// Bumped on every partition change so stalled pumps look again.
    changes: watch::Sender<u64>,
    /// Run statistics.
    pub shared: Arc<Shared>,
}

impl Fabric {
    /// A network of `nodes` nodes.
    pub fn new(seed: u64, model: LinkModel, nodes: usize, shared: Arc<Shared>) -> Arc<Self> {
        let port_base = NEXT_PORT.fetch_add(nodes as u64 + 1, Ordering::Relaxed);
        let (changes, _) = watch::channel(0);
        Arc::new(Self { seed, model, port_base, nodes, partition: RwLock::new(None), changes, shared })
    }

    /// The listen address of node `idx`.
    pub fn addr(&self, idx: usize) -> Multiaddr {
        Multiaddr::empty().with(Protocol::Memory(self.port_base + idx as u64))
    }

    /// The node an address belongs to.
    pub fn index_of(&self, addr: &Multiaddr) -> Option<u32> {
        addr.iter().find_map(|p| match p {
            Protocol::Memory(port) if port >= self.port_base && port < self.port_base + self.nodes as u64 => {
                Some((port - self.port_base) as u32)
            }
            _ => None,
        })
    }

    /// The fixed one-way latency of the link between `a` and `b` (the same
    /// both ways and in every run with this seed), ms.
    pub fn base_latency_ms(&self, a: u32, b: u32) -> f64 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let mut rng = SimRng::derive(self.seed, "link", (u64::from(lo) << 32) | u64::from(hi));
        let s = self.model.latency_spread;
        self.model.latency_ms * rng.range_f64(1.0 - s, 1.0 + s)
    }

    /// Whether a partition currently separates `a` and `b`.
    pub fn partitioned(&self, a: u32, b: u32) -> bool {
        let p = self.partition.read().unwrap_or_else(|p| p.into_inner());
        match p.as_ref() {
            Some(sides) => sides.get(a as usize) != sides.get(b as usize),
            None => false,
        }
    }

    /// Starts (`Some(sides)`) or heals (`None`) a partition.
    pub fn set_partition(&self, sides: Option<Vec<u8>>) {
        *self.partition.write().unwrap_or_else(|p| p.into_inner()) = sides;
        self.changes.send_modify(|v| *v += 1);
    }

    fn stats(&self, idx: u32) -> &NodeStats {
        &self.shared.nodes[idx as usize]
    }
}

/// The shim transport of node `local`.
pub struct LinkTransport {
    inner: MemoryTransport,
    local: u32,
    fabric: Arc<Fabric>,
    /// Listeners to remove on drop (one per listen address, so tiny).
    listeners: Vec<ListenerId>,
}

impl Drop for LinkTransport {
    /// `MemoryTransport` frees a listen port only in `remove_listener`, not
    /// when dropped, so a node restarted on the same address (churn) would
    /// find its port taken.
    fn drop(&mut self) {
        for id in self.listeners.drain(..) {
            self.inner.remove_listener(id);
        }
    }
}

impl std::fmt::Debug for LinkTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTransport").field("local", &self.local).finish()
    }
}

impl LinkTransport {
    /// The transport of node `local` on `fabric`.
    pub fn new(local: u32, fabric: Arc<Fabric>) -> Self {
        Self { inner: MemoryTransport::default(), local, fabric, listeners: Vec::new() }
    }
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Transport for LinkTransport {
    type Output = LinkConn;
    type Error = io::Error;
    type ListenerUpgrade = BoxFuture<'static, Result<LinkConn, io::Error>>;
    type Dial = BoxFuture<'static, Result<LinkConn, io::Error>>;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Self::Error>> {
        self.inner.listen_on(id, addr).map_err(|e| e.map(io_err))?;
        self.listeners.push(id);
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.listeners.retain(|l| *l != id);
        self.inner.remove_listener(id)
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some(remote) = self.fabric.index_of(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        if self.fabric.partitioned(self.local, remote) {
            return Err(TransportError::Other(io::Error::new(io::ErrorKind::ConnectionRefused, "partitioned")));
        }
        let dial = self.inner.dial(addr, opts).map_err(|e| e.map(io_err))?;
        let (local, fabric) = (self.local, self.fabric.clone());
        Ok(async move {
            let channel = dial.await.map_err(io_err)?;
            let mut conn = LinkConn::new(channel, local, remote, fabric);
            conn.write_all(&local.to_be_bytes()).await?;
            Ok(conn)
        }
        .boxed())
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = self.get_mut();
        let event = ready!(Pin::new(&mut this.inner).poll(cx));
        let (local, fabric) = (this.local, this.fabric.clone());
        Poll::Ready(
            event
                .map_upgrade(move |upgrade| {
                    async move {
                        let mut channel = upgrade.await.map_err(io_err)?;
                        let mut preamble = [0u8; 4];
                        tokio::time::timeout(PREAMBLE_TIMEOUT, channel.read_exact(&mut preamble))
                            .await
                            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no preamble"))??;
                        let remote = u32::from_be_bytes(preamble);
                        if remote as usize >= fabric.nodes || fabric.partitioned(local, remote) {
                            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
                        }
                        Ok(LinkConn::new(channel, local, remote, fabric))
                    }
                    .boxed()
                })
                .map_err(io_err),
        )
    }
}

/// A chunk and the instant it is due at the other end.
type Chunk = (Instant, Vec<u8>);

/// One end of a modelled connection.
pub struct LinkConn {
    reader: ReadHalf<Channel<Vec<u8>>>,
    /// To this direction's pump; bounded by [`CHUNK_QUEUE`].
    tx: mpsc::Sender<Chunk>,
    local: u32,
    remote: u32,
    fabric: Arc<Fabric>,
    rng: SimRng,
    base_ms: f64,
    /// When the link finishes sending what is queued (bandwidth cap).
    free_at: Instant,
    /// Delivery time of the previous chunk (order is preserved).
    last_at: Instant,
}

impl std::fmt::Debug for LinkConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConn").field("local", &self.local).field("remote", &self.remote).finish()
    }
}

/// Connections opened so far, to give each its own random stream.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

impl LinkConn {
    fn new(channel: Channel<Vec<u8>>, local: u32, remote: u32, fabric: Arc<Fabric>) -> Self {
        let (reader, writer) = channel.split();
        let (tx, rx) = mpsc::channel(CHUNK_QUEUE - 1);
        tokio::spawn(pump(rx, writer, fabric.clone(), local, remote));
        let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let rng = SimRng::derive(fabric.seed, "conn", (u64::from(local) << 32) ^ u64::from(remote) ^ (n << 20));
        let base_ms = fabric.base_latency_ms(local, remote);
        let open = fabric.shared.conn_ends.fetch_add(1, Ordering::Relaxed) + 1;
        fabric.shared.conn_ends_peak.fetch_max(open, Ordering::Relaxed);
        let now = Instant::now();
        Self { reader, tx, local, remote, fabric, rng, base_ms, free_at: now, last_at: now }
    }

    /// The node at the other end.
    pub fn remote(&self) -> u32 {
        self.remote
    }

    /// When a chunk of `len` bytes written now reaches the other end.
    fn schedule(&mut self, len: usize, now: Instant) -> Instant {
        let model = self.fabric.model;
        let depart = if model.bandwidth_bps > 0 {
            let serialize = Duration::from_secs_f64(len as f64 * 8.0 / model.bandwidth_bps as f64);
            let d = self.free_at.max(now) + serialize;
            self.free_at = d;
            d
        } else {
            now
        };
        let mut delay = self.base_ms;
        if model.jitter_ms > 0.0 {
            delay += self.rng.range_f64(0.0, model.jitter_ms);
        }
        if self.rng.chance(model.loss) {
            delay += model.rto_ms;
        }
        let at = (depart + Duration::from_secs_f64(delay / 1000.0)).max(self.last_at);
        self.last_at = at;
        at
    }
}

impl Drop for LinkConn {
    fn drop(&mut self) {
        self.fabric.shared.conn_ends.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for LinkConn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.reader).poll_read(cx, buf))?;
        NodeStats::add(&this.fabric.stats(this.local).wire_in, n as u64);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for LinkConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.tx.poll_ready(cx)).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let at = this.schedule(buf.len(), Instant::now());
        this.tx.start_send((at, buf.to_vec())).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        NodeStats::add(&this.fabric.stats(this.local).wire_out, buf.len() as u64);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued chunks are on the wire as far as the writer is concerned.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The pump delivers what is queued, then closes its end.
        self.get_mut().tx.close_channel();
        Poll::Ready(Ok(()))
    }
}

/// Delivers one direction's chunks when they are due.
async fn pump(
    mut rx: mpsc::Receiver<Chunk>,
    mut writer: WriteHalf<Channel<Vec<u8>>>,
    fabric: Arc<Fabric>,
    local: u32,
    remote: u32,
) {
    let mut changes = fabric.changes.subscribe();
    while let Some((at, chunk)) = rx.next().await {
        while fabric.partitioned(local, remote) {
            if changes.changed().await.is_err() {
                return;
            }
        }
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
            let late = Instant::now().saturating_duration_since(at);
            fabric.shared.pump_lag.record_us(late.as_micros() as u64);
        }
        if writer.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = writer.close().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use libp2p::core::Endpoint;
    use libp2p::core::transport::PortUse;

    fn model(latency_ms: f64, loss: f64) -> LinkModel {
        LinkModel { latency_ms, latency_spread: 0.0, jitter_ms: 0.0, loss, rto_ms: 200.0, bandwidth_bps: 0 }
    }

    /// Dials node 1 from node 0 and returns both ends.
    async fn pair(fabric: &Arc<Fabric>) -> (LinkConn, LinkConn) {
        let mut a = LinkTransport::new(0, fabric.clone());
        let mut b = LinkTransport::new(1, fabric.clone());
        b.listen_on(ListenerId::next(), fabric.addr(1)).unwrap();
        let dial = a.dial(fabric.addr(1), DialOpts { role: Endpoint::Dialer, port_use: PortUse::New }).unwrap();
        let accept = async {
            loop {
                let ev = futures::future::poll_fn(|cx| Pin::new(&mut b).poll(cx)).await;
                if let TransportEvent::Incoming { upgrade, .. } = ev {
                    return upgrade.await.unwrap();
                }
            }
        };
        let (da, lb) = tokio::join!(dial, accept);
        (da.unwrap(), lb)
    }

    #[tokio::test(start_paused = true)]
    async fn latency_applies_and_order_is_kept() {
        let shared = Arc::new(Shared::new(2));
        let fabric = Fabric::new(1, model(30.0, 0.0), 2, shared);
        let (mut a, mut b) = pair(&fabric).await;
        assert_eq!(b.remote(), 0);
        let start = Instant::now();
        for i in 0..20u8 {
            a.write_all(&[i]).await.unwrap();
        }
        let mut got = [0u8; 20];
        b.read_exact(&mut got).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(got.to_vec(), (0..20u8).collect::<Vec<_>>());
        assert!(elapsed >= Duration::from_millis(30), "delivered after {elapsed:?}");
        assert_eq!(fabric.shared.nodes[0].wire_out.load(Ordering::Relaxed), 24);
    }

    #[test]
    fn loss_becomes_delay_not_corruption() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let shared = Arc::new(Shared::new(2));
            let fabric = Fabric::new(2, model(1.0, 1.0), 2, shared);
            let (mut a, mut b) = pair(&fabric).await;
            let now = Instant::now();
            // Every chunk is "lost" once: due after latency + RTO.
            let at = a.schedule(10, now);
            assert!(at >= now + Duration::from_millis(200));
            a.write_all(b"hello").await.unwrap();
            let mut got = [0u8; 5];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"hello");
        });
    }

    #[tokio::test(start_paused = true)]
    async fn partition_refuses_dials_and_holds_data_until_heal() {
        let shared = Arc::new(Shared::new(2));
        let fabric = Fabric::new(3, model(1.0, 0.0), 2, shared);
        let (mut a, mut b) = pair(&fabric).await;
        fabric.set_partition(Some(vec![0, 1]));
        assert!(fabric.partitioned(0, 1));
        let mut t = LinkTransport::new(0, fabric.clone());
        assert!(t.dial(fabric.addr(1), DialOpts { role: Endpoint::Dialer, port_use: PortUse::New }).is_err());
        a.write_all(b"x").await.unwrap();
        let mut got = [0u8; 1];
        let held = tokio::time::timeout(Duration::from_millis(100), b.read_exact(&mut got)).await;
        assert!(held.is_err(), "data crossed a partition");
        fabric.set_partition(None);
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"x");
    }

    #[test]
    fn a_dropped_transport_frees_its_port() {
        let shared = Arc::new(Shared::new(1));
        let fabric = Fabric::new(5, model(1.0, 0.0), 1, shared);
        let mut t = LinkTransport::new(0, fabric.clone());
        t.listen_on(ListenerId::next(), fabric.addr(0)).unwrap();
        drop(t);
        let mut again = LinkTransport::new(0, fabric.clone());
        again.listen_on(ListenerId::next(), fabric.addr(0)).unwrap();
    }

    #[test]
    fn link_latency_is_symmetric_and_within_spread() {
        let shared = Arc::new(Shared::new(10));
        let m = LinkModel { latency_spread: 0.1, ..model(50.0, 0.0) };
        let fabric = Fabric::new(4, m, 10, shared);
        for a in 0..10 {
            for b in 0..10 {
                let l = fabric.base_latency_ms(a, b);
                assert_eq!(l, fabric.base_latency_ms(b, a));
                assert!((45.0..=55.0).contains(&l));
            }
        }
    }
}
