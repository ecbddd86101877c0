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

fn cancel(f: &HoodFixture, original: crate::ids::MessageId, sent: u64) -> Envelope {
    Payload::Alert(f.follow_up(original, crate::message::MsgType::Cancel, sent)).seal(&f.founders[0])
}

#[test]
fn one_cancel_per_original_the_earliest_wins() -> TestResult {
    let (f, mut l) = fixture()?;
    let original = alert(&f, 0, T0, "Dog lost");
    assert_eq!(l.ingest(&original.to_bytes(), T0).verdict, Verdict::Accept);
    let late = cancel(&f, original.id(), T0 + 20);
    let early = cancel(&f, original.id(), T0 + 10);
    assert_eq!(l.ingest(&late.to_bytes(), T0 + 20).verdict, Verdict::Accept);
    // The earlier one replaces it; the later one is forgotten so the held
    // set is the same as on a node that saw them in the other order.
    let out = l.ingest(&early.to_bytes(), T0 + 21);
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(out.accepted[0].superseded, vec![late.id()]);
    assert!(!l.is_seen(&late.id()));
    assert_eq!(l.ingest(&late.to_bytes(), T0 + 22).verdict, Verdict::Ignore(IgnoreReason::AlreadyCancelled));
    for i in 0..50 {
        let more = cancel(&f, original.id(), T0 + 11 + i);
        assert_eq!(l.ingest(&more.to_bytes(), T0 + 70).verdict, Verdict::Ignore(IgnoreReason::AlreadyCancelled));
    }
    let cancels = l.alerts().filter(|m| m.msg_type == crate::message::MsgType::Cancel).count();
    assert_eq!(cancels, 1, "one cancel held per original");
    assert_eq!(l.alert(&original.id()).and_then(|m| m.cancelled_by), Some(early.id()));
    assert_eq!(l.state(&original.id()), Some(AlertState::Cancelled));
    Ok(())
}

#[test]
fn restoring_two_cancels_or_two_votes_gives_the_live_state() -> TestResult {
    let (f, mut live) = fixture()?;
    let original = alert(&f, 0, T0, "Dog lost");
    let c1 = cancel(&f, original.id(), T0 + 10);
    let c2 = cancel(&f, original.id(), T0 + 20);
    let v1 = f.vote(&f.founders[1], original.id(), Decision::Hide, T0 + 5);
    let v2 = f.vote(&f.founders[1], original.id(), Decision::Restore, T0 + 6);
    for e in [&original, &c2, &v2, &c1, &v1] {
        live.ingest(&e.to_bytes(), T0 + 30);
    }
    let mut restored = Ledger::new(f.charter.clone());
    // A store that kept both halves (e.g. a crash before the delete), in store order.
    for e in [&original, &c1, &c2, &v1, &v2] {
        restored.restore(e)?;
    }
    for l in [&live, &restored] {
        let m = l.alert(&original.id()).ok_or("alert")?;
        assert_eq!(m.cancelled_by, Some(c1.id()));
        assert_eq!(m.votes.iter().map(|v| v.id).collect::<Vec<_>>(), vec![v2.id()]);
        assert!(l.alert(&c2.id()).is_none());
    }
    Ok(())
}

#[test]
fn a_moderator_keeps_one_live_vote_per_alert() -> TestResult {
    let (f, mut l) = fixture()?;
    let a = alert(&f, 0, T0, "Tree");
    assert_eq!(l.ingest(&a.to_bytes(), T0).verdict, Verdict::Accept);
    let mut last = None;
    for i in 0..40u64 {
        let d = if i % 2 == 0 { Decision::Hide } else { Decision::Restore };
        let v = f.vote(&f.founders[1], a.id(), d, T0 + 1 + i);
        assert_eq!(l.ingest(&v.to_bytes(), T0 + 60).verdict, Verdict::Accept);
        last = Some(v);
    }
    let old = f.vote(&f.founders[1], a.id(), Decision::Hide, T0);
    assert_eq!(l.ingest(&old.to_bytes(), T0 + 60).verdict, Verdict::Ignore(IgnoreReason::Superseded));
    let m = l.alert(&a.id()).ok_or("alert")?;
    assert_eq!(m.votes.len(), 1, "at most one vote per moderator");
    assert_eq!(m.votes[0].id, last.ok_or("vote")?.id());
    for k in &f.founders {
        l.ingest(&f.vote(k, a.id(), Decision::Hide, T0 + 100).to_bytes(), T0 + 100);
    }
    assert!(l.alert(&a.id()).is_some_and(|m| m.votes.len() <= l.roster().moderators.len()));
    assert_eq!(l.state(&a.id()), Some(AlertState::Hidden));
    Ok(())
}

