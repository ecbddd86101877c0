//! The attack review's findings against the rules a member can abuse, each
//! driven through the ledger's public API with exact instants.

use super::*;
use crate::envelope::Envelope;
use crate::message::{Decision, Payload};
use crate::testkit::HoodFixture;
use crate::verdict::{IgnoreReason, RejectReason, Verdict};
use prost::Message as _;
use stoop_proto::v1 as pb;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000;

fn fixture() -> Result<(HoodFixture, Ledger), Box<dyn std::error::Error>> {
    let f = HoodFixture::new(3, 2)?;
    let ledger = Ledger::new(f.charter.clone());
    Ok((f, ledger))
}

fn alert(f: &HoodFixture, n: usize, sent: u64, headline: &str) -> Envelope {
    Payload::Alert(f.alert(sent, headline)).seal(&f.founders[n])
}

/// The same frame with another signature (a forged copy).
fn forged(env: &Envelope) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut p = pb::Envelope::decode(env.to_bytes().as_slice())?;
    p.signature[5] ^= 0x40;
    Ok(p.encode_to_vec())
}

#[test]
fn a_failed_persist_leaves_no_trace_and_a_retry_is_accepted() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert(&f, 0, T0, "Tree down");
    let mut calls = 0;
    let out = l.ingest_with(&env.to_bytes(), T0, &mut |_| {
        calls += 1;
        false
    });
    assert_eq!(calls, 1);
    assert_eq!(out.verdict, Verdict::Ignore(IgnoreReason::StoreUnavailable));
    assert!(out.accepted.is_empty());
    assert!(!l.is_seen(&env.id()), "not recorded as seen");
    assert!(l.alert(&env.id()).is_none());
    assert_eq!(l.quota().remaining(&f.founders[0].public(), T0), f.charter.charter().quotas.per_hour);
    // The retry with a working store is accepted.
    let mut stored = Vec::new();
    let out = l.ingest_with(&env.to_bytes(), T0 + 1, &mut |a| {
        stored.push(a.envelope.id());
        true
    });
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(stored, vec![env.id()]);
    assert!(l.is_seen(&env.id()));
    Ok(())
}

#[test]
fn a_released_message_whose_persist_fails_is_dropped_but_the_trigger_stays() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert(&f, 0, T0, "Tree down");
    let vote = f.vote(&f.founders[1], env.id(), Decision::Hide, T0 + 1);
    assert_eq!(l.ingest(&vote.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::Pending));
    // The alert persists, the released vote does not.
    let out = l.admit_with(env.clone(), T0 + 2, &mut |a| a.envelope.id() == env.id());
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(out.accepted.len(), 1, "the alert stays committed");
    assert!(l.is_seen(&env.id()));
    assert!(!l.is_seen(&vote.id()), "the vote is neither held nor pending");
    assert!(l.alert(&env.id()).is_some_and(|m| m.votes.is_empty()));
    // Sync brings the vote again: accepted.
    assert_eq!(l.ingest(&vote.to_bytes(), T0 + 3).verdict, Verdict::Accept);
    Ok(())
}

#[test]
fn a_forged_copy_of_a_held_message_is_rejected_and_a_re_send_ignored() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert(&f, 0, T0, "Tree down");
    assert_eq!(l.ingest(&env.to_bytes(), T0).verdict, Verdict::Accept);
    let bad = l.ingest(&forged(&env)?, T0);
    assert_eq!(bad.verdict.code(), "bad_signature", "a forged copy costs its sender");
    assert_eq!(l.ingest(&env.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    // Pending messages are held too.
    let other = alert(&f, 1, T0, "Not here yet");
    let vote = f.vote(&f.founders[2], other.id(), Decision::Hide, T0);
    assert_eq!(l.ingest(&vote.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::Pending));
    assert_eq!(l.ingest(&forged(&vote)?, T0).verdict.code(), "bad_signature");
    assert_eq!(l.ingest(&vote.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    // The local API path (already-opened envelopes) gives the same verdicts.
    let reopened = Envelope::decode_unverified(&forged(&env)?)?;
    assert_eq!(l.admit(reopened, T0).verdict.code(), "bad_signature");
    assert_eq!(l.admit(env.clone(), T0).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    Ok(())
}

#[test]
fn a_forged_copy_of_a_tombstoned_alert_is_rejected() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert(&f, 0, T0, "Tree down");
    assert_eq!(l.ingest(&env.to_bytes(), T0).verdict, Verdict::Accept);
    let later = T0 + 6 * 3600 + l.charter().retention_secs + 1;
    assert_eq!(l.collect_garbage(later).alerts.len(), 1);
    assert_eq!(
        l.ingest(&forged(&env)?, later).verdict,
        Verdict::Reject(RejectReason::Signature(crate::keys::KeyError::BadSignature))
    );
    assert_eq!(l.ingest(&env.to_bytes(), later).verdict, Verdict::Ignore(IgnoreReason::Duplicate));
    Ok(())
}
