//! The reconciliation state machine: ranges in, ranges out, no I/O.

use std::collections::BTreeSet;

use super::item::Bound;
use super::set::ItemSet;
use super::wire::{Range, RangeBody, check_ranges};
use super::{BRANCHING, ID_LIST_THRESHOLD, MAX_IDS_PER_MESSAGE, MAX_RANGES_PER_MESSAGE, MAX_ROUNDS, ReconcileError};
use crate::ids::MessageId;

/// Which side of a session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends the first message and every request.
    Initiator,
    /// Answers every request.
    Responder,
}

/// One side of a reconciliation session.
#[derive(Debug, Clone)]
pub struct Reconciler {
    role: Role,
    /// Messages handled so far.
    rounds: u32,
    done: bool,
}

/// What handling one message produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// The message to send back; `None` for an initiator that is done.
    pub reply: Option<Vec<Range>>,
    /// Ids learned in this step that we hold and the peer lacks.
    pub have: Vec<MessageId>,
    /// Ids learned in this step that the peer holds and we lack.
    pub need: Vec<MessageId>,
    /// The session is over on this side (after sending `reply`, if any).
    pub done: bool,
}

/// Builds an outgoing range list within the per-message limits, merging
/// consecutive skips.
struct Out {
    ranges: Vec<Range>,
    ids: usize,
}

impl Out {
    fn push(&mut self, upper: Bound, body: RangeBody) {
        self.ids += body.id_count();
        if let Some(last) = self.ranges.last_mut()
            && body == RangeBody::Skip
            && last.body == RangeBody::Skip
        {
            last.upper = upper;
            return;
        }
        self.ranges.push(Range { upper, body });
    }

    /// Room for the worst one incoming range can add (a full split, or a
    /// diff of two full lists), plus the closing range.
    fn has_room(&self) -> bool {
        self.ranges.len() + BRANCHING < MAX_RANGES_PER_MESSAGE
            && self.ids + 2 * ID_LIST_THRESHOLD <= MAX_IDS_PER_MESSAGE
    }

    /// Whether the peer must answer: a fingerprint or an id list (a diff
    /// is final).
    fn wants_answer(&self) -> bool {
        self.ranges.iter().any(|r| matches!(r.body, RangeBody::Fingerprint(_) | RangeBody::Ids(_)))
    }

    /// The list to send: all-skip becomes empty.
    fn finish(self) -> Vec<Range> {
        if self.ranges.iter().all(|r| r.body == RangeBody::Skip) { Vec::new() } else { self.ranges }
    }
}

impl Reconciler {
    /// The side that starts.
    pub fn initiator() -> Self {
        Self { role: Role::Initiator, rounds: 0, done: false }
    }

