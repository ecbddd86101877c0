//! The wall clock, for ages in tables and for the times the CLI signs.

/// Seconds since the unix epoch from the system clock (0 if it is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_the_time_this_was_written() {
        // 2025-01-01: a clock reading before that is not the system clock.
        assert!(unix_now() > 1_735_689_600);
    }
}
