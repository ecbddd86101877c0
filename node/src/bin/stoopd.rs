//! `stoopd`: the Stoop node daemon.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use stoop_node::daemon::{self, DaemonError, Overrides, datadir::DataDir};

#[derive(Parser, Debug)]
#[command(name = "stoopd", version, about = "Stoop node: neighborhood safety alerts over libp2p")]
struct Cli {
    /// Data directory (default: $STATE_DIRECTORY, else ~/.local/state/stoop).
    #[arg(long, global = true, env = "STOOP_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// libp2p listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/4011 (port 0 picks one).
    #[arg(long, global = true)]
    listen: Vec<String>,
    /// Local API address, e.g. 127.0.0.1:4012 (port 0 picks one).
    #[arg(long, global = true)]
    api: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Found a new neighborhood with this node's author key as its founder.
    Init {
        /// Name of the neighborhood.
        #[arg(long)]
        hood_name: String,
        /// Geohash cells (precision <= 6) that make up the neighborhood, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        area: Vec<String>,
        /// Alerts each member may post per hour.
        #[arg(long, default_value_t = 6)]
        per_hour: u32,
        /// Alerts each member may post per day.
        #[arg(long, default_value_t = 20)]
        per_day: u32,
    },
    /// Join a neighborhood with an invite ticket from a member.
    Join {
        /// The ticket text (stoop1:...).
        ticket: String,
    },
    /// Run the node (the default).
    Run,
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One clear line, no backtrace: this is for the person at the terminal.
            eprintln!("stoopd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .init();
    let dir = DataDir::new(cli.data_dir.clone().unwrap_or_else(daemon::default_data_dir));
    let overrides = Overrides { listen: (!cli.listen.is_empty()).then(|| cli.listen.clone()), api: cli.api.clone() };
    match cli.command.unwrap_or(Command::Run) {
        Command::Init { hood_name, area, per_hour, per_day } => {
            let rules = daemon::HoodRules { per_hour, per_day };
            let done = daemon::init(&dir, &hood_name, &area, rules, &overrides).map_err(one_line)?;
            println!("hood {}", done.hood);
            println!("author {}", done.author);
            println!("data dir {}", dir.root().display());
        }
        Command::Join { ticket } => {
            let done = daemon::join(&dir, &ticket, &overrides).map_err(one_line)?;
            println!("hood {}", done.hood);
            println!("author {}", done.author);
            println!("data dir {}", dir.root().display());
            println!("start the node with: stoopd run --data-dir {}", dir.root().display());
        }
        Command::Run => {
            let settings = daemon::settings(&dir, &overrides).map_err(one_line)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(daemon::run(dir, settings, daemon::shutdown_signal())).map_err(one_line)?;
        }
    }
    Ok(())
}

fn one_line(e: DaemonError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
