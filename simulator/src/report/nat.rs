//! The NAT part of a report (scenarios with a `[nat]` table): how nodes
//! behind NAT joined, what reachability every node ended with, how many
//! links between honest nodes are direct or relayed, what the routers let
//! in, and delivery to nodes behind NAT and to public ones.
//!
//! Definitions:
//! - a *link* is a pair of honest nodes with at least one connection, seen
//!   from either end (`stoop peers`); every honest node is on the hood's
//!   topic, so every link is a hood (gossip) link;
//! - a link is *direct* if either end holds a connection on the shim (a
//!   dial let in, or a hole punch), else *relayed* (its connections all run
//!   through a relay: `/p2p-circuit` addresses);
//! - times are seconds from a node's (first) start to the first sample
//!   (every 250 ms) showing it: a first hood peer, `DISCOVERY_TARGET` hood
//!   peers (the gossip mesh's lower bound), `relayed` (a relay reservation
//!   held), `public`, a hole punch.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{Dist, Published, Report};
use crate::nat::{DialKind, DialOutcomes, NatStats};
use crate::stats::Shared;

/// What the probe saw of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeReach {
    /// Behind NAT.
    pub behind: bool,
    /// First start, ms since the run started.
    pub started_ms: Option<f64>,
    /// Seconds from start to a first hood peer.
    pub first_peer_secs: Option<f64>,
    /// Seconds to `DISCOVERY_TARGET` hood peers.
    pub target_peers_secs: Option<f64>,
    /// Seconds to `relayed`.
    pub relayed_secs: Option<f64>,
    /// Seconds to `public`.
    pub public_secs: Option<f64>,
    /// Seconds to a first hole punch.
    pub first_punch_secs: Option<f64>,
    /// Reachability at the last sample.
    pub state: &'static str,
    /// Hole punches at the last sample.
    pub hole_punches: u64,
    /// Relay reservations at the last sample.
    pub relays: usize,
}

/// Links by the kind of their ends: `[direct, relayed]` each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Links {
    /// Both ends behind NAT.
    pub nat_nat: [usize; 2],
    /// One end behind NAT.
    pub nat_public: [usize; 2],
    /// Both ends public.
    pub public_public: [usize; 2],
}

impl Links {
    /// Counts a link between a node (`a` behind NAT or not) and `b`.
    pub fn count(&mut self, a: bool, b: bool, direct: bool) {
        let slot = match (a, b) {
            (true, true) => &mut self.nat_nat,
            (false, false) => &mut self.public_public,
            _ => &mut self.nat_public,
        };
        slot[usize::from(!direct)] += 1;
    }

    /// All links: `[direct, relayed]`.
    pub fn total(&self) -> [usize; 2] {
        [0, 1].map(|k| self.nat_nat[k] + self.nat_public[k] + self.public_public[k])
    }
}

/// Direct links over all links of `[direct, relayed]`.
fn share(x: [usize; 2]) -> Option<f64> {
    let n = x[0] + x[1];
    (n > 0).then(|| x[0] as f64 / n as f64)
}

/// Pairs (honest alert, receiving node) for one kind of receiver.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delivery {
    /// Pairs.
    pub pairs: usize,
    /// Delivered by the end of the run.
    pub delivered: usize,
    /// Delivered / pairs.
    pub ratio: Option<f64>,
    /// Publish to acceptance, ms.
    pub latency_ms: Dist,
}

/// The NAT part of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NatReport {
    /// Honest nodes behind NAT.
    pub natted: usize,
    /// Honest public nodes.
    pub public: usize,
    /// Reachability at the end, nodes behind NAT: state → nodes.
    pub states_natted: BTreeMap<&'static str, usize>,
    /// Reachability at the end, public nodes.
    pub states_public: BTreeMap<&'static str, usize>,
    /// Nodes behind NAT: seconds to a first hood peer.
    pub first_peer_secs: Dist,
    /// Nodes behind NAT: seconds to `DISCOVERY_TARGET` hood peers.
    pub target_peers_secs: Dist,
    /// Nodes behind NAT: seconds to `relayed`.
    pub relayed_secs: Dist,
    /// Nodes behind NAT: seconds to a first hole punch.
    pub first_punch_secs: Dist,
    /// Public nodes: seconds to `public`.
    pub public_secs: Dist,
    /// Nodes behind NAT never seen with a hood peer.
    pub never_peered: usize,
    /// Nodes behind NAT never seen `relayed`.
    pub never_relayed: usize,
    /// Links at the end of the settle phase.
    pub links_end: Links,
    /// Direct share of all links at the end.
    pub direct_share: Option<f64>,
    /// Direct share of links between two nodes behind NAT at the end.
    pub direct_share_nat_nat: Option<f64>,
    /// Hole punches the nodes counted (`stoop status`; each side whose
    /// DCUtR dial connected counts one, so a punch may count twice).
    pub hole_punches: u64,
    /// Nodes behind NAT with at least one hole punch.
    pub nodes_punched: usize,
    /// Dials to nodes behind NAT by kind: what their routers did.
    pub dials: BTreeMap<&'static str, DialOutcomes>,
    /// Delivery to nodes behind NAT.
    pub delivery_natted: Delivery,
    /// Delivery to public nodes.
    pub delivery_public: Delivery,
    /// (seconds since the run started, links), every 5 s (nat_links.csv).
    #[serde(skip)]
    pub series: Vec<(f64, Links)>,
    /// Per honest node (nat_nodes.csv).
    #[serde(skip)]
    pub nodes: Vec<(usize, NodeReach)>,
}

