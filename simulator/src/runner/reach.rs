//! NAT scenarios only: samples every honest node's connected peers and
//! reachability through its `NetClient`, as `stoop peers` and `stoop
//! status` read them, for the join times, the end states and the census of
//! direct and relayed links (`report::nat`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use stoop_node::net::reachability::DISCOVERY_TARGET;
use stoop_node::service::network::Network as _;

use super::*;
use crate::report::nat::{Links, NatReport, NodeReach};

/// How often every node is asked: the resolution of the join times.
pub(super) const SAMPLE_MS: u64 = 250;
/// A census of the links every this many samples (5 s).
const CENSUS_EVERY: u64 = 20;

/// What the probe has seen.
#[derive(Debug, Default)]
struct Log {
    /// Per node; bounded by the node count.
    nodes: Vec<NodeReach>,
    /// Link censuses, one per [`CENSUS_EVERY`] samples: at most one per
    /// 5 s of the run.
    series: Vec<(f64, Links)>,
}

/// The running probe.
pub(super) struct Probe {
    /// Each honest node's client while it runs.
    clients: Arc<Mutex<Vec<Option<NetClient>>>>,
    log: Arc<Mutex<Log>>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Probe {
    /// Starts sampling; `behind[i]` says node `i` is behind NAT.
    pub(super) fn start(fabric: &Arc<Fabric>, cast: &Cast, behind: &[bool]) -> Self {
        let n = cast.roles.len();
        let clients = Arc::new(Mutex::new(vec![None; n]));
        let nodes = (0..n).map(|i| NodeReach { behind: behind.get(i).copied().unwrap_or(false), ..Default::default() });
        let log = Arc::new(Mutex::new(Log { nodes: nodes.collect(), series: Vec::new() }));
        let index: HashMap<String, u32> = cast.peers.iter().map(|(p, i)| (p.to_string(), *i)).collect();
        let honest: Vec<bool> = cast.roles.iter().map(Option::is_none).collect();
        let (stop, mut stop_rx) = watch::channel(false);
        let task = {
            let (clients, log, fabric) = (clients.clone(), log.clone(), fabric.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(SAMPLE_MS));
                for k in 0u64.. {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop_rx.changed() => break,
                    }
                    let links = sample(&clients, &log, &fabric, &index, &honest).await;
                    if k % CENSUS_EVERY == 0 {
                        lock(&log).series.push((fabric.shared.now_ms() / 1000.0, links));
                    }
                }
            })
        };
        Self { clients, log, shared: fabric.shared.clone(), stop, task }
    }

    /// Node `i` (re)started with `net` (its first start sets its clock).
    pub(super) fn started(&self, i: usize, net: Option<NetClient>) {
        let now = self.shared.now_ms();
        if let Some(node) = lock(&self.log).nodes.get_mut(i) {
            node.started_ms.get_or_insert(now);
        }
        if let Some(slot) = lock(&self.clients).get_mut(i) {
            *slot = net;
        }
    }

    /// Node `i` stopped.
    pub(super) fn stopped(&self, i: usize) {
        if let Some(slot) = lock(&self.clients).get_mut(i) {
            *slot = None;
        }
    }

    /// Takes a last sample (the census at the end of the settle phase),
    /// stops, and returns the NAT part of the report (delivery filled in
    /// by `report::nat::finish`).
    pub(super) async fn finish(self, fabric: &Arc<Fabric>, cast: &Cast) -> NatReport {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let index: HashMap<String, u32> = cast.peers.iter().map(|(p, i)| (p.to_string(), *i)).collect();
        let honest: Vec<bool> = cast.roles.iter().map(Option::is_none).collect();
        let end = sample(&self.clients, &self.log, fabric, &index, &honest).await;
        let mut log = std::mem::take(&mut *lock(&self.log));
        log.series.push((fabric.shared.now_ms() / 1000.0, end));
        let dials = fabric.nat().map(|nat| &nat.stats);
        NatReport::from_samples(log.nodes, &honest, end, log.series, dials)
    }
}

/// Asks every running honest node for its peers and reachability, updates
/// the log, and returns the census of links between honest nodes.
async fn sample(
    clients: &Mutex<Vec<Option<NetClient>>>,
    log: &Mutex<Log>,
    fabric: &Fabric,
    index: &HashMap<String, u32>,
    honest: &[bool],
) -> Links {
    let now = fabric.shared.now_ms();
    let running: Vec<(usize, NetClient)> =
        lock(clients).iter().enumerate().filter_map(|(i, c)| Some((i, c.clone()?))).collect();
    // Unordered pairs of honest nodes with a connection, seen from either end.
    let mut pairs: BTreeSet<(u32, u32)> = BTreeSet::new();
    for (i, net) in running {
        let Ok(peers) = net.peers().await else { continue };
        let reach = net.reachability();
        let hood: Vec<u32> = peers
            .iter()
            .filter_map(|p| index.get(&p.peer_id).copied())
            .filter(|j| honest.get(*j as usize).copied().unwrap_or(false))
            .collect();
        for &j in &hood {
            let i = i as u32;
            pairs.insert((i.min(j), i.max(j)));
        }
        let mut log = lock(log);
        let Some(node) = log.nodes.get_mut(i) else { continue };
        let since = node.started_ms.map_or(0.0, |s| (now - s) / 1000.0);
        if !hood.is_empty() {
            node.first_peer_secs.get_or_insert(since);
        }
        if hood.len() >= DISCOVERY_TARGET {
            node.target_peers_secs.get_or_insert(since);
        }
        match reach.state {
            "relayed" => _ = node.relayed_secs.get_or_insert(since),
            "public" => _ = node.public_secs.get_or_insert(since),
            _ => {}
        }
        if reach.hole_punches > 0 {
            node.first_punch_secs.get_or_insert(since);
        }
        node.state = reach.state;
        node.hole_punches = reach.hole_punches;
        node.relays = reach.relays.len();
    }
    let nat = fabric.nat();
    let behind = |i: u32| nat.is_some_and(|n| n.is_behind(i));
    let mut links = Links::default();
    for (a, b) in pairs {
        let direct = fabric.direct(a, b) || fabric.direct(b, a);
        links.count(behind(a), behind(b), direct);
    }
    links
}
