//! Admission (PROTOCOL.md "Admission", RELIABILITY.md "outsider reads the
//! hood" and the ticket rows): only holders of the hood secret complete a
//! connection, and a ticket's addresses are signed, capped and shuffled.

use std::path::Path;

use stoop_core::bootstrap::{MAX_TICKET_ADDRS, SignedAddrs, signed_bytes};
use stoop_core::envelope::Envelope;
use stoop_core::ids::Tag;
use stoop_core::keys::AuthorKey;
use stoop_node::daemon::datadir::read_author_key;
use stoop_node::daemon::ticket::{Ticket, os_random};
use stoop_tests::raw_peer::{Authorship, RawPeer};
use stoop_tests::{Node, TestResult, WAIT, stoopd, wait_for, with_logs};

/// Decoy addresses: TEST-NET-3, never a Stoop node.
fn decoys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("/ip4/203.0.113.{}/tcp/{}", i % 250 + 1, 4000 + i).into_bytes()).collect()
}

/// Multiaddr bytes of `text`.
fn addr_bytes(text: &str) -> TestResult<Vec<u8>> {
    Ok(text.parse::<libp2p::Multiaddr>()?.to_vec())
}

/// Decoy multiaddrs in byte form.
fn decoy_addrs(n: usize) -> TestResult<Vec<Vec<u8>>> {
    decoys(n).iter().map(|d| addr_bytes(&String::from_utf8_lossy(d))).collect()
}

/// Waits until `founder` lists `member`'s author key.
fn wait_member(founder: &Node, member: &Node) -> TestResult {
    let author = member.author()?;
    wait_for(WAIT, "the join to reach the founder", || {
        let (_, v) = founder.get("/v1/members").ok()?;
        v["members"].as_array()?.iter().any(|m| m["key"] == author.as_str()).then_some(())
    })
}

/// The founder's fresh ticket with its address list replaced by `addrs`,
/// signed by the founder exactly as given (not through `prepare`, so the
/// list may be longer than a node would ever sign).
fn resigned(founder_dir: &Path, founder: &Node, addrs: Vec<Vec<u8>>) -> TestResult<String> {
    let mut t = Ticket::decode(&founder.invite()?)?;
    let key: AuthorKey = read_author_key(&founder_dir.join("author.key"))?;
    let signature = key.sign(Tag::TicketAddrs, &signed_bytes(&t.invite.id(), &addrs));
    t.bootstrap = SignedAddrs::from_parts(addrs, &signature)?;
    Ok(t.encode())
}

/// Whether `frame` is the envelope with id `id`.
fn is_alert(frame: &[u8], id: &str) -> bool {
    Envelope::open(frame).map(|e| e.id().to_hex() == id).unwrap_or(false)
}

#[test]
fn an_outsider_cannot_connect_and_a_member_reads_the_same_alert() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let a_dir = tmp.path().join("a");
    let a = Node::init(&a_dir)?;
    let b = Node::join(&tmp.path().join("b"), &a.invite()?)?;
    let nodes = [a, b];
    let result = (|| {
        let [a, b] = &nodes;
        wait_member(a, b)?;
        let topic = a.hood_topic()?;
        let addr = a.dial_addr()?;
        let a_id = a.peer_id()?.parse()?;
        // An outsider with a fresh key and no network key, one with a wrong
        // key, and (positive control) a member's peer with the hood's key.
        let outsider = RawPeer::spawn(&topic, Authorship::Anonymous, None)?;
        let wrong = RawPeer::spawn(&topic, Authorship::Anonymous, Some([7; 32]))?;
        let member = RawPeer::spawn(&topic, Authorship::Anonymous, Some(a.network_key()?))?;
        member.connect(&addr, a_id)?;
        outsider.dial(&addr)?;
        wrong.dial(&addr)?;
        wait_for(WAIT, "the outsiders' dials to fail", || {
            (outsider.dial_failures() >= 1 && wrong.dial_failures() >= 1).then_some(())
        })?;
        // An alert posted on the other member reaches the member's raw peer
        // through `a`, in the same window the outsiders are shut out.
        let id = b.post_alert("Gate left open on Birch")?;
        wait_for(WAIT, "the alert to reach the member's raw peer", || {
            member.received().iter().any(|f| is_alert(f, &id)).then_some(())
        })?;
        for (name, p) in [("outsider", &outsider), ("wrong key", &wrong)] {
            assert!(!p.is_connected(&a_id), "{name} connected");
            assert!(!p.received().iter().any(|f| is_alert(f, &id)), "{name} read the alert");
        }
        assert!(member.is_connected(&a_id));
        Ok(())
    })();
    with_logs(&nodes, result)
}

