//! Replica tests: the ledger and the store stay in step when writes fail.

use super::*;
use crate::store::StoreConfig;
use stoop_core::testkit::HoodFixture;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000;

fn replica(f: &HoodFixture) -> Result<Replica, StoreError> {
    Ok(Replica::create(Store::open(&StoreConfig::temporary(1 << 20))?, f.charter.clone())?.0)
}

#[test]
fn a_frame_whose_store_write_failed_is_accepted_when_it_comes_again() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let mut r = replica(&f)?;
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(&f.founders[0]);
    r.store().fail_writes(true);
    let failed = r.ingest(&alert.to_bytes(), T0);
    assert_eq!(failed.verdict, Verdict::Ignore(IgnoreReason::StoreUnavailable));
    assert!(failed.accepted.is_empty());
    assert!(r.ledger().alert(&alert.id()).is_none(), "the ledger committed what the store lost");
    r.store().fail_writes(false);
    assert_eq!(r.ingest(&alert.to_bytes(), T0).verdict, Verdict::Accept, "the same frame is not a duplicate");
    assert!(r.store().get(&alert.id())?.is_some());
    assert_eq!(r.ingest(&alert.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    Ok(())
}

#[test]
fn a_post_whose_flush_failed_is_not_half_committed_and_can_be_sent_again() -> TestResult {
    let f = HoodFixture::new(1, 1)?;
    let mut r = replica(&f)?;
    let payload = Payload::Alert(f.alert(T0, "Tree down"));
    r.store().fail_writes(true);
    let err = r.publish(&payload, &f.founders[0], T0).err().ok_or("accepted with a failing store")?;
    assert_eq!(err.code(), "store_error");
    r.store().fail_writes(false);
    let env = r.publish(&payload, &f.founders[0], T0)?;
    assert!(r.ledger().alert(&env.id()).is_some());
    assert!(r.store().get(&env.id())?.is_some());
    Ok(())
}

/// Sync v2's item set is exactly the stored messages, through supersession,
/// retention and a reopen: it never holds more than the ledger keeps.
#[test]
fn the_item_set_is_exactly_the_stored_messages() -> TestResult {
    use stoop_core::message::Decision;
    let f = HoodFixture::new(1, 1)?;
    let dir = tempfile::tempdir()?;
    let same = |r: &Replica| -> Result<(), Box<dyn std::error::Error>> {
        let stored = r.store().time_index()?;
        for (_, id) in &stored {
            assert!(r.items().contains(id), "stored {} missing from the item set", id.to_hex());
        }
        assert_eq!(r.items().len(), stored.len(), "the item set holds more than the store");
        assert_eq!(r.items().len(), r.store().len());
        Ok(())
    };
    let mut r = Replica::create(Store::open(&StoreConfig::at(dir.path()))?, f.charter.clone())?.0;
    let mod_key = &f.founders[0];
    let alert = Payload::Alert(f.alert(T0, "Tree down")).seal(mod_key);
    assert_eq!(r.ingest(&alert.to_bytes(), T0).verdict, Verdict::Accept);
    let hide = f.vote(mod_key, alert.id(), Decision::Hide, T0 + 1);
    let restore = f.vote(mod_key, alert.id(), Decision::Restore, T0 + 2);
    assert_eq!(r.ingest(&hide.to_bytes(), T0 + 2).verdict, Verdict::Accept);
    assert_eq!(r.ingest(&restore.to_bytes(), T0 + 2).verdict, Verdict::Accept);
    assert!(!r.items().contains(&hide.id()), "a superseded vote left the set");
    assert!(r.items().contains(&restore.id()) && r.items().contains(&alert.id()));
    // A message whose write failed is not in the set either.
    r.store().fail_writes(true);
    let lost = Payload::Alert(f.alert(T0 + 3, "Lost")).seal(mod_key);
    let _ = r.ingest(&lost.to_bytes(), T0 + 3);
    r.store().fail_writes(false);
    assert!(!r.items().contains(&lost.id()));
    same(&r)?;
    let before = r.items().len();
    r.flush()?;
    drop(r);
    let (mut r, _) = Replica::open(Store::open(&StoreConfig::at(dir.path()))?)?;
    assert_eq!(r.items().len(), before, "rebuilt from the store at start");
    same(&r)?;
    // Retention deletes the alert with its vote: both leave the set.
    let late = T0 + 6 * 3600 + f.charter.charter().retention_secs + 1;
    assert_eq!(r.collect_garbage(late)?, 1);
    assert!(!r.items().contains(&alert.id()) && !r.items().contains(&restore.id()));
    same(&r)?;
    Ok(())
}
