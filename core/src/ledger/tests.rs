//! The bad-input catalogue (RELIABILITY.md rows 1-16) and the ledger's
//! convergence rules, driven through `Ledger::ingest` with exact instants.

use super::*;
use crate::envelope::MAX_ENVELOPE_BYTES;
use crate::envelope::{Envelope, Kind};
use crate::ids::{MessageId, Tag};
use crate::keys::{AuthorKey, KeyError};
use crate::message::{Alert, Payload, ReactionKind, ReportReason, RosterOp};
use crate::message::{Decision, MsgType};
use crate::testkit::{HoodFixture, seeded_key};
use crate::verdict::{IgnoreReason, RejectReason, Verdict};
use proptest::prelude::*;
use prost::Message as _;
use stoop_proto::v1 as pb;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000;

fn fixture() -> Result<(HoodFixture, Ledger), Box<dyn std::error::Error>> {
    let f = HoodFixture::new(3, 2)?;
    let ledger = Ledger::new(f.charter.clone());
    Ok((f, ledger))
}

fn post(ledger: &mut Ledger, env: &Envelope, now: u64) -> Verdict {
    ledger.ingest(&env.to_bytes(), now).verdict
}

fn alert_env(_f: &HoodFixture, key: &AuthorKey, alert: Alert) -> Envelope {
    Payload::Alert(alert).seal(key)
}

fn changes(out: &Outcome) -> Vec<(MessageId, AlertState)> {
    out.accepted.iter().flat_map(|a| a.changed.iter().map(|c| (c.alert, c.to))).collect()
}

fn reject_code(v: &Verdict) -> &'static str {
    match v {
        Verdict::Reject(r) => r.code(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_valid_alert_is_accepted_once() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert_env(&f, &f.founders[0], f.alert(T0, "Tree down"));
    let out = l.ingest(&env.to_bytes(), T0);
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(out.accepted.len(), 1);
    assert_eq!(l.state(&env.id()), Some(AlertState::Visible));
    // Row 10: replay.
    assert_eq!(post(&mut l, &env, T0 + 5), Verdict::Ignore(IgnoreReason::Duplicate));
    Ok(())
}

#[test]
fn row1_oversized_frame_and_text_over_the_cap() -> TestResult {
    let (f, mut l) = fixture()?;
    let out = l.ingest(&vec![0u8; MAX_ENVELOPE_BYTES + 1], T0);
    assert_eq!(reject_code(&out.verdict), "oversized");
    let mut a = f.alert(T0, "Long");
    a.description = "word ".repeat(500); // 2,500 bytes > 2,000 cap
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), "too_long");
    Ok(())
}

#[test]
fn row2_malformed_payload_inside_a_valid_signature() -> TestResult {
    let (f, mut l) = fixture()?;
    let key = &f.founders[0];
    for garbage in [vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], vec![0x08], vec![0x0d, 1, 2]] {
        let env = Envelope::seal(Kind::Alert, garbage, key);
        assert_eq!(reject_code(&post(&mut l, &env, T0)), "malformed");
    }
    Ok(())
}

#[test]
fn row3_unknown_field_inside_the_signed_body_is_non_canonical() -> TestResult {
    let (f, mut l) = fixture()?;
    let mut payload = f.alert(T0, "Tree").encode();
    payload.extend_from_slice(&[0xf8, 0x01, 0x01]); // field 31, varint 1
    let env = Envelope::seal(Kind::Alert, payload, &f.founders[0]);
    assert_eq!(reject_code(&post(&mut l, &env, T0)), "non_canonical");
    // Fields out of order are valid protobuf but not canonical either.
    let a = pb::Alert::decode(f.alert(T0, "Tree").encode().as_slice())?;
    let mut swapped = pb::Alert { sent: 0, expires: 0, ..a.clone() }.encode_to_vec();
    let mut tail = pb::Alert { sent: a.sent, expires: a.expires, ..Default::default() }.encode_to_vec();
    tail.append(&mut swapped);
    let env = Envelope::seal(Kind::Alert, tail, &f.founders[0]);
    assert_eq!(reject_code(&post(&mut l, &env, T0)), "non_canonical");
    Ok(())
}

