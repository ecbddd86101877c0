//! A corrupt store is quarantined and resynced from peers, not a crash
//! loop (RELIABILITY.md, faults: kill -9 / sled corruption): the node moves
//! the damaged store aside, starts with an empty one for the same hood,
//! says so in its log and metrics, and sync brings every alert back.

use std::io::{Seek, SeekFrom, Write};

use stoop_tests::{Node, TestResult, WAIT, wait_for};

/// Overwrites the first 4 KiB of sled's log file: sled 0.34 then fails to
/// recover with `Corruption` (so do a scribbled or truncated snapshot and a
/// truncated log; an emptied `conf` it recovers from by itself).
fn scribble(store: &std::path::Path) -> TestResult {
    let mut db = std::fs::OpenOptions::new().write(true).open(store.join("db"))?;
    db.seek(SeekFrom::Start(0))?;
    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    db.write_all(&junk)?;
    db.sync_all()?;
    Ok(())
}

#[test]
fn a_corrupt_store_is_quarantined_and_resynced() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let a = Node::init(&tmp.path().join("a"))?;
    let ticket = a.invite()?;
    let mut b = Node::join(&tmp.path().join("b"), &ticket)?;
    let b_key = b.author()?;
    wait_for(WAIT, "B's join to reach A", || {
        let (_, v) = a.get("/v1/members").ok()?;
        v["members"].as_array()?.iter().any(|m| m["key"] == b_key.as_str()).then_some(())
    })?;
    let alerts: Vec<String> =
        (0..5).map(|i| a.post_alert(&format!("Before the corruption {i}"))).collect::<Result<_, _>>()?;
    let mine = b.post_alert("Posted by B itself")?;
    for id in &alerts {
        wait_for(WAIT, "B to hold every alert", || b.alert_state(id))?;
    }
    wait_for(WAIT, "A to hold B's alert", || a.alert_state(&mine))?;
    let before = b.store_messages()?;

    b.stop()?;
    let store = b.dir.join("store");
    scribble(&store)?;
    b.restart()?;

    let log = b.log();
    assert!(log.contains("the store is corrupt: moved it aside"), "no quarantine line in the log:\n{log}");
    let quarantined: Vec<_> = std::fs::read_dir(&b.dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("store.corrupt-"))
        .collect();
    assert_eq!(quarantined.len(), 1, "the damaged store is kept aside, once");
    assert_eq!(b.metric("stoop_store_quarantines_total", &[])?, 1.0);
    for id in alerts.iter().chain([&mine]) {
        if let Err(e) = wait_for(WAIT, "B to resync every alert", || b.alert_state(id)) {
            return Err(format!("{e}\n--- A's log:\n{}\n--- B's log:\n{}", a.log(), b.log()).into());
        }
    }
    let (_, status) = b.get("/v1/status")?;
    assert_eq!(status["member"], true, "B's own join came back by sync");
    let after = wait_for(WAIT, "the whole store to come back", || b.store_messages().ok().filter(|n| *n >= before))?;

    // The next start finds a healthy store: no second quarantine.
    b.stop()?;
    b.restart()?;
    assert_eq!(b.metric("stoop_store_quarantines_total", &[])?, 0.0);
    assert_eq!(b.store_messages()?, after);
    println!("store of {before} messages scribbled; quarantined and resynced {after} messages");
    Ok(())
}