#[test]
fn a_signed_ticket_with_decoys_first_still_gets_the_joiner_in() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let a_dir = tmp.path().join("a");
    let a = Node::init(&a_dir)?;
    let real = addr_bytes(&a.dial_addr()?)?;
    // The most a ticket holds: decoys first, the real address last. The
    // inviter's shuffle (and the joiner's) must not matter: all are dialed.
    let mut addrs = decoy_addrs(MAX_TICKET_ADDRS - 1)?;
    addrs.push(real.clone());
    let ticket = resigned(&a_dir, &a, addrs)?;
    let b = Node::join(&tmp.path().join("b"), &ticket)?;
    let nodes = [a, b];
    let result = wait_member(&nodes[0], &nodes[1]);
    with_logs(&nodes, result)
}

#[test]
fn a_signed_ticket_with_700_addresses_is_capped_and_the_joiner_gets_in() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let a_dir = tmp.path().join("a");
    let a = Node::init(&a_dir)?;
    let real = addr_bytes(&a.dial_addr()?)?;
    let mut addrs = vec![real];
    addrs.extend(decoy_addrs(699)?);
    let text = resigned(&a_dir, &a, addrs)?;
    let kept = Ticket::decode(&text)?.dial_addrs(&mut os_random)?;
    assert_eq!(kept.len(), MAX_TICKET_ADDRS, "a joiner dials at most {MAX_TICKET_ADDRS}");
    let b = Node::join(&tmp.path().join("b"), &text)?;
    let nodes = [a, b];
    let result = wait_member(&nodes[0], &nodes[1]);
    with_logs(&nodes, result)
}

#[test]
fn a_tampered_or_old_ticket_is_refused_with_one_clear_line() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let a = Node::init(&tmp.path().join("a"))?;
    let mut t = Ticket::decode(&a.invite()?)?;
    // Eight decoys put before the inviter's addresses, signature kept.
    let mut addrs = decoy_addrs(8)?;
    addrs.extend(t.bootstrap.addrs().iter().cloned());
    t.bootstrap = SignedAddrs::from_parts(addrs, t.bootstrap.signature())?;
    let tampered = t.encode();
    let old = format!("stoop1:{}", &tampered["stoop2:".len()..]);
    for (name, ticket, says) in [("tampered", &tampered, "altered"), ("old", &old, "old stoop1: ticket")] {
        let dir = tmp.path().join(name);
        let d = dir.to_string_lossy();
        let out = stoopd(&["join", "--data-dir", &d, "--listen", "/ip4/127.0.0.1/tcp/0", ticket])?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} ticket accepted");
        assert!(err.contains(says), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(!dir.join("author.key").exists(), "{name}: a node was set up");
    }
    // Positive control: the same ticket untampered is taken.
    let good = a.invite()?;
    let d = tmp.path().join("good");
    let out = stoopd(&["join", "--data-dir", &d.to_string_lossy(), "--listen", "/ip4/127.0.0.1/tcp/0", &good])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(d.join("hood.secret").exists(), "join stores the hood secret");
    Ok(())
}

#[test]
fn a_node_without_a_hood_secret_refuses_to_run_unless_admission_is_open() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("a");
    Node::init_only(&dir, 10, 10)?;
    // A data directory from before admission: no secret file.
    std::fs::remove_file(dir.join("hood.secret"))?;
    let err = Node::start(&dir).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("hood.secret is missing"), "{err}");
    let config = std::fs::read_to_string(dir.join("stoop.toml"))?;
    assert!(config.contains("admission = \"required\""), "{config}");
    std::fs::write(dir.join("stoop.toml"), config.replace("admission = \"required\"", "admission = \"open\""))?;
    let node = Node::start(&dir)?;
    // Open: a peer without any key connects.
    let peer = RawPeer::spawn(&node.hood_topic()?, Authorship::Anonymous, None)?;
    peer.connect(&node.dial_addr()?, node.peer_id()?.parse()?)?;
    Ok(())
}