#[test]
fn row4_non_utf8_and_control_characters() -> TestResult {
    let (f, mut l) = fixture()?;
    // Build an alert whose headline bytes are not UTF-8 by patching the encoding.
    let mut a = f.alert(T0, "HEADLINE");
    a.headline = "HEADLINE".into();
    let mut bytes = a.encode();
    let pos = bytes.windows(8).position(|w| w == b"HEADLINE").ok_or("headline not found")?;
    bytes[pos] = 0xff;
    let env = Envelope::seal(Kind::Alert, bytes, &f.founders[0]);
    assert_eq!(reject_code(&post(&mut l, &env, T0)), "malformed");
    let a = f.alert(T0, "bell\u{7}");
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), "control_character");
    Ok(())
}

#[test]
fn row5_media_links_and_coordinates() -> TestResult {
    let (f, mut l) = fixture()?;
    let cases = [
        ("See data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", "media_not_allowed"),
        ("Footage at https://cams.example.com/clip/123", "link_not_allowed"),
        ("It happened at 40.71280, -74.00600 last night", "precise_location"),
    ];
    for (i, (text, code)) in cases.into_iter().enumerate() {
        let mut a = f.alert(T0 + i as u64, "Check");
        a.description = text.into();
        assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), code, "{text}");
    }
    Ok(())
}

#[test]
fn row6_bad_signature_weak_key_non_canonical_signature() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
    let mut p = pb::Envelope::decode(env.to_bytes().as_slice())?;
    p.signature[10] ^= 1;
    assert_eq!(reject_code(&l.ingest(&p.encode_to_vec(), T0).verdict), "bad_signature");
    let mut p = pb::Envelope::decode(env.to_bytes().as_slice())?;
    p.signer = {
        let mut identity = vec![0u8; 32];
        identity[0] = 1;
        identity
    };
    assert_eq!(reject_code(&l.ingest(&p.encode_to_vec(), T0).verdict), "weak_key");
    // s + l: accepted by lax verifiers, refused by verify_strict.
    let mut p = pb::Envelope::decode(env.to_bytes().as_slice())?;
    crate::testkit::add_group_order(&mut p.signature);
    assert_eq!(
        l.ingest(&p.encode_to_vec(), T0).verdict,
        Verdict::Reject(RejectReason::Signature(KeyError::BadSignature))
    );
    assert_eq!(post(&mut l, &env, T0), Verdict::Accept, "the genuine one still goes through");
    Ok(())
}

#[test]
fn row8_future_dated() -> TestResult {
    let (f, mut l) = fixture()?;
    let ten_min = alert_env(&f, &f.founders[0], f.alert(T0 + 600, "Future"));
    assert_eq!(reject_code(&post(&mut l, &ten_min, T0)), "future_dated");
    let slightly = alert_env(&f, &f.founders[0], f.alert(T0 + 30, "Slightly"));
    assert_eq!(post(&mut l, &slightly, T0), Verdict::Accept);
    let at_bound = alert_env(&f, &f.founders[0], f.alert(T0 + MAX_FUTURE_SKEW_SECS, "Bound"));
    assert_eq!(post(&mut l, &at_bound, T0), Verdict::Accept);
    let past_bound = alert_env(&f, &f.founders[0], f.alert(T0 + MAX_FUTURE_SKEW_SECS + 1, "Past"));
    assert_eq!(reject_code(&post(&mut l, &past_bound, T0)), "future_dated");
    Ok(())
}

#[test]
fn row9_expired_too_long_and_missing_expiry() -> TestResult {
    let (f, mut l) = fixture()?;
    let old = f.alert(T0 - 7 * 3600, "Old"); // expired an hour ago
    assert_eq!(post(&mut l, &alert_env(&f, &f.founders[0], old), T0), Verdict::Ignore(IgnoreReason::Expired));
    let mut long = f.alert(T0, "Long");
    long.expires = T0 + 25 * 3600; // safety: 24 h max
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], long), T0)), "lifetime_too_long");
    let mut none = f.alert(T0, "None");
    none.expires = 0;
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], none), T0)), "missing_expiry");
    Ok(())
}

