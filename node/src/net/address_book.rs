//! The hood peers this node has reached, and how, kept on disk so a
//! restart reconnects without the ticket's bootstrap list (whose inviter
//! may be long gone): one `/…/p2p/<id>` address per line in
//! `peers.addrs` in the data directory.
//!
//! Only addresses that worked go in: the address this node dialed a hood
//! peer on, or a circuit through a relay it knows. Never a peer's own list
//! of listen addresses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// Peers remembered: more than the connection cap's worth of outbound
/// peers (8 by default) many times over, so a restart finds someone even
/// after most of them moved; a few KiB on disk.
pub const MAX_BOOK_PEERS: usize = 64;
/// Addresses kept per peer: a direct one and a circuit or two.
pub const MAX_ADDRS_PER_PEER: usize = 3;

/// A bounded, persisted map of hood peers to addresses that reached them.
#[derive(Debug)]
pub struct AddressBook {
    path: Option<PathBuf>,
    /// Bounded by [`MAX_BOOK_PEERS`] × [`MAX_ADDRS_PER_PEER`].
    peers: BTreeMap<PeerId, Vec<Multiaddr>>,
    dirty: bool,
}

impl AddressBook {
    /// An empty book that is never saved (tests, the simulator).
    pub fn in_memory() -> Self {
        Self { path: None, peers: BTreeMap::new(), dirty: false }
    }

    /// The book saved at `path`; a missing or unreadable file is an empty
    /// book (it only speeds reconnection up), bad lines are skipped.
    pub fn load(path: &Path) -> Self {
        let mut book = Self { path: Some(path.to_path_buf()), peers: BTreeMap::new(), dirty: false };
        if let Ok(text) = std::fs::read_to_string(path) {
            for addr in text.lines().filter_map(|l| l.trim().parse::<Multiaddr>().ok()) {
                if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                    book.insert(peer, addr);
                }
            }
        }
        book.dirty = false;
        book
    }

    fn insert(&mut self, peer: PeerId, addr: Multiaddr) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_BOOK_PEERS {
            // Forget the peer with the fewest known ways in; ties go by id.
            let Some(victim) = self.peers.iter().min_by_key(|(_, a)| a.len()).map(|(p, _)| *p) else {
                return;
            };
            self.peers.remove(&victim);
        }
        let addrs = self.peers.entry(peer).or_default();
        if addrs.contains(&addr) {
            return;
        }
        if addrs.len() >= MAX_ADDRS_PER_PEER {
            addrs.remove(0);
        }
        addrs.push(addr);
        self.dirty = true;
    }

    /// Records that `addr` reached hood peer `peer` (`/p2p/peer` is added).
    pub fn record(&mut self, peer: PeerId, addr: &Multiaddr) {
        let mut a = addr.clone();
        if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
            a.pop();
        }
        if let Ok(full) = a.with_p2p(peer) {
            self.insert(peer, full);
        }
    }

    /// Every address, each ending with its peer id.
    pub fn addrs(&self) -> Vec<Multiaddr> {
        self.peers.values().flatten().cloned().collect()
    }

    /// Writes the book if it changed; errors are logged, not fatal.
    pub fn save(&mut self) {
        let (Some(path), true) = (&self.path, self.dirty) else { return };
        let text: String = self.addrs().iter().map(|a| format!("{a}\n")).collect();
        let tmp = path.with_extension("tmp");
        match std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            Ok(()) => self.dirty = false,
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "address book not saved"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_round_trips_and_stays_bounded() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("peers.addrs");
        let mut book = AddressBook::load(&path);
        let first = PeerId::random();
        for i in 0..10u8 {
            book.record(first, &format!("/ip4/10.0.0.{i}/tcp/4011").parse()?);
        }
        for i in 0..200u32 {
            book.record(PeerId::random(), &format!("/ip4/10.1.{}.{}/tcp/4011", i / 256, i % 256).parse()?);
        }
        assert!(book.addrs().len() <= MAX_BOOK_PEERS * MAX_ADDRS_PER_PEER);
        assert_eq!(book.peers.len(), MAX_BOOK_PEERS);
        assert_eq!(book.peers.get(&first).map(Vec::len), Some(MAX_ADDRS_PER_PEER), "kept: most ways in");
        book.save();
        std::fs::write(dir.path().join("junk"), "x")?;
        let back = AddressBook::load(&path);
        assert_eq!(back.addrs(), book.addrs());
        assert!(back.addrs().iter().all(|a| matches!(a.iter().last(), Some(Protocol::P2p(_)))));
        Ok(())
    }

    #[test]
    fn a_missing_or_damaged_file_is_an_empty_book() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert!(AddressBook::load(&dir.path().join("none")).addrs().is_empty());
        let path = dir.path().join("bad");
        std::fs::write(&path, "not an address\n/ip4/1.2.3.4/tcp/1\n")?;
        assert!(AddressBook::load(&path).addrs().is_empty(), "lines without a peer id are skipped");
        Ok(())
    }
}
