//! Service tests: the bounded work queue and what the metrics count.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::core::message::Payload;
use crate::store::{Store, StoreConfig};
use stoop_core::testkit::{HoodFixture, seeded_key};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000;

fn start(f: &HoodFixture) -> Result<Arc<Node>, Box<dyn std::error::Error>> {
    let (replica, _) = Replica::create(Store::open(&StoreConfig::temporary(1 << 20))?, f.charter.clone())?;
    Ok(Arc::new(Node::start(replica, f.founders[0].clone(), Clock::system())?))
}

/// The swarm task never waits: with the replica thread held up, gossip
/// beyond the queue is refused at once and counted, and everything that
/// was queued is still judged once the thread moves on.
#[tokio::test]
async fn a_full_queue_turns_gossip_away_as_busy_without_waiting() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let node = start(&f)?;
    let (started_tx, started) = oneshot::channel();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let node = node.clone();
        tokio::spawn(async move {
            node.read(move |_| {
                let _ = started_tx.send(());
                let _ = gate.recv();
            })
            .await
        })
    };
    started.await?;
    let (verdicts, judged) = std::sync::mpsc::channel();
    for i in 0..WORK_QUEUE_CAPACITY {
        let verdicts = verdicts.clone();
        node.try_gossip(vec![i as u8; 8], T0, move |o| {
            let _ = verdicts.send(o.verdict);
        })?;
    }
    assert!(matches!(node.try_gossip(vec![0; 8], T0, |_| {}), Err(ServiceError::Busy)));
    assert!(node.metrics.encode().contains("stoop_busy_total{work=\"gossip\"} 1"), "{}", node.metrics.encode());
    release.send(())?;
    blocker.await??;
    for _ in 0..WORK_QUEUE_CAPACITY {
        judged.recv_timeout(Duration::from_secs(10))?;
    }
    Ok(())
}

/// A refused local post is counted with its real verdict and kind.
#[tokio::test]
async fn refused_posts_are_counted_with_their_verdict_and_kind() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let node = start(&f)?;
    let stranger = Payload::Alert(f.alert(T0, "Not a member")).seal(&seeded_key("stranger"));
    let err = node.publish_signed(stranger.to_bytes(), T0).await.err().ok_or("a stranger's post was accepted")?;
    assert_eq!(err.code(), "not_member");
    let ok = node.publish(Payload::Alert(f.alert(T0, "Tree down")), T0).await?;
    let again = node.publish_signed(ok.to_bytes(), T0).await.err().ok_or("a duplicate was accepted")?;
    assert_eq!(again.code(), "duplicate");
    let text = node.metrics.encode();
    for line in [
        r#"origin="local",kind="alert",verdict="reject",reason="not_member"} 1"#,
        r#"origin="local",kind="alert",verdict="ignore",reason="duplicate"} 1"#,
        r#"origin="local",kind="alert",verdict="accept",reason="accept"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains(r#"verdict="refuse""#), "{text}");
    Ok(())
}
