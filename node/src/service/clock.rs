//! The daemon's wall clock: the system clock plus a fixed offset.
//!
//! The protocol core never reads a clock (it is handed `now`); the daemon
//! reads this one wherever it needs the time (validation of gossip and sync,
//! local posts, retention, sync planning). The offset exists for two
//! reasons: an operator can correct a host clock known to be wrong, and the
//! multi-process tests can run a node whose clock is minutes off
//! (RELIABILITY.md, clock skew) without touching the machine's clock.

/// Why a clock offset was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {why}")]
pub struct ClockError {
    /// The variable it came from.
    pub key: &'static str,
    /// What is wrong.
    pub why: String,
}

/// Environment variable holding the offset in seconds (may be negative).
pub const CLOCK_OFFSET_ENV: &str = "STOOP_CLOCK_OFFSET_SECS";

/// Largest offset accepted: a day either way. Anything larger is a typo,
/// not a clock correction.
pub const MAX_CLOCK_OFFSET_SECS: i64 = 86_400;

/// Unix time in seconds, shifted by a fixed offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    offset_secs: i64,
    /// For the simulator: unix time at a tokio instant; the clock then
    /// follows tokio's clock (virtual on a paused runtime) from there.
    tokio_origin: Option<(u64, tokio::time::Instant)>,
}

impl Clock {
    /// The system clock, unshifted.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock shifted by `offset_secs` (checked against
    /// [`MAX_CLOCK_OFFSET_SECS`]).
    pub fn with_offset(offset_secs: i64) -> Result<Self, ClockError> {
        if offset_secs.unsigned_abs() > MAX_CLOCK_OFFSET_SECS.unsigned_abs() {
            return Err(ClockError {
                key: CLOCK_OFFSET_ENV,
                why: format!("{offset_secs} is more than a day ({MAX_CLOCK_OFFSET_SECS} s) either way"),
            });
        }
        Ok(Self { offset_secs, tokio_origin: None })
    }

    /// A clock reading `unix_secs` now and advancing with tokio's clock:
    /// the simulator's nodes share one, so on a paused runtime their time
    /// is virtual and identical.
    pub fn following_tokio(unix_secs: u64) -> Self {
        Self { offset_secs: 0, tokio_origin: Some((unix_secs, tokio::time::Instant::now())) }
    }

    /// Reads [`CLOCK_OFFSET_ENV`] once (unset or empty: no offset).
    pub fn from_env() -> Result<Self, ClockError> {
        match std::env::var(CLOCK_OFFSET_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                let secs = v.trim().parse::<i64>().map_err(|_| ClockError {
                    key: CLOCK_OFFSET_ENV,
                    why: format!("{v:?} is not a whole number of seconds"),
                })?;
                Self::with_offset(secs)
            }
            _ => Ok(Self::system()),
        }
    }

    /// The offset in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs
    }

    /// Seconds since the unix epoch, shifted (0 if that is before 1970).
    pub fn now(&self) -> u64 {
        let base = match self.tokio_origin {
            Some((unix, at)) => unix.saturating_add(at.elapsed().as_secs()),
            None => unix_now(),
        };
        Self::shift(base, self.offset_secs)
    }

    fn shift(t: u64, offset: i64) -> u64 {
        if offset >= 0 { t.saturating_add(offset.unsigned_abs()) } else { t.saturating_sub(offset.unsigned_abs()) }
    }
}

/// Seconds since the unix epoch from the system clock (0 if it is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_shift_both_ways_and_saturate() {
        assert_eq!(Clock::shift(1_000, 600), 1_600);
        assert_eq!(Clock::shift(1_000, -600), 400);
        assert_eq!(Clock::shift(100, -600), 0);
        assert_eq!(Clock::shift(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn offsets_beyond_a_day_are_refused() {
        assert!(Clock::with_offset(600).is_ok());
        assert!(Clock::with_offset(-86_400).is_ok());
        assert!(Clock::with_offset(86_401).is_err());
        assert!(Clock::with_offset(i64::MIN).is_err());
    }
}
