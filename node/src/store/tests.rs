//! Store tests: reopen, replay after restart, crash repair, paging, retention.

use super::*;
use crate::core::ledger::AlertState;
use crate::core::message::Decision;
use crate::core::verdict::{IgnoreReason, Verdict};
use crate::replica::{PublishError, Replica};
use stoop_core::testkit::HoodFixture;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000;

fn open_at(dir: &Path) -> Result<Store, StoreError> {
    Store::open(&StoreConfig::at(dir))
}

#[test]
fn accepted_messages_survive_reopen_and_replays_stay_ignored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = HoodFixture::new(3, 2)?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    let vote1 = f.vote(&f.founders[1], alert.id(), Decision::Hide, T0 + 1);
    let vote2 = f.vote(&f.founders[2], alert.id(), Decision::Hide, T0 + 2);
    {
        let (mut r, _) = Replica::create(open_at(dir.path())?, f.charter.clone())?;
        for env in [&alert, &vote1, &vote2] {
            assert_eq!(r.ingest(&env.to_bytes(), T0 + 3).verdict, Verdict::Accept);
        }
        assert_eq!(r.ledger().state(&alert.id()), Some(AlertState::Hidden));
        r.flush()?;
    }
    let (mut r, report) = Replica::open(open_at(dir.path())?)?;
    assert_eq!(report.messages, 3);
    assert_eq!(report.repaired, 0);
    assert_eq!(r.ledger().state(&alert.id()), Some(AlertState::Hidden), "hidden stays hidden after restart");
    for env in [&alert, &vote1] {
        assert_eq!(r.ingest(&env.to_bytes(), T0 + 10).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    }
    assert!(r.store().get(&vote2.id())?.is_some());
    Ok(())
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_as_locked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let _first = open_at(dir.path())?;
    match open_at(dir.path()) {
        Err(StoreError::Locked(_)) => Ok(()),
        other => Err(format!("expected Locked, got {other:?}").into()),
    }
}

#[test]
fn a_different_schema_version_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let s = open_at(dir.path())?;
        s.meta.insert("schema_version", &99u32.to_be_bytes())?;
        s.flush()?;
    }
    assert!(matches!(open_at(dir.path()), Err(StoreError::Schema { found: 99 })));
    Ok(())
}

#[test]
fn a_store_without_a_hood_or_of_another_hood_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = open_at(dir.path())?;
    assert!(matches!(Replica::open(s.clone()), Err(StoreError::NoHood)));
    let f = HoodFixture::new(1, 1)?;
    let other = HoodFixture::with_rules(1, |c| c.name = "Other".into())?;
    s.set_charter(&f.charter)?;
    assert!(matches!(s.set_charter(&other.charter), Err(StoreError::OtherHood(_))));
    Ok(())
}

#[test]
fn indexes_lost_in_a_crash_are_repaired_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = HoodFixture::new(1, 1)?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    {
        let s = open_at(dir.path())?;
        s.set_charter(&f.charter)?;
        // Simulate a crash after the message write and before the index writes.
        s.messages.insert(alert.id().as_bytes(), alert.to_bytes())?;
        s.flush()?;
    }
    let (r, report) = Replica::open(open_at(dir.path())?)?;
    assert_eq!(report.messages, 1);
    assert_eq!(report.repaired, 1, "the by_time entry was missing");
    assert_eq!(r.ledger().state(&alert.id()), Some(AlertState::Visible));
    assert_eq!(r.store().page(0, None, 10)?.0, vec![alert.to_bytes()]);
    Ok(())
}