#[test]
fn roster_changes_beyond_the_next_version_and_over_the_cap_are_ignored() -> TestResult {
    let (f, mut l) = fixture()?;
    let key = |n: u8| crate::keys::AuthorKey::from_secret(&[n; 32]).public();
    let m = &f.founders[0];
    let far = f.roster_change(m, 2, crate::message::RosterOp::AddModerator(key(9)), T0);
    assert_eq!(l.ingest(&far.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::RosterTooFarAhead));
    for n in 0..MAX_ROSTER_SIGNATURES_PER_VERSION as u8 {
        let next = f.roster_change(m, 1, crate::message::RosterOp::AddModerator(key(10 + n)), T0);
        assert_eq!(l.ingest(&next.to_bytes(), T0).verdict, Verdict::Accept, "the next version is kept");
    }
    let over = f.roster_change(m, 1, crate::message::RosterOp::AddModerator(key(99)), T0);
    assert_eq!(l.ingest(&over.to_bytes(), T0).verdict, Verdict::Ignore(IgnoreReason::RosterSignatureCap));
    // Another moderator still signs.
    let other = f.roster_change(&f.founders[1], 1, crate::message::RosterOp::AddModerator(key(99)), T0);
    assert_eq!(l.ingest(&other.to_bytes(), T0).verdict, Verdict::Accept);
    assert_eq!(l.roster_book().signatures().len(), MAX_ROSTER_SIGNATURES_PER_VERSION + 1);
    Ok(())
}

const DAY: u64 = 86_400;

/// A member (not a moderator) who joined `days` days before T0.
fn old_member(
    f: &HoodFixture,
    l: &mut Ledger,
    label: &str,
    days: u64,
) -> Result<crate::keys::AuthorKey, Box<dyn std::error::Error>> {
    let key = crate::testkit::seeded_key(label);
    let t = T0 - days * DAY;
    let (invite, ticket) = f.invite(&f.founders[0], t, t + 3600)?;
    let join = f.join(&invite, &ticket, &key, t + 10)?;
    assert_eq!(l.ingest(&join.to_bytes(), t + 10).verdict, Verdict::Accept);
    Ok(key)
}

#[test]
fn invites_are_counted_per_issuer_and_new_members_are_on_probation() -> TestResult {
    let (f, mut l) = fixture()?;
    let m = old_member(&f, &mut l, "sybil-maker", 3)?;
    let mut sybils = Vec::new();
    for i in 0..crate::quota::INVITES_PER_DAY as u64 {
        let (invite, ticket) = f.invite(&m, T0 + i, T0 + 3600)?;
        let sybil = crate::testkit::seeded_key(&format!("sybil-{i}"));
        let join = f.join(&invite, &ticket, &sybil, T0 + 10 + i)?;
        assert_eq!(l.ingest(&join.to_bytes(), T0 + 10 + i).verdict, Verdict::Accept);
        sybils.push(sybil);
    }
    // The fourth invite of the day: as its own message, and inside a join.
    let (invite, ticket) = f.invite(&m, T0 + 20, T0 + 3600)?;
    assert_eq!(l.ingest(&invite.to_bytes(), T0 + 20).verdict, Verdict::Ignore(IgnoreReason::InviteQuota));
    let join = f.join(&invite, &ticket, &crate::testkit::seeded_key("sybil-x"), T0 + 21)?;
    assert_eq!(l.ingest(&join.to_bytes(), T0 + 21).verdict, Verdict::Ignore(IgnoreReason::InviteQuota));
    // A moderator is not limited (positive control for the counter).
    let (invite, _) = f.invite(&f.founders[1], T0 + 20, T0 + 3600)?;
    assert_eq!(l.ingest(&invite.to_bytes(), T0 + 20).verdict, Verdict::Accept);
    // A new member: a couple of alerts an hour, and no invites, for a day.
    let s = &sybils[0];
    let post =
        |l: &mut Ledger, sent: u64, h: &str| l.ingest(&Payload::Alert(f.alert(sent, h)).seal(s).to_bytes(), sent);
    for i in 0..crate::quota::PROBATION_PER_HOUR as u64 {
        assert_eq!(post(&mut l, T0 + 100 + i, "within").verdict, Verdict::Accept);
    }
    assert_eq!(post(&mut l, T0 + 200, "over").verdict, Verdict::Ignore(IgnoreReason::Probation));
    let (invite, _) = f.invite(s, T0 + 300, T0 + 3600)?;
    assert_eq!(l.ingest(&invite.to_bytes(), T0 + 300).verdict, Verdict::Ignore(IgnoreReason::Probation));
    // After probation the charter quota applies.
    let later = T0 + DAY + 3600;
    for i in 0..=crate::quota::PROBATION_PER_HOUR as u64 {
        assert_eq!(post(&mut l, later + i, "after").verdict, Verdict::Accept);
    }
    Ok(())
}

