//! The honest nodes' stacks: replica, `Node` service and event loop per
//! node, their feed collectors, and publishing the workload through them.
//! The one place (with `report/collect.rs`) that drives `stoop_node`.

use super::*;

/// A running node.
pub(super) struct Running {
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<()>,
    /// Honest nodes only.
    pub(super) net: Option<NetClient>,
    /// Adversaries only: frames to publish.
    pub(super) frames: Option<mpsc::Sender<Vec<u8>>>,
}

/// Node roles and their static parts.
pub(super) struct Cast {
    pub(super) keys: Vec<identity::Keypair>,
    pub(super) peers: Arc<HashMap<PeerId, u32>>,
    /// `Some(kind)` for adversaries.
    pub(super) roles: Vec<Option<AdversaryKind>>,
    /// Honest nodes' shared state (None for adversaries).
    pub(super) nodes: Vec<Option<Arc<Node>>>,
}

/// Starts node `i` (first start or after churn).
pub(super) fn start_node(
    i: usize,
    s: &Scenario,
    cast: &Cast,
    fabric: &Arc<Fabric>,
    topic: &IdentTopic,
    dial: &[usize],
) -> Result<Running, RunError> {
    let cfg = behaviour_config(s);
    let adversary = cast.roles[i].is_some();
    let mut swarm = build_swarm(i, cast.keys[i].clone(), fabric, &cast.peers, &cfg, topic, adversary)?;
    let bootstrap: Vec<Multiaddr> = dial.iter().map(|&j| dial_addr(fabric, &cast.keys, j)).collect();
    let (stop, stop_rx) = watch::channel(false);
    match &cast.nodes[i] {
        Some(node) => {
            // Honest nodes dial (and redial) through the event loop, as stoopd does.
            let (event_loop, net) = EventLoop::new(swarm, node.clone(), topic.clone(), SIM_RESYNC_SECS);
            let mut event_loop = event_loop.with_bootstrap(bootstrap);
            if !s.node.stem {
                event_loop = event_loop.without_stem();
            }
            // Every log line of this node's loop names it (STOOP_SIM_LOG).
            let task =
                tokio::spawn(tracing::Instrument::instrument(event_loop.run(stop_rx), tracing::info_span!("node", i)));
            Ok(Running { stop, task, net: Some(net), frames: None })
        }
        None => {
            for addr in bootstrap {
                let _ = swarm.dial(addr);
            }
            let (tx, rx) = mpsc::channel(ADVERSARY_QUEUE);
            let task = tokio::spawn(adversary_loop(swarm, topic.clone(), rx, stop_rx));
            Ok(Running { stop, task, net: None, frames: Some(tx) })
        }
    }
}

/// Records what a node accepts and hides, from its live feed.
pub(super) fn spawn_collector(node: &Arc<Node>, shared: Arc<Shared>, i: usize) -> JoinHandle<()> {
    let mut rx = node.events.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let now = shared.now_ms();
                    let Ok(id) = MessageId::from_hex(&ev.id) else { continue };
                    let stats = &shared.nodes[i];
                    if ev.event == FeedKind::Message {
                        stats.accept(*id.as_bytes(), now);
                    } else if ev.event == FeedKind::State && ev.state == Some(stoop_core::ledger::AlertState::Hidden) {
                        stats.hide(*id.as_bytes(), now);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    stats_missed(&shared, i, n);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

pub(super) fn stats_missed(shared: &Shared, i: usize, n: u64) {
    crate::stats::NodeStats::add(&shared.nodes[i].events_missed, n);
}

/// `origin` if it is running, else the next running honest node.
pub(super) fn live_origin(origin: usize, running: &[Option<Running>], cast: &Cast) -> usize {
    let n = running.len();
    (0..n).map(|k| (origin + k) % n).find(|&i| running[i].is_some() && cast.nodes[i].is_some()).unwrap_or(origin)
}

/// A live honest node from `origin` on that holds `alert`: a moderator
/// votes on an alert their node shows them. (Published elsewhere, a vote
/// waits in the pending buffer for at most `PENDING_TTL_SECS`, which a
/// long partition outlasts, and is then lost: a harness artefact, not a
/// protocol one.) `origin` itself if no node holds it.
pub(super) async fn holding_origin(
    origin: usize,
    alert: stoop_core::ids::MessageId,
    running: &[Option<Running>],
    cast: &Cast,
) -> usize {
    let n = running.len();
    for i in (0..n).map(|k| (origin + k) % n) {
        let (Some(_), Some(node)) = (&running[i], &cast.nodes[i]) else { continue };
        if node.read(move |r| r.ledger().is_seen(&alert)).await.unwrap_or(false) {
            return i;
        }
    }
    origin
}

pub(super) async fn publish_honest(
    cast: &Cast,
    running: &[Option<Running>],
    shared: &Shared,
    origin: usize,
    env: &Envelope,
    now: u64,
    seq: usize,
) -> Option<Published> {
    let node = cast.nodes[origin].as_ref()?;
    let net = running[origin].as_ref()?.net.as_ref()?;
    let bytes = env.to_bytes();
    let held = match node.publish_signed(bytes.clone(), now).await {
        Ok(_) => false,
        // A vote for an alert the origin has not received yet waits in its
        // pending buffer and is gossiped when the alert arrives, so it
        // still counts as published (the report would otherwise call the
        // hide it causes unexplained).
        Err(PublishError::Ignored(IgnoreReason::Pending)) => {
            tracing::debug!(origin, "honest publish held until its alert arrives");
            true
        }
        Err(e) => {
            tracing::warn!(origin, error = %e, "honest publish refused");
            return None;
        }
    };
    let at_ms = shared.now_ms();
    if !held {
        let _ = net.publish(bytes).await;
    }
    let size = env.to_bytes().len();
    Some(Published {
        id: *env.id().as_bytes(),
        origin,
        at_ms,
        seq,
        kind: env.kind().name(),
        vote_on: None,
        bytes: size,
    })
}
