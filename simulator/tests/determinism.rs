//! A run is repeatable: the `smoke` scenario run twice with one seed (two
//! processes: std draws HashMap keys once per thread) gives byte-identical
//! alerts.csv and nodes.csv, and another seed gives another run (the
//! positive control: the comparison can fail). No task may panic in any of
//! the runs: seeds 1 and 2 are the runs in which libp2p's relay server
//! panicked 10 and 3 connection tasks before `net::relay_server` (a panic in
//! a task does not stop the run, so only its message shows it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn run(out: &Path, seed: u64) {
    let output = Command::new(env!("CARGO_BIN_EXE_stoop-sim"))
        .args(["run", "smoke", "--quiet", "--seed", &seed.to_string(), "--out"])
        .arg(out)
        .env("STOOP_SIM_LOG", "error")
        .output()
        .expect("stoop-sim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stoop-sim exited with {}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "a task panicked in the run with seed {seed}:\n{stderr}");
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn one_seed_gives_byte_identical_reports_and_another_seed_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    run(&a, 1);
    run(&b, 1);
    run(&c, 2);
    for f in ["alerts.csv", "nodes.csv"] {
        assert!(read(&a, f) == read(&b, f), "{f} differs between two runs with seed 1");
    }
    assert!(read(&a, "alerts.csv") != read(&c, "alerts.csv"), "seeds 1 and 2 gave the same alerts.csv");
}