#[test]
fn a_revoked_member_cannot_admit_anyone_with_backdated_invites() -> TestResult {
    let (f, mut l) = fixture()?;
    let m = old_member(&f, &mut l, "soon-revoked", 3)?;
    let r = T0;
    // Signed before the revocation, a join that arrives before the revocation...
    let (inv1, t1) = f.invite(&m, r - 1, r + 3600)?;
    let early_sybil = crate::testkit::seeded_key("sybil-early");
    let j1 = f.join(&inv1, &t1, &early_sybil, r + 5)?;
    assert_eq!(l.ingest(&j1.to_bytes(), r + 5).verdict, Verdict::Accept, "positive control");
    let a1 = Payload::Alert(f.alert(r + 6, "spam")).seal(&early_sybil);
    assert_eq!(l.ingest(&a1.to_bytes(), r + 6).verdict, Verdict::Accept);
    for k in &f.founders[..2] {
        assert_eq!(l.ingest(&f.revocation(k, m.public(), r).to_bytes(), r + 10).verdict, Verdict::Accept);
    }
    // ...stops counting when the revocation lands, and its alert is withdrawn.
    assert_eq!(l.membership().standing(&early_sybil.public(), r + 20), crate::membership::Standing::NotMember);
    assert_eq!(l.state(&a1.id()), Some(AlertState::Withdrawn));
    // The reported attack: invites dated 1 s before the revocation, joins after it.
    for i in 0..3 {
        let (inv, ticket) = f.invite(&m, r - 1, r + 3600)?;
        let j = f.join(&inv, &ticket, &crate::testkit::seeded_key(&format!("sybil-{i}")), r + 30)?;
        assert_eq!(l.ingest(&j.to_bytes(), r + 30).verdict.code(), "inviter_revoked");
    }
    Ok(())
}

#[test]
fn grinding_join_ids_or_backdating_cannot_take_a_held_invite() -> TestResult {
    let (f, mut l) = fixture()?;
    let (invite, ticket) = f.invite(&f.founders[0], T0, T0 + 7 * DAY)?;
    let owner = crate::testkit::seeded_key("owner");
    let real = f.join(&invite, &ticket, &owner, T0 + 100)?;
    assert_eq!(l.ingest(&real.to_bytes(), T0 + 100).verdict, Verdict::Accept);
    // Days later, someone with the old ticket grinds 256 keys at the current time.
    let now = T0 + 3 * DAY;
    let mut smaller_ids = 0;
    for i in 0..256 {
        let key = crate::testkit::seeded_key(&format!("grind-{i}"));
        let j = f.join(&invite, &ticket, &key, now)?;
        smaller_ids += usize::from(j.id() < real.id());
        assert_eq!(l.ingest(&j.to_bytes(), now).verdict.code(), "invite_reused");
    }
    assert!(smaller_ids > 0, "the grind found smaller ids (which used to win)");
    // Backdated before the real join: too old to take a held invite.
    let back = f.join(&invite, &ticket, &crate::testkit::seeded_key("backdated"), T0 + 50)?;
    assert_eq!(l.ingest(&back.to_bytes(), now).verdict, Verdict::Ignore(IgnoreReason::StaleJoin));
    assert_eq!(l.membership().invite_holder(&invite.id()), Some((real.id(), owner.public())));
    assert_eq!(l.membership().standing(&owner.public(), now), crate::membership::Standing::Member);
    Ok(())
}

