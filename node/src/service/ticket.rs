//! Invite tickets: what a member hands a new neighbor (text or QR). A ticket
//! carries the signed charter, the signed invite, the invite's one-time
//! secret, the hood secret (the key to the network, PROTOCOL.md
//! "Admission") and addresses to reach the hood, signed by the inviter. It
//! is never gossiped.
//!
//! Version 2 (`stoop2:`) signs the address list; a version 1 ticket had an
//! unsigned, uncapped list that anyone relaying the ticket could fill with
//! decoys, and is refused with a message saying to ask for a new one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use prost::Message;
use stoop_proto::v1 as pb;

use crate::core::admission::HoodSecret;
use crate::core::bootstrap::{AddrsError, SignedAddrs, shuffle};
use crate::core::charter::SignedCharter;
use crate::core::envelope::{Envelope, Kind};
use crate::core::keys::AuthorKey;

/// Text prefix of an encoded ticket (versioned).
pub const TICKET_PREFIX: &str = "stoop2:";
/// Prefix of the retired version 1 tickets, recognised to say so.
const OLD_PREFIX: &str = "stoop1:";
/// Longest ticket text accepted: room for a maximum-size charter (16 KiB)
/// plus the invite, after base64's 4/3 growth.
const MAX_TICKET_LEN: usize = 32 * 1024;

/// Why a ticket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Not a ticket at all, or damaged in copying.
    #[error("not a Stoop ticket (it should start with {TICKET_PREFIX} and be copied whole)")]
    Malformed,
    /// A version 1 ticket.
    #[error("this is an old {OLD_PREFIX} ticket, which this version no longer accepts: ask for a new invite")]
    Outdated,
    /// The charter inside does not verify.
    #[error("the ticket's charter is invalid: {0}")]
    Charter(#[from] crate::core::charter::CharterError),
    /// The invite inside does not verify or is not an invite.
    #[error("the ticket's invite is invalid: {0}")]
    Invite(String),
    /// The address list's signature does not verify: the ticket was changed
    /// after the inviter made it.
    #[error("the ticket was altered after it was made ({}): ask the inviter for a new one", .0.code())]
    Addrs(#[from] AddrsError),
    /// The hood secret is not 32 bytes.
    #[error("the ticket's hood secret is malformed")]
    HoodSecret,
}

impl TicketError {
    /// Stable snake_case code for logs and the API.
    pub fn code(&self) -> &'static str {
        match self {
            TicketError::Malformed => "malformed_ticket",
            TicketError::Outdated => "outdated_ticket",
            TicketError::Charter(_) => "bad_ticket_charter",
            TicketError::Invite(_) => "bad_ticket_invite",
            TicketError::Addrs(e) => e.code(),
            TicketError::HoodSecret => "malformed_hood_secret",
        }
    }
}

/// A decoded, checked ticket.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The hood's charter.
    pub charter: SignedCharter,
    /// The signed invite.
    pub invite: Envelope,
    /// The invite's one-time secret key.
    pub secret: AuthorKey,
    /// The hood's network secret; `None` from a node run with
    /// `admission = "open"`.
    pub hood_secret: Option<HoodSecret>,
    /// Addresses to dial, signed by the invite's issuer.
    pub bootstrap: SignedAddrs,
}