#[test]
fn row10_replay_after_expiry_deletion_is_ignored() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
    let vote = f.vote(&f.founders[1], env.id(), Decision::Hide, T0 + 1);
    assert_eq!(post(&mut l, &env, T0), Verdict::Accept);
    assert_eq!(post(&mut l, &vote, T0 + 1), Verdict::Accept);
    let retention = l.charter().retention_secs;
    let later = T0 + 6 * 3600 + retention + 1;
    let garbage = l.collect_garbage(later);
    assert_eq!(garbage.alerts.len(), 1);
    assert_eq!(garbage.messages, vec![vote.id()]);
    assert!(l.alert(&env.id()).is_none());
    assert_eq!(post(&mut l, &env, later), Verdict::Ignore(IgnoreReason::Duplicate));
    // A vote replayed for the deleted alert is not held as pending.
    let vote2 = f.vote(&f.founders[2], env.id(), Decision::Hide, later);
    assert_eq!(post(&mut l, &vote2, later), Verdict::Ignore(IgnoreReason::Expired));
    assert_eq!(l.pending_len(), 0);
    // After the tombstone is forgotten the alert is still expired.
    l.collect_garbage(later + retention + 1);
    assert_eq!(post(&mut l, &env, later + retention + 1), Verdict::Ignore(IgnoreReason::Expired));
    Ok(())
}

#[test]
fn row11_non_member_and_revoked_member() -> TestResult {
    let (f, mut l) = fixture()?;
    let stranger = seeded_key("stranger");
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &stranger, f.alert(T0, "Hi")), T0)), "not_member");

    let member = seeded_key("member");
    let (invite, ticket) = f.invite(&f.founders[0], T0, T0 + 3600)?;
    assert_eq!(post(&mut l, &invite, T0), Verdict::Accept);
    let join = f.join(&invite, &ticket, &member, T0 + 10)?;
    assert_eq!(post(&mut l, &join, T0 + 10), Verdict::Accept);
    // Before the join time it was not a member yet.
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &member, f.alert(T0 + 5, "Early")), T0 + 20)), "not_member");
    let before = alert_env(&f, &member, f.alert(T0 + 20, "Before"));
    assert_eq!(post(&mut l, &before, T0 + 20), Verdict::Accept);
    // Signed after the revocation takes effect, but arrives first (in the
    // next hour: a new member on probation posts one alert an hour).
    let after = alert_env(&f, &member, f.alert(T0 + 3700, "After"));
    assert_eq!(post(&mut l, &after, T0 + 3700), Verdict::Accept);

    assert_eq!(post(&mut l, &f.revocation(&f.founders[0], member.public(), T0 + 100), T0 + 3800), Verdict::Accept);
    assert_eq!(l.state(&after.id()), Some(AlertState::Visible), "one moderator is not a quorum");
    let out = l.ingest(&f.revocation(&f.founders[1], member.public(), T0 + 150).to_bytes(), T0 + 3800);
    assert_eq!(out.verdict, Verdict::Accept);
    assert_eq!(changes(&out), vec![(after.id(), AlertState::Withdrawn)]);
    assert_eq!(l.state(&before.id()), Some(AlertState::Visible), "alerts signed before stay");
    let late = alert_env(&f, &member, f.alert(T0 + 400, "Late"));
    assert_eq!(reject_code(&post(&mut l, &late, T0 + 400)), "revoked");
    // A non-moderator cannot sign revocations.
    assert_eq!(reject_code(&post(&mut l, &f.revocation(&member, f.founders[0].public(), T0), T0)), "not_moderator");
    Ok(())
}

#[test]
fn row12_over_quota_is_ignored_and_cancel_is_not_counted() -> TestResult {
    let (f, mut l) = fixture()?;
    let key = &f.founders[0];
    let mut last = None;
    for i in 0..6 {
        let env = alert_env(&f, key, f.alert(T0 + i, &format!("Alert {i}")));
        assert_eq!(post(&mut l, &env, T0 + i), Verdict::Accept);
        last = Some(env.id());
    }
    let seventh = alert_env(&f, key, f.alert(T0 + 7, "Alert 7"));
    assert_eq!(post(&mut l, &seventh, T0 + 7), Verdict::Ignore(IgnoreReason::OverQuota));
    let cancel = alert_env(&f, key, f.follow_up(last.ok_or("no alert")?, MsgType::Cancel, T0 + 8));
    assert_eq!(post(&mut l, &cancel, T0 + 8), Verdict::Accept, "retracting is never blocked by the quota");
    Ok(())
}

