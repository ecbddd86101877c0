//! Scenario parsing and validation tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

#[test]
fn builtins_parse_and_validate() {
    for (name, text) in BUILTIN {
        let s = Scenario::parse(text, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name);
    }
}

#[test]
fn unknown_keys_are_refused_with_the_key_named() {
    let e = Scenario::parse("name = \"x\"\n[link]\nlatency = 5\n", Path::new("x.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("latency"), "{msg}");
}

#[test]
fn out_of_range_values_name_the_key() {
    let e = Scenario::parse("name = \"x\"\nnodes = 1\n", Path::new("x.toml")).unwrap_err();
    assert!(e.to_string().contains("nodes"), "{e}");
    let e = Scenario::parse("name = \"x\"\n[link]\nloss = 0.7\n", Path::new("x.toml")).unwrap_err();
    assert!(e.to_string().contains("link.loss"), "{e}");
    let e = Scenario::parse("name = \"x\"\n[workload]\ncategories = [\"memes\"]\n", Path::new("x.toml")).unwrap_err();
    assert!(e.to_string().contains("memes"), "{e}");
    let text = "name = \"x\"\n[workload]\nalerts_per_sec = 10.0\nposters = 1\n";
    let e = Scenario::parse(text, Path::new("x.toml")).unwrap_err();
    assert!(e.to_string().contains("workload.posters"), "{e}");
    let text = "name = \"x\"\n[[faults.partitions]]\nstart_secs = 5.0\nheal_secs = 2.0\nfraction = 0.5\n";
    let e = Scenario::parse(text, Path::new("x.toml")).unwrap_err();
    assert!(e.to_string().contains("faults.partitions"), "{e}");
}

#[test]
fn nat_takes_a_share_or_a_public_count() {
    let s = Scenario::parse("name = \"x\"\nnodes = 100\n[nat]\nshare = 0.8\n", Path::new("x.toml")).unwrap();
    assert_eq!(s.natted_nodes(), 80);
    let s = Scenario::parse("name = \"x\"\nnodes = 100\n[nat]\npublic = 3\n", Path::new("x.toml")).unwrap();
    assert_eq!(s.natted_nodes(), 97);
    let s = Scenario::parse("name = \"x\"\n", Path::new("x.toml")).unwrap();
    assert_eq!(s.natted_nodes(), 0);
    for bad in ["share = 0.8\npublic = 3\n", "share = 1.5\n", "public = 200\n", "share = 1.0\n", "", "nated = 1\n"] {
        let text = format!("name = \"x\"\nnodes = 100\n[nat]\n{bad}");
        let e = Scenario::parse(&text, Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("nat"), "{bad:?}: {e}");
    }
}

#[test]
fn unknown_builtin_is_a_clear_error() {
    let e = Scenario::load("no-such-scenario").unwrap_err();
    assert!(e.to_string().contains("stoop-sim list"), "{e}");
}
