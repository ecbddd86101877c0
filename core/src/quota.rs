//! Per-author posting quotas.
//!
//! Windows are fixed clock hours and UTC days of the alert's *signed* `sent`
//! time, not of its arrival. That makes the decision a function of signed
//! data, so every honest node counts the same alerts into the same window
//! whatever the gossip order and local clock; an arrival-time limiter (GCRA,
//! `governor`) would make nodes disagree about which alerts are over quota.
//! Backdating cannot help a spammer: `sent` is bounded by the skew rule
//! above and by the category lifetime below, and every window holds at most
//! its quota.
//!
//! Invites are counted the same way, per issuer and UTC day of the
//! invite's `sent`, whether the invite arrives as its own message or inside
//! a join (each invite id once). New members are on probation: for
//! [`PROBATION_SECS`] after their join's `sent` they may post only
//! [`PROBATION_PER_HOUR`] / [`PROBATION_PER_DAY`] alerts and no invites, so
//! keys minted through invites are worth little to a spammer.

use std::collections::HashMap;

use super::charter::Quotas;
use super::keys::PublicKey;
use super::verdict::IgnoreReason;

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Invites one member may issue per UTC day. Nobody invites more than a
/// few neighbors a day; a member who signed invites for keys it holds got
/// 60 extra alerts an hour before this cap. Current moderators are exempt
/// (they bootstrap a hood and can revoke).
pub const INVITES_PER_DAY: u32 = 3;
/// How long a new member is on probation after its join's `sent`.
pub const PROBATION_SECS: u64 = DAY;
/// Alerts per clock hour on probation: an alert and its update, a third of
/// the default charter rate, so ten keys minted through invites add 20 an
/// hour instead of 60.
pub const PROBATION_PER_HOUR: u32 = 2;
/// Alerts per UTC day on probation.
pub const PROBATION_PER_DAY: u32 = 6;
/// How long invite windows are kept: an invite older than the longest
/// invite lifetime can no longer be used by a join signed now.
pub const INVITE_WINDOW_SECS: u64 = 30 * DAY;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Window {
    Hour(u64),
    Day(u64),
    InviteDay(u64),
}

/// Counts of accepted alerts per author per window.
#[derive(Debug, Clone)]
pub struct Quota {
    limits: Quotas,
    /// Bounded by `prune`: only windows that can still receive valid alerts
    /// or usable invites are kept (at most authors x (lifetime/hour +
    /// lifetime/day + 31) entries).
    counts: HashMap<(PublicKey, Window), u32>,
}

impl Quota {
    /// Empty counters with the charter's limits.
    pub fn new(limits: Quotas) -> Self {
        Self { limits, counts: HashMap::new() }
    }

    fn windows(sent: u64) -> [Window; 2] {
        [Window::Hour(sent / HOUR), Window::Day(sent / DAY)]
    }

    fn limit(&self, w: Window) -> u32 {
        match w {
            Window::Hour(_) => self.limits.per_hour,
            Window::Day(_) => self.limits.per_day,
            Window::InviteDay(_) => INVITES_PER_DAY,
        }
    }

    fn count(&self, author: &PublicKey, w: Window) -> u32 {
        self.counts.get(&(*author, w)).copied().unwrap_or(0)
    }

    /// Whether one more alert by a member on probation fits the probation
    /// limits (checked in addition to [`Quota::check`]).
    pub fn check_probation(&self, author: &PublicKey, sent: u64) -> Result<(), IgnoreReason> {
        let [hour, day] = Self::windows(sent);
        if self.count(author, hour) >= PROBATION_PER_HOUR || self.count(author, day) >= PROBATION_PER_DAY {
            return Err(IgnoreReason::Probation);
        }
        Ok(())
    }

    /// Whether one more invite by `issuer` signed at `sent` fits.
    pub fn check_invite(&self, issuer: &PublicKey, sent: u64) -> Result<(), IgnoreReason> {
        if self.count(issuer, Window::InviteDay(sent / DAY)) >= INVITES_PER_DAY {
            return Err(IgnoreReason::InviteQuota);
        }
        Ok(())
    }

    /// Counts an accepted invite.
    pub fn record_invite(&mut self, issuer: &PublicKey, sent: u64) {
        *self.counts.entry((*issuer, Window::InviteDay(sent / DAY))).or_insert(0) += 1;
    }

    /// Whether one more alert by `author` signed at `sent` fits.
    pub fn check(&self, author: &PublicKey, sent: u64) -> Result<(), IgnoreReason> {
        for w in Self::windows(sent) {
            if self.counts.get(&(*author, w)).copied().unwrap_or(0) >= self.limit(w) {
                return Err(IgnoreReason::OverQuota);
            }
        }
        Ok(())
    }

    /// Counts an accepted alert.
    pub fn record(&mut self, author: &PublicKey, sent: u64) {
        for w in Self::windows(sent) {
            *self.counts.entry((*author, w)).or_insert(0) += 1;
        }
    }

    /// Remaining alerts `author` may sign at `sent` (the tighter window).
    pub fn remaining(&self, author: &PublicKey, sent: u64) -> u32 {
        Self::windows(sent)
            .into_iter()
            .map(|w| self.limit(w).saturating_sub(self.counts.get(&(*author, w)).copied().unwrap_or(0)))
            .min()
            .unwrap_or(0)
    }

