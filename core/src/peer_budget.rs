//! Per-key rate limits by GCRA (the generic cell rate algorithm), as
//! Lighthouse limits its req/resp protocols: for per-peer sync requests,
//! sync items served and stem messages.
//!
//! GCRA is a token bucket that stores one number per key instead of a count
//! and a timestamp: the *theoretical arrival time* (TAT), the instant at
//! which the key's bucket will be full again. A request for `n` tokens
//! at `now` is allowed iff `tat + n·t − τ ≤ now`, where `t` is the time one
//! token takes to come back and `τ` the time the whole bucket takes; if
//! allowed, `tat = max(tat, now) + n·t`. A key whose TAT is in the past has a
//! full bucket, exactly like a key never seen, so such entries carry no
//! information and may be dropped at any time ([`PeerBudget::prune`]).
//!
//! Time is passed in as milliseconds (`now_ms`) from any monotonic origin.
//! Internally a millisecond is `burst` units, so `t = period` units and
//! `τ = period · burst` units exactly: no rounding, however the burst
//! divides the period.
//!
//! The map is bounded by a capacity. When a new key arrives at capacity the
//! entry with the smallest TAT goes: it is the one closest to a full bucket,
//! so forgetting it forgives the least debt (none at all if its TAT has
//! passed). An attacker with many identities can at worst make the limiter
//! forget its *least* indebted keys.

use std::collections::HashMap;
use std::hash::Hash;
use std::num::{NonZeroU32, NonZeroU64};

/// Default number of keys a budget tracks: four times the node's default
/// connection cap (64), so peers that reconnect keep their debt and only a
/// churn of hundreds of identities reaches eviction.
pub const DEFAULT_MAX_KEYS: usize = 256;

/// Sync page requests one peer may make: 120 a minute. A catching-up peer
/// asks for pages back to back, one round trip each (a few per second at
/// best on a home link), and a gap-triggered sync comes at most every
/// [`GAP_RESYNC_MIN_SECS`](crate::sync::GAP_RESYNC_MIN_SECS).
pub const SYNC_REQUEST_QUOTA: Quota = Quota::constant(120, 60_000);
/// Envelopes one peer may be served: 4096 a minute (16 full pages). At
/// typical sizes of about 1 KiB that is some 4 MiB a minute per peer, what
/// a Raspberry Pi on a home uplink can give several peers at once; a joiner
/// catching up on a large history takes minutes, and syncs from every peer
/// in parallel.
pub const SYNC_ITEMS_QUOTA: Quota = Quota::constant(4096, 60_000);

/// A limit: `burst` tokens, replenished in full every `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    burst: NonZeroU32,
    period_ms: NonZeroU64,
}

impl Quota {
    /// `burst` tokens at once, all of them back after `period_ms`.
    pub const fn new(burst: NonZeroU32, period_ms: NonZeroU64) -> Self {
        Self { burst, period_ms }
    }

    /// For constants: panics on zero, which in a `const` is a compile error.
    pub const fn constant(burst: u32, period_ms: u64) -> Self {
        match (NonZeroU32::new(burst), NonZeroU64::new(period_ms)) {
            (Some(burst), Some(period_ms)) => Self { burst, period_ms },
            _ => panic!("a quota needs a non-zero burst and period"),
        }
    }

    /// Most tokens one call may take.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// Time for the whole burst to come back.
    pub fn period_ms(&self) -> u64 {
        self.period_ms.get()
    }
}

/// Why a request was limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// More tokens than the burst: this request can never be allowed.
    #[error("request larger than the burst")]
    TooLarge,
    /// Not enough tokens now; this many milliseconds from now there will be.
    #[error("rate limited; retry after {retry_after_ms} ms")]
    TooSoon {
        /// Wait at least this long.
        retry_after_ms: u64,
    },
}

impl Limited {
    /// Stable snake_case code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Limited::TooLarge => "too_large",
            Limited::TooSoon { .. } => "rate_limited",
        }
    }
}

/// GCRA limits per key `K`, over a bounded map.
#[derive(Debug, Clone)]
pub struct PeerBudget<K> {
    quota: Quota,
    max_keys: usize,
    /// TAT per key, in units of 1/burst millisecond.
    tat: HashMap<K, u128>,
}

impl<K: Hash + Eq + Clone> PeerBudget<K> {
    /// A budget of `quota` per key, tracking at most [`DEFAULT_MAX_KEYS`].
    pub fn new(quota: Quota) -> Self {
        Self::with_max_keys(quota, DEFAULT_MAX_KEYS)
    }

