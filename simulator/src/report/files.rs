//! The report's files under the output directory: report.json,
//! alerts.csv, nodes.csv, latency_cdf.svg and delivery_over_time.svg.

use std::fmt::Write as _;
use std::path::Path;

use super::summary::opt;
use super::{Published, Report, ReportError};
use crate::scenario::AdversaryKind;
use crate::stats::Shared;

/// Maps an IO error on `path` to a [`ReportError`].
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

/// Writes report.json, alerts.csv, nodes.csv, latency_cdf.svg and
/// delivery_over_time.svg under `out`.
pub fn write(
    r: &Report,
    shared: &Shared,
    roles: &[Option<AdversaryKind>],
    published: &[Published],
    out: &Path,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let p = out.join("report.json");
    std::fs::write(&p, serde_json::to_string_pretty(r)?).map_err(io(&p))?;

    let mut csv = String::from(
        "seq,id,origin,published_ms,delivered,t50_ms,t90_ms,t99_ms,t100_ms,hops50,hops90,hops99,hops100,mean_copies\n",
    );
    for a in &r.alert_rows {
        let h = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{},{:.1},{},{},{},{},{},{},{},{},{},{:.2}",
            a.seq,
            a.id,
            a.origin,
            a.published_ms,
            a.delivered,
            opt(a.t_ms[0]),
            opt(a.t_ms[1]),
            opt(a.t_ms[2]),
            opt(a.t_ms[3]),
            h(a.hops[0]),
            h(a.hops[1]),
            h(a.hops[2]),
            h(a.hops[3]),
            a.mean_copies
        );
    }
    let p = out.join("alerts.csv");
    std::fs::write(&p, csv).map_err(io(&p))?;

    let mut csv = String::from("node,role,wire_in,wire_out,payload_in,control_in,alerts_held\n");
    for n in &r.node_rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            n.node, n.role, n.wire_in, n.wire_out, n.payload_in, n.control_in, n.alerts_held
        );
    }
    let p = out.join("nodes.csv");
    std::fs::write(&p, csv).map_err(io(&p))?;

    if let Some(nat) = &r.nat {
        let p = out.join("nat_links.csv");
        std::fs::write(&p, nat.csv()).map_err(io(&p))?;
        let p = out.join("nat_nodes.csv");
        std::fs::write(&p, nat.nodes_csv()).map_err(io(&p))?;
    }
    crate::plot::latency_cdf(r, &out.join("latency_cdf.svg"))?;
    let series = delivery_over_time(r, shared, roles, published);
    crate::plot::delivery_over_time(r, &series, &out.join("delivery_over_time.svg"))?;
    Ok(())
}

/// (seconds since workload start, delivered pairs / pairs published so far).
fn delivery_over_time(
    r: &Report,
    shared: &Shared,
    roles: &[Option<AdversaryKind>],
    published: &[Published],
) -> Vec<(f64, f64)> {
    let honest: Vec<usize> = (0..roles.len()).filter(|&i| roles[i].is_none()).collect();
    let others = honest.len().saturating_sub(1) as f64;
    let mut pubs: Vec<f64> = Vec::new();
    let mut accepts: Vec<f64> = Vec::new();
    for p in published.iter().filter(|p| p.kind == "alert") {
        pubs.push(p.at_ms);
        for &i in &honest {
            if i == p.origin {
                continue;
            }
            if let Some(t) = shared.nodes[i].accepted.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id) {
                accepts.push(*t);
            }
        }
    }
    pubs.sort_by(f64::total_cmp);
    accepts.sort_by(f64::total_cmp);
    let (start, end) = (r.run.work_ms, r.run.settle_end_ms);
    let steps = 300;
    (0..=steps)
        .map(|k| {
            let t = start + (end - start) * k as f64 / steps as f64;
            let expected = pubs.partition_point(|&x| x <= t) as f64 * others;
            let got = accepts.partition_point(|&x| x <= t) as f64;
            ((t - start) / 1000.0, if expected > 0.0 { (got / expected).min(1.0) } else { 1.0 })
        })
        .collect()
}
