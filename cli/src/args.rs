//! The command line: flags and subcommands, as clap types.
//!
//! The types here carry no `///` docs of their own: clap turns a type's doc
//! comment into help text, and the help is what the doc comments on the
//! fields and variants say.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use stoop_cli::duration::parse_duration;

#[derive(Parser, Debug)]
#[command(name = "stoop", version, about = "Neighborhood safety alerts: read, post and moderate")]
pub struct Cli {
    /// The node's data directory (finds api.addr and api.token there).
    #[arg(long, global = true, env = "STOOP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A node's API URL instead of a data directory (with --token-file).
    #[arg(long, global = true, requires = "token_file")]
    pub node: Option<String>,
    /// File holding the API token for --node.
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// Machine-readable JSON output (NDJSON with --follow).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct AlertFields {
    /// Category (see `stoop status` for this hood's list).
    #[arg(long)]
    pub category: String,
    /// Short event type, e.g. "package theft".
    #[arg(long)]
    pub event: String,
    /// One-line summary.
    #[arg(long)]
    pub headline: String,
    /// What happened.
    #[arg(long, default_value = "")]
    pub description: String,
    /// What neighbors should do.
    #[arg(long, default_value = "")]
    pub instruction: String,
    /// extreme, severe, moderate, minor or unknown.
    #[arg(long)]
    pub severity: Option<String>,
    /// immediate, expected, future, past or unknown.
    #[arg(long)]
    pub urgency: Option<String>,
    /// observed, likely, possible, unlikely or unknown.
    #[arg(long)]
    pub certainty: Option<String>,
    /// How long it stays relevant, e.g. 6h (default: up to 6h).
    #[arg(long, value_parser = parse_duration)]
    pub expires: Option<u64>,
    /// Geohash cell inside the hood (default: the hood's first cell).
    #[arg(long)]
    pub area: Option<String>,
    /// actual, exercise or test.
    #[arg(long)]
    pub status: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Node, hood and membership at a glance.
    Status,
    /// This node's author key, hood and standing.
    Id,
    /// Post an alert.
    Post(AlertFields),
    /// Read the feed.
    Feed {
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// Only alerts from this far back, e.g. 2h.
        #[arg(long, value_parser = parse_duration)]
        since: Option<u64>,
        /// Keep printing new alerts as they arrive.
        #[arg(long)]
        follow: bool,
        /// Include alerts hidden by moderators.
        #[arg(long)]
        include_hidden: bool,
    },
    /// One alert with its updates, votes and reports.
    Show {
        /// Alert id (64 hex digits).
        id: String,
    },
    /// Post an update to your alert.
    Update {
        /// Alert id.
        id: String,
        #[command(flatten)]
        fields: AlertFields,
    },
    /// Retract your alert.
    Cancel {
        /// Alert id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Mark an alert "seen too".
    Confirm {
        /// Alert id.
        id: String,
    },
    /// Mark an alert resolved.
    Resolve {
        /// Alert id.
        id: String,
    },
    /// Report an alert to the moderators.
    Report {
        /// Alert id.
        id: String,
        /// profiling, harassment, personal_information, misinformation, spam, media or off_topic.
        #[arg(long)]
        reason: String,
        /// Note for the moderators.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Create an invite ticket for a new neighbor.
    Invite {
        /// How long the ticket stays valid, e.g. 24h.
        #[arg(long, value_parser = parse_duration, default_value = "24h")]
        expires: u64,
        /// Also print the ticket as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Connected peers.
    Peers,
    /// Moderator commands.
    #[command(subcommand)]
    Mod(ModCommand),
    /// Membership commands.
    #[command(subcommand)]
    Members(MembersCommand),
    /// The web page: pair a browser, list and revoke paired devices.
    #[command(subcommand)]
    Web(WebCommand),
    /// Export or import alerts as CAP 1.2 (OASIS Common Alerting Protocol) XML.
    #[command(subcommand)]
    Cap(CapCommand),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum CapCommand {
    /// Print one alert as a CAP 1.2 document.
    Export {
        /// Alert id.
        id: String,
    },
    /// Post a CAP 1.2 document as an alert signed by this node's author key
    /// (an Update or Cancel must reference a Stoop alert).
    Import {
        /// The CAP file, or - for standard input.
        file: PathBuf,
        /// Geohash cell inside the hood, when the document has no geohash geocode.
        #[arg(long)]
        area: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ModCommand {
    /// Reported alerts waiting for review.
    Queue,
    /// Vote to hide an alert.
    Hide {
        /// Alert id.
        id: String,
        /// Reason code (as for reports).
        #[arg(long)]
        reason: String,
        /// Public note.
        #[arg(long, default_value = "")]
        note: String,
        /// Sign with this key file instead of the node's key (the node only relays).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Vote to restore a hidden alert.
    Restore {
        /// Alert id.
        id: String,
        /// Public note.
        #[arg(long, default_value = "")]
        note: String,
        /// Sign with this key file instead of the node's key.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// The audit trail: every vote, voter, time and effect.
    Log,
    /// Show the roster, or sign a change to it.
    Roster {
        #[command(subcommand)]
        change: Option<RosterCommand>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RosterCommand {
    /// Sign adding a moderator.
    Add {
        /// Author key (hex).
        key: String,
    },
    /// Sign removing a moderator.
    Remove {
        /// Author key (hex).
        key: String,
    },
    /// Sign changing the quorum.
    Quorum {
        /// New quorum.
        k: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum MembersCommand {
    /// List members.
    List,
    /// Sign a revocation of a member (takes effect at the quorum).
    Revoke {
        /// Author key (hex).
        key: String,
        /// Public reason.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebCommand {
    /// Print a one-time code (and a QR code with the page's URL) that pairs a browser.
    Pair {
        /// A name to tell the device by, e.g. "Maya's phone".
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List paired devices.
    Devices,
    /// End a paired device's session.
    Revoke {
        /// Device id (from `stoop web devices`).
        id: String,
    },
}