impl Ticket {
    /// Text form.
    pub fn encode(&self) -> String {
        let p = pb::Ticket {
            charter: Some(self.charter.to_proto()),
            invite: self.invite.to_bytes(),
            ticket_secret: self.secret.secret_bytes().to_vec(),
            hood_secret: self.hood_secret.as_ref().map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
            addrs: self.bootstrap.addrs().to_vec(),
            addrs_signature: self.bootstrap.signature().to_vec(),
        };
        format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode(p.encode_to_vec()))
    }

    /// Parses and checks a ticket's text form, the address list's signature
    /// included.
    pub fn decode(text: &str) -> Result<Self, TicketError> {
        let text = text.trim();
        if text.len() > MAX_TICKET_LEN {
            return Err(TicketError::Malformed);
        }
        if text.starts_with(OLD_PREFIX) {
            return Err(TicketError::Outdated);
        }
        let body = text.strip_prefix(TICKET_PREFIX).ok_or(TicketError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| TicketError::Malformed)?;
        let p = pb::Ticket::decode(bytes.as_slice()).map_err(|_| TicketError::Malformed)?;
        let charter = SignedCharter::from_proto(p.charter.as_ref().ok_or(TicketError::Malformed)?)?;
        let invite = Envelope::open(&p.invite).map_err(|e| TicketError::Invite(e.to_string()))?;
        if invite.kind() != Kind::Invite {
            return Err(TicketError::Invite("not an invite".into()));
        }
        let secret = AuthorKey::from_secret_slice(&p.ticket_secret).map_err(|_| TicketError::Malformed)?;
        let hood_secret = match p.hood_secret.as_slice() {
            [] => None,
            b => Some(HoodSecret::from_slice(b).map_err(|_| TicketError::HoodSecret)?),
        };
        let bootstrap = SignedAddrs::from_parts(p.addrs, &p.addrs_signature)?;
        bootstrap.verify(&invite.signer(), &invite.id())?;
        Ok(Self { charter, invite, secret, hood_secret, bootstrap })
    }

    /// The addresses a joiner dials: the verified list (at most
    /// `MAX_TICKET_ADDRS`), unparsable entries dropped, in an order
    /// shuffled with `next_u64` so joiners spread their first dials.
    pub fn dial_addrs(&self, next_u64: &mut impl FnMut() -> u64) -> Result<Vec<Multiaddr>, TicketError> {
        let raw = self.bootstrap.verify(&self.invite.signer(), &self.invite.id())?;
        let mut addrs: Vec<Multiaddr> = raw.into_iter().filter_map(|b| Multiaddr::try_from(b).ok()).collect();
        shuffle(&mut addrs, next_u64);
        Ok(addrs)
    }
}

/// What a node needs to hand out tickets: its author key (to sign the
/// address list, the key that signs its invites), the hood secret and its
/// peer id.
#[derive(Clone)]
pub struct Issuer {
    author: AuthorKey,
    hood_secret: Option<HoodSecret>,
    peer_id: PeerId,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither key may reach a log.
        f.debug_struct("Issuer").field("peer_id", &self.peer_id).finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer signing with `author` (the node's author key).
    pub fn new(author: AuthorKey, hood_secret: Option<HoodSecret>, peer_id: PeerId) -> Self {
        Self { author, hood_secret, peer_id }
    }

    /// The ticket for `invite` (signed by this node's author key), pointing
    /// at `addrs` (see [`TicketAddrs`] for which come first).
    pub fn ticket(&self, charter: SignedCharter, invite: Envelope, secret: AuthorKey, addrs: &TicketAddrs) -> Ticket {
        let addrs = ticket_addrs(addrs, self.peer_id);
        let bootstrap = SignedAddrs::sign(&self.author, &invite.id(), addrs, &mut os_random);
        Ticket { charter, invite, secret, hood_secret: self.hood_secret.clone(), bootstrap }
    }
}

/// What a node knows of the ways to reach it and its hood, by kind.
#[derive(Debug, Clone, Default)]
pub struct TicketAddrs {
    /// This node's addresses confirmed reachable from other networks
    /// (configured, UPnP, dial-back), then its relay circuit addresses.
    pub reachable: Vec<Multiaddr>,
    /// Other members confirmed reachable, each ending with its `/p2p/` id.
    pub others: Vec<Multiaddr>,
    /// This node's listen addresses (LAN, loopback, unspecified).
    pub listen: Vec<Multiaddr>,
}

/// The ticket's addresses, in priority order (the signed list keeps the
/// first [`MAX_TICKET_ADDRS`](crate::core::bootstrap::MAX_TICKET_ADDRS)):
/// this node's reachable addresses, other reachable members, this node's
/// LAN addresses (a neighbor on the same LAN), and loopback only when
/// nothing else exists (the one-machine quick start). Own addresses get
/// `/p2p/peer` once (`with_p2p`; a circuit address may already end with
/// it); unspecified and IPv6 link-local addresses are dropped (a link-local
/// address needs the dialer's interface as its zone, which a multiaddr
/// cannot carry, so nobody could dial it from a ticket).
pub fn ticket_addrs(addrs: &TicketAddrs, peer: PeerId) -> Vec<Vec<u8>> {
    let unspecified = |a: &Multiaddr| {
        a.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified() || ip.is_unicast_link_local(),
            _ => false,
        })
    };
    let loopback = |a: &Multiaddr| {
        a.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_loopback(),
            Protocol::Ip6(ip) => ip.is_loopback(),
            _ => false,
        })
    };
    let own = |a: &Multiaddr| a.clone().with_p2p(peer).ok();
    let mut listen: Vec<&Multiaddr> = addrs.listen.iter().filter(|a| !unspecified(a)).collect();
    // A LAN neighbor can always dial IPv4; a host's several IPv6 addresses
    // (global, temporary, ULA) must not push it out of the capped list.
    listen.sort_by_key(|a| matches!(a.iter().next(), Some(Protocol::Ip6(_))));
    let mut out: Vec<Multiaddr> = addrs.reachable.iter().filter(|a| !unspecified(a)).filter_map(own).collect();
    out.extend(addrs.others.iter().filter(|a| matches!(a.iter().last(), Some(Protocol::P2p(p)) if p != peer)).cloned());
    out.extend(listen.iter().filter(|a| !loopback(a)).filter_map(|a| own(a)));
    if out.is_empty() {
        out.extend(listen.iter().filter_map(|a| own(a)));
    }
    let mut seen = Vec::with_capacity(out.len());
    for a in out {
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    seen.into_iter().map(|a| a.to_vec()).collect()
}

