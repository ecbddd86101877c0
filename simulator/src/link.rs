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
//! link and can count bytes per node; the top bit says the dial came from
//! an ephemeral port rather than the dialer's listen port.
//!
//! With a NAT model ([`crate::nat`]) every dial first goes through the
//! remote's router (the SYN's flight, dropped SYNs retransmitted, a
//! timeout when none is let in), and a listener announces an inbound
//! connection only once the preamble names the dialer, with the address it
//! comes from: the dialer's listen address when it dialed with port reuse
//! (as a TCP peer sees it), an ephemeral one otherwise. identify reports
//! that address back, so DCUtR and AutoNAT work on the addresses they
//! would on TCP. Without a NAT model the shim behaves as it always did.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Instant;

use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::io::{ReadHalf, WriteHalf};
use futures::stream::FuturesUnordered;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, StreamExt};
use libp2p::Multiaddr;
use libp2p::core::Endpoint;
use libp2p::core::transport::memory::Channel;
use libp2p::core::transport::{DialOpts, ListenerId, MemoryTransport, Transport, TransportError, TransportEvent};
use libp2p::multiaddr::Protocol;
use tokio::sync::watch;

use crate::nat::{self, DialKind, Nat, SourcePort};
use crate::rng::SimRng;
use crate::stats::{NodeStats, Shared};

/// Chunks waiting in one direction of one connection before the writer has
/// to wait (backpressure, like a full socket buffer). Noise writes at most
/// one 64 KiB frame per chunk, so this bounds a direction at 2 MiB.
pub const CHUNK_QUEUE: usize = 32;

/// How long a listener waits for the dialer's preamble.
const PREAMBLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Preamble bit: the dialer dialed from an ephemeral port. Node indices
/// stay far below it (scenarios have at most 5,000 nodes).
const EPHEMERAL_BIT: u32 = 1 << 31;

/// Inbound connections of one node waiting for their preamble (NAT model
/// only), like the kernel's SYN backlog (`tcp_max_syn_backlog` is 128 to
/// 1,024): beyond it new ones are dropped. Each waits at most
/// [`PREAMBLE_TIMEOUT`], and a node holds at most 64 connections.
pub const MAX_PENDING_INBOUND: usize = 256;

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
    /// The NAT model, if the scenario has one.
    nat: Option<Nat>,
    /// Live connection ends by (holder, remote): which node pairs have a
    /// direct link. Bounded by the nodes' connection limits.
    ends: Mutex<HashMap<(u32, u32), u32>>,
    /// Run statistics.
    pub shared: Arc<Shared>,
}

impl Fabric {
    /// A network of `nodes` nodes, all public.
    pub fn new(seed: u64, model: LinkModel, nodes: usize, shared: Arc<Shared>) -> Arc<Self> {
        Self::with_nat(seed, model, nodes, shared, None)
    }

    /// A network of `nodes` nodes; with `nat`, node `i` is behind NAT when
    /// `nat[i]` is true.
    pub fn with_nat(
        seed: u64,
        model: LinkModel,
        nodes: usize,
        shared: Arc<Shared>,
        nat: Option<Vec<bool>>,
    ) -> Arc<Self> {
        let port_base = NEXT_PORT.fetch_add(nodes as u64 + 1, Ordering::Relaxed);
        let (changes, _) = watch::channel(0);
        Arc::new(Self {
            seed,
            model,
            port_base,
            nodes,
            partition: RwLock::new(None),
            changes,
            nat: nat.map(Nat::new),
            ends: Mutex::new(HashMap::new()),
            shared,
        })
    }

    /// The NAT model, if any.
    pub fn nat(&self) -> Option<&Nat> {
        self.nat.as_ref()
    }

    /// Whether `a` holds a direct connection (established or in its
    /// handshake) to `b`.
    pub fn direct(&self, a: u32, b: u32) -> bool {
        self.ends.lock().unwrap_or_else(|p| p.into_inner()).get(&(a, b)).is_some_and(|n| *n > 0)
    }

    fn count_end(&self, local: u32, remote: u32, opened: bool) {
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        if opened {
            *ends.entry((local, remote)).or_insert(0) += 1;
        } else if let Some(n) = ends.get_mut(&(local, remote)) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                ends.remove(&(local, remote));
            }
        }
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

/// An inbound connection once its preamble named the dialer.
type Arrived = Option<(ListenerId, Multiaddr, Multiaddr, LinkConn)>;

/// The shim transport of node `local`.
pub struct LinkTransport {
    inner: MemoryTransport,
    local: u32,
    fabric: Arc<Fabric>,
    /// Listeners to remove on drop (one per listen address, so tiny).
    listeners: Vec<ListenerId>,
    /// NAT model only: inbound connections reading their preamble before
    /// they are announced; bounded by [`MAX_PENDING_INBOUND`].
    arriving: FuturesUnordered<BoxFuture<'static, Arrived>>,
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
        Self {
            inner: MemoryTransport::default(),
            local,
            fabric,
            listeners: Vec::new(),
            arriving: FuturesUnordered::new(),
        }
    }
}

