//! Ingesting a page of frames that arrive in no causal order (a sync fetch
//! answer, ordered by id): what a message depends on goes first, and a
//! message refused only because its author's join had not been ingested yet
//! is tried again once the rest of the page is in.
//!
//! Without this, a node catching up from nothing (a new joiner, a store
//! quarantined after corruption) refused a member's alert that came before
//! that member's join in the same page, and only got it at the next
//! periodic session, minutes later.

use super::records::Outcome;
use crate::envelope::Kind;
use crate::verdict::{RejectReason, Verdict};

/// Dependency order of kinds: membership and roster before what they
/// authorize, alerts before what refers to them. Used to restore a store and
/// to ingest a fetched page.
pub fn dependency_rank(kind: Kind) -> u8 {
    match kind {
        Kind::Invite => 0,
        Kind::Join => 1,
        Kind::RosterChange => 2,
        Kind::Revocation => 3,
        Kind::Alert => 4,
        Kind::Vote => 5,
        Kind::Report => 6,
        Kind::Reaction => 7,
    }
}

/// Whether a rejection means the frame itself is broken (undecodable, badly
/// signed, for another hood), which no honest peer stores or serves. Other
/// rejections (not a member, future-dated, ...) can follow from honest
/// differences in history or clocks and do not end a sync session.
pub fn is_broken_frame(reason: &RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::Oversized { .. }
            | RejectReason::Malformed(_)
            | RejectReason::NonCanonical
            | RejectReason::UnknownKind(_)
            | RejectReason::Signature(_)
            | RejectReason::WrongHood
    )
}

/// Whether a rejection may clear once more history is in: the author (or
/// the inviter) is not a member *yet* as far as this node knows.
pub fn awaits_history(reason: &RejectReason) -> bool {
    matches!(reason, RejectReason::NotMember | RejectReason::InviterNotMember)
}

/// What ingesting a page gave.
#[derive(Debug, Default)]
pub struct PageOutcome {
    /// The final outcome of each frame ingested, with its index in the page.
    /// Frames after a broken one are not ingested and have none.
    pub outcomes: Vec<(usize, Outcome)>,
    /// The reason code of the broken frame that ended the page, if any.
    pub broken: Option<&'static str>,
    /// Frames still refused for want of history (see [`awaits_history`])
    /// after every retry: more history may come from the next page or
    /// session.
    pub awaiting_history: usize,
}

