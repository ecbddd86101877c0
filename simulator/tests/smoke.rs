//! Runs the `smoke` scenario end to end on the real node stack. Asserts
//! counts only (never timings): every honest alert reaches every honest
//! node, and no forged vote or other spam is held by an honest node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use stoop_sim::clock::ClockMode;
use stoop_sim::runner::{RunOptions, run};
use stoop_sim::scenario::Scenario;

#[test]
fn smoke_scenario_delivers_everything_and_counts_no_forgery() {
    let s = Scenario::load("smoke").expect("built-in smoke scenario");
    let out = tempfile::tempdir().unwrap();
    let clock = ClockMode::Virtual;
    let rt = clock.runtime().unwrap();
    let report = rt.block_on(run(&s, &RunOptions { out: out.path().to_path_buf(), progress: false, clock })).unwrap();
    rt.shutdown_background();

    assert!(report.alerts > 0, "no alert was published");
    assert_eq!(report.pairs_delivered, report.pairs, "delivery {}/{}", report.pairs_delivered, report.pairs);
    assert_eq!(report.forged_votes_counted, 0);
    assert_eq!(report.wrongly_hidden, 0);
    assert_eq!(report.spam_accepted.values().sum::<usize>(), 0, "{:?}", report.spam_accepted);
    assert!(report.adversary_frames.values().sum::<usize>() > 0, "adversaries sent nothing");
    assert_eq!(report.hidden_pairs_converged, report.hidden_pairs);
    for f in ["report.json", "alerts.csv", "nodes.csv", "latency_cdf.svg", "delivery_over_time.svg"] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
    let svg = std::fs::read_to_string(out.path().join("latency_cdf.svg")).unwrap();
    assert!(svg.contains("<svg"));
}
