//! The figures of a run: propagation per alert and per pair, bytes over
//! the measured window, adversarial frames held, moderation convergence and
//! scheduling lag.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use stoop_core::ledger::AlertState;

use super::collect::{Counters, Holdings, NodeSlot};
use super::{AdvFrame, AlertRow, Dist, NodeRow, Published, Report, RunFacts, goals};
use crate::scenario::{AdversaryKind, Scenario};
use crate::stats::{MsgKey, Shared};

/// Hops from `origin` to `node` along the first-arrival tree of `msg`
/// (`memo` caches the nodes already walked for this message).
fn hops_of(
    node: usize,
    msg: &MsgKey,
    origin: usize,
    shared: &Shared,
    memo: &mut HashMap<usize, Option<u32>>,
) -> Option<u32> {
    if node == origin {
        return Some(0);
    }
    if let Some(h) = memo.get(&node) {
        return *h;
    }
    // Walk up the first-arrival chain iteratively (bounded by the node count).
    let mut chain = vec![node];
    let mut cur = node;
    let base = loop {
        let from = shared.nodes[cur].arrivals.lock().unwrap_or_else(|p| p.into_inner()).get(msg).map(|a| a.from);
        match from {
            None => break None,
            Some(f) if f as usize == origin => break Some(0),
            Some(f) if f as usize >= shared.nodes.len() => break None,
            Some(f) => {
                if let Some(h) = memo.get(&(f as usize)) {
                    break *h;
                }
                if chain.len() > shared.nodes.len() || chain.contains(&(f as usize)) {
                    break None;
                }
                chain.push(f as usize);
                cur = f as usize;
            }
        }
    };
    let mut h = base;
    for &n in chain.iter().rev() {
        h = h.map(|x| x + 1);
        memo.insert(n, h);
    }
    memo.get(&node).copied().flatten()
}

