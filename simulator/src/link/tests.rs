//! The link shim's tests: latency, loss, partitions, ports, and the NAT
//! model end to end through the transport.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
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

fn opts(role: Endpoint, port_use: PortUse) -> DialOpts {
    DialOpts { role, port_use }
}

/// The next inbound connection of `t`: where it comes from, and its end.
async fn accept_one(t: &mut LinkTransport) -> (Multiaddr, LinkConn) {
    loop {
        let ev = futures::future::poll_fn(|cx| Pin::new(&mut *t).poll(cx)).await;
        if let TransportEvent::Incoming { upgrade, send_back_addr, .. } = ev {
            return (send_back_addr, upgrade.await.unwrap());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_natted_node_is_reachable_only_through_the_hole_its_own_dial_opened() {
    let shared = Arc::new(Shared::new(2));
    // Node 0 is behind NAT, node 1 is public.
    let fabric = Fabric::with_nat(6, model(20.0, 0.0), 2, shared, Some(vec![true, false]));
    let mut a = LinkTransport::new(0, fabric.clone());
    let mut b = LinkTransport::new(1, fabric.clone());
    a.listen_on(ListenerId::next(), fabric.addr(0)).unwrap();
    b.listen_on(ListenerId::next(), fabric.addr(1)).unwrap();

    // Public to NAT'd, no hole: the SYNs vanish and the dial times out.
    let t0 = Instant::now();
    let dial = b.dial(fabric.addr(0), opts(Endpoint::Dialer, PortUse::Reuse)).unwrap();
    let refused = tokio::select! {
        r = dial => r,
        _ = accept_one(&mut a) => panic!("a NAT'd node accepted an unsolicited dial"),
    };
    assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert_eq!(Instant::now() - t0, crate::nat::DIAL_GIVE_UP);

    // NAT'd to public: fine, and the listener sees the dialer's listen address.
    let dial = a.dial(fabric.addr(1), opts(Endpoint::Dialer, PortUse::Reuse)).unwrap();
    let (out, (from, _inb)) = tokio::join!(dial, accept_one(&mut b));
    let out = out.unwrap();
    assert_eq!(out.remote(), 1);
    assert_eq!(from, fabric.addr(0));
    assert!(fabric.direct(0, 1) && fabric.direct(1, 0));

    // Now the hole lets node 1 in from its listen port, not from an
    // ephemeral one (an AutoNAT dial-back).
    let dial = b.dial(fabric.addr(0), opts(Endpoint::Dialer, PortUse::Reuse)).unwrap();
    let (back, (from, _)) = tokio::join!(dial, accept_one(&mut a));
    assert_eq!(back.unwrap().remote(), 0);
    assert_eq!(from, fabric.addr(1));
    let dial = b.dial(fabric.addr(0), opts(Endpoint::Dialer, PortUse::New)).unwrap();
    let dial_back = tokio::select! {
        r = dial => r,
        _ = accept_one(&mut a) => panic!("an AutoNAT dial-back reached a NAT'd node"),
    };
    assert!(dial_back.is_err());
    let nat = fabric.nat().unwrap();
    assert_eq!(nat.stats.outcomes(crate::nat::DialKind::Reuse).first_syn, 1);
    assert_eq!(nat.stats.outcomes(crate::nat::DialKind::Reuse).dropped, 1);
    assert_eq!(nat.stats.outcomes(crate::nat::DialKind::Ephemeral).dropped, 1);
}

#[tokio::test(start_paused = true)]
async fn two_natted_nodes_connect_only_by_dialing_each_other_at_once() {
    let shared = Arc::new(Shared::new(2));
    let fabric = Fabric::with_nat(7, model(20.0, 0.0), 2, shared, Some(vec![true, true]));
    let mut a = LinkTransport::new(0, fabric.clone());
    let mut b = LinkTransport::new(1, fabric.clone());
    a.listen_on(ListenerId::next(), fabric.addr(0)).unwrap();
    b.listen_on(ListenerId::next(), fabric.addr(1)).unwrap();
    // One alone fails.
    let dial = a.dial(fabric.addr(1), opts(Endpoint::Dialer, PortUse::Reuse)).unwrap();
    assert!(dial.await.is_err());
    // DCUtR: both dial at once (one with the listener role); each SYN finds
    // the other router's hole.
    let da = a.dial(fabric.addr(1), opts(Endpoint::Listener, PortUse::Reuse)).unwrap();
    let db = b.dial(fabric.addr(0), opts(Endpoint::Dialer, PortUse::Reuse)).unwrap();
    let (ra, rb, _, _) = tokio::join!(da, db, accept_one(&mut a), accept_one(&mut b));
    assert!(ra.is_ok() && rb.is_ok());
    let nat = fabric.nat().unwrap();
    assert_eq!(nat.stats.outcomes(crate::nat::DialKind::Punch).first_syn, 1);
}