#[test]
fn row13_votes_non_moderator_pending_and_duplicates() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
    let outsider = seeded_key("outsider");
    // Vote arrives before its alert: held, then applied when the alert lands.
    let early = f.vote(&f.founders[1], env.id(), Decision::Hide, T0 + 1);
    assert_eq!(post(&mut l, &early, T0), Verdict::Ignore(IgnoreReason::Pending));
    assert_eq!(post(&mut l, &early, T0), Verdict::Ignore(IgnoreReason::Duplicate), "held once");
    let out = l.ingest(&env.to_bytes(), T0);
    assert_eq!(out.accepted.len(), 2, "the alert and the released vote");
    assert_eq!(l.pending_len(), 0);
    assert_eq!(
        reject_code(&post(&mut l, &f.vote(&outsider, env.id(), Decision::Hide, T0 + 2), T0 + 2)),
        "not_moderator"
    );
    // The same moderator voting hide again counts once.
    assert_eq!(post(&mut l, &f.vote(&f.founders[1], env.id(), Decision::Hide, T0 + 3), T0 + 3), Verdict::Accept);
    assert_eq!(l.state(&env.id()), Some(AlertState::Visible));
    let out = l.ingest(&f.vote(&f.founders[2], env.id(), Decision::Hide, T0 + 4).to_bytes(), T0 + 4);
    assert_eq!(changes(&out), vec![(env.id(), AlertState::Hidden)]);
    Ok(())
}

#[test]
fn row13_pending_buffer_is_bounded_per_author_and_expires() -> TestResult {
    let (f, mut l) = fixture()?;
    // One author fills its share with votes on alerts that do not exist...
    for i in 0..PENDING_PER_AUTHOR as u64 {
        let unknown = MessageId::of(Tag::Alert, &i.to_be_bytes());
        let v = f.vote(&f.founders[0], unknown, Decision::Hide, T0);
        assert_eq!(post(&mut l, &v, T0), Verdict::Ignore(IgnoreReason::Pending));
    }
    let one_more = f.vote(&f.founders[0], MessageId::of(Tag::Alert, b"x"), Decision::Hide, T0);
    assert_eq!(post(&mut l, &one_more, T0), Verdict::Ignore(IgnoreReason::PendingAuthorFull));
    // ...and another author's early vote is still held and applied.
    let alert = alert_env(&f, &f.founders[2], f.alert(T0, "Tree"));
    let early = f.vote(&f.founders[1], alert.id(), Decision::Hide, T0);
    assert_eq!(post(&mut l, &early, T0), Verdict::Ignore(IgnoreReason::Pending));
    assert_eq!(l.ingest(&alert.to_bytes(), T0).accepted.len(), 2, "the alert and the released vote");
    l.collect_garbage(T0 + PENDING_TTL_SECS + 1);
    assert_eq!(l.pending_len(), 0);
    Ok(())
}

#[test]
fn row14_roster_change_needs_current_moderators() -> TestResult {
    let (f, mut l) = fixture()?;
    let newcomer = seeded_key("newcomer");
    let outsider = seeded_key("outsider");
    let op = RosterOp::AddModerator(newcomer.public());
    assert_eq!(reject_code(&post(&mut l, &f.roster_change(&outsider, 0, op, T0), T0)), "not_moderator");
    assert_eq!(post(&mut l, &f.roster_change(&f.founders[0], 0, op, T0), T0), Verdict::Accept);
    assert!(!l.roster().is_moderator(&newcomer.public()), "one signature is not a quorum");
    assert_eq!(post(&mut l, &f.roster_change(&f.founders[1], 0, op, T0 + 1), T0 + 1), Verdict::Accept);
    assert!(l.roster().is_moderator(&newcomer.public()));
    assert_eq!(l.roster().version, 1);
    // Version 0 is stale now.
    let stale = f.roster_change(&f.founders[2], 0, RosterOp::SetQuorum(3), T0 + 2);
    assert_eq!(post(&mut l, &stale, T0 + 2), Verdict::Ignore(IgnoreReason::StaleRoster));
    let impossible = f.roster_change(&f.founders[2], 1, RosterOp::SetQuorum(9), T0 + 2);
    assert_eq!(reject_code(&post(&mut l, &impossible, T0 + 2)), "invalid_roster_change");
    Ok(())
}

