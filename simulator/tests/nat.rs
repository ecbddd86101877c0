//! A tiny hood behind home routers delivers: 12 nodes, 8 of them behind
//! NAT, the 4 public ones their relays and bootstrap. Asserts counts only:
//! every honest alert reaches every honest node, the routers dropped
//! unsolicited dials (the model is on), nodes behind NAT reached each
//! other directly, and a public node found out it is public (a relay).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use stoop_sim::clock::ClockMode;
use stoop_sim::runner::{RunOptions, run};
use stoop_sim::scenario::Scenario;

const SCENARIO: &str = r#"
name = "nat-tiny"
nodes = 12
seed = 3

[topology]
bootstrap_peers = 3

[timing]
# AutoNAT (5 s probes), reservations (10 s after start), punches.
warmup_secs = 30
duration_secs = 8
settle_secs = 35

[workload]
alerts_per_sec = 1.0
posters = 4

[moderation]
hide_fraction = 0.0

[nat]
public = 4
"#;

#[test]
fn a_hood_behind_nat_delivers_through_relays_and_punched_links() {
    let s = Scenario::parse(SCENARIO, Path::new("nat-tiny.toml")).unwrap();
    assert_eq!(s.natted_nodes(), 8);
    let out = tempfile::tempdir().unwrap();
    let clock = ClockMode::Virtual;
    let rt = clock.runtime().unwrap();
    let report = rt.block_on(run(&s, &RunOptions { out: out.path().to_path_buf(), progress: false, clock })).unwrap();
    rt.shutdown_background();

    assert!(report.alerts > 0, "no alert was published");
    assert_eq!(report.pairs_delivered, report.pairs, "delivery {}/{}", report.pairs_delivered, report.pairs);
    let nat = report.nat.as_ref().expect("a NAT section");
    assert_eq!((nat.natted, nat.public), (8, 4));
    assert_eq!(nat.never_peered, 0, "a node behind NAT never found a peer");
    // Not all four: AutoNAT v1 cannot confirm memory-transport addresses
    // (its servers need an IP), so some public nodes stay unconfirmed; one
    // relay is enough for this hood.
    assert!(nat.states_public.get("public").is_some_and(|n| *n >= 1), "no relay: {:?}", nat.states_public);
    let dropped: u64 = nat.dials.values().map(|o| o.dropped).sum();
    assert!(dropped > 0, "no router dropped anything: {:?}", nat.dials);
    assert!(nat.links_end.nat_nat[0] > 0, "no direct link between two nodes behind NAT: {:?}", nat.links_end);
    for f in ["nat_links.csv", "nat_nodes.csv"] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
}