#[test]
fn an_earlier_join_within_the_freshness_window_takes_the_invite_on_every_node() -> TestResult {
    let (f, mut l) = fixture()?;
    let (invite, ticket) = f.invite(&f.founders[0], T0, T0 + DAY)?;
    let first = f.join(&invite, &ticket, &crate::testkit::seeded_key("phone"), T0 + 10)?;
    let second = f.join(&invite, &ticket, &crate::testkit::seeded_key("laptop"), T0 + 20)?;
    assert_eq!(l.ingest(&second.to_bytes(), T0 + 20).verdict, Verdict::Accept);
    let out = l.ingest(&first.to_bytes(), T0 + 30);
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(out.accepted[0].superseded, vec![second.id()]);
    assert!(!l.is_seen(&second.id()));
    assert_eq!(l.membership().invite_holder(&invite.id()).map(|h| h.0), Some(first.id()));
    Ok(())
}

#[test]
fn joins_update_one_invite_and_expired_unused_invites_are_collected() -> TestResult {
    let (f, mut l) = fixture()?;
    let t = T0;
    for i in 0..200u64 {
        let (invite, ticket) = f.invite(&f.founders[(i % 3) as usize], t, t + 3600)?;
        let key = crate::keys::AuthorKey::from_secret(&{
            let mut s = [3u8; 32];
            s[..8].copy_from_slice(&i.to_be_bytes());
            s
        });
        let join = f.join(&invite, &ticket, &key, t + 1)?;
        assert_eq!(l.admit(join, t + 1).verdict, Verdict::Accept);
    }
    assert_eq!(l.membership().members().len(), 203);
    assert_eq!(l.membership().full_recomputes(), 0, "no join recomputed all members");
    // One invite used, one not; both expire.
    let (used, ticket) = f.invite(&f.founders[0], t, t + 600)?;
    let (unused, _) = f.invite(&f.founders[0], t, t + 600)?;
    assert_eq!(l.ingest(&used.to_bytes(), t).verdict, Verdict::Accept);
    assert_eq!(l.ingest(&unused.to_bytes(), t).verdict, Verdict::Accept);
    let join = f.join(&used, &ticket, &crate::testkit::seeded_key("user"), t + 5)?;
    assert_eq!(l.ingest(&join.to_bytes(), t + 5).verdict, Verdict::Accept);
    assert!(l.collect_garbage(t + 599).invites.is_empty(), "not expired yet");
    assert_eq!(l.collect_garbage(t + 600).invites, vec![unused.id()]);
    assert!(!l.is_seen(&unused.id()) && l.is_seen(&used.id()));
    assert_eq!(l.ingest(&unused.to_bytes(), t + 601).verdict, Verdict::Ignore(IgnoreReason::Expired));
    Ok(())
}

