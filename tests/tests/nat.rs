//! Reachability behind home routers, with real `stoopd` processes in Linux
//! network namespaces (`stoop_tests::netns`): homes behind MASQUERADE
//! routers that drop unsolicited inbound traffic, and a public host.
//! Skipped with one line when not root or without `ip`/`iptables`.

use std::time::{Duration, Instant};

use stoop_node::service::ticket::{Ticket, os_random};
use stoop_tests::netns::{Listen, NsNode, World, unavailable, with_logs};
use stoop_tests::{TestResult, wait_for};

/// Joining, reserving and discovery take a few 5 s ticks each.
const JOIN: Duration = Duration::from_secs(90);

fn skip() -> bool {
    if let Some(why) = unavailable() {
        eprintln!("{why}");
        return true;
    }
    false
}

fn member(n: &NsNode) -> bool {
    n.status().is_some_and(|s| s["member"] == true)
}

fn reach_state(n: &NsNode) -> String {
    n.status().and_then(|s| s["reachability"]["state"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// Posts on `from` and waits until every node of `to` holds the alert.
fn crosses(from: &NsNode, to: &[&NsNode], headline: &str, within: Duration) -> TestResult<Duration> {
    let start = Instant::now();
    let id = from.post(headline)?;
    for n in to {
        wait_for(within.saturating_sub(start.elapsed()), &format!("{headline} on {}", n.host.ns), || {
            n.has(&id).then_some(())
        })?;
    }
    Ok(start.elapsed())
}

/// 1 + 2: founder behind NAT A, a public member P, members behind NAT B and
/// C, all joined by tickets. Alerts cross every way; B and C punch a direct
/// connection; after P stops, B and C still exchange alerts within 10 s.
/// (The punch failed in 3 of 8 loaded runs until 2026-11-28; the cause and
/// its fixes are in docs/BENCHMARKS.md, "Reachability".)
#[test]
fn homes_behind_nat_reach_each_other_and_survive_the_public_member_leaving() -> TestResult {
    if skip() {
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let (ha, hp, hb, hc) = (w.home(false)?, w.public_host()?, w.home(false)?, w.home(false)?);
    let mut a = NsNode::found(&ha, &tmp.path().join("a"))?;
    // The founder knows its friend's public server (as a bootstrap entry);
    // nobody can dial into home A.
    let p_addr = format!("[\"/ip4/{}/tcp/4011\"]", hp.ip);
    a.start(&[("STOOP_BOOTSTRAP", &p_addr)])?;
    let (ticket_p, _) = a.invite()?;
    let mut p = NsNode::join(&hp, &tmp.path().join("p"), &ticket_p)?;
    p.start(&[])?;
    let t0 = Instant::now();
    let result = (|| -> TestResult {
        wait_for(JOIN, "P to become a member", || member(&p).then_some(()))?;
        eprintln!("P member after {:?}", t0.elapsed());
        wait_for(JOIN, "P public", || (reach_state(&p) == "public").then_some(()))?;
        wait_for(JOIN, "A relayed through P", || (reach_state(&a) == "relayed").then_some(()))?;
        Ok(())
    })();
    with_logs(&[&a, &p], result)?;
    let (ticket_b, _) = a.invite()?;
    let (ticket_c, _) = a.invite()?;
    let mut b = NsNode::join(&hb, &tmp.path().join("b"), &ticket_b)?;
    let mut c = NsNode::join(&hc, &tmp.path().join("c"), &ticket_c)?;
    let t_join = Instant::now();
    // Both homes start in the same instant, the hardest case: each learns
    // the other only through the relay, and neither may dial the other's
    // router address outside a hole punch (PROTOCOL.md 9.3).
    b.start(&[])?;
    c.start(&[])?;
    let result = (|| -> TestResult {
        wait_for(JOIN, "B and C to become members", || (member(&b) && member(&c)).then_some(()))?;
        eprintln!("FIGURE join behind NAT: B and C members after {:?}", t_join.elapsed());
        let all = [(&a, "A"), (&p, "P"), (&b, "B"), (&c, "C")];
        for (i, (from, name)) in all.iter().enumerate() {
            let to: Vec<&NsNode> = all.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| n.0).collect();
            let took = crosses(from, &to, &format!("Tree down, seen by {name}"), JOIN)?;
            eprintln!("FIGURE alert from {name} reached all in {took:?}");
        }
        Ok(())
    })();
    with_logs(&[&a, &p, &b, &c], result)?;
    let result = (|| -> TestResult {
        let (b_id, c_id) = (b.peer_id().ok_or("no peer id for B")?, c.peer_id().ok_or("no peer id for C")?);
        let punched_to = |n: &NsNode, other: &str| {
            n.status()
                .is_some_and(|s| s["reachability"]["punched"].as_array().is_some_and(|l| l.iter().any(|p| p == other)))
        };
        wait_for(JOIN, "a hole-punched connection between B and C", || {
            let peers = b.json(&["peers"])?;
            let with_c = peers["peers"].as_array()?.iter().any(|x| x["peer_id"] == c_id.as_str());
            (with_c && (punched_to(&b, &c_id) || punched_to(&c, &b_id))).then_some(())
        })?;
        eprintln!("B-C hole punched after {:?}", t_join.elapsed());
        Ok(())
    })();
    with_logs(&[&a, &p, &b, &c], result)?;
    // 2: the public member stops.
    p.stop()?;
    let result = (|| -> TestResult {
        let took = crosses(&b, &[&c], "Tree down after P left, seen by B", Duration::from_secs(10))?;
        eprintln!("FIGURE B->C after P stopped: {took:?}");
        let took = crosses(&c, &[&b], "Tree down after P left, seen by C", Duration::from_secs(10))?;
        eprintln!("FIGURE C->B after P stopped: {took:?}");
        Ok(())
    })();
    with_logs(&[&a, &b, &c], result)?;
    drop(w);
    Ok(())
}

/// 3: a founder behind NAT with a port forward and `external_addresses`:
/// a fresh ticket carries that address and a joiner from another network
/// becomes a member.
#[test]
fn a_port_forward_in_external_addresses_reaches_the_ticket_and_works() -> TestResult {
    if skip() {
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let (ha, hb) = (w.home(true)?, w.home(false)?);
    let mut a = NsNode::found(&ha, &tmp.path().join("a"))?;
    let external = format!("/ip4/{}/tcp/4011", ha.public_ip);
    a.start(&[("STOOP_EXTERNAL_ADDRESSES", &format!("[\"{external}\"]"))])?;
    let (ticket, warning) = a.invite()?;
    let t = Ticket::decode(&ticket)?;
    let addrs: Vec<String> = t.dial_addrs(&mut os_random)?.iter().map(ToString::to_string).collect();
    assert!(addrs.iter().any(|x| x.starts_with(&external)), "ticket addresses {addrs:?} lack {external}");
    assert!(warning.is_empty(), "a public node's invite warned: {warning}");
    let mut b = NsNode::join(&hb, &tmp.path().join("b"), &ticket)?;
    let start = Instant::now();
    b.start(&[])?;
    let result = wait_for(JOIN, "the joiner to become a member", || member(&b).then_some(()));
    with_logs(&[&a, &b], result)?;
    eprintln!("FIGURE join through a port forward: {:?}", start.elapsed());
    drop(w);
    Ok(())
}

/// 4: nobody reachable: `stoop status --json` says `private` and `stoop
/// invite` warns on stderr.
#[test]
fn a_lone_node_behind_nat_says_private_and_invite_warns() -> TestResult {
    if skip() {
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let ha = w.home(false)?;
    let mut a = NsNode::found(&ha, &tmp.path().join("a"))?;
    a.start(&[])?;
    let result = wait_for(JOIN, "reachability private", || (reach_state(&a) == "private").then_some(()));
    with_logs(&[&a], result)?;
    let (ok, text, _) = a.cli(&["status"])?;
    assert!(ok && text.contains("no neighbor can reach this node"), "status lacks the hint: {text}");
    let (ticket, warning) = a.invite()?;
    assert!(ticket.starts_with("stoop2:"), "{ticket}");
    assert!(warning.contains("warning") && warning.contains("outside this LAN"), "no warning: {warning:?}");
    drop(w);
    Ok(())
}

/// Behind routers that pick a random port per connection, hole punching
/// cannot work: B and C stay relayed through the public member and alerts
/// still cross (and the figures for a relayed link come from here).
#[test]
fn homes_behind_symmetric_nat_stay_relayed_and_alerts_cross() -> TestResult {
    if skip() {
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let hp = w.public_host()?;
    let (hb, hc) = (w.home_with(false, true)?, w.home_with(false, true)?);
    let mut p = NsNode::found(&hp, &tmp.path().join("p"))?;
    p.start(&[])?;
    let (tb, tc) = (p.invite()?.0, p.invite()?.0);
    let mut b = NsNode::join(&hb, &tmp.path().join("b"), &tb)?;
    let mut c = NsNode::join(&hc, &tmp.path().join("c"), &tc)?;
    let rss_before = p.rss_bytes().unwrap_or(0);
    b.start(&[])?;
    c.start(&[])?;
    let result = (|| -> TestResult {
        wait_for(JOIN, "B and C members and relayed", || {
            (member(&b) && member(&c) && reach_state(&b) == "relayed" && reach_state(&c) == "relayed").then_some(())
        })?;
        let c_id = c.peer_id().ok_or("no peer id for C")?;
        wait_for(JOIN, "a relayed connection between B and C", || {
            let peers = b.json(&["peers"])?;
            let to_c = peers["peers"].as_array()?.iter().find(|x| x["peer_id"] == c_id.as_str())?.clone();
            to_c["address"].as_str()?.contains("p2p-circuit").then_some(())
        })?;
        // New members are on a probation quota: one alert each way.
        let took = crosses(&b, &[&c], "Relayed tree from B", Duration::from_secs(10))?;
        eprintln!("FIGURE relayed B->C post to arrival: {took:?}");
        let took = crosses(&c, &[&b], "Relayed tree from C", Duration::from_secs(10))?;
        eprintln!("FIGURE relayed C->B post to arrival: {took:?}");
        let punched = [&b, &c]
            .iter()
            .any(|n| n.status().is_some_and(|s| s["reachability"]["hole_punches"].as_u64().unwrap_or(0) > 0));
        assert!(!punched, "a hole punch through random-port NATs: the scenario is not what it claims");
        let rss_after = p.rss_bytes().unwrap_or(0);
        eprintln!("FIGURE relay RSS before clients {rss_before} B, with 2 reservations + circuits {rss_after} B");
        Ok(())
    })();
    with_logs(&[&p, &b, &c], result)?;
    drop(w);
    Ok(())
}

/// A node behind NAT that restarts with an empty bootstrap list (its
/// ticket's inviter gone) reconnects from its saved address book.
#[test]
fn a_restarted_home_node_reconnects_from_its_address_book() -> TestResult {
    if skip() {
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let (hp, hb) = (w.public_host()?, w.home(false)?);
    let mut p = NsNode::found(&hp, &tmp.path().join("p"))?;
    p.start(&[])?;
    let mut b = NsNode::join(&hb, &tmp.path().join("b"), &p.invite()?.0)?;
    b.start(&[])?;
    let book = b.dir.join("peers.addrs");
    let peers = |n: &NsNode| n.status().and_then(|s| s["peers"].as_u64()).unwrap_or(0);
    let result = (|| -> TestResult {
        wait_for(JOIN, "B member with its book saved", || {
            (member(&b) && std::fs::read_to_string(&book).is_ok_and(|t| t.contains(&hp.ip))).then_some(())
        })?;
        b.stop()?;
        b.start(&[("STOOP_BOOTSTRAP", "[]")])?;
        wait_for(JOIN, "B connected again without a bootstrap list", || (peers(&b) > 0).then_some(()))?;
        Ok(())
    })();
    with_logs(&[&p, &b], result)?;
    drop(w);
    Ok(())
}

/// IPv6 by default: two hosts that share only an IPv6 link, both on
/// `stoopd`'s default listen list. The founder's ticket carries its IPv6
/// address (never a link-local one, which nobody could dial from a
/// ticket), the joiner becomes a member over IPv6, and alerts cross both
/// ways.
#[test]
fn the_default_listen_list_works_over_ipv6_alone() -> TestResult {
    if skip() {
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let (ha, hb) = w.ipv6_pair()?;
    let mut a = NsNode::found_listening(&ha, &tmp.path().join("a"), Listen::Default)?;
    a.start(&[])?;
    let (ticket, _) = a.invite()?;
    let addrs: Vec<String> =
        Ticket::decode(&ticket)?.dial_addrs(&mut os_random)?.iter().map(ToString::to_string).collect();
    let own = format!("/ip6/{}/tcp/4011/p2p/", ha.ip);
    assert!(addrs.iter().any(|x| x.starts_with(&own)), "ticket addresses {addrs:?} lack {own}");
    assert!(!addrs.iter().any(|x| x.contains("/ip6/fe80")), "a link-local address in the ticket: {addrs:?}");
    let mut b = NsNode::join_listening(&hb, &tmp.path().join("b"), &ticket, Listen::Default)?;
    let start = Instant::now();
    b.start(&[])?;
    let result = (|| -> TestResult {
        wait_for(JOIN, "the joiner to become a member over IPv6", || member(&b).then_some(()))?;
        eprintln!("FIGURE join over IPv6: {:?}", start.elapsed());
        crosses(&a, &[&b], "Tree down, over IPv6", JOIN)?;
        crosses(&b, &[&a], "Tree down, back over IPv6", JOIN)?;
        Ok(())
    })();
    with_logs(&[&a, &b], result)?;
    drop(w);
    Ok(())
}