    /// Whether [`Quota::prune`] with `cutoff` keeps the invite window of an
    /// invite signed at `sent`.
    pub fn keeps_invite_window(sent: u64, cutoff: u64) -> bool {
        (sent / DAY + 1) * DAY > cutoff.saturating_sub(INVITE_WINDOW_SECS)
    }

    /// Forgets alert windows that end before `cutoff` (no valid alert can
    /// land there) and invite windows older than [`INVITE_WINDOW_SECS`]
    /// before it.
    pub fn prune(&mut self, cutoff: u64) {
        self.counts.retain(|(_, w), _| match *w {
            Window::Hour(h) => (h + 1) * HOUR > cutoff,
            Window::Day(d) => (d + 1) * DAY > cutoff,
            Window::InviteDay(d) => Self::keeps_invite_window(d * DAY, cutoff),
        });
    }

    /// Number of live counters (for memory accounting).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no counters are live.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuthorKey;
    use proptest::prelude::*;

    fn author() -> PublicKey {
        AuthorKey::from_secret(&[3; 32]).public()
    }

    #[test]
    fn hour_limit_at_exact_instants() {
        let mut q = Quota::new(Quotas { per_hour: 2, per_day: 5 });
        let a = author();
        let t0 = 10 * DAY; // 00:00:00 UTC
        for i in 0..2 {
            assert_eq!(q.check(&a, t0 + i), Ok(()));
            q.record(&a, t0 + i);
        }
        assert_eq!(q.check(&a, t0 + HOUR - 1), Err(IgnoreReason::OverQuota), "same hour, last second");
        assert_eq!(q.check(&a, t0 + HOUR), Ok(()), "next hour starts exactly on the hour");
        assert_eq!(q.remaining(&a, t0 + HOUR), 2);
    }

    #[test]
    fn day_limit_spans_hours_and_resets_at_midnight() {
        let mut q = Quota::new(Quotas { per_hour: 2, per_day: 3 });
        let a = author();
        let day = 20 * DAY;
        for t in [day, day + 1, day + HOUR] {
            assert_eq!(q.check(&a, t), Ok(()));
            q.record(&a, t);
        }
        assert_eq!(q.check(&a, day + 5 * HOUR), Err(IgnoreReason::OverQuota));
        assert_eq!(q.check(&a, day + DAY - 1), Err(IgnoreReason::OverQuota));
        assert_eq!(q.check(&a, day + DAY), Ok(()));
        // Another author is unaffected.
        assert_eq!(q.check(&AuthorKey::from_secret(&[4; 32]).public(), day + 2), Ok(()));
    }

    #[test]
    fn prune_drops_only_closed_windows() {
        let mut q = Quota::new(Quotas { per_hour: 1, per_day: 1 });
        let a = author();
        q.record(&a, 5 * DAY + 10);
        q.prune(5 * DAY + HOUR);
        assert_eq!(q.check(&a, 5 * DAY + 2 * HOUR), Err(IgnoreReason::OverQuota), "day still open");
        q.prune(6 * DAY);
        assert!(q.is_empty());
    }

    #[test]
    fn invites_per_day_and_probation_limits() {
        let mut q = Quota::new(Quotas { per_hour: 6, per_day: 30 });
        let a = author();
        let day = 30 * DAY;
        for i in 0..INVITES_PER_DAY {
            assert_eq!(q.check_invite(&a, day + u64::from(i)), Ok(()));
            q.record_invite(&a, day + u64::from(i));
        }
        assert_eq!(q.check_invite(&a, day + DAY - 1), Err(IgnoreReason::InviteQuota));
        assert_eq!(q.check_invite(&a, day + DAY), Ok(()), "a new day");
        assert_eq!(q.check(&a, day), Ok(()), "invites do not use the alert quota");
        for i in 0..PROBATION_PER_HOUR {
            assert_eq!(q.check_probation(&a, day + u64::from(i)), Ok(()));
            q.record(&a, day + u64::from(i));
        }
        assert_eq!(q.check_probation(&a, day + 10), Err(IgnoreReason::Probation));
        assert_eq!(q.check(&a, day + 10), Ok(()), "positive control: the normal quota has room");
        // Invite windows outlive alert windows, then go.
        q.prune(day + 2 * DAY);
        assert_eq!(q.check_invite(&a, day), Err(IgnoreReason::InviteQuota));
        q.prune(day + 2 * DAY + INVITE_WINDOW_SECS);
        assert!(q.is_empty());
    }

    proptest! {
        /// Whatever order alerts arrive in, no window ever holds more than its quota.
        #[test]
        fn never_more_than_quota(times in prop::collection::vec(0u64..3 * DAY, 0..200)) {
            let limits = Quotas { per_hour: 3, per_day: 10 };
            let mut q = Quota::new(limits);
            let a = author();
            let mut accepted = Vec::new();
            for t in times {
                if q.check(&a, t).is_ok() {
                    q.record(&a, t);
                    accepted.push(t);
                }
            }
            let mut per_hour = HashMap::new();
            let mut per_day = HashMap::new();
            for t in accepted {
                *per_hour.entry(t / HOUR).or_insert(0u32) += 1;
                *per_day.entry(t / DAY).or_insert(0u32) += 1;
            }
            prop_assert!(per_hour.values().all(|&c| c <= 3));
            prop_assert!(per_day.values().all(|&c| c <= 10));
        }
    }
}