#[test]
fn row15_invite_reused_expired_or_from_a_non_member() -> TestResult {
    let (f, mut l) = fixture()?;
    let (invite, ticket) = f.invite(&f.founders[0], T0, T0 + 3600)?;
    let a = seeded_key("a");
    let b = seeded_key("b");
    let ja = f.join(&invite, &ticket, &a, T0 + 1)?;
    let jb = f.join(&invite, &ticket, &b, T0 + 2)?;
    // The earliest join holds the invite, whatever the ids.
    assert_eq!(post(&mut l, &ja, T0 + 3), Verdict::Accept);
    assert_eq!(reject_code(&post(&mut l, &jb, T0 + 3)), "invite_reused");

    let (invite, ticket) = f.invite(&f.founders[0], T0, T0 + 60)?;
    let late = f.join(&invite, &ticket, &seeded_key("late"), T0 + 61)?;
    assert_eq!(reject_code(&post(&mut l, &late, T0 + 61)), "invite_expired");

    let stranger = seeded_key("stranger");
    let (invite, ticket) = f.invite(&stranger, T0, T0 + 60)?;
    assert_eq!(reject_code(&post(&mut l, &invite, T0)), "inviter_not_member");
    let j = f.join(&invite, &ticket, &seeded_key("c"), T0 + 1)?;
    assert_eq!(reject_code(&post(&mut l, &j, T0 + 1)), "inviter_not_member");

    // An embedded invite longer than 30 days is refused like a gossiped one.
    let (invite, ticket) = f.invite(&f.founders[0], T0, T0 + 31 * 86_400)?;
    let j = f.join(&invite, &ticket, &seeded_key("long"), T0 + 1)?;
    assert_eq!(reject_code(&post(&mut l, &j, T0 + 1)), "invalid_field");

    // A join whose ticket signature is from another key.
    let (invite, _) = f.invite(&f.founders[0], T0, T0 + 60)?;
    let wrong_ticket = seeded_key("not-the-ticket");
    let j = f.join(&invite, &wrong_ticket, &seeded_key("d"), T0 + 1)?;
    assert_eq!(reject_code(&post(&mut l, &j, T0 + 1)), "bad_ticket");
    Ok(())
}

#[test]
fn row16_area_outside_or_too_precise() -> TestResult {
    let (f, mut l) = fixture()?;
    let mut a = f.alert(T0, "Outside");
    a.area = "9q8yy".into();
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), "area_outside_hood");
    let mut a = f.alert(T0, "Precise");
    a.area = "dr5ru7kx".into();
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), "area_too_precise");
    let mut a = f.alert(T0, "Bad");
    a.area = "dr5ru!".into();
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), "bad_cell");
    Ok(())
}

#[test]
fn wrong_hood_and_unknown_category() -> TestResult {
    let (f, mut l) = fixture()?;
    let other = HoodFixture::with_rules(3, |c| c.name = "Other".into())?;
    let env = alert_env(&other, &other.founders[0], other.alert(T0, "Elsewhere"));
    assert_eq!(reject_code(&post(&mut l, &env, T0)), "wrong_hood");
    let mut a = f.alert(T0, "Party");
    a.category = "party".into();
    assert_eq!(reject_code(&post(&mut l, &alert_env(&f, &f.founders[0], a), T0)), "unknown_category");
    Ok(())
}

#[test]
fn update_and_cancel_only_by_the_author() -> TestResult {
    let (f, mut l) = fixture()?;
    let original = alert_env(&f, &f.founders[0], f.alert(T0, "Dog lost"));
    assert_eq!(post(&mut l, &original, T0), Verdict::Accept);
    let by_other = alert_env(&f, &f.founders[1], f.follow_up(original.id(), MsgType::Cancel, T0 + 1));
    assert_eq!(reject_code(&post(&mut l, &by_other, T0 + 1)), "not_author");
    let update = alert_env(&f, &f.founders[0], f.follow_up(original.id(), MsgType::Update, T0 + 2));
    assert_eq!(post(&mut l, &update, T0 + 2), Verdict::Accept);
    let update_of_update = alert_env(&f, &f.founders[0], f.follow_up(update.id(), MsgType::Update, T0 + 3));
    assert_eq!(reject_code(&post(&mut l, &update_of_update, T0 + 3)), "bad_reference");
    let cancel = alert_env(&f, &f.founders[0], f.follow_up(original.id(), MsgType::Cancel, T0 + 4));
    let out = l.ingest(&cancel.to_bytes(), T0 + 4);
    assert_eq!(changes(&out), vec![(original.id(), AlertState::Cancelled)]);
    assert_eq!(l.alert(&original.id()).map(|m| m.updates.clone()), Some(vec![update.id()]));
    Ok(())
}

