//! Per-IP caps, reservations and eviction, at exact counts.

use super::*;
use proptest::prelude::*;
use std::net::Ipv6Addr;

type Limited = IpLimits<u32, u32>;

fn v4(last: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
}

fn v6(net: u16, host: u16) -> Option<IpAddr> {
    Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, net, 0, 0, 0, host)))
}

fn small() -> Limits {
    Limits {
        max_pending_per_ip: 2,
        max_pending: 5,
        max_established_per_ip: 2,
        max_established: 10,
        reserved_outbound: 2,
        reserved_members: 3,
        grace_ms: 1000,
    }
}

fn limits(l: Limits) -> Limited {
    IpLimits::new(l).unwrap_or_else(|e| panic!("{e}"))
}

impl<C: Hash + Eq + Clone, P: Eq + Clone> IpLimits<C, P> {
    /// Recounts every counter from the connection maps.
    fn audit(&self) {
        let mut pending_per_ip: HashMap<IpKey, usize> = HashMap::new();
        for k in self.pending.values().flatten() {
            *pending_per_ip.entry(*k).or_default() += 1;
        }
        assert_eq!(pending_per_ip, self.pending_per_ip);
        let mut inbound_per_ip: HashMap<IpKey, usize> = HashMap::new();
        for c in self.conns.values().filter(|c| c.direction == Direction::Inbound) {
            if let Some(k) = c.ip {
                *inbound_per_ip.entry(k).or_default() += 1;
            }
        }
        assert_eq!(inbound_per_ip, self.inbound_per_ip);
        let strangers = self.conns.values().filter(|c| !c.proven).count();
        assert_eq!(strangers, self.strangers);
        let outbound = self.conns.values().filter(|c| c.direction == Direction::Outbound).count();
        assert_eq!(outbound, self.outbound);
    }
}

#[test]
fn ipv6_counts_per_64_ipv4_per_address_loopback_is_exempt() {
    assert_eq!(IpKey::of(v6(1, 1).unwrap_or_else(|| panic!())), IpKey::of(v6(1, 2).unwrap_or_else(|| panic!())));
    assert_ne!(IpKey::of(v6(1, 1).unwrap_or_else(|| panic!())), IpKey::of(v6(2, 1).unwrap_or_else(|| panic!())));
    assert_ne!(IpKey::of(v4(1).unwrap_or_else(|| panic!())), IpKey::of(v4(2).unwrap_or_else(|| panic!())));
    let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 1).to_ipv6_mapped());
    assert_eq!(IpKey::of(mapped), IpKey::of(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1))));
    assert_eq!(IpKey::of(IpAddr::V4(Ipv4Addr::LOCALHOST)), None);
    assert_eq!(IpKey::of(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
}

#[test]
fn pending_handshakes_are_capped_per_ip_and_per_64() {
    let mut l = limits(small());
    assert_eq!(l.try_pending(1, v6(1, 1)), Ok(()));
    assert_eq!(l.try_pending(2, v6(1, 2)), Ok(()));
    assert_eq!(l.try_pending(3, v6(1, 3)), Err(Refused::PendingPerIp), "same /64, other host");
    assert_eq!(l.try_pending(3, v6(2, 1)), Ok(()), "another /64 is another key");
    l.closed(&1);
    assert_eq!(l.try_pending(4, v6(1, 3)), Ok(()), "a finished handshake frees its slot");
    assert_eq!(l.try_pending(5, v4(9)), Ok(()));
    assert_eq!(l.try_pending(6, v4(10)), Ok(()));
    assert_eq!(l.try_pending(10, v4(11)), Err(Refused::PendingFull));
    // Loopback is exempt per IP but still counted in all.
    l.closed(&5);
    l.closed(&4);
    assert_eq!(l.try_pending(7, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))), Ok(()));
    assert_eq!(l.try_pending(8, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))), Ok(()));
    assert_eq!(l.try_pending(9, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))), Err(Refused::PendingFull));
    l.audit();
    assert_eq!(Refused::PendingPerIp.code(), "pending_per_ip");
}

#[test]
fn established_inbound_is_capped_per_ip_and_releases_the_pending_slot() {
    let mut l = limits(small());
    for c in 0..2 {
        assert_eq!(l.try_pending(c, v4(1)), Ok(()));
        assert_eq!(l.established(c, c, v4(1), Direction::Inbound, 0), Ok(()));
    }
    assert_eq!(l.pending(), 0);
    assert_eq!(l.try_pending(2, v4(1)), Ok(()), "pending is free again");
    assert_eq!(l.established(2, 2, v4(1), Direction::Inbound, 0), Err(Refused::EstablishedPerIp));
    assert_eq!(l.pending(), 0, "a refused connection holds nothing");
    // Outbound connections to the same address are our choice, not counted per IP.
    assert_eq!(l.established(3, 3, v4(1), Direction::Outbound, 0), Ok(()));
    assert_eq!(l.established(4, 4, v4(2), Direction::Inbound, 0), Ok(()), "positive control: another IP");
    l.audit();
}

