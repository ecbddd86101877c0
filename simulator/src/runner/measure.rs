//! Measurements of the simulator process itself: scheduling lag, RSS and
//! CPU time.

use super::*;

/// Samples the runtime's timer overshoot every 10 ms until stopped.
pub(super) fn spawn_lag_probe(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let due = Instant::now() + Duration::from_millis(10);
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep_until(due) => {
                    let late = Instant::now().saturating_duration_since(due);
                    shared.probe_lag.record_us(late.as_micros() as u64);
                }
            }
        }
    })
}

/// Reads a field of /proc/self/status in KiB.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

/// User + system CPU seconds of this process (from /proc/self/stat, at the
/// usual 100 ticks per second).
pub fn cpu_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = text.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