#[test]
fn reactions_and_reports_count_each_member_once() -> TestResult {
    let (f, mut l) = fixture()?;
    let env = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
    post(&mut l, &env, T0);
    let seen = f.reaction(&f.founders[1], env.id(), ReactionKind::SeenToo, T0 + 1);
    assert_eq!(post(&mut l, &seen, T0 + 1), Verdict::Accept);
    let again = f.reaction(&f.founders[1], env.id(), ReactionKind::SeenToo, T0 + 2);
    assert_eq!(post(&mut l, &again, T0 + 2), Verdict::Ignore(IgnoreReason::AlreadyCounted));
    let report = f.report(&f.founders[2], env.id(), ReportReason::Misinformation, T0 + 3);
    assert_eq!(post(&mut l, &report, T0 + 3), Verdict::Accept);
    assert_eq!(l.review_queue().len(), 1);
    let report2 = f.report(&f.founders[2], env.id(), ReportReason::Spam, T0 + 4);
    assert_eq!(post(&mut l, &report2, T0 + 4), Verdict::Ignore(IgnoreReason::AlreadyCounted));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Flipping any bit of a valid alert frame never yields Accept.
    #[test]
    fn any_corrupted_alert_frame_is_refused(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (f, mut l) = fixture().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let env = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
        let mut bytes = env.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert_ne!(l.ingest(&bytes, T0).verdict, Verdict::Accept);
    }

    /// Hide/restore state ends the same whatever order alert and votes arrive in.
    #[test]
    fn moderation_converges_in_any_arrival_order(
        votes in prop::collection::vec((0usize..3, any::<bool>(), 1u64..50), 1..10),
        order in Just((0..11usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let (f, mut reference) = fixture().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let alert = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
        let mut frames = vec![alert.to_bytes()];
        for (m, hide, dt) in &votes {
            let d = if *hide { Decision::Hide } else { Decision::Restore };
            frames.push(f.vote(&f.founders[*m], alert.id(), d, T0 + dt).to_bytes());
        }
        for fr in &frames {
            reference.ingest(fr, T0 + 60);
        }
        let mut shuffled = Ledger::new(f.charter.clone());
        for i in order.into_iter().filter(|i| *i < frames.len()) {
            shuffled.ingest(&frames[i], T0 + 60);
        }
        prop_assert_eq!(reference.state(&alert.id()), shuffled.state(&alert.id()));
        prop_assert_eq!(reference.audit(&alert.id()), shuffled.audit(&alert.id()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Cancels and repeated votes: whatever the arrival order, every node
    /// holds the same cancel, the same live votes and the same state.
    #[test]
    fn cancels_and_live_votes_converge_in_any_order(
        cancels in prop::collection::vec(1u64..30, 1..5),
        votes in prop::collection::vec((0usize..3, any::<bool>(), 1u64..30), 0..8),
        seed in any::<u64>(),
    ) {
        let (f, mut reference) = fixture().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let original = alert_env(&f, &f.founders[0], f.alert(T0, "Tree"));
        let mut frames = vec![original.to_bytes()];
        for dt in &cancels {
            frames.push(alert_env(&f, &f.founders[0], f.follow_up(original.id(), MsgType::Cancel, T0 + dt)).to_bytes());
        }
        for (m, hide, dt) in &votes {
            let d = if *hide { Decision::Hide } else { Decision::Restore };
            frames.push(f.vote(&f.founders[*m], original.id(), d, T0 + dt).to_bytes());
        }
        for fr in &frames {
            reference.ingest(fr, T0 + 60);
        }
        let mut order: Vec<usize> = (0..frames.len()).collect();
        for i in (1..order.len()).rev() {
            let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) >> 33) as usize % (i + 1);
            order.swap(i, j);
        }
        let mut shuffled = Ledger::new(f.charter.clone());
        for i in order {
            shuffled.ingest(&frames[i], T0 + 60);
        }
        let a = reference.alert(&original.id()).ok_or_else(|| TestCaseError::fail("alert"))?;
        let b = shuffled.alert(&original.id()).ok_or_else(|| TestCaseError::fail("alert"))?;
        prop_assert_eq!(a.cancelled_by, b.cancelled_by);
        let ids = |m: &AlertMeta| { let mut v: Vec<MessageId> = m.votes.iter().map(|v| v.id).collect(); v.sort(); v };
        prop_assert_eq!(ids(a), ids(b));
        prop_assert!(a.votes.len() <= 3);
        prop_assert_eq!(reference.state(&original.id()), shuffled.state(&original.id()));
        prop_assert_eq!(reference.audit(&original.id()), shuffled.audit(&original.id()));
        let held = |l: &Ledger| { let mut v: Vec<MessageId> = l.alerts().map(|m| m.id).collect(); v.sort(); v };
        prop_assert_eq!(held(&reference), held(&shuffled));
    }
}
