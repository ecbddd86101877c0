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
