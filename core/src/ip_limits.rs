//! Connection accounting per IP address, so nobody can knock a node off the
//! network by opening connections.
//!
//! libp2p's `connection_limits` caps totals only: one host can take every
//! pending and established slot, and then no neighbor gets in. These rules
//! add:
//! - per-IP caps on pending inbound handshakes and on established inbound
//!   connections. IPv4 counts per address. IPv6 counts per /64 prefix: a
//!   single host or home line is handed a whole /64 (SLAAC, privacy
//!   addresses), so it can pick from 2^64 source addresses and a per-address
//!   cap would not bind. Loopback is exempt (local tests, and a local
//!   attacker has easier ways in); IPv4-mapped IPv6 counts as IPv4.
//! - reserved slots: [`Limits::reserved_outbound`] slots only this node's
//!   own dials may use, and [`Limits::reserved_members`] slots strangers
//!   cannot take. A *stranger* is an inbound peer that has not yet joined
//!   the hood's gossip topic; joining it ([`IpLimits::joined_topic`]) is the
//!   proof of membership this layer sees (the pnet key of
//!   [`admission`](crate::admission) already kept out everyone without a
//!   ticket). So strangers hold at most
//!   `max_established − reserved_outbound − reserved_members` slots.
//! - eviction: an inbound stranger still not on the topic
//!   [`Limits::grace_ms`] after connecting is returned by
//!   [`IpLimits::tick`] for the caller to disconnect (and perhaps ban
//!   briefly). Honest nodes subscribe within a round trip of connecting.
//!
//! Connections without an IP (memory transport, relayed circuits, whose
//! remote IP would be the relay's) are counted in the totals but not per IP:
//! pass `None`. The relay limits its own circuits.
//!
//! A libp2p `NetworkBehaviour` calls [`IpLimits::try_pending`] from
//! `handle_pending_inbound_connection`, [`IpLimits::established`] from
//! `handle_established_{inbound,outbound}_connection`, [`IpLimits::closed`]
//! on `ConnectionClosed`, `ListenFailure` and `DialFailure` (it is
//! idempotent and releases whatever the connection held), and
//! [`IpLimits::joined_topic`] on a gossipsub `Subscribed` event.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};

/// Which side opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote dialed us.
    Inbound,
    /// We dialed the remote.
    Outbound,
}

/// What per-IP limits count by: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpKey {
    /// One IPv4 address.
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Net([u8; 8]),
}

impl IpKey {
    /// The key of `ip`; `None` for loopback, which per-IP caps exempt.
    pub fn of(ip: IpAddr) -> Option<Self> {
        let ip = ip.to_canonical();
        if ip.is_loopback() {
            return None;
        }
        Some(match ip {
            IpAddr::V4(v4) => IpKey::V4(v4),
            IpAddr::V6(v6) => {
                let mut net = [0u8; 8];
                net.copy_from_slice(&v6.octets()[..8]);
                IpKey::V6Net(net)
            }
        })
    }
}

/// Default most pending inbound handshakes per IP: a household behind one
/// address starts at most a couple at once; 4 leaves room for a retry.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 4;
/// Default most pending inbound handshakes in all: libp2p's limit in
/// `net::behaviour` today; a handshake holds Noise buffers until it ends.
pub const DEFAULT_MAX_PENDING: usize = 32;
/// Default most established inbound connections per IP: several neighbors
/// can share one address (a carrier-grade NAT, a building's network), each
/// with one or two connections.
pub const DEFAULT_MAX_ESTABLISHED_PER_IP: usize = 8;
/// Default most established connections: the node's `max_connections`.
pub const DEFAULT_MAX_ESTABLISHED: usize = 64;
/// Default slots for own dials: the dial budget's default, so a node can
/// always reach its own outbound peers.
pub const DEFAULT_RESERVED_OUTBOUND: usize = crate::dial_budget::DEFAULT_OUTBOUND_PEERS;
/// Default slots strangers cannot take: room for proven members to stay
/// connected while strangers fill the rest.
pub const DEFAULT_RESERVED_MEMBERS: usize = 24;
/// Default grace for an inbound peer to join the topic: gossipsub sends its
/// subscriptions right after the connection opens; a minute covers slow
/// links and a busy Raspberry Pi many times over.
pub const DEFAULT_GRACE_MS: u64 = 60_000;

