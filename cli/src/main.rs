//! `stoop`: read and post neighborhood alerts, and moderate, from the
//! command line. Talks to a running `stoopd` through its local API.
//!
//! Exit codes: 0 ok, 1 other failure, 2 bad usage, 3 node unreachable,
//! 4 unauthorized, 5 rejected (with the named reason), 6 not found.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use stoop_cli::cap::{self, CapError, ImportKind};
use stoop_cli::client::{Client, ClientError};
use stoop_cli::clock::unix_now;
use stoop_cli::datadir::{default_data_dir, read_author_key};
use stoop_cli::duration::parse_duration;
use stoop_core::ids::{HoodId, MessageId};
use stoop_core::message::{Decision, Payload, ReportReason, Vote};
use stoop_core::text::check_profiling;

#[derive(Parser, Debug)]
#[command(name = "stoop", version, about = "Neighborhood safety alerts: read, post and moderate")]
struct Cli {
    /// The node's data directory (finds api.addr and api.token there).
    #[arg(long, global = true, env = "STOOP_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A node's API URL instead of a data directory (with --token-file).
    #[arg(long, global = true, requires = "token_file")]
    node: Option<String>,
    /// File holding the API token for --node.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// Machine-readable JSON output (NDJSON with --follow).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct AlertFields {
    /// Category (see `stoop status` for this hood's list).
    #[arg(long)]
    category: String,
    /// Short event type, e.g. "package theft".
    #[arg(long)]
    event: String,
    /// One-line summary.
    #[arg(long)]
    headline: String,
    /// What happened.
    #[arg(long, default_value = "")]
    description: String,
    /// What neighbors should do.
    #[arg(long, default_value = "")]
    instruction: String,
    /// extreme, severe, moderate, minor or unknown.
    #[arg(long)]
    severity: Option<String>,
    /// immediate, expected, future, past or unknown.
    #[arg(long)]
    urgency: Option<String>,
    /// observed, likely, possible, unlikely or unknown.
    #[arg(long)]
    certainty: Option<String>,
    /// How long it stays relevant, e.g. 6h (default: up to 6h).
    #[arg(long, value_parser = parse_duration)]
    expires: Option<u64>,
    /// Geohash cell inside the hood (default: the hood's first cell).
    #[arg(long)]
    area: Option<String>,
    /// actual, exercise or test.
    #[arg(long)]
    status: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
enum CapCommand {
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
enum ModCommand {
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
enum RosterCommand {
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
enum MembersCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stoop: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn client(cli: &Cli) -> Result<Client, ClientError> {
    match (&cli.node, &cli.token_file) {
        (Some(url), Some(token)) => Client::from_url(url, token),
        _ => {
            let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
            Client::from_data_dir(&dir)
        }
    }
}

fn id_arg(id: &str) -> Result<String, ClientError> {
    MessageId::from_hex(id)
        .map(|d| d.to_hex())
        .map_err(|_| ClientError::Usage(format!("{id:?} is not an alert id (64 hex digits)")))
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A membership time for the table: founders join at 0, and a member who
/// was never revoked has no revocation time.
fn member_time(v: &serde_json::Value, none: &str) -> String {
    match v.as_u64() {
        Some(0) | None => none.to_owned(),
        Some(t) => age(t),
    }
}

fn age(sent: u64) -> String {
    let d = unix_now().saturating_sub(sent);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86_400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86_400),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

fn alert_row(a: &Value) -> Vec<String> {
    let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
    vec![
        short(&s("id")).to_owned(),
        age(a["sent"].as_u64().unwrap_or(0)),
        s("category"),
        s("headline"),
        s("state"),
        a["seen_too"].as_u64().unwrap_or(0).to_string(),
        a["reports"].as_u64().unwrap_or(0).to_string(),
    ]
}

const FEED_HEADER: [&str; 7] = ["ID", "SENT", "CATEGORY", "HEADLINE", "STATE", "SEEN", "REPORTS"];

fn alert_body(c: &Client, f: &AlertFields) -> Result<Value, ClientError> {
    let mut body = json!({
        "category": f.category, "event": f.event, "headline": f.headline,
        "description": f.description, "instruction": f.instruction,
    });
    for (k, v) in [
        ("severity", &f.severity),
        ("urgency", &f.urgency),
        ("certainty", &f.certainty),
        ("area", &f.area),
        ("status", &f.status),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    if let Some(e) = f.expires {
        body["expires_in"] = json!(e);
    }
    // The profiling guard, before anything is signed; the node applies the same rule.
    profiling_guard(c, &body)?;
    Ok(body)
}

fn created(cli: &Cli, v: &Value, what: &str) {
    if cli.json {
        print_json(v);
    } else {
        println!("{what} {}", v["id"].as_str().unwrap_or(""));
    }
}

fn signed_vote(
    c: &Client,
    key_file: &std::path::Path,
    alert: &str,
    decision: Decision,
    reason: Option<ReportReason>,
    note: &str,
) -> Result<Value, ClientError> {
    let key = read_author_key(key_file).map_err(|e| ClientError::Usage(e.to_string()))?;
    let status = c.get("/v1/status")?;
    let hood = HoodId::from_hex(status["hood"].as_str().unwrap_or(""))
        .map_err(|_| ClientError::Other("node sent no hood id".into()))?;
    let alert = MessageId::from_hex(alert).map_err(|_| ClientError::Usage("bad alert id".into()))?;
    // Signed later than every vote the node has seen on this alert, as the
    // node does for its own votes (the tally orders by whole seconds, then id).
    let detail = c.get(&format!("/v1/alerts/{}", alert.to_hex()))?;
    let latest = detail["votes"].as_array().into_iter().flatten().filter_map(|v| v["sent"].as_u64()).max();
    let sent = latest.map_or(unix_now(), |t| unix_now().max(t + 1));
    let env = Payload::Vote(Vote { hood, alert, decision, reason, note: note.to_owned(), sent }).seal(&key);
    c.post("/v1/messages", &json!({ "envelope": hex::encode(env.to_bytes()) }))
}

fn cap_error(e: CapError) -> ClientError {
    ClientError::Rejected { reason: e.code().to_owned(), message: e.to_string() }
}

fn cap(cli: &Cli, c: &Client, cmd: &CapCommand) -> Result<(), ClientError> {
    match cmd {
        CapCommand::Export { id } => {
            let v = c.get(&format!("/v1/alerts/{}", id_arg(id)?))?;
            let alert = &v["alert"];
            let original = match alert["references"].as_str() {
                Some(r) => Some(c.get(&format!("/v1/alerts/{}", id_arg(r)?))?["alert"].clone()),
                None => None,
            };
            let status = c.get("/v1/status")?;
            let (hood, name) = (status["hood"].as_str().unwrap_or(""), status["hood_name"].as_str().unwrap_or(""));
            print!("{}", cap::export(alert, original.as_ref(), hood, name).map_err(cap_error)?);
        }
        CapCommand::Import { file, area } => {
            let cannot = |e: std::io::Error| ClientError::Usage(format!("cannot read {}: {e}", file.display()));
            let reader: Box<dyn Read> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(std::fs::File::open(file).map_err(cannot)?)
            };
            // One byte over the cap is enough for import to say it is too large.
            let mut xml = String::new();
            reader.take(cap::MAX_CAP_BYTES as u64 + 1).read_to_string(&mut xml).map_err(cannot)?;
            let mut imported = cap::import(&xml, unix_now()).map_err(cap_error)?;
            if let Some(area) = area {
                imported.body["area"] = json!(area);
            }
            for note in &imported.notes {
                eprintln!("stoop: note: {note}");
            }
            let (path, what) = match &imported.kind {
                ImportKind::Alert => ("/v1/alerts".to_owned(), "posted"),
                ImportKind::Update(id) => (format!("/v1/alerts/{}/update", id_arg(id)?), "updated"),
                ImportKind::Cancel(id) => (format!("/v1/alerts/{}/cancel", id_arg(id)?), "cancelled"),
            };
            profiling_guard(c, &imported.body)?;
            created(cli, &c.post(&path, &imported.body)?, what);
        }
    }
    Ok(())
}

/// The profiling guard on a request body, before anything is signed.
fn profiling_guard(c: &Client, body: &Value) -> Result<(), ClientError> {
    let (Some(category), Some(description)) = (body["category"].as_str(), body["description"].as_str()) else {
        return Ok(());
    };
    let status = c.get("/v1/status")?;
    let about_person = status["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|cat| cat["name"] == category && cat["about_person"] == true);
    if about_person && let Err(e) = check_profiling("description", description) {
        return Err(ClientError::Rejected { reason: e.code().to_owned(), message: e.to_string() });
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), ClientError> {
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "stoop", &mut std::io::stdout());
        return Ok(());
    }
    let c = client(&cli)?;
    match &cli.command {
        Command::Completions { .. } => {}
        Command::Status => {
            let v = c.get("/v1/status")?;
            if cli.json {
                print_json(&v);
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                for k in [
                    "hood_name",
                    "hood",
                    "peer_id",
                    "author",
                    "member",
                    "moderator",
                    "peers",
                    "alerts",
                    "store_messages",
                    "pending",
                    "uptime_secs",
                    "quota_remaining_this_hour",
                ] {
                    t.add_row(vec![k.replace('_', " "), v[k].to_string().trim_matches('"').to_owned()]);
                }
                println!("{t}");
            }
        }
        Command::Id => {
            let v = c.get("/v1/status")?;
            let id = json!({ "author": v["author"], "hood": v["hood"], "hood_name": v["hood_name"], "member": v["member"], "moderator": v["moderator"] });
            if cli.json {
                print_json(&id);
            } else {
                println!("author    {}", v["author"].as_str().unwrap_or(""));
                println!("hood      {} ({})", v["hood_name"].as_str().unwrap_or(""), v["hood"].as_str().unwrap_or(""));
                println!("member    {}", v["member"]);
                println!("moderator {}", v["moderator"]);
            }
        }
        Command::Post(f) => {
            let body = alert_body(&c, f)?;
            created(&cli, &c.post("/v1/alerts", &body)?, "posted");
        }
        Command::Feed { category, since, follow, include_hidden } => {
            let mut q = vec![("include_hidden", include_hidden.to_string())];
            if let Some(cat) = category {
                q.push(("category", cat.clone()));
            }
            if let Some(s) = since {
                q.push(("since", unix_now().saturating_sub(*s).to_string()));
            }
            let v = c.get_query("/v1/alerts", &q)?;
            let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
            if cli.json && !follow {
                print_json(&v);
            } else if cli.json {
                for a in &alerts {
                    println!("{a}");
                }
            } else {
                let mut t = table(&FEED_HEADER);
                for a in &alerts {
                    t.add_row(alert_row(a));
                }
                println!("{t}");
            }
            if *follow {
                c.follow(|ev| {
                    if ev["event"] == "message" && ev["kind"] == "alert" {
                        // The id goes into a path, so only a well-formed one.
                        let id = id_arg(ev["id"].as_str().unwrap_or(""));
                        if let Ok(d) = id.and_then(|id| c.get(&format!("/v1/alerts/{id}"))) {
                            let a = &d["alert"];
                            let wanted = category.as_deref().is_none_or(|cat| a["category"] == cat);
                            if wanted && a["msg_type"] == "alert" {
                                if cli.json {
                                    println!("{a}");
                                } else {
                                    println!("{}", alert_row(a).join("  "));
                                }
                            }
                        }
                    }
                    true
                })?;
            }
        }
        Command::Show { id } => {
            let v = c.get(&format!("/v1/alerts/{}", id_arg(id)?))?;
            if cli.json {
                print_json(&v);
            } else {
                let a = &v["alert"];
                let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
                println!("{}  [{}] {}", s("headline"), s("category"), s("state"));
                println!(
                    "{}  {} / {} / {}  area {}  {}",
                    s("event"),
                    s("severity"),
                    s("urgency"),
                    s("certainty"),
                    s("area"),
                    age(a["sent"].as_u64().unwrap_or(0))
                );
                println!("\n{}\n", s("description"));
                if !s("instruction").is_empty() {
                    println!("What to do: {}\n", s("instruction"));
                }
                println!("seen too {}  resolved {}  reports {}", a["seen_too"], a["resolved"], a["reports"]);
                for u in v["updates"].as_array().into_iter().flatten() {
                    println!(
                        "{} {}: {} {}",
                        u["msg_type"].as_str().unwrap_or(""),
                        age(u["sent"].as_u64().unwrap_or(0)),
                        u["headline"].as_str().unwrap_or(""),
                        u["description"].as_str().unwrap_or("")
                    );
                }
                for vote in v["votes"].as_array().into_iter().flatten() {
                    println!(
                        "vote {} by {}: {}",
                        vote["decision"].as_str().unwrap_or(""),
                        short(vote["moderator"].as_str().unwrap_or("")),
                        vote["effect"].as_str().unwrap_or("")
                    );
                }
                println!("id {}", s("id"));
            }
        }
        Command::Update { id, fields } => {
            let body = alert_body(&c, fields)?;
            created(&cli, &c.post(&format!("/v1/alerts/{}/update", id_arg(id)?), &body)?, "updated");
        }
        Command::Cancel { id, note } => {
            created(
                &cli,
                &c.post(&format!("/v1/alerts/{}/cancel", id_arg(id)?), &json!({ "note": note }))?,
                "cancelled",
            );
        }
        Command::Confirm { id } => {
            created(
                &cli,
                &c.post(&format!("/v1/alerts/{}/reactions", id_arg(id)?), &json!({ "kind": "seen_too" }))?,
                "confirmed",
            );
        }
        Command::Resolve { id } => {
            created(
                &cli,
                &c.post(&format!("/v1/alerts/{}/reactions", id_arg(id)?), &json!({ "kind": "resolved" }))?,
                "marked resolved",
            );
        }
        Command::Report { id, reason, note } => {
            created(
                &cli,
                &c.post(&format!("/v1/alerts/{}/reports", id_arg(id)?), &json!({ "reason": reason, "note": note }))?,
                "reported",
            );
        }
        Command::Invite { expires, qr } => {
            let v = c.post("/v1/members/invites", &json!({ "expires_in": expires }))?;
            let ticket = v["ticket"].as_str().unwrap_or("");
            if cli.json {
                print_json(&v);
            } else {
                println!("{ticket}");
            }
            if *qr {
                let code =
                    qrcode::QrCode::new(ticket.as_bytes()).map_err(|e| ClientError::Other(format!("QR code: {e}")))?;
                println!("{}", code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
            }
        }
        Command::Cap(cmd) => cap(&cli, &c, cmd)?,
        Command::Peers => {
            let v = c.get("/v1/peers")?;
            if cli.json {
                print_json(&v);
            } else {
                let mut t = table(&["PEER", "ADDRESS", "RTT", "AGENT"]);
                for p in v["peers"].as_array().into_iter().flatten() {
                    t.add_row(vec![
                        p["peer_id"].as_str().unwrap_or("").to_owned(),
                        p["address"].as_str().unwrap_or("").to_owned(),
                        p["rtt_ms"].as_u64().map(|r| format!("{r} ms")).unwrap_or_default(),
                        p["agent"].as_str().unwrap_or("").to_owned(),
                    ]);
                }
                println!("{t}");
            }
        }
        Command::Mod(m) => moderation(&cli, &c, m)?,
        Command::Members(MembersCommand::List) => {
            let v = c.get("/v1/members")?;
            if cli.json {
                print_json(&v);
            } else {
                let mut t = table(&["KEY", "SINCE", "REVOKED AT"]);
                for m in v["members"].as_array().into_iter().flatten() {
                    t.add_row(vec![
                        m["key"].as_str().unwrap_or("").to_owned(),
                        member_time(&m["since"], "founder"),
                        member_time(&m["revoked_at"], "-"),
                    ]);
                }
                println!("{t}");
            }
        }
        Command::Members(MembersCommand::Revoke { key, reason }) => {
            created(
                &cli,
                &c.post("/v1/members/revocations", &json!({ "member": key, "reason": reason }))?,
                "signed revocation",
            );
        }
    }
    Ok(())
}

fn moderation(cli: &Cli, c: &Client, m: &ModCommand) -> Result<(), ClientError> {
    match m {
        ModCommand::Queue => {
            let v = c.get("/v1/mod/queue")?;
            if cli.json {
                print_json(&v);
            } else {
                let mut t = table(&["ID", "SENT", "CATEGORY", "HEADLINE", "REASONS", "VOTES"]);
                for q in v["queue"].as_array().into_iter().flatten() {
                    let a = &q["alert"];
                    let reasons: Vec<&str> =
                        q["reasons"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    t.add_row(vec![
                        short(a["id"].as_str().unwrap_or("")).to_owned(),
                        age(a["sent"].as_u64().unwrap_or(0)),
                        a["category"].as_str().unwrap_or("").to_owned(),
                        a["headline"].as_str().unwrap_or("").to_owned(),
                        reasons.join(", "),
                        q["votes"].as_array().map_or(0, Vec::len).to_string(),
                    ]);
                }
                println!("{t}");
            }
        }
        ModCommand::Hide { id, reason, note, key } => {
            let id = id_arg(id)?;
            let v = match key {
                Some(k) => {
                    let r = ReportReason::parse(reason)
                        .ok_or_else(|| ClientError::Usage(format!("--reason: unknown reason {reason:?}")))?;
                    signed_vote(c, k, &id, Decision::Hide, Some(r), note)?
                }
                None => c.post(
                    "/v1/mod/votes",
                    &json!({ "alert": id, "decision": "hide", "reason": reason, "note": note }),
                )?,
            };
            created(cli, &v, "voted hide");
        }
        ModCommand::Restore { id, note, key } => {
            let id = id_arg(id)?;
            let v = match key {
                Some(k) => signed_vote(c, k, &id, Decision::Restore, None, note)?,
                None => c.post("/v1/mod/votes", &json!({ "alert": id, "decision": "restore", "note": note }))?,
            };
            created(cli, &v, "voted restore");
        }
        ModCommand::Log => {
            let v = c.get("/v1/mod/log")?;
            if cli.json {
                print_json(&v);
            } else {
                let mut t = table(&["TIME", "ALERT", "MODERATOR", "VOTE", "REASON", "EFFECT"]);
                for e in v["votes"].as_array().into_iter().flatten() {
                    t.add_row(vec![
                        age(e["sent"].as_u64().unwrap_or(0)),
                        short(e["alert"].as_str().unwrap_or("")).to_owned(),
                        short(e["moderator"].as_str().unwrap_or("")).to_owned(),
                        e["decision"].as_str().unwrap_or("").to_owned(),
                        e["reason"].as_str().unwrap_or("").to_owned(),
                        e["effect"].as_str().unwrap_or("").to_owned(),
                    ]);
                }
                println!("{t}");
                for r in v["roster_changes"].as_array().into_iter().flatten() {
                    println!("roster v{}: {} (at {})", r["version"], r["op"], r["at"]);
                }
            }
        }
        ModCommand::Roster { change } => {
            let body = match change {
                None => {
                    let v = c.get("/v1/mod/roster")?;
                    if cli.json {
                        print_json(&v);
                    } else {
                        println!("version {}  quorum {}", v["version"], v["quorum"]);
                        for k in v["moderators"].as_array().into_iter().flatten() {
                            println!("moderator {}", k.as_str().unwrap_or(""));
                        }
                    }
                    return Ok(());
                }
                Some(RosterCommand::Add { key }) => json!({ "op": "add", "key": key }),
                Some(RosterCommand::Remove { key }) => json!({ "op": "remove", "key": key }),
                Some(RosterCommand::Quorum { k }) => json!({ "op": "quorum", "quorum": k }),
            };
            created(cli, &c.post("/v1/mod/roster", &body)?, "signed roster change");
        }
    }
    Ok(())
}