impl NatReport {
    /// From the probe's samples.
    pub fn from_samples(
        nodes: Vec<NodeReach>,
        honest: &[bool],
        end: Links,
        series: Vec<(f64, Links)>,
        dials: Option<&NatStats>,
    ) -> Self {
        let mut r = NatReport { links_end: end, series, ..Self::default() };
        let (nat, public): (Vec<&NodeReach>, Vec<&NodeReach>) = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| honest.get(*i).copied().unwrap_or(false))
            .map(|(_, n)| n)
            .partition(|n| n.behind);
        r.natted = nat.len();
        r.public = public.len();
        for n in &nat {
            *r.states_natted.entry(n.state).or_default() += 1;
        }
        for n in &public {
            *r.states_public.entry(n.state).or_default() += 1;
        }
        let dist =
            |f: fn(&NodeReach) -> Option<f64>, v: &[&NodeReach]| Dist::of(v.iter().filter_map(|n| f(n)).collect());
        r.first_peer_secs = dist(|n| n.first_peer_secs, &nat);
        r.target_peers_secs = dist(|n| n.target_peers_secs, &nat);
        r.relayed_secs = dist(|n| n.relayed_secs, &nat);
        r.first_punch_secs = dist(|n| n.first_punch_secs, &nat);
        r.public_secs = dist(|n| n.public_secs, &public);
        r.never_peered = nat.iter().filter(|n| n.first_peer_secs.is_none()).count();
        r.never_relayed = nat.iter().filter(|n| n.relayed_secs.is_none()).count();
        r.direct_share = share(end.total());
        r.direct_share_nat_nat = share(end.nat_nat);
        r.hole_punches = nodes.iter().map(|n| n.hole_punches).sum();
        r.nodes_punched = nat.iter().filter(|n| n.hole_punches > 0).count();
        r.nodes = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| honest.get(*i).copied().unwrap_or(false))
            .map(|(i, n)| (i, n.clone()))
            .collect();
        if let Some(stats) = dials {
            for (name, kind) in
                [("punch", DialKind::Punch), ("reuse", DialKind::Reuse), ("ephemeral", DialKind::Ephemeral)]
            {
                r.dials.insert(name, stats.outcomes(kind));
            }
        }
        r
    }

    /// Fills in delivery by kind of receiver from what the report found
    /// (its per-node holdings) and the nodes' acceptance times.
    pub fn finish(&mut self, report: &Report, behind: &[bool], shared: &Shared, published: &[Published]) {
        let alerts: Vec<&Published> = published.iter().filter(|p| p.kind == "alert").collect();
        let mut lat = [Vec::new(), Vec::new()];
        let mut d = [Delivery::default(), Delivery::default()];
        for row in report.node_rows.iter().filter(|r| r.role == "honest") {
            let k = usize::from(!behind.get(row.node).copied().unwrap_or(false));
            let own = alerts.iter().filter(|p| p.origin == row.node).count();
            d[k].pairs += alerts.len() - own;
            d[k].delivered += row.alerts_held.saturating_sub(own);
            let accepted = shared.nodes[row.node].accepted.lock().unwrap_or_else(|e| e.into_inner());
            lat[k].extend(
                alerts.iter().filter(|p| p.origin != row.node).filter_map(|p| Some(accepted.get(&p.id)? - p.at_ms)),
            );
        }
        for (k, l) in lat.into_iter().enumerate() {
            d[k].ratio = (d[k].pairs > 0).then(|| d[k].delivered as f64 / d[k].pairs as f64);
            d[k].latency_ms = Dist::of(l);
        }
        let [natted, public] = d;
        self.delivery_natted = natted;
        self.delivery_public = public;
    }

    /// The summary lines.
    pub fn summary(&self, out: &mut String) {
        let f = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.1}"));
        let pct = |x: Option<f64>| x.map_or("-".into(), |v| format!("{:.1} %", v * 100.0));
        let _ = writeln!(
            out,
            "NAT: {} honest nodes behind NAT, {} public; end states behind NAT {:?}, public {:?}",
            self.natted, self.public, self.states_natted, self.states_public
        );
        let line = |name: &str, d: &Dist, never: Option<usize>| {
            format!(
                "  {name}: p50 {} / p90 {} / max {} s ({} nodes{})\n",
                f(d.p50),
                f(d.p90),
                f(d.max),
                d.n,
                never.map_or(String::new(), |n| format!(", {n} never"))
            )
        };
        out.push_str(&line("behind NAT, time to a first hood peer", &self.first_peer_secs, Some(self.never_peered)));
        out.push_str(&line(
            "behind NAT, time to 4 hood peers",
            &self.target_peers_secs,
            Some(self.natted - self.target_peers_secs.n),
        ));
        out.push_str(&line("behind NAT, time to relayed", &self.relayed_secs, Some(self.never_relayed)));
        out.push_str(&line(
            "behind NAT, time to a first hole punch",
            &self.first_punch_secs,
            Some(self.natted - self.first_punch_secs.n),
        ));
        out.push_str(&line("public, time to public", &self.public_secs, Some(self.public - self.public_secs.n)));
        let l = &self.links_end;
        let _ = writeln!(
            out,
            "links at the end: {} direct / {} relayed ({} direct); NAT-NAT {}/{} ({}), NAT-public {}/{}, public-public {}/{}",
            l.total()[0],
            l.total()[1],
            pct(self.direct_share),
            l.nat_nat[0],
            l.nat_nat[1],
            pct(self.direct_share_nat_nat),
            l.nat_public[0],
            l.nat_public[1],
            l.public_public[0],
            l.public_public[1]
        );
        let dials: Vec<String> = self
            .dials
            .iter()
            .map(|(k, o)| {
                format!(
                    "{k} {} in at once, {} at a retransmission, {} dropped",
                    o.first_syn, o.retransmitted, o.dropped
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "hole punches counted by nodes: {} ({} nodes behind NAT); dials to NAT'd nodes: {}",
            self.hole_punches,
            self.nodes_punched,
            dials.join("; ")
        );
        for (name, d) in [("behind NAT", &self.delivery_natted), ("public", &self.delivery_public)] {
            let _ = writeln!(
                out,
                "delivery to nodes {name}: {}/{} ({}), latency p50 {} / p99 {} ms",
                d.delivered,
                d.pairs,
                d.ratio.map_or("-".into(), |r| format!("{r:.4}")),
                f(d.latency_ms.p50),
                f(d.latency_ms.p99)
            );
        }
    }

    /// nat_nodes.csv: one row per honest node.
    pub fn nodes_csv(&self) -> String {
        let mut csv = String::from(
            "node,behind_nat,state,relays,hole_punches,first_peer_s,target_peers_s,relayed_s,public_s,first_punch_s\n",
        );
        let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.2}"));
        for (i, n) in &self.nodes {
            let _ = writeln!(
                csv,
                "{i},{},{},{},{},{},{},{},{},{}",
                n.behind,
                n.state,
                n.relays,
                n.hole_punches,
                f(n.first_peer_secs),
                f(n.target_peers_secs),
                f(n.relayed_secs),
                f(n.public_secs),
                f(n.first_punch_secs)
            );
        }
        csv
    }

    /// nat_links.csv: the link census over time.
    pub fn csv(&self) -> String {
        let mut csv = String::from(
            "t_s,direct,relayed,nat_nat_direct,nat_nat_relayed,nat_public_direct,nat_public_relayed,public_public_direct,public_public_relayed\n",
        );
        for (t, l) in &self.series {
            let [d, r] = l.total();
            let _ = writeln!(
                csv,
                "{t:.1},{d},{r},{},{},{},{},{},{}",
                l.nat_nat[0], l.nat_nat[1], l.nat_public[0], l.nat_public[1], l.public_public[0], l.public_public[1]
            );
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_counted_by_their_ends_and_shared() {
        let mut l = Links::default();
        l.count(true, true, false);
        l.count(true, true, true);
        l.count(true, false, true);
        l.count(false, true, true);
        l.count(false, false, true);
        assert_eq!(l.nat_nat, [1, 1]);
        assert_eq!(l.nat_public, [2, 0]);
        assert_eq!(l.total(), [4, 1]);
        assert_eq!(share(l.total()), Some(0.8));
        assert_eq!(share([0, 0]), None);
    }
}