/// Reads the dialer's preamble: its index and where it dialed from.
async fn read_preamble(channel: &mut Channel<Vec<u8>>) -> io::Result<(u32, SourcePort)> {
    let mut preamble = [0u8; 4];
    tokio::time::timeout(PREAMBLE_TIMEOUT, channel.read_exact(&mut preamble))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no preamble"))??;
    let word = u32::from_be_bytes(preamble);
    let port = if word & EPHEMERAL_BIT != 0 { SourcePort::Ephemeral } else { SourcePort::Listen };
    Ok((word & !EPHEMERAL_BIT, port))
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
        let port = SourcePort::of(opts.port_use);
        let preamble = match port {
            SourcePort::Listen => self.local,
            SourcePort::Ephemeral => self.local | EPHEMERAL_BIT,
        };
        let (local, fabric) = (self.local, self.fabric.clone());
        let Some(nat) = fabric.nat() else {
            let dial = self.inner.dial(addr, opts).map_err(|e| e.map(io_err))?;
            return Ok(async move {
                let channel = dial.await.map_err(io_err)?;
                let mut conn = LinkConn::new(channel, local, remote, fabric);
                conn.write_all(&preamble.to_be_bytes()).await?;
                Ok(conn)
            }
            .boxed());
        };
        // The SYN leaves now: this node's router maps it at once.
        let t0 = Instant::now();
        nat.dialed(local, remote, port, t0);
        // DCUtR's side that dials with the listener role is the punch.
        let kind = match (opts.role, port) {
            (_, SourcePort::Ephemeral) => DialKind::Ephemeral,
            (Endpoint::Listener, _) => DialKind::Punch,
            (Endpoint::Dialer, _) => DialKind::Reuse,
        };
        let one_way = Duration::from_secs_f64(fabric.base_latency_ms(local, remote) / 1000.0);
        Ok(async move {
            let Some(nat) = fabric.nat() else { return Err(io_err("no NAT model")) };
            nat::admit(nat, local, remote, port, kind, t0, one_way).await?;
            // Let in: connect now (`MemoryTransport` keeps no state for dials).
            let dial = MemoryTransport::default().dial(addr, opts).map_err(io_err)?;
            let channel = dial.await.map_err(io_err)?;
            let mut conn = LinkConn::new(channel, local, remote, fabric);
            conn.write_all(&preamble.to_be_bytes()).await?;
            Ok(conn)
        }
        .boxed())
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = self.get_mut();
        loop {
            // Inbound connections whose preamble arrived (NAT model only).
            if let Poll::Ready(Some(arrived)) = this.arriving.poll_next_unpin(cx) {
                if let Some((listener_id, local_addr, send_back_addr, conn)) = arrived {
                    let upgrade = futures::future::ready(Ok(conn)).boxed();
                    return Poll::Ready(TransportEvent::Incoming { listener_id, upgrade, local_addr, send_back_addr });
                }
                continue;
            }
            let event = ready!(Pin::new(&mut this.inner).poll(cx));
            let (local, fabric) = (this.local, this.fabric.clone());
            if fabric.nat().is_some()
                && let TransportEvent::Incoming { listener_id, upgrade, local_addr, send_back_addr } = event
            {
                if this.arriving.len() < MAX_PENDING_INBOUND {
                    this.arriving.push(arrive(upgrade, listener_id, local_addr, send_back_addr, local, fabric));
                }
                continue;
            }
            return Poll::Ready(
                event
                    .map_upgrade(move |upgrade| {
                        async move {
                            let mut channel = upgrade.await.map_err(io_err)?;
                            let (remote, _) = read_preamble(&mut channel).await?;
                            if remote as usize >= fabric.nodes || fabric.partitioned(local, remote) {
                                return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
                            }
                            Ok(LinkConn::new(channel, local, remote, fabric))
                        }
                        .boxed()
                    })
                    .map_err(io_err),
            );
        }
    }
}

/// An inbound connection under the NAT model: announced once its preamble
/// names the dialer, from the dialer's listen address when it dialed with
/// port reuse (what a TCP listener sees), else from the memory transport's
/// ephemeral one. `None` when it never says or is refused.
fn arrive(
    upgrade: <MemoryTransport as Transport>::ListenerUpgrade,
    listener_id: ListenerId,
    local_addr: Multiaddr,
    ephemeral: Multiaddr,
    local: u32,
    fabric: Arc<Fabric>,
) -> BoxFuture<'static, Arrived> {
    async move {
        let mut channel = upgrade.await.ok()?;
        let (remote, port) = read_preamble(&mut channel).await.ok()?;
        if remote as usize >= fabric.nodes || fabric.partitioned(local, remote) {
            return None;
        }
        let send_back_addr = match port {
            SourcePort::Listen => fabric.addr(remote as usize),
            SourcePort::Ephemeral => ephemeral,
        };
        Some((listener_id, local_addr, send_back_addr, LinkConn::new(channel, local, remote, fabric)))
    }
    .boxed()
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
        fabric.count_end(local, remote, true);
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
        self.fabric.count_end(self.local, self.remote, false);
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
mod tests;