/// The limits, checked by [`IpLimits::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most pending inbound handshakes per IP key.
    pub max_pending_per_ip: usize,
    /// Most pending inbound handshakes in all.
    pub max_pending: usize,
    /// Most established inbound connections per IP key.
    pub max_established_per_ip: usize,
    /// Most established connections in all.
    pub max_established: usize,
    /// Slots only own dials may take.
    pub reserved_outbound: usize,
    /// Slots inbound strangers may not take.
    pub reserved_members: usize,
    /// How long an inbound stranger may stay off the topic.
    pub grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_per_ip: DEFAULT_MAX_PENDING_PER_IP,
            max_pending: DEFAULT_MAX_PENDING,
            max_established_per_ip: DEFAULT_MAX_ESTABLISHED_PER_IP,
            max_established: DEFAULT_MAX_ESTABLISHED,
            reserved_outbound: DEFAULT_RESERVED_OUTBOUND,
            reserved_members: DEFAULT_RESERVED_MEMBERS,
            grace_ms: DEFAULT_GRACE_MS,
        }
    }
}

impl Limits {
    /// Slots inbound strangers may hold.
    pub fn strangers_cap(&self) -> usize {
        self.max_established.saturating_sub(self.reserved_outbound + self.reserved_members)
    }
}

/// Why limits could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// Reservations leave no slot for strangers: no one could ever join.
    #[error("reserved slots leave no room for new peers")]
    NoRoomForStrangers,
    /// A per-IP cap of zero refuses every remote.
    #[error("per-IP limits must be at least 1")]
    ZeroPerIp,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Too many handshakes from this IP (or /64) at once.
    #[error("too many pending connections from this address")]
    PendingPerIp,
    /// Too many handshakes at once.
    #[error("too many pending connections")]
    PendingFull,
    /// Too many connections from this IP (or /64).
    #[error("too many connections from this address")]
    EstablishedPerIp,
    /// Every slot strangers may hold is taken.
    #[error("no room for peers not yet in the hood")]
    StrangersFull,
    /// Every slot is taken (or reserved for own dials).
    #[error("connection limit reached")]
    ConnectionsFull,
}

impl Refused {
    /// Stable snake_case code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Refused::PendingPerIp => "pending_per_ip",
            Refused::PendingFull => "pending_full",
            Refused::EstablishedPerIp => "established_per_ip",
            Refused::StrangersFull => "strangers_full",
            Refused::ConnectionsFull => "connections_full",
        }
    }
}

/// One established connection.
#[derive(Debug, Clone)]
struct Conn<P> {
    peer: P,
    ip: Option<IpKey>,
    direction: Direction,
    /// The peer joined the topic (outbound connections need no proof).
    proven: bool,
    since: u64,
    /// Already returned by `tick`.
    evicting: bool,
}

/// Connection accounting over connection ids `C` and peer ids `P`. Its maps
/// hold at most `max_pending + max_established` connections.
#[derive(Debug, Clone)]
pub struct IpLimits<C, P> {
    limits: Limits,
    pending: HashMap<C, Option<IpKey>>,
    pending_per_ip: HashMap<IpKey, usize>,
    conns: HashMap<C, Conn<P>>,
    inbound_per_ip: HashMap<IpKey, usize>,
    strangers: usize,
    outbound: usize,
}

impl<C: Hash + Eq + Clone, P: Eq + Clone> IpLimits<C, P> {
    /// Accounting under `limits`, refusing limits that would lock everyone out.
    pub fn new(limits: Limits) -> Result<Self, LimitsError> {
        if limits.strangers_cap() == 0 {
            return Err(LimitsError::NoRoomForStrangers);
        }
        if limits.max_pending_per_ip == 0 || limits.max_established_per_ip == 0 {
            return Err(LimitsError::ZeroPerIp);
        }
        Ok(Self {
            limits,
            pending: HashMap::new(),
            pending_per_ip: HashMap::new(),
            conns: HashMap::new(),
            inbound_per_ip: HashMap::new(),
            strangers: 0,
            outbound: 0,
        })
    }

