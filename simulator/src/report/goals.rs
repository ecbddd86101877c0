//! The BENCHMARKS.md goals P2–P7 and P11, checked against a run's figures.

use serde::Serialize;

use super::Report;

/// One goal of BENCHMARKS.md and how this run did.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// P2..P7.
    pub id: &'static str,
    /// What.
    pub what: String,
    /// Measured.
    pub value: Option<f64>,
    /// Goal.
    pub goal: String,
    /// Met (None: not applicable to this scenario).
    pub met: Option<bool>,
}

/// How the figures of `r` stand against each goal.
pub(super) fn check(r: &Report) -> Vec<Goal> {
    let (s, h, run) = (&r.scenario, r.honest_nodes, &r.run);
    let (hops_last_d, t99_ms, copies) = (&r.hops_last, &r.t99_ms, &r.copies);
    let (delivery_ratio, delivered_pairs, pairs, control_ratio) =
        (r.delivery_ratio, r.pairs_delivered, r.pairs, r.control_ratio);
    let faults = s.faults.churn_fraction > 0.0 || !s.faults.partitions.is_empty() || s.link.loss > 0.0;
    let d = s.mesh.d as f64;
    let min_hops = if h > 1 { ((h as f64).ln() / d.ln()).ceil() } else { 0.0 };
    let min_time = min_hops * s.link.latency_ms;
    vec![
        Goal {
            id: "P2",
            what: "p99 hops to the last node".into(),
            value: hops_last_d.p99,
            goal: format!("<= {} (min {min_hops} + 1)", min_hops + 1.0),
            met: hops_last_d.p99.map(|v| v <= min_hops + 1.0),
        },
        Goal {
            id: "P3",
            what: "p99 time to 99 % of nodes, ms".into(),
            value: t99_ms.p99,
            goal: format!("<= {:.0} (1.5 x {min_hops} hops x {} ms)", 1.5 * min_time, s.link.latency_ms),
            met: Some(t99_ms.p99.is_some_and(|v| v <= 1.5 * min_time)),
        },
        Goal {
            id: "P4",
            what: "delivery ratio".into(),
            value: Some(delivery_ratio),
            goal: if faults { ">= 0.999".into() } else { "1.0".into() },
            met: Some(if faults { delivery_ratio >= 0.999 } else { delivered_pairs == pairs }),
        },
        Goal {
            id: "P5",
            what: "mean payload copies per node".into(),
            value: copies.mean,
            goal: "<= 3.0".into(),
            met: copies.mean.map(|m| m <= 3.0),
        },
        Goal {
            id: "P6",
            what: "control / payload bytes".into(),
            value: control_ratio,
            goal: "<= 0.5".into(),
            met: control_ratio.map(|r| r <= 0.5),
        },
        Goal {
            id: "P11",
            what: "all bytes received / distinct alert bytes delivered".into(),
            value: r.bytes_per_alert_byte,
            goal: "<= 3.0".into(),
            met: r.bytes_per_alert_byte.map(|x| x <= 3.0),
        },
        Goal {
            id: "P7",
            what: "peak RSS, MiB".into(),
            value: Some(run.peak_rss_kib as f64 / 1024.0),
            goal: format!("<= {:.0} (2 MiB x {} nodes)", 2.0 * s.nodes as f64, s.nodes),
            met: Some(run.peak_rss_kib as f64 / 1024.0 <= 2.0 * s.nodes as f64),
        },
    ]
}