#[test]
fn per_author_structures_stay_within_their_stated_bounds() -> TestResult {
    let (f, mut l) = fixture()?;
    let m = old_member(&f, &mut l, "flooder", 3)?;
    let quota = f.charter.charter().quotas;
    let mut originals = Vec::new();
    for i in 0..3 * quota.per_hour as u64 {
        let a = Payload::Alert(f.alert(T0 + i, &format!("flood {i}"))).seal(&m);
        if l.ingest(&a.to_bytes(), T0 + i).verdict == Verdict::Accept {
            originals.push(a.id());
        }
    }
    assert_eq!(originals.len(), quota.per_hour as usize, "positive control: the quota's worth got in");
    let target = originals[0];
    for i in 0..10u64 {
        let upd = Payload::Alert(f.follow_up(target, crate::message::MsgType::Update, T0 + 100 + i)).seal(&m);
        l.ingest(&upd.to_bytes(), T0 + 100 + i);
        let can = Payload::Alert(f.follow_up(target, crate::message::MsgType::Cancel, T0 + 200 - i)).seal(&m);
        l.ingest(&can.to_bytes(), T0 + 200);
        for kind in [crate::message::ReactionKind::SeenToo, crate::message::ReactionKind::Resolved] {
            l.ingest(&f.reaction(&m, target, kind, T0 + 300 + i).to_bytes(), T0 + 300 + i);
        }
        let rep = f.report(&m, target, crate::message::ReportReason::Spam, T0 + 300 + i);
        l.ingest(&rep.to_bytes(), T0 + 300 + i);
        let (invite, _) = f.invite(&m, T0 + 400 + i, T0 + 3600)?;
        l.ingest(&invite.to_bytes(), T0 + 400 + i);
        let unknown = crate::ids::MessageId::of(crate::ids::Tag::Alert, &i.to_be_bytes());
        for kind in [crate::message::ReactionKind::SeenToo, crate::message::ReactionKind::Resolved] {
            l.ingest(&f.reaction(&m, unknown, kind, T0 + 500).to_bytes(), T0 + 500);
        }
    }
    let me = m.public();
    let authored = l.by_author.get(&me).map_or(0, Vec::len);
    // Within the hour's quota (originals and updates) plus one cancel.
    assert!(authored <= quota.per_hour as usize + 1, "by_author: {authored}");
    let meta = l.alert(&target).ok_or("alert")?;
    assert_eq!(meta.reports.len(), 1);
    assert_eq!(meta.reaction_ids.len(), 2, "one per kind");
    let cancels = l.alerts().filter(|a| a.msg_type == crate::message::MsgType::Cancel).count();
    assert_eq!(cancels, 1);
    let invites = l.invites.values().filter(|r| r.issuer == me).count();
    assert_eq!(invites, crate::quota::INVITES_PER_DAY as usize);
    assert_eq!(l.pending.held_by(&me), PENDING_PER_AUTHOR);
    Ok(())
}

#[test]
fn a_late_join_for_a_counted_expired_invite_is_not_counted_twice() -> TestResult {
    let (f, mut l) = fixture()?;
    let m = old_member(&f, &mut l, "inviter", 3)?;
    let mut tickets = Vec::new();
    for i in 0..crate::quota::INVITES_PER_DAY as u64 {
        let (invite, ticket) = f.invite(&m, T0 + i, T0 + 600)?;
        assert_eq!(l.ingest(&invite.to_bytes(), T0 + i).verdict, Verdict::Accept);
        tickets.push((invite, ticket));
    }
    // The invites expire unused here and are deleted...
    assert_eq!(l.collect_garbage(T0 + 700).invites.len(), tickets.len());
    // ...then a join signed in time arrives by sync: it is the same invite.
    let (invite, ticket) = &tickets[0];
    let join = f.join(invite, ticket, &crate::testkit::seeded_key("late-joiner"), T0 + 500)?;
    assert_eq!(l.ingest(&join.to_bytes(), T0 + 800).verdict, Verdict::Accept);
    Ok(())
}

#[test]
fn a_moderator_keeps_one_revocation_per_member() -> TestResult {
    let (f, mut l) = fixture()?;
    let m = old_member(&f, &mut l, "target", 3)?;
    let first = f.revocation(&f.founders[0], m.public(), T0 + 50);
    assert_eq!(l.ingest(&first.to_bytes(), T0 + 50).verdict, Verdict::Accept);
    for i in 0..20 {
        let again = f.revocation(&f.founders[0], m.public(), T0 + 60 + i);
        assert_eq!(l.ingest(&again.to_bytes(), T0 + 100).verdict, Verdict::Ignore(IgnoreReason::AlreadyCounted));
    }
    // An earlier one replaces the held one (the same set on every node).
    let earlier = f.revocation(&f.founders[0], m.public(), T0 + 40);
    let out = l.ingest(&earlier.to_bytes(), T0 + 100);
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(out.accepted[0].superseded, vec![first.id()]);
    assert!(!l.is_seen(&first.id()));
    assert_eq!(l.membership().revocation_signatures(&m.public()), vec![(f.founders[0].public(), T0 + 40)]);
    Ok(())
}