    /// An inbound handshake `conn` from `ip` wants to start.
    pub fn try_pending(&mut self, conn: C, ip: Option<IpAddr>) -> Result<(), Refused> {
        if self.pending.contains_key(&conn) {
            return Ok(());
        }
        if self.pending.len() >= self.limits.max_pending {
            return Err(Refused::PendingFull);
        }
        let key = ip.and_then(IpKey::of);
        if let Some(k) = key {
            let n = self.pending_per_ip.entry(k).or_insert(0);
            if *n >= self.limits.max_pending_per_ip {
                return Err(Refused::PendingPerIp);
            }
            *n += 1;
        }
        self.pending.insert(conn, key);
        Ok(())
    }

    /// Connection `conn` to `peer` finished its handshake; refused if it
    /// would break a limit (then nothing is held for it).
    pub fn established(
        &mut self,
        conn: C,
        peer: P,
        ip: Option<IpAddr>,
        direction: Direction,
        now: u64,
    ) -> Result<(), Refused> {
        self.release_pending(&conn);
        if self.conns.contains_key(&conn) {
            return Ok(());
        }
        let key = ip.and_then(IpKey::of);
        // A peer already proven on another connection needs no new proof.
        let proven = direction == Direction::Outbound || self.conns.values().any(|c| c.peer == peer && c.proven);
        if direction == Direction::Inbound {
            if key.is_some_and(|k| {
                self.inbound_per_ip.get(&k).copied().unwrap_or(0) >= self.limits.max_established_per_ip
            }) {
                return Err(Refused::EstablishedPerIp);
            }
            let outbound_left = self.limits.reserved_outbound.saturating_sub(self.outbound);
            if self.conns.len() + outbound_left >= self.limits.max_established {
                return Err(Refused::ConnectionsFull);
            }
            if !proven && self.strangers >= self.limits.strangers_cap() {
                return Err(Refused::StrangersFull);
            }
        } else if self.conns.len() >= self.limits.max_established {
            return Err(Refused::ConnectionsFull);
        }
        match direction {
            Direction::Outbound => self.outbound += 1,
            Direction::Inbound => {
                if let Some(k) = key {
                    *self.inbound_per_ip.entry(k).or_insert(0) += 1;
                }
                if !proven {
                    self.strangers += 1;
                }
            }
        }
        self.conns.insert(conn, Conn { peer, ip: key, direction, proven, since: now, evicting: false });
        Ok(())
    }

    /// Connection `conn` closed, failed or was denied; releases whatever it
    /// held. Idempotent.
    pub fn closed(&mut self, conn: &C) {
        self.release_pending(conn);
        let Some(c) = self.conns.remove(conn) else { return };
        match c.direction {
            Direction::Outbound => self.outbound -= 1,
            Direction::Inbound => {
                if let Some(k) = c.ip {
                    decrement(&mut self.inbound_per_ip, k);
                }
                if !c.proven {
                    self.strangers -= 1;
                }
            }
        }
    }

    /// `peer` joined the hood's topic: its connections are members' now.
    pub fn joined_topic(&mut self, peer: &P) {
        for c in self.conns.values_mut().filter(|c| &c.peer == peer && !c.proven) {
            c.proven = true;
            self.strangers -= 1;
        }
    }

    /// Inbound strangers past their grace: the peers to disconnect. Each is
    /// returned once per connection.
    pub fn tick(&mut self, now: u64) -> Vec<P> {
        let grace = self.limits.grace_ms;
        let mut evict: Vec<P> = Vec::new();
        for c in self.conns.values_mut() {
            if !c.proven && !c.evicting && now >= c.since.saturating_add(grace) {
                c.evicting = true;
                if !evict.contains(&c.peer) {
                    evict.push(c.peer.clone());
                }
            }
        }
        evict
    }

    /// Pending inbound handshakes.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Established connections.
    pub fn established_count(&self) -> usize {
        self.conns.len()
    }

    /// Established inbound connections from peers not yet on the topic.
    pub fn strangers(&self) -> usize {
        self.strangers
    }

    /// Established outbound connections.
    pub fn outbound(&self) -> usize {
        self.outbound
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn release_pending(&mut self, conn: &C) {
        if let Some(Some(k)) = self.pending.remove(conn) {
            decrement(&mut self.pending_per_ip, k);
        }
    }
}

/// Lowers a per-IP count, dropping the entry at zero so the map stays small.
fn decrement(map: &mut HashMap<IpKey, usize>, k: IpKey) {
    if let Some(n) = map.get_mut(&k) {
        *n -= 1;
        if *n == 0 {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
#[path = "ip_limits_tests.rs"]
mod tests;
