//! Which clock a run uses.
//!
//! Virtual time (the default) runs every node on one paused current-thread
//! tokio runtime. libp2p's timers and clock reads go through tokio's clock
//! too (the workspace patches `futures-timer` and `web-time`, see
//! `virtual-time/README.md`), so time jumps to the next timer whenever every
//! task is idle: latencies are the modelled ones however busy the machine
//! is, and a run costs the CPU its events need, not its simulated length.
//! Real time runs on two worker threads against the machine's clock, as
//! the simulator did before; its latencies include the machine's own lag.

use std::fmt;
use std::str::FromStr;

/// The clock of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// A paused runtime: exact, repeatable, as fast as the CPU allows.
    #[default]
    Virtual,
    /// The machine's clock, two worker threads.
    Real,
}

impl ClockMode {
    /// A runtime for this clock.
    pub fn runtime(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            ClockMode::Virtual => tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build(),
            // Two workers: the machine the goals are set for has two cores.
            ClockMode::Real => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build(),
        }
    }
}

impl FromStr for ClockMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "virtual" => Ok(ClockMode::Virtual),
            "real" => Ok(ClockMode::Real),
            other => Err(format!("unknown clock {other:?}: use virtual or real")),
        }
    }
}

impl fmt::Display for ClockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockMode::Virtual => "virtual",
            ClockMode::Real => "real",
        })
    }
}