    /// A budget of `quota` per key, tracking at most `max_keys` (at least 1).
    pub fn with_max_keys(quota: Quota, max_keys: usize) -> Self {
        Self { quota, max_keys: max_keys.max(1), tat: HashMap::new() }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Takes `tokens` for `key` at `now_ms` if its bucket holds them.
    pub fn allows(&mut self, now_ms: u64, key: &K, tokens: u32) -> Result<(), Limited> {
        let burst = u128::from(self.quota.burst());
        if u128::from(tokens) > burst {
            return Err(Limited::TooLarge);
        }
        let period = u128::from(self.quota.period_ms());
        let now = u128::from(now_ms) * burst;
        let tau = period * burst;
        let cost = period * u128::from(tokens);
        let tat = match self.tat.get(key) {
            Some(&t) => t,
            None => now,
        };
        let earliest = (tat + cost).saturating_sub(tau);
        if now < earliest {
            // Round up: retrying after the floor would still be too soon.
            let wait = (earliest - now).div_ceil(burst);
            return Err(Limited::TooSoon { retry_after_ms: u64::try_from(wait).unwrap_or(u64::MAX) });
        }
        let new_tat = tat.max(now) + cost;
        if !self.tat.contains_key(key) && self.tat.len() >= self.max_keys {
            self.evict_one(now);
        }
        self.tat.insert(key.clone(), new_tat);
        Ok(())
    }

    /// Drops keys whose bucket is full again at `now_ms` (they carry no
    /// information). Call now and then, e.g. every minute.
    pub fn prune(&mut self, now_ms: u64) {
        let now = u128::from(now_ms) * u128::from(self.quota.burst());
        self.tat.retain(|_, tat| *tat > now);
    }

    /// Forgets `key` (e.g. when its peer is banned and its state goes anyway).
    pub fn forget(&mut self, key: &K) {
        self.tat.remove(key);
    }

    /// Keys tracked.
    pub fn len(&self) -> usize {
        self.tat.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.tat.is_empty()
    }

    /// Most keys tracked.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Makes room for one key: drops full buckets first, else the smallest TAT.
    fn evict_one(&mut self, now: u128) {
        self.tat.retain(|_, tat| *tat > now);
        if self.tat.len() < self.max_keys {
            return;
        }
        // O(max_keys), and only when a new key arrives at capacity.
        let oldest = self.tat.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.tat.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quota(burst: u32, period_ms: u64) -> Quota {
        Quota::constant(burst, period_ms)
    }

    #[test]
    fn shipped_quotas_are_what_they_say() {
        assert_eq!((SYNC_REQUEST_QUOTA.burst(), SYNC_REQUEST_QUOTA.period_ms()), (120, 60_000));
        assert_eq!(SYNC_ITEMS_QUOTA.burst(), 16 * crate::sync::PAGE_LIMIT);
        // A full page is one call's worth of tokens.
        let mut b = PeerBudget::new(SYNC_ITEMS_QUOTA);
        assert_eq!(b.allows(0, &"a", crate::sync::PAGE_LIMIT), Ok(()));
    }

    #[test]
    fn one_token_per_period_at_exact_instants() {
        // Lighthouse's shape: 1 token per 1000 ms.
        let mut b = PeerBudget::new(quota(1, 1000));
        let t = 10_000;
        assert_eq!(b.allows(t, &"a", 1), Ok(()));
        assert_eq!(b.allows(t, &"a", 1), Err(Limited::TooSoon { retry_after_ms: 1000 }));
        assert_eq!(b.allows(t + 999, &"a", 1), Err(Limited::TooSoon { retry_after_ms: 1 }));
        assert_eq!(b.allows(t + 1000, &"a", 1), Ok(()));
        assert!(b.allows(t + 1999, &"a", 1).is_err());
        assert_eq!(b.allows(t + 2000, &"a", 1), Ok(()));
    }

    #[test]
    fn a_burst_then_steady_refill_at_exact_instants() {
        // 4 tokens per 1000 ms: one token back every 250 ms.
        let mut b = PeerBudget::new(quota(4, 1000));
        let t = 50_000;
        for _ in 0..4 {
            assert_eq!(b.allows(t, &1u8, 1), Ok(()));
        }
        assert_eq!(b.allows(t, &1, 1), Err(Limited::TooSoon { retry_after_ms: 250 }));
        assert_eq!(b.allows(t + 249, &1, 1), Err(Limited::TooSoon { retry_after_ms: 1 }));
        assert_eq!(b.allows(t + 250, &1, 1), Ok(()));
        // Two tokens need 500 ms more.
        assert!(b.allows(t + 250 + 499, &1, 2).is_err());
        assert_eq!(b.allows(t + 250 + 500, &1, 2), Ok(()));
        // Other keys are independent.
        assert_eq!(b.allows(t, &2, 4), Ok(()));
    }

    #[test]
    fn periods_that_do_not_divide_by_the_burst_do_not_round() {
        // 3 tokens per 1000 ms: 333.33 ms per token.
        let mut b = PeerBudget::new(quota(3, 1000));
        let t = 0;
        assert_eq!(b.allows(t, &"a", 3), Ok(()));
        assert_eq!(b.allows(t + 333, &"a", 1), Err(Limited::TooSoon { retry_after_ms: 1 }));
        assert_eq!(b.allows(t + 334, &"a", 1), Ok(()));
        assert!(b.allows(t + 666, &"a", 1).is_err());
        assert_eq!(b.allows(t + 667, &"a", 1), Ok(()));
        assert!(b.allows(t + 999, &"a", 1).is_err());
        assert_eq!(b.allows(t + 1000, &"a", 1), Ok(()));
    }

    #[test]
    fn idle_time_does_not_bank_more_than_the_burst() {
        let mut b = PeerBudget::new(quota(2, 1000));
        assert_eq!(b.allows(0, &"a", 1), Ok(()));
        let later = 1_000_000;
        assert_eq!(b.allows(later, &"a", 2), Ok(()));
        assert!(b.allows(later, &"a", 1).is_err());
    }

    #[test]
    fn over_the_burst_is_too_large_forever() {
        let mut b = PeerBudget::new(quota(2, 1000));
        assert_eq!(b.allows(0, &"a", 3), Err(Limited::TooLarge));
        assert_eq!(b.allows(u64::MAX / 2, &"a", 3), Err(Limited::TooLarge));
        assert_eq!(b.allows(0, &"a", 2), Ok(()), "positive control: the burst itself is allowed");
        assert_eq!(Limited::TooLarge.code(), "too_large");
        assert_eq!(Limited::TooSoon { retry_after_ms: 1 }.code(), "rate_limited");
    }

    #[test]
    fn prune_drops_only_full_buckets() {
        let mut b = PeerBudget::new(quota(1, 1000));
        assert_eq!(b.allows(0, &"a", 1), Ok(()));
        assert_eq!(b.allows(500, &"b", 1), Ok(()));
        b.prune(1000);
        assert_eq!(b.len(), 1, "a is full again, b still owes 500 ms");
        assert!(b.allows(1000, &"b", 1).is_err(), "b's debt survived the prune");
        b.forget(&"b");
        assert!(b.is_empty());
    }

    #[test]
    fn at_capacity_the_least_indebted_key_goes() {
        let mut b = PeerBudget::with_max_keys(quota(1, 1000), 3);
        // Keys owe until 1000, 1100 and 1200.
        assert_eq!(b.allows(0, &"a", 1), Ok(()));
        assert_eq!(b.allows(100, &"b", 1), Ok(()));
        assert_eq!(b.allows(200, &"c", 1), Ok(()));
        assert_eq!(b.allows(300, &"d", 1), Ok(()));
        assert_eq!(b.len(), 3);
        assert_eq!(b.allows(300, &"a", 1), Ok(()), "a was forgotten");
        assert!(b.allows(300, &"c", 1).is_err(), "c kept its debt");
        assert!(b.allows(300, &"d", 1).is_err(), "d kept its debt");
    }

    proptest! {
        #[test]
        fn never_more_than_the_quota_in_any_period_and_map_bounded(
            burst in 1u32..8,
            period in 1u64..2000,
            max_keys in 1usize..6,
            ops in proptest::collection::vec((0u64..300, 0u8..4, 1u32..4), 1..300),
        ) {
            let mut b = PeerBudget::with_max_keys(quota(burst, period), max_keys);
            let mut now = 0u64;
            // Tokens granted to key 0 (never evicted when max_keys > 4 keys).
            let mut grants: Vec<(u64, u32)> = Vec::new();
            for (dt, key, tokens) in ops {
                now += dt;
                if b.allows(now, &key, tokens).is_ok() && key == 0 {
                    grants.push((now, tokens));
                }
                prop_assert!(b.len() <= max_keys);
            }
            if max_keys >= 4 {
                // GCRA: over any window of length w, at most burst + w·burst/period tokens.
                for (i, &(start, _)) in grants.iter().enumerate() {
                    for end in i..grants.len() {
                        let w = grants[end].0 - start;
                        let taken: u64 = grants[i..=end].iter().map(|g| u64::from(g.1)).sum();
                        let allowed = u64::from(burst) + (w * u64::from(burst)) / period;
                        prop_assert!(taken <= allowed, "{taken} > {allowed} over {w} ms");
                    }
                }
            }
        }
    }
}
