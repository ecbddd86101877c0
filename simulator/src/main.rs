//! `stoop-sim`: runs Stoop node stacks in one process.
//!
//! - `run SCENARIO`: N real node stacks over libp2p's memory transport with
//!   a link shim, from a scenario file (or a built-in name); writes a report.
//! - `list`: the built-in scenarios.
//! - `demo`: a walkthrough on in-process replicas, no network.

mod demo;

/// See the `jemalloc` feature in Cargo.toml.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use stoop_sim::clock::ClockMode;
use stoop_sim::runner::{self, RunOptions};
use stoop_sim::scenario::{BUILTIN, Scenario};

#[derive(Parser, Debug)]
#[command(name = "stoop-sim", version, about = "Run Stoop node stacks in one process")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario (a TOML file, or a built-in name from `list`).
    Run {
        /// Scenario file or built-in name.
        scenario: String,
        /// Override the node count.
        #[arg(long)]
        nodes: Option<usize>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Report directory (default: sim-out/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Publish own alerts first-hand instead of through the stem
        /// (`node.stem = false`), to measure what origin hiding costs.
        #[arg(long)]
        no_stem: bool,
        /// `virtual`: exact and repeatable, as fast as the CPU allows (the
        /// default); `real`: the machine's clock, for comparison.
        #[arg(long, default_value = "virtual")]
        clock: ClockMode,
    },
    /// List the built-in scenarios.
    List,
    /// Walk through a hood's life on several in-process replicas.
    Demo {
        /// Number of replicas.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=50))]
        nodes: u16,
        /// Keep each replica's sled store under this directory (default: temporary).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("stoop-sim: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { nodes, data_dir } => demo::demo(usize::from(nodes), data_dir),
        Command::List => {
            for (name, text) in BUILTIN {
                let s = Scenario::parse(text, std::path::Path::new(name))?;
                println!("{name:<16} {:>5} nodes  {}", s.nodes, s.description);
            }
            Ok(())
        }
        Command::Run { scenario, nodes, seed, out, quiet, no_stem, clock } => {
            let mut s = Scenario::load(&scenario)?;
            if let Some(n) = nodes {
                s.nodes = n;
            }
            if let Some(seed) = seed {
                s.seed = seed;
            }
            if no_stem {
                s.node.stem = false;
            }
            s.validate()?;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("STOOP_SIM_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
                )
                .with_writer(std::io::stderr)
                .init();
            let out = out.unwrap_or_else(|| PathBuf::from("sim-out").join(&s.name));
            let opts = RunOptions { out: out.clone(), progress: !quiet, clock };
            let rt = clock.runtime().context("starting the runtime")?;
            let report = rt.block_on(runner::run(&s, &opts))?;
            print!("{}", stoop_sim::report::summary(&report));
            println!(
                "report: {}/report.json (+ alerts.csv, nodes.csv, latency_cdf.svg, delivery_over_time.svg)",
                out.display()
            );
            // Dropping 1,000 swarms' leftover tasks can take a while; the
            // report is written, so leave without waiting for them.
            rt.shutdown_background();
            Ok(())
        }
    }
}
