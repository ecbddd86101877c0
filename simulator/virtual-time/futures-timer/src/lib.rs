//! `futures_timer::Delay` backed by `tokio::time::Sleep`, so that libp2p's
//! timers follow tokio's clock (virtual on a paused runtime).
//!
//! A `Delay` must be created inside a tokio runtime, as every libp2p
//! behaviour and connection of the simulator is.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A future that completes `dur` after it was created or last reset.
pub struct Delay {
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Delay {
    /// Completes after `dur` of tokio's clock.
    pub fn new(dur: Duration) -> Delay {
        Delay { sleep: Box::pin(tokio::time::sleep(dur)) }
    }

    /// Completes `dur` from now instead.
    pub fn reset(&mut self, dur: Duration) {
        self.sleep.as_mut().reset(tokio::time::Instant::now() + dur);
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.sleep.as_mut().poll(cx)
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay").field("deadline", &self.sleep.deadline()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_delay_completes_on_virtual_time_and_can_be_reset() {
        let start = tokio::time::Instant::now();
        Delay::new(Duration::from_secs(3600)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
        let mut d = Delay::new(Duration::from_secs(10));
        d.reset(Duration::from_secs(20));
        d.await;
        assert_eq!(start.elapsed(), Duration::from_secs(3620));
    }
}