#[test]
fn pages_walk_every_message_in_signed_time_order() -> TestResult {
    let f = HoodFixture::with_rules(1, |c| {
        c.quotas.per_hour = 100;
        c.quotas.per_day = 100;
    })?;
    let (mut r, _) = Replica::create(Store::open(&StoreConfig::temporary(1 << 20))?, f.charter.clone())?;
    let mut ids = Vec::new();
    for i in 0..25u64 {
        let env = Payload::Alert(f.alert(T0 + 25 - i, &format!("Alert {i}"))).seal(&f.founders[0]);
        assert_eq!(r.ingest(&env.to_bytes(), T0 + 30).verdict, Verdict::Accept);
        ids.push((T0 + 25 - i, env.id()));
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    for _ in 0..10 {
        let (page, next) = r.store().page(0, cursor.as_deref(), 10)?;
        for b in page {
            seen.push(Envelope::decode_unverified(&b)?.id());
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
    let (since, _) = r.store().page(T0 + 20, None, 100)?;
    assert_eq!(since.len(), 6);
    Ok(())
}

#[test]
fn retention_deletes_and_tombstones_survive_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = HoodFixture::new(2, 1)?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    let vote = f.vote(&f.founders[1], alert.id(), Decision::Hide, T0 + 1);
    let later = T0 + 6 * 3600 + f.charter.charter().retention_secs + 1;
    {
        let (mut r, _) = Replica::create(open_at(dir.path())?, f.charter.clone())?;
        r.ingest(&alert.to_bytes(), T0);
        r.ingest(&vote.to_bytes(), T0 + 1);
        assert_eq!(r.collect_garbage(later)?, 1);
        assert!(r.store().get(&alert.id())?.is_none());
        assert!(r.store().get(&vote.id())?.is_none());
        assert!(r.store().is_empty());
        r.flush()?;
    }
    let (mut r, report) = Replica::open(open_at(dir.path())?)?;
    assert_eq!(report.tombstones, 1);
    assert_eq!(r.ingest(&alert.to_bytes(), later).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    Ok(())
}

#[test]
fn publish_flushes_and_reports_named_refusals() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = HoodFixture::new(1, 1)?;
    let payload = Payload::Alert(f.alert(T0, "Tree down"));
    let id = {
        let (mut r, _) = Replica::create(open_at(dir.path())?, f.charter.clone())?;
        let env = r.publish(&payload, &f.founders[0], T0)?;
        match r.publish(&payload, &f.founders[0], T0) {
            Err(PublishError::Ignored(IgnoreReason::Duplicate)) => {}
            other => return Err(format!("expected duplicate, got {other:?}").into()),
        }
        let stranger = stoop_core::testkit::seeded_key("stranger");
        let err = r.publish(&payload, &stranger, T0).err().ok_or("stranger accepted")?;
        assert_eq!(err.code(), "not_member");
        env.id()
        // Dropped without an explicit flush: publish already flushed.
    };
    let (r, _) = Replica::open(open_at(dir.path())?)?;
    assert!(r.ledger().alert(&id).is_some());
    Ok(())
}

#[test]
fn a_schema_1_store_loses_its_unused_indexes_and_keeps_its_messages() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = HoodFixture::new(1, 1)?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    {
        // What schema 1 left: the same messages and time index, three more trees.
        let (mut r, _) = Replica::create(open_at(dir.path())?, f.charter.clone())?;
        assert_eq!(r.ingest(&alert.to_bytes(), T0).verdict, Verdict::Accept);
        for tree in DROPPED_IN_SCHEMA_2 {
            r.store().db.open_tree(tree)?.insert(alert.id().as_bytes(), &[1u8])?;
        }
        r.store().meta.insert("schema_version", &1u32.to_be_bytes())?;
        r.flush()?;
    }
    let (r, report) = Replica::open(open_at(dir.path())?)?;
    assert_eq!(report.messages, 1);
    assert!(r.ledger().alert(&alert.id()).is_some());
    assert_eq!(r.store().page(0, None, 10)?.0, vec![alert.to_bytes()]);
    assert_eq!(r.store().meta_get("schema_version")?, Some(SCHEMA_VERSION.to_be_bytes().to_vec()));
    let names = r.store().db.tree_names();
    for tree in DROPPED_IN_SCHEMA_2 {
        assert!(!names.iter().any(|n| n.as_ref() == tree.as_bytes()), "{tree} is still there");
    }
    Ok(())
}

#[test]
fn expired_unused_invites_named_by_retention_are_deleted() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let (mut r, _) = Replica::create(Store::open(&StoreConfig::temporary(1 << 20))?, f.charter.clone())?;
    let (invite, _) = f.invite(&f.founders[0], T0, T0 + 60)?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    for env in [&invite, &alert] {
        assert_eq!(r.ingest(&env.to_bytes(), T0).verdict, Verdict::Accept);
    }
    r.store().remove_garbage(&Garbage { invites: vec![invite.id()], ..Garbage::default() })?;
    assert!(r.store().get(&invite.id())?.is_none());
    assert!(r.store().get(&alert.id())?.is_some(), "only the invite goes");
    assert_eq!(r.store().page(0, None, 10)?.0, vec![alert.to_bytes()], "with its time index entry");
    Ok(())
}

#[test]
fn a_superseded_vote_is_deleted_from_the_store() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let (mut r, _) = Replica::create(Store::open(&StoreConfig::temporary(1 << 20))?, f.charter.clone())?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    let hide = f.vote(&f.founders[0], alert.id(), Decision::Hide, T0 + 1);
    let restore = f.vote(&f.founders[0], alert.id(), Decision::Restore, T0 + 2);
    for env in [&alert, &hide, &restore] {
        assert_eq!(r.ingest(&env.to_bytes(), T0 + 3).verdict, Verdict::Accept);
    }
    assert!(r.store().get(&hide.id())?.is_none(), "the moderator's older vote is still stored");
    assert!(r.store().get(&restore.id())?.is_some());
    assert_eq!(r.store().page(0, None, 10)?.0.len(), 2, "its time index entry went with it");
    Ok(())
}

#[test]
fn retention_deletes_an_expired_unused_invite_from_the_store() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let (mut r, _) = Replica::create(Store::open(&StoreConfig::temporary(1 << 20))?, f.charter.clone())?;
    let (short, _) = f.invite(&f.founders[0], T0, T0 + 60)?;
    let (long, _) = f.invite(&f.founders[0], T0, T0 + 86_400)?;
    for env in [&short, &long] {
        assert_eq!(r.ingest(&env.to_bytes(), T0).verdict, Verdict::Accept);
    }
    r.collect_garbage(T0 + 61)?;
    assert!(r.store().get(&short.id())?.is_none(), "the expired unused invite is still stored");
    assert!(r.store().get(&long.id())?.is_some(), "the live invite stays");
    Ok(())
}
