//! `stoopd`: the Stoop node daemon.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};
use stoop_node::daemon::{self, DaemonError, Overrides, datadir::DataDir, system};

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
        /// Set up the packaged service's node (/var/lib/stoop, owned by the stoop user; needs root).
        #[arg(long)]
        system: bool,
    },
    /// Join a neighborhood with an invite ticket from a member.
    Join {
        /// The ticket text (stoop1:...).
        ticket: String,
        /// Set up the packaged service's node (/var/lib/stoop, owned by the stoop user; needs root).
        #[arg(long)]
        system: bool,
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
        Command::Init { hood_name, area, per_hour, per_day, system } => {
            let rules = daemon::HoodRules { per_hour, per_day };
            let setup = SystemSetup::begin(system, cli.data_dir.is_some())?;
            let dir = setup.dir().unwrap_or(dir);
            let done = daemon::init(&dir, &hood_name, &area, rules, &overrides);
            setup.hand_over()?;
            let done = done.map_err(one_line)?;
            println!("hood {}", done.hood);
            println!("author {}", done.author);
            println!("data dir {}", dir.root().display());
            setup.next_steps();
        }
        Command::Join { ticket, system } => {
            let setup = SystemSetup::begin(system, cli.data_dir.is_some())?;
            let dir = setup.dir().unwrap_or(dir);
            let done = daemon::join(&dir, &ticket, &overrides);
            setup.hand_over()?;
            let done = done.map_err(one_line)?;
            println!("hood {}", done.hood);
            println!("author {}", done.author);
            println!("data dir {}", dir.root().display());
            if !setup.next_steps() {
                println!("start the node with: stoopd run --data-dir {}", dir.root().display());
            }
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

/// `--system`: the packaged service's node, checked before anything is
/// written and handed to the service user after.
struct SystemSetup(Option<system::Account>);

impl SystemSetup {
    /// Refuses (one line) unless root and the `stoop` user exists; links the
    /// config. Does nothing without `--system`.
    fn begin(system: bool, data_dir_given: bool) -> Result<Self> {
        if !system {
            return Ok(Self(None));
        }
        if data_dir_given {
            return Err(anyhow::anyhow!("{}", system::SystemError::DataDirGiven));
        }
        let account = system::service_account().map_err(|e| anyhow::anyhow!("{e}"))?;
        system::prepare(&DataDir::new(system::DATA_DIR), Path::new(system::CONFIG_FILE))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self(Some(account)))
    }

    /// The packaged data directory, with `--system`.
    fn dir(&self) -> Option<DataDir> {
        self.0.map(|_| DataDir::new(system::DATA_DIR))
    }

    /// Hands the data directory (back) to the service user, also after a
    /// failed init or join: it may have left files as root, or the
    /// directory at 0700 where the group must traverse it.
    fn hand_over(&self) -> Result<()> {
        match self.0 {
            Some(account) => {
                system::hand_over(Path::new(system::DATA_DIR), account).map_err(|e| anyhow::anyhow!("{e}"))
            }
            None => Ok(()),
        }
    }

    /// Says how to start the packaged node. Returns whether this was a
    /// `--system` setup.
    fn next_steps(&self) -> bool {
        if self.0.is_none() {
            return false;
        }
        println!("config {}", system::CONFIG_FILE);
        println!("start the node with: sudo systemctl start stoopd");
        println!("let a household member use `stoop`: sudo adduser NAME {}", system::SERVICE_USER);
        true
    }
}