/// Ingests `frames` with `ingest` in dependency order (undecodable frames
/// first, so a peer serving junk is caught before any work on the rest),
/// then retries the frames refused for want of history as long as a pass
/// accepted something. Each retry pass is smaller than the last or ends the
/// loop, so the work is at most quadratic in the page size, which the sync
/// protocol bounds. Stops at the first broken frame.
pub fn ingest_page<B: AsRef<[u8]>>(frames: &[B], mut ingest: impl FnMut(&[u8]) -> Outcome) -> PageOutcome {
    let rank =
        |frame: &[u8]| crate::envelope::Envelope::decode_unverified(frame).map_or(0, |e| 1 + dependency_rank(e.kind()));
    let mut order: Vec<usize> = (0..frames.len()).collect();
    // Cached: the key decodes the frame, once per frame, not per comparison.
    order.sort_by_cached_key(|&i| rank(frames[i].as_ref()));
    let mut page = PageOutcome::default();
    loop {
        let mut waiting = Vec::new();
        let mut progress = false;
        for i in order {
            let outcome = ingest(frames[i].as_ref());
            progress |= !outcome.accepted.is_empty();
            match &outcome.verdict {
                Verdict::Reject(r) if is_broken_frame(r) => {
                    page.broken = Some(r.code());
                    page.outcomes.push((i, outcome));
                    page.outcomes.extend(waiting);
                    page.awaiting_history = 0;
                    return page;
                }
                Verdict::Reject(r) if awaits_history(r) => waiting.push((i, outcome)),
                _ => page.outcomes.push((i, outcome)),
            }
        }
        if waiting.is_empty() || !progress {
            page.awaiting_history = waiting.len();
            page.outcomes.extend(waiting);
            return page;
        }
        order = waiting.into_iter().map(|(i, _)| i).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuthorKey;
    use crate::ledger::Ledger;
    use crate::message::Payload;
    use crate::testkit::{HoodFixture, seeded_key};

    type TestResult = Result<(), Box<dyn std::error::Error>>;
    const T0: u64 = 1_800_000_000;

    /// A chain the page must untangle: M joins by a founder's invite, N by
    /// M's invite, N posts an alert and M reacts to it. Returned in the
    /// worst order (each thing before what it depends on).
    fn chain(f: &HoodFixture) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
        let (m, n) = (seeded_key("m"), seeded_key("n"));
        let (invite_m, ticket_m) = f.invite(&f.founders[0], T0, T0 + 2 * crate::quota::PROBATION_SECS)?;
        let join_m = f.join(&invite_m, &ticket_m, &m, T0 + 1)?;
        // M may invite once its probation is over.
        let t = T0 + crate::quota::PROBATION_SECS;
        let (invite_n, ticket_n) = f.invite(&m, t + 2, t + 3600)?;
        let join_n = f.join(&invite_n, &ticket_n, &n, t + 3)?;
        let alert = Payload::Alert(f.alert(t + 4, "Gate left open")).seal(&n);
        let reaction = f.reaction(&m, alert.id(), crate::message::ReactionKind::SeenToo, t + 5);
        Ok([reaction, alert, join_n, invite_n, join_m, invite_m].iter().map(|e| e.to_bytes()).collect())
    }

    #[test]
    fn a_page_in_the_worst_order_is_ingested_whole() -> TestResult {
        let f = HoodFixture::new(1, 1)?;
        let mut ledger = Ledger::new(f.charter.clone());
        let frames = chain(&f)?;
        let now = T0 + crate::quota::PROBATION_SECS + 10;
        let page = ingest_page(&frames, |b| ledger.ingest(b, now));
        assert_eq!(page.broken, None);
        let verdicts: Vec<_> = page.outcomes.iter().map(|(i, o)| (*i, o.verdict.clone())).collect();
        assert_eq!(page.awaiting_history, 0, "{verdicts:?}");
        assert_eq!(page.outcomes.len(), frames.len(), "one final outcome per frame");
        // The reaction waits in the pending buffer until its alert is in,
        // so check the ledger, not the verdicts.
        for frame in &frames {
            let id = crate::envelope::Envelope::decode_unverified(frame)?.id();
            assert!(ledger.is_seen(&id), "every message of the page is held: {verdicts:?}");
        }
        Ok(())
    }

    #[test]
    fn what_no_history_explains_is_refused_once_and_the_loop_ends() -> TestResult {
        let f = HoodFixture::new(1, 1)?;
        let mut ledger = Ledger::new(f.charter.clone());
        let stranger: AuthorKey = seeded_key("stranger");
        let alert = Payload::Alert(f.alert(T0, "Not from here")).seal(&stranger).to_bytes();
        let founder = Payload::Alert(f.alert(T0, "From here")).seal(&f.founders[0]).to_bytes();
        let mut calls = 0;
        let page = ingest_page(&[alert, founder], |b| {
            calls += 1;
            ledger.ingest(b, T0 + 10)
        });
        // Pass 1 accepts the founder's alert, so the stranger's is retried
        // once; pass 2 accepts nothing and ends the loop.
        assert_eq!(calls, 3);
        assert_eq!(page.awaiting_history, 1);
        assert_eq!(page.outcomes.len(), 2);
        Ok(())
    }

    #[test]
    fn a_broken_frame_ends_the_page_before_any_other_work() -> TestResult {
        let f = HoodFixture::new(1, 1)?;
        let mut ledger = Ledger::new(f.charter.clone());
        let good = Payload::Alert(f.alert(T0, "Fine")).seal(&f.founders[0]).to_bytes();
        let mut calls = 0;
        let page = ingest_page(&[good, vec![0xff; 40]], |b| {
            calls += 1;
            ledger.ingest(b, T0 + 10)
        });
        assert!(page.broken.is_some());
        assert_eq!(calls, 1, "the undecodable frame goes first and stops the page");
        Ok(())
    }
}
