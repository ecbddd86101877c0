//! Retention: what the ledger forgets as time passes, and what the store
//! must delete with it.

use crate::ids::MessageId;

use super::Ledger;
use crate::quota::Quota;

/// What retention removed; the store deletes and tombstones it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Garbage {
    /// Deleted alerts with the time their tombstone may go.
    pub alerts: Vec<(MessageId, u64)>,
    /// Votes, reports and reactions of those alerts.
    pub messages: Vec<MessageId>,
    /// Tombstones now forgotten.
    pub forgotten: Vec<MessageId>,
    /// Invite messages that expired without being used: delete them (no
    /// join can use them any more; a used invite travels inside its join).
    pub invites: Vec<MessageId>,
}

impl Ledger {
    /// Retention: removes alerts whose expiry is more than the retention
    /// window ago (with everything that refers to them), drops old
    /// tombstones, stale pending messages, closed quota windows and expired
    /// unused invites. Returns what the store must delete.
    pub fn collect_garbage(&mut self, now: u64) -> Garbage {
        let retention = self.charter().retention_secs;
        let mut garbage = Garbage::default();
        let doomed: Vec<MessageId> =
            self.alerts.values().filter(|m| m.expires.saturating_add(retention) <= now).map(|m| m.id).collect();
        for id in doomed {
            if let Some(m) = self.alerts.remove(&id) {
                let children = m
                    .votes
                    .iter()
                    .map(|v| v.id)
                    .chain(m.reports.iter().map(|r| r.id))
                    .chain(m.reaction_ids.iter().copied())
                    .collect::<Vec<_>>();
                for c in &children {
                    self.seen.remove(c);
                }
                if let Some(list) = self.by_author.get_mut(&m.author) {
                    list.retain(|x| *x != id);
                }
                self.seen.remove(&id);
                let forget_after = now.saturating_add(retention);
                self.tombstones.insert(id, forget_after);
                garbage.alerts.push((id, forget_after));
                garbage.messages.extend(children);
            }
        }
        self.by_author.retain(|_, v| !v.is_empty());
        self.tombstones.retain(|id, forget_after| {
            let keep = *forget_after > now;
            if !keep {
                garbage.forgotten.push(*id);
            }
            keep
        });
        self.pending.expire(now);
        // No valid alert can be signed earlier than now minus the longest lifetime.
        let longest = self.charter().categories.iter().map(|c| c.max_lifetime_secs).max().unwrap_or(0);
        self.quota.prune(now.saturating_sub(longest));
        // Expired invites: none can admit anyone any more. An unused invite
        // message is deleted; a used one stays (its join embeds it anyway).
        // The record itself stays while its quota window is kept, so a join
        // that arrives late for a counted invite is not counted twice.
        let cutoff = now.saturating_sub(longest);
        let membership = &self.membership;
        let seen = &mut self.seen;
        self.invites.retain(|id, r| {
            if r.expires <= now && r.as_message && !membership.is_used(id) {
                seen.remove(id);
                garbage.invites.push(*id);
                r.as_message = false;
            }
            Quota::keeps_invite_window(r.sent, cutoff)
        });
        garbage
    }
}