/// Computes the report.
#[allow(clippy::too_many_arguments)]
pub fn build(
    s: &Scenario,
    shared: &Arc<Shared>,
    roles: &[Option<AdversaryKind>],
    nodes: &[NodeSlot],
    published: &[Published],
    adv: &[AdvFrame],
    (c0, c1): (&Counters, &Counters),
    run: RunFacts,
) -> Report {
    let honest: Vec<usize> = (0..s.nodes).filter(|&i| roles[i].is_none()).collect();
    let h = honest.len();
    let alerts: Vec<&Published> = published.iter().filter(|p| p.kind == "alert").collect();
    let mut warnings = Vec::new();

    // What every node stores and hides at the end.
    let stores = Holdings::new(nodes);

    let mut pairs = 0;
    let mut delivered_pairs = 0;
    let mut pair_lat = Vec::new();
    let mut pair_hops = Vec::new();
    let mut pair_copies = Vec::new();
    let mut by_sync = 0;
    let mut rows = Vec::new();
    let (mut t50, mut t90, mut t99, mut t100, mut hops_last) = (vec![], vec![], vec![], vec![], vec![]);
    let mut not_everywhere = 0;
    let mut held_per_node = vec![0usize; s.nodes];
    let mut delivered_alert_bytes = 0.0;
    for p in &alerts {
        let mut lats = Vec::new();
        let mut hops = Vec::new();
        let mut copies = Vec::new();
        let mut delivered = 0;
        let mut memo = HashMap::new();
        for &i in &honest {
            if i == p.origin {
                held_per_node[i] += 1;
                continue;
            }
            pairs += 1;
            if !stores.holds(i, &p.id) {
                continue;
            }
            delivered += 1;
            delivered_alert_bytes += p.bytes as f64;
            held_per_node[i] += 1;
            let st = &shared.nodes[i];
            if let Some(t) = st.accepted.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id) {
                lats.push(t - p.at_ms);
            }
            let arrival = st.arrivals.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id).copied();
            match arrival {
                Some(a) => {
                    copies.push(f64::from(a.copies));
                    if let Some(hh) = hops_of(i, &p.id, p.origin, shared, &mut memo) {
                        hops.push(hh);
                    }
                }
                None => by_sync += 1,
            }
        }
        delivered_pairs += delivered;
        let others = h.saturating_sub(1);
        lats.sort_by(f64::total_cmp);
        hops.sort_unstable();
        let reach = |q: f64| ((others as f64 * q).ceil() as usize).clamp(1, others.max(1));
        let t_at = |q: f64| {
            let need = reach(q);
            (lats.len() >= need && need > 0).then(|| lats[need - 1])
        };
        let h_at = |q: f64| {
            let need = reach(q);
            (hops.len() >= need && need > 0).then(|| hops[need - 1])
        };
        let t = [t_at(0.5), t_at(0.9), t_at(0.99), t_at(1.0)];
        let hq = [h_at(0.5), h_at(0.9), h_at(0.99), h_at(1.0)];
        t50.push(t[0].unwrap_or(f64::INFINITY));
        t90.push(t[1].unwrap_or(f64::INFINITY));
        t99.push(t[2].unwrap_or(f64::INFINITY));
        if t[3].is_none() {
            not_everywhere += 1;
        }
        t100.push(t[3].unwrap_or(f64::INFINITY));
        if let Some(last) = hops.last() {
            hops_last.push(f64::from(*last));
        }
        let mean_copies = if copies.is_empty() { 0.0 } else { copies.iter().sum::<f64>() / copies.len() as f64 };
        pair_lat.extend(lats.iter().copied());
        pair_hops.extend(hops.iter().map(|&x| f64::from(x)));
        pair_copies.extend(copies);
        rows.push(AlertRow {
            seq: p.seq,
            id: hex_of(&p.id),
            origin: p.origin,
            published_ms: p.at_ms - run.work_ms,
            delivered,
            t_ms: t,
            hops: hq,
            mean_copies,
        });
    }
    // Alerts missing a quantile count as infinitely slow for its percentiles
    // (they are reported apart in alerts_not_everywhere).
    let finite_dist = |v: Vec<f64>| {
        let missing = v.iter().filter(|x| !x.is_finite()).count();
        let mut d = Dist::of(v.iter().map(|x| if x.is_finite() { *x } else { f64::MAX }).collect());
        if missing > 0 {
            let fix = |x: Option<f64>| x.filter(|y| *y < f64::MAX);
            d.p99 = fix(d.p99);
            d.max = fix(d.max);
            d.p90 = fix(d.p90);
            d.p50 = fix(d.p50);
            d.mean = None;
        }
        d
    };

    // Bytes over the measured window.
    let window = |i: usize, k: usize| c1[i][k].saturating_sub(c0[i][k]) as f64;
    let mut bytes = HashMap::new();
    let names = ["wire_in", "wire_out", "payload", "ihave", "iwant", "graft", "prune", "idontwant", "gossip_other"];
    for (k, name) in names.iter().enumerate() {
        let total: f64 = honest.iter().map(|&i| window(i, k)).sum();
        bytes.insert(*name, total / h.max(1) as f64);
    }
    let payload: f64 = honest.iter().map(|&i| window(i, 2)).sum();
    let control: f64 = honest.iter().map(|&i| (3..8).map(|k| window(i, k)).sum::<f64>()).sum();
    let control_ratio = (payload > 0.0).then(|| control / payload);
    // P11: every byte honest nodes received in the window (all protocols,
    // framing included) per byte of the distinct alerts delivered to them.
    let wire_in: f64 = honest.iter().map(|&i| window(i, 0)).sum();
    let bytes_per_alert_byte = (delivered_alert_bytes > 0.0).then(|| wire_in / delivered_alert_bytes);
    let mut bytes_by_protocol: HashMap<String, f64> = HashMap::new();
    for &i in &honest {
        for (k, v) in shared.nodes[i].by_protocol.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            *bytes_by_protocol.entry(k.clone()).or_default() += *v as f64 / h.max(1) as f64;
        }
    }

    // Adversaries.
    let mut adversary_frames: HashMap<&'static str, usize> = HashMap::new();
    let mut spam: HashMap<&'static str, usize> = HashMap::new();
    let mut forged_votes_counted = 0;
    let mut over_quota_by_author: HashMap<[u8; 32], Vec<(MsgKey, [u8; 32])>> = HashMap::new();
    let mut forged_targets = HashSet::new();
    for f in adv {
        *adversary_frames.entry(f.kind.name()).or_default() += 1;
        if f.honest_replay {
            continue;
        }
        if f.kind == AdversaryKind::OverQuota {
            if let Some(a) = f.author {
                over_quota_by_author.entry(a).or_default().push((f.id, f.digest));
            }
            continue;
        }
        let held = honest.iter().filter(|&&i| stores.holds_exact(i, &f.id, &f.digest)).count();
        if f.kind == AdversaryKind::ForgedVote {
            forged_votes_counted += held;
            if let Some(t) = f.targets {
                forged_targets.insert(t);
            }
        }
        spam.entry(f.kind.name()).or_insert(0);
        *spam.entry(f.kind.name()).or_default() += held;
    }
    let per_hour = s.workload.per_hour as usize;
    // The quota is per clock hour of `sent`; a run may straddle two hours.
    let hours = run.quota_hours.max(1);
    let mut within = 0;
    let mut over = 0;
    for ids in over_quota_by_author.values() {
        for &i in &honest {
            let held = ids.iter().filter(|(k, d)| stores.holds_exact(i, k, d)).count();
            within += held.min(per_hour * hours);
            over += held.saturating_sub(per_hour * hours);
        }
    }
    if !over_quota_by_author.is_empty() {
        spam.insert(AdversaryKind::OverQuota.name(), over);
    }

    // Moderation.
    let hidden_set: HashSet<MsgKey> = published.iter().filter_map(|p| p.vote_on).collect();
    let mut conv = Vec::new();
    let mut hidden_pairs = 0;
    let mut hidden_converged = 0;
    for a in &hidden_set {
        let votes: Vec<&Published> = published.iter().filter(|p| p.vote_on == Some(*a)).collect();
        if votes.len() < s.moderation.quorum as usize {
            continue;
        }
        let quorum_at = votes.iter().map(|v| v.at_ms).fold(0.0, f64::max);
        let mut last: f64 = 0.0;
        let mut all = true;
        for &i in &honest {
            hidden_pairs += 1;
            let state = stores.alert_state(i, a);
            if state == Some(AlertState::Hidden) {
                hidden_converged += 1;
            } else {
                all = false;
            }
            match shared.nodes[i].hidden.lock().unwrap_or_else(|e| e.into_inner()).get(a) {
                Some(t) => last = last.max(*t),
                None => all = false,
            }
        }
        conv.push(if all { (last - quorum_at).max(0.0) } else { f64::INFINITY });
    }
    let mut wrongly_hidden = 0;
    for t in forged_targets.difference(&hidden_set) {
        wrongly_hidden += honest.iter().filter(|&&i| stores.alert_state(i, t) == Some(AlertState::Hidden)).count();
    }

    // Scheduling lag.
    let ms = |us: u64| us as f64 / 1000.0;
    let pump =
        [ms(shared.pump_lag.quantile_us(0.5)), ms(shared.pump_lag.quantile_us(0.99)), ms(shared.pump_lag.max_us())];
    let probe =
        [ms(shared.probe_lag.quantile_us(0.5)), ms(shared.probe_lag.quantile_us(0.99)), ms(shared.probe_lag.max_us())];
    // Latencies are measured during workload + settle, so that window's
    // lag decides the flag (warmup's dial storm is reported but not used).
    let window_p99 = run.lag_window[0][1].max(run.lag_window[1][1]);
    // In virtual time no timer is late: time only moves once every task
    // is idle.
    let lag_flagged = run.clock == crate::clock::ClockMode::Real && window_p99 > 0.1 * s.link.latency_ms;
    if lag_flagged {
        warnings.push(format!(
            "scheduling lag p99 {window_p99:.1} ms during the workload exceeds 10 % of the link latency ({:.1} ms): latencies are inflated by a saturated CPU",
            0.1 * s.link.latency_ms
        ));
    }
    let events_missed: u64 = shared.nodes.iter().map(|n| n.events_missed.load(Ordering::Relaxed)).sum();
    if events_missed > 0 {
        warnings.push(format!("{events_missed} live-feed events were missed; some latencies are absent"));
    }

    let node_rows = (0..s.nodes)
        .map(|i| NodeRow {
            node: i,
            role: roles[i].map_or("honest", AdversaryKind::name).to_owned(),
            wire_in: window(i, 0) as u64,
            wire_out: window(i, 1) as u64,
            payload_in: window(i, 2) as u64,
            control_in: (3..8).map(|k| window(i, k) as u64).sum(),
            alerts_held: held_per_node[i],
        })
        .collect();

    let delivery_ratio = if pairs == 0 { 1.0 } else { delivered_pairs as f64 / pairs as f64 };
    let mut report = Report {
        scenario: s.clone(),
        honest_nodes: h,
        adversary_nodes: s.nodes - h,
        alerts: alerts.len(),
        goals: Vec::new(),
        delivery_ratio,
        pairs,
        pairs_delivered: delivered_pairs,
        latency_ms: Dist::of(pair_lat.clone()),
        t50_ms: finite_dist(t50),
        t90_ms: finite_dist(t90),
        t99_ms: finite_dist(t99),
        t100_ms: finite_dist(t100),
        alerts_not_everywhere: not_everywhere,
        hops: Dist::of(pair_hops),
        hops_last: Dist::of(hops_last),
        copies: Dist::of(pair_copies),
        pairs_by_sync: by_sync,
        bytes_per_node: bytes,
        control_ratio,
        bytes_per_alert_byte,
        bytes_by_protocol,
        adversary_frames,
        spam_accepted: spam,
        over_quota_within_quota: within,
        forged_votes_counted,
        wrongly_hidden,
        hidden_alerts: conv.len(),
        hidden_pairs_converged: hidden_converged,
        hidden_pairs,
        moderation_convergence_ms: finite_dist(conv),
        pump_lag_ms: pump,
        probe_lag_ms: probe,
        lag_flagged,
        events_missed,
        run,
        warnings,
        nat: None,
        alert_rows: rows,
        node_rows,
        pair_latencies: pair_lat,
    };
    report.goals = goals::check(&report);
    report
}

/// A message key as lowercase hex.
fn hex_of(k: &MsgKey) -> String {
    k.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