    /// The side that answers.
    pub fn responder() -> Self {
        Self { role: Role::Responder, rounds: 0, done: false }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Messages handled so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Whether the session is over on this side.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The initiator's first message: one fingerprint of the whole set, so
    /// two nodes in sync exchange one range each way.
    pub fn start(&self, set: &impl ItemSet) -> Result<Vec<Range>, ReconcileError> {
        let fp = set.fingerprint(&Bound::START, &Bound::End)?;
        Ok(vec![Range { upper: Bound::End, body: RangeBody::Fingerprint(fp) }])
    }

    /// Handles one message from the peer and says what to send back.
    ///
    /// Errors end the session: a message over the limits, or more than
    /// [`MAX_ROUNDS`] messages.
    pub fn handle(&mut self, set: &impl ItemSet, incoming: &[Range]) -> Result<Step, ReconcileError> {
        if self.done {
            return Err(ReconcileError::SessionFinished);
        }
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            self.done = true;
            return Err(ReconcileError::TooManyRounds);
        }
        if let Err(e) = check_ranges(incoming) {
            self.done = true;
            return Err(e);
        }
        let mut out = Out { ranges: Vec::new(), ids: 0 };
        let mut step = Step::default();
        let mut lo = Bound::START;
        for r in incoming {
            if !out.has_room() {
                // Whatever is left goes back as one fingerprint and is
                // examined again next round, so every message makes progress
                // and stays within the limits.
                let fp = set.fingerprint(&lo, &Bound::End)?;
                out.push(Bound::End, RangeBody::Fingerprint(fp));
                break;
            }
            let hi = r.upper;
            match &r.body {
                RangeBody::Skip => out.push(hi, RangeBody::Skip),
                RangeBody::Fingerprint(theirs) => {
                    if set.fingerprint(&lo, &hi)? == *theirs {
                        out.push(hi, RangeBody::Skip);
                    } else {
                        mismatch(set, &lo, &hi, &mut out)?;
                    }
                }
                // Too many of ours to compare with a short list: narrow the
                // range down first (an honest peer listed few, so most of
                // the difference is ours). For a diff this only happens if
                // our set changed since we listed, or the peer lies.
                RangeBody::Ids(_) | RangeBody::Diff { .. } if set.count(&lo, &hi)? > ID_LIST_THRESHOLD as u64 => {
                    split(set, &lo, &hi, &mut out)?;
                }
                RangeBody::Ids(theirs) => {
                    let mine = ids_in(set, &lo, &hi)?;
                    let theirs: BTreeSet<MessageId> = theirs.iter().copied().collect();
                    let you_lack: Vec<MessageId> = mine.difference(&theirs).copied().collect();
                    let i_lack: Vec<MessageId> = theirs.difference(&mine).copied().collect();
                    step.have.extend(&you_lack);
                    step.need.extend(&i_lack);
                    out.push(hi, RangeBody::Diff { you_lack, i_lack });
                }
                RangeBody::Diff { you_lack, i_lack } => {
                    let mine = ids_in(set, &lo, &hi)?;
                    step.need.extend(you_lack.iter().filter(|id| !mine.contains(id)));
                    step.have.extend(i_lack.iter().filter(|id| mine.contains(id)));
                    out.push(hi, RangeBody::Skip);
                }
            }
            lo = hi;
        }
        let wants_answer = out.wants_answer();
        let ranges = out.finish();
        (step.done, step.reply) = match self.role {
            // The initiator still sends final diffs (the responder learns
            // its difference from them); their answer is empty.
            Role::Initiator if ranges.is_empty() => (true, None),
            Role::Initiator => (false, Some(ranges)),
            // The responder always answers; it is done when the answer
            // asks for nothing back.
            Role::Responder => (!wants_answer, Some(ranges)),
        };
        self.done = step.done;
        Ok(step)
    }
}

/// A range whose fingerprints differ: list ours if few, else split it.
fn mismatch(set: &impl ItemSet, lo: &Bound, hi: &Bound, out: &mut Out) -> Result<(), ReconcileError> {
    if set.count(lo, hi)? <= ID_LIST_THRESHOLD as u64 {
        let ids = set.items(lo, hi, ID_LIST_THRESHOLD)?.iter().map(|it| it.id).collect();
        out.push(*hi, RangeBody::Ids(ids));
        Ok(())
    } else {
        split(set, lo, hi, out)
    }
}

/// Splits `[lo, hi)` into up to [`BRANCHING`] sub-ranges with fingerprints.
fn split(set: &impl ItemSet, lo: &Bound, hi: &Bound, out: &mut Out) -> Result<(), ReconcileError> {
    let mut from = *lo;
    let cuts = set.split(lo, hi, BRANCHING)?;
    for upper in cuts.into_iter().filter(|b| lo < b && b < hi).take(BRANCHING - 1).chain([*hi]) {
        if upper <= from {
            continue;
        }
        let fp = set.fingerprint(&from, &upper)?;
        out.push(upper, RangeBody::Fingerprint(fp));
        from = upper;
    }
    Ok(())
}

/// Our ids in `[lo, hi)`, a range known to hold at most
/// [`ID_LIST_THRESHOLD`] of our items.
fn ids_in(set: &impl ItemSet, lo: &Bound, hi: &Bound) -> Result<BTreeSet<MessageId>, ReconcileError> {
    Ok(set.items(lo, hi, ID_LIST_THRESHOLD)?.into_iter().map(|it| it.id).collect())
}
