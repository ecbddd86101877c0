//! The summary printed on stdout after a run: the goals, the figures'
//! quantiles, then one line per concern (delivery, bytes, adversaries,
//! moderation, resources, timer overshoot) and the warnings.

use std::fmt::Write as _;

use comfy_table::Table;

use super::{Dist, Report};

/// A figure with one decimal, or empty when absent.
pub(super) fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_default()
}

/// The summary table printed after a run.
pub fn summary(r: &Report) -> String {
    let mut t = Table::new();
    t.set_header(vec!["goal", "what", "measured", "target", "met"]);
    for g in &r.goals {
        t.add_row(vec![
            g.id.to_owned(),
            g.what.clone(),
            // Ratios get four decimals: 59,934 of 59,940 pairs must not
            // print as a "1.000" that misses the goal.
            g.value.map_or("n/a".into(), |v| {
                if v <= 1.0 {
                    format!("{v:.4}")
                } else if v < 10.0 {
                    format!("{v:.3}")
                } else {
                    format!("{v:.0}")
                }
            }),
            g.goal.clone(),
            match g.met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]);
    }
    let mut d = Table::new();
    d.set_header(vec!["figure", "p50", "p90", "p99", "max"]);
    let row = |name: &str, x: &Dist| vec![name.to_owned(), opt(x.p50), opt(x.p90), opt(x.p99), opt(x.max)];
    d.add_row(row("pair latency, ms", &r.latency_ms));
    d.add_row(row("time to 50 % of nodes, ms", &r.t50_ms));
    d.add_row(row("time to 90 % of nodes, ms", &r.t90_ms));
    d.add_row(row("time to 99 % of nodes, ms", &r.t99_ms));
    d.add_row(row("time to 100 % of nodes, ms", &r.t100_ms));
    d.add_row(row("hops (pairs)", &r.hops));
    d.add_row(row("hops to the last node", &r.hops_last));
    d.add_row(row("payload copies per node", &r.copies));
    d.add_row(row("moderation convergence, ms", &r.moderation_convergence_ms));
    let mut out = format!(
        "scenario {}: {} honest + {} adversarial nodes, {} alerts, seed {}\n",
        r.scenario.name, r.honest_nodes, r.adversary_nodes, r.alerts, r.scenario.seed
    );
    let _ = writeln!(out, "{t}\n{d}");
    let spam: usize = r.spam_accepted.values().sum();
    let _ = writeln!(
        out,
        "delivery {}/{} pairs ({:.4}), {} by sync only; {} alerts missed some node",
        r.pairs_delivered, r.pairs, r.delivery_ratio, r.pairs_by_sync, r.alerts_not_everywhere
    );
    let _ = writeln!(
        out,
        "bytes per honest node: wire in {:.0}, payload {:.0}, control {:.0} (IHAVE {:.0}, IWANT {:.0}, GRAFT {:.0}, PRUNE {:.0}); control/payload {}",
        r.bytes_per_node.get("wire_in").unwrap_or(&0.0),
        r.bytes_per_node.get("payload").unwrap_or(&0.0),
        ["ihave", "iwant", "graft", "prune", "idontwant"]
            .iter()
            .map(|k| r.bytes_per_node.get(k).unwrap_or(&0.0))
            .sum::<f64>(),
        r.bytes_per_node.get("ihave").unwrap_or(&0.0),
        r.bytes_per_node.get("iwant").unwrap_or(&0.0),
        r.bytes_per_node.get("graft").unwrap_or(&0.0),
        r.bytes_per_node.get("prune").unwrap_or(&0.0),
        opt(r.control_ratio.map(|x| x * 100.0)).to_owned() + " %"
    );
    let mut protos: Vec<_> = r.bytes_by_protocol.iter().collect();
    protos.sort_by(|a, b| b.1.total_cmp(a.1));
    let list: Vec<String> = protos.iter().map(|(k, v)| format!("{k} {:.0}", v)).collect();
    let _ = writeln!(out, "bytes received per honest node by protocol (whole run): {}", list.join(", "));
    if !r.adversary_frames.is_empty() {
        let mut kinds: Vec<_> = r.adversary_frames.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{k} {n} sent/{} accepted", r.spam_accepted.get(*k).copied().unwrap_or(0)))
            .collect();
        let _ = writeln!(out, "adversaries: {}", list.join(", "));
        let _ = writeln!(
            out,
            "spam accepted by honest nodes: {spam}; forged votes counted: {}; alerts wrongly hidden: {}; over-quota posts within quota (allowed): {}",
            r.forged_votes_counted, r.wrongly_hidden, r.over_quota_within_quota
        );
    }
    let _ = writeln!(
        out,
        "moderation: {} alerts hidden, {}/{} (alert, node) pairs converged",
        r.hidden_alerts, r.hidden_pairs_converged, r.hidden_pairs
    );
    let _ = writeln!(
        out,
        "resources: peak RSS {:.0} MiB ({:.2} MiB/node; {:.0} MiB after stores, {:.0} MiB after swarms), CPU {:.0} s over {:.0} s wall",
        r.run.peak_rss_kib as f64 / 1024.0,
        r.run.peak_rss_kib as f64 / 1024.0 / r.scenario.nodes as f64,
        r.run.rss_stores_kib as f64 / 1024.0,
        r.run.rss_started_kib as f64 / 1024.0,
        r.run.cpu_secs,
        r.run.wall_secs
    );
    let _ = writeln!(
        out,
        "connections per node: {:.1} at the end of the settle phase, {:.1} at the peak",
        r.run.connections_per_node, r.run.connections_per_node_peak
    );
    let _ = writeln!(
        out,
        "time: {} clock, {:.0} s simulated in {:.0} s wall ({:.2} simulated s per wall s)",
        r.run.clock,
        r.run.simulated_secs,
        r.run.wall_secs,
        r.run.simulated_secs / r.run.wall_secs.max(1e-9)
    );
    // Virtual time has no overshoot to report: time only moves when every
    // task is idle.
    if r.run.clock == crate::clock::ClockMode::Real {
        overshoot(&mut out, r);
    }
    if let Some(nat) = &r.nat {
        nat.summary(&mut out);
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn overshoot(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "timer overshoot, workload + settle: link pumps p50 {:.2} / p99 {:.2} ms; probe p50 {:.2} / p99 {:.2} ms{}",
        r.run.lag_window[0][0],
        r.run.lag_window[0][1],
        r.run.lag_window[1][0],
        r.run.lag_window[1][1],
        if r.lag_flagged { "  <-- FLAGGED (> 10 % of link latency)" } else { "" }
    );
    let _ = writeln!(
        out,
        "timer overshoot, whole run (warmup included): link pumps p50 {:.2} / p99 {:.2} / max {:.1} ms; probe p50 {:.2} / p99 {:.2} / max {:.1} ms",
        r.pump_lag_ms[0], r.pump_lag_ms[1], r.pump_lag_ms[2], r.probe_lag_ms[0], r.probe_lag_ms[1], r.probe_lag_ms[2]
    );
}
