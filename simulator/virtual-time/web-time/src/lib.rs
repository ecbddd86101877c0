//! `web_time` on tokio's clock: `Instant` is `tokio::time::Instant`, and
//! `SystemTime` is a fixed epoch plus tokio time since the first read, so
//! a simulation on a paused runtime reads virtual, repeatable wall time.

use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::Mutex;

pub use std::time::{Duration, SystemTimeError, TryFromFloatSecsError};
pub use tokio::time::Instant;

/// Unix time at the start of a run (see [`restart_epoch`]). Fixed, not the
/// host's clock, so two runs with one seed read the same times:
/// 2027-01-15T08:00:00Z, the simulator's default start of a run.
pub const VIRTUAL_EPOCH_UNIX_SECS: u64 = 1_800_000_000;

/// The tokio instant `SystemTime` counts from.
static ORIGIN: Mutex<Option<Instant>> = Mutex::new(None);

fn origin() -> Instant {
    let mut origin = ORIGIN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *origin.get_or_insert_with(Instant::now)
}

/// Makes `SystemTime::now()` read [`VIRTUAL_EPOCH_UNIX_SECS`] at this
/// instant: the simulator calls it at the start of every run, since each
/// paused runtime has a clock of its own. (Not in the real crate.)
pub fn restart_epoch() {
    *ORIGIN.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
}

/// A wall-clock time on tokio's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemTime(std::time::SystemTime);

/// 1970-01-01T00:00:00Z.
pub const UNIX_EPOCH: SystemTime = SystemTime(std::time::UNIX_EPOCH);

impl SystemTime {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: SystemTime = UNIX_EPOCH;

    /// [`VIRTUAL_EPOCH_UNIX_SECS`] plus tokio time since the first read.
    pub fn now() -> SystemTime {
        let since = Instant::now().saturating_duration_since(origin());
        SystemTime(std::time::UNIX_EPOCH + Duration::from_secs(VIRTUAL_EPOCH_UNIX_SECS) + since)
    }

    /// Time from `earlier` to `self`, or an error if `earlier` is later.
    pub fn duration_since(&self, earlier: SystemTime) -> Result<Duration, SystemTimeError> {
        self.0.duration_since(earlier.0)
    }

    /// Time since `self` on this clock.
    pub fn elapsed(&self) -> Result<Duration, SystemTimeError> {
        SystemTime::now().duration_since(*self)
    }

    /// `self + d`, if representable.
    pub fn checked_add(&self, d: Duration) -> Option<SystemTime> {
        self.0.checked_add(d).map(SystemTime)
    }

    /// `self - d`, if representable.
    pub fn checked_sub(&self, d: Duration) -> Option<SystemTime> {
        self.0.checked_sub(d).map(SystemTime)
    }
}

impl Add<Duration> for SystemTime {
    type Output = SystemTime;
    fn add(self, d: Duration) -> SystemTime {
        SystemTime(self.0 + d)
    }
}

impl AddAssign<Duration> for SystemTime {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl Sub<Duration> for SystemTime {
    type Output = SystemTime;
    fn sub(self, d: Duration) -> SystemTime {
        SystemTime(self.0 - d)
    }
}

impl SubAssign<Duration> for SystemTime {
    fn sub_assign(&mut self, d: Duration) {
        self.0 -= d;
    }
}

impl From<SystemTime> for std::time::SystemTime {
    fn from(t: SystemTime) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_time_is_virtual_and_starts_at_the_fixed_epoch() {
        let t0 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        assert!(t0 >= VIRTUAL_EPOCH_UNIX_SECS);
        tokio::time::sleep(Duration::from_secs(86_400)).await;
        let t1 = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
        assert_eq!(t1 - t0, 86_400);
    }
}