#[test]
fn strangers_cannot_take_reserved_slots() {
    // 10 slots: 2 for own dials, 3 strangers cannot take, so 5 for strangers.
    let mut l = limits(small());
    assert_eq!(small().strangers_cap(), 5);
    for c in 0..5 {
        assert_eq!(l.established(c, c, v4(c as u8), Direction::Inbound, 0), Ok(()));
    }
    assert_eq!(l.established(5, 5, v4(5), Direction::Inbound, 0), Err(Refused::StrangersFull));
    // A stranger that joins the topic frees a stranger slot.
    l.joined_topic(&0);
    assert_eq!(l.strangers(), 4);
    assert_eq!(l.established(5, 5, v4(5), Direction::Inbound, 0), Ok(()));
    // A proven peer's second connection is no stranger.
    assert_eq!(l.established(6, 0, v4(0), Direction::Inbound, 0), Ok(()));
    assert_eq!(l.strangers(), 5);
    l.joined_topic(&1);
    assert_eq!(l.established(7, 1, v4(1), Direction::Inbound, 0), Ok(()));
    // 8 held; the last 2 are reserved for own dials, so inbound members are refused.
    assert_eq!(l.established(8, 1, v4(1), Direction::Inbound, 0), Err(Refused::EstablishedPerIp));
    assert_eq!(l.established(8, 0, v4(20), Direction::Inbound, 0), Err(Refused::ConnectionsFull));
    assert_eq!(l.established(8, 8, v4(8), Direction::Outbound, 0), Ok(()));
    assert_eq!(l.established(9, 9, v4(9), Direction::Outbound, 0), Ok(()));
    assert_eq!(l.established(10, 10, v4(10), Direction::Outbound, 0), Err(Refused::ConnectionsFull));
    assert_eq!(l.established_count(), 10);
    l.audit();
    assert_eq!(Refused::StrangersFull.code(), "strangers_full");
}

#[test]
fn strangers_off_the_topic_are_evicted_after_the_grace_once() {
    let mut l = limits(small());
    assert_eq!(l.established(1, 100, v4(1), Direction::Inbound, 0), Ok(()));
    assert_eq!(l.established(2, 200, v4(2), Direction::Inbound, 0), Ok(()));
    assert_eq!(l.established(3, 300, v4(3), Direction::Outbound, 0), Ok(()));
    assert!(l.tick(999).is_empty(), "within the grace");
    l.joined_topic(&200);
    assert_eq!(l.tick(1000), vec![100], "only the stranger, at the exact instant");
    assert!(l.tick(5000).is_empty(), "returned once");
    l.closed(&1);
    assert_eq!(l.strangers(), 0);
    l.audit();
}

#[test]
fn bad_limits_are_refused() {
    let no_room = Limits { reserved_outbound: 5, reserved_members: 5, ..small() };
    assert_eq!(IpLimits::<u32, u32>::new(no_room).err(), Some(LimitsError::NoRoomForStrangers));
    let zero = Limits { max_established_per_ip: 0, ..small() };
    assert_eq!(IpLimits::<u32, u32>::new(zero).err(), Some(LimitsError::ZeroPerIp));
    assert!(IpLimits::<u32, u32>::new(Limits::default()).is_ok());
}

fn addr(i: u8) -> Option<IpAddr> {
    match i % 6 {
        0 => v4(1),
        1 => v4(2),
        2 => v6(1, u16::from(i)),
        3 => v6(2, 1),
        4 => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => None,
    }
}

proptest! {
    #[test]
    fn counts_never_exceed_caps_and_return_to_zero(
        ops in proptest::collection::vec((0u8..6, 0u32..24, 0u32..6, any::<u8>()), 1..300),
    ) {
        let lim = small();
        let mut l = limits(lim);
        let mut now = 0;
        for (op, conn, peer, ip) in ops {
            now += 100;
            match op {
                0 => { let _ = l.try_pending(conn, addr(ip)); }
                1 => { let _ = l.established(conn, peer, addr(ip), Direction::Inbound, now); }
                2 => { let _ = l.established(conn, peer, addr(ip), Direction::Outbound, now); }
                3 => l.closed(&conn),
                4 => l.joined_topic(&peer),
                _ => { l.tick(now); }
            }
            l.audit();
            prop_assert!(l.pending() <= lim.max_pending);
            prop_assert!(l.pending_per_ip.values().all(|n| *n <= lim.max_pending_per_ip));
            prop_assert!(l.inbound_per_ip.values().all(|n| *n <= lim.max_established_per_ip));
            prop_assert!(l.established_count() <= lim.max_established);
            prop_assert!(l.strangers() <= lim.strangers_cap());
        }
        for conn in 0..24 {
            l.closed(&conn);
        }
        l.audit();
        prop_assert_eq!((l.pending(), l.established_count(), l.strangers(), l.outbound()), (0, 0, 0, 0));
        prop_assert!(l.pending_per_ip.is_empty() && l.inbound_per_ip.is_empty());
    }
}