/// Randomness for shuffling address lists; a failing source leaves the
/// order as it is (shuffling spreads load, it is not a secret).
pub fn os_random() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bootstrap::MAX_TICKET_ADDRS;
    use stoop_core::testkit::HoodFixture;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn ticket(listen: &[Multiaddr]) -> Result<(Ticket, PeerId), Box<dyn std::error::Error>> {
        let f = HoodFixture::new(1, 1)?;
        let (invite, secret) = f.invite(&f.founders[0], 10, 1000)?;
        let peer = PeerId::random();
        let issuer = Issuer::new(f.founders[0].clone(), Some(HoodSecret::from_bytes([9; 32])), peer);
        let addrs = TicketAddrs { listen: listen.to_vec(), ..TicketAddrs::default() };
        Ok((issuer.ticket(f.charter.clone(), invite, secret, &addrs), peer))
    }

    fn reencode(t: &Ticket, edit: impl FnOnce(&mut pb::Ticket)) -> String {
        let body = t.encode();
        let bytes = URL_SAFE_NO_PAD.decode(&body[TICKET_PREFIX.len()..]).unwrap_or_default();
        let mut p = pb::Ticket::decode(bytes.as_slice()).unwrap_or_default();
        edit(&mut p);
        format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode(p.encode_to_vec()))
    }

    #[test]
    fn round_trip_and_damage() -> TestResult {
        let (t, peer) = ticket(&["/ip4/127.0.0.1/tcp/1".parse()?, "/ip4/0.0.0.0/tcp/1".parse()?])?;
        let text = t.encode();
        let back = Ticket::decode(&text)?;
        assert_eq!(back.charter.hood(), t.charter.hood());
        assert_eq!(back.hood_secret, t.hood_secret);
        let want: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}").parse()?;
        assert_eq!(back.dial_addrs(&mut os_random)?, vec![want], "unspecified dropped, /p2p added once");
        assert!(Ticket::decode(&text[..text.len() - 5]).is_err());
        assert!(matches!(Ticket::decode("hello"), Err(TicketError::Malformed)));
        Ok(())
    }

    #[test]
    fn an_old_ticket_is_refused_with_its_own_message() {
        let err = Ticket::decode("stoop1:AAAA").err();
        assert!(matches!(err, Some(TicketError::Outdated)), "{err:?}");
        assert!(err.map(|e| e.to_string()).unwrap_or_default().contains("new invite"));
    }

    #[test]
    fn decoys_added_to_a_ticket_break_its_signature() -> TestResult {
        let (t, _) = ticket(&["/ip4/127.0.0.1/tcp/1".parse()?])?;
        let tampered = reencode(&t, |p| {
            let decoys: Vec<Vec<u8>> = (0..8)
                .map(|i| {
                    format!("/ip4/203.0.113.{i}/tcp/4011").parse::<Multiaddr>().map(|a| a.to_vec()).unwrap_or_default()
                })
                .collect();
            p.addrs.splice(0..0, decoys);
        });
        let err = Ticket::decode(&tampered).err();
        assert!(matches!(err, Some(TicketError::Addrs(AddrsError::BadSignature))), "{err:?}");
        // Positive control: the untouched ticket decodes.
        assert!(Ticket::decode(&reencode(&t, |_| {})).is_ok());
        Ok(())
    }

    #[test]
    fn a_long_listen_list_is_capped() -> TestResult {
        let listen: Vec<Multiaddr> = (0..700u32)
            .map(|i| format!("/ip4/10.{}.{}.1/tcp/4011", i / 256, i % 256).parse())
            .collect::<Result<_, _>>()?;
        let (t, _) = ticket(&listen)?;
        assert_eq!(t.bootstrap.addrs().len(), MAX_TICKET_ADDRS);
        assert_eq!(Ticket::decode(&t.encode())?.dial_addrs(&mut os_random)?.len(), MAX_TICKET_ADDRS);
        Ok(())
    }

    #[test]
    fn a_relayed_address_gets_one_p2p_suffix() -> TestResult {
        let relay = PeerId::random();
        let peer = PeerId::random();
        let circuit: Multiaddr = format!("/ip4/198.51.100.1/tcp/4011/p2p/{relay}/p2p-circuit/p2p/{peer}").parse()?;
        let plain: Multiaddr = format!("/ip4/198.51.100.1/tcp/4011/p2p/{relay}/p2p-circuit").parse()?;
        for a in [circuit.clone(), plain] {
            let got = ticket_addrs(&TicketAddrs { reachable: vec![a], ..TicketAddrs::default() }, peer);
            assert_eq!(got, vec![circuit.to_vec()]);
        }
        Ok(())
    }

    #[test]
    fn ipv6_link_local_is_left_out_and_ipv4_lan_comes_before_ipv6() -> TestResult {
        let peer = PeerId::random();
        let listen: Vec<Multiaddr> = ["/ip6/fe80::1/tcp/4011", "/ip6/2001:db8::7/tcp/4011", "/ip6/::1/tcp/4011"]
            .into_iter()
            .chain((0..7).map(|_| "/ip6/fd00::7/tcp/4011"))
            .chain(["/ip4/192.168.1.10/tcp/4011", "/ip6/::/tcp/4011"])
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let got = ticket_addrs(&TicketAddrs { listen, ..TicketAddrs::default() }, peer);
        let want: Vec<Vec<u8>> = ["/ip4/192.168.1.10/tcp/4011", "/ip6/2001:db8::7/tcp/4011", "/ip6/fd00::7/tcp/4011"]
            .into_iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .map_err(|e| e.to_string())?
                    .with_p2p(peer)
                    .map(|a| a.to_vec())
                    .map_err(|_| "p2p".to_owned())
            })
            .collect::<Result<_, _>>()?;
        assert_eq!(got, want, "no link-local, loopback or unspecified; IPv4 first; duplicates once");
        Ok(())
    }

    #[test]
    fn reachable_addresses_come_first_and_loopback_only_when_alone() -> TestResult {
        let peer = PeerId::random();
        let other = PeerId::random();
        let public: Multiaddr = "/dns4/home.example.org/tcp/4011".parse()?;
        let member: Multiaddr = format!("/ip4/10.9.0.2/tcp/4011/p2p/{other}").parse()?;
        let lan: Multiaddr = "/ip4/192.168.1.10/tcp/4011".parse()?;
        let lo: Multiaddr = "/ip4/127.0.0.1/tcp/4011".parse()?;
        let addrs = TicketAddrs {
            reachable: vec![public.clone()],
            others: vec![member.clone(), "/ip4/10.9.0.3/tcp/4011".parse()?],
            listen: vec![lo.clone(), lan.clone(), "/ip4/0.0.0.0/tcp/4011".parse()?],
        };
        let want: Vec<Vec<u8>> = vec![
            public.with_p2p(peer).map_err(|_| "p2p")?.to_vec(),
            member.to_vec(),
            lan.with_p2p(peer).map_err(|_| "p2p")?.to_vec(),
        ];
        assert_eq!(ticket_addrs(&addrs, peer), want, "no loopback, no id-less member address");
        let alone = TicketAddrs { listen: vec![lo.clone()], ..TicketAddrs::default() };
        assert_eq!(ticket_addrs(&alone, peer), vec![lo.with_p2p(peer).map_err(|_| "p2p")?.to_vec()]);
        Ok(())
    }
}
