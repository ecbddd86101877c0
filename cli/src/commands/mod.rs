//! What each subcommand does: which API calls it makes and what it prints.
//!
//! - [`alerts`]: post, read and react to alerts.
//! - [`moderation`]: the moderator queue, votes, log and roster.
//! - [`cap`]: CAP 1.2 export and import.
//! - [`web`]: pairing browsers with the web page.
//! - this module: finding the node, dispatch, and the small node and
//!   membership commands.

mod alerts;
mod cap;
mod moderation;
mod web;

use clap::CommandFactory;
use serde_json::json;
use stoop_cli::client::{Client, ClientError};
use stoop_cli::clock::unix_now;
use stoop_cli::datadir::default_data_dir;
use stoop_core::ids::MessageId;

use crate::args::{Cli, Command, MembersCommand};
use crate::render::{self, created, print_json};

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<(), ClientError> {
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "stoop", &mut std::io::stdout());
        return Ok(());
    }
    let c = client(&cli)?;
    let json = cli.json;
    match &cli.command {
        Command::Completions { .. } => Ok(()),
        Command::Status => status(&c, json),
        Command::Id => id(&c, json),
        Command::Post(fields) => alerts::post(&c, json, fields),
        Command::Feed { category, since, follow, include_hidden } => {
            alerts::feed(&c, json, category.as_deref(), *since, *follow, *include_hidden)
        }
        Command::Show { id } => alerts::show(&c, json, id),
        Command::Update { id, fields } => alerts::update(&c, json, id, fields),
        Command::Cancel { id, note } => alerts::cancel(&c, json, id, note),
        Command::Confirm { id } => alerts::react(&c, json, id, "seen_too", "confirmed"),
        Command::Resolve { id } => alerts::react(&c, json, id, "resolved", "marked resolved"),
        Command::Report { id, reason, note } => alerts::report(&c, json, id, reason, note),
        Command::Invite { expires, qr } => invite(&c, json, *expires, *qr),
        Command::Cap(cmd) => cap::run(&c, json, cmd),
        Command::Peers => peers(&c, json),
        Command::Mod(cmd) => moderation::run(&c, json, cmd),
        Command::Web(cmd) => web::run(&c, json, cmd),
        Command::Members(MembersCommand::List) => members(&c, json),
        Command::Members(MembersCommand::Revoke { key, reason }) => {
            let v = c.post("/v1/members/revocations", &json!({ "member": key, "reason": reason }))?;
            created(json, &v, "signed revocation");
            Ok(())
        }
    }
}

/// The node to talk to: `--node` with `--token-file`, else the data
/// directory (`--data-dir`, `STOOP_DATA_DIR`, or stoopd's default).
fn client(cli: &Cli) -> Result<Client, ClientError> {
    match (&cli.node, &cli.token_file) {
        (Some(url), Some(token)) => Client::from_url(url, token),
        _ => {
            let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
            Client::from_data_dir(&dir)
        }
    }
}

/// An alert id argument, checked and normalized before it goes into a path.
fn id_arg(id: &str) -> Result<String, ClientError> {
    MessageId::from_hex(id)
        .map(|d| d.to_hex())
        .map_err(|_| ClientError::Usage(format!("{id:?} is not an alert id (64 hex digits)")))
}

fn status(c: &Client, json: bool) -> Result<(), ClientError> {
    let v = c.get("/v1/status")?;
    if json {
        print_json(&v);
    } else {
        print!("{}", render::status(&v));
    }
    Ok(())
}

fn id(c: &Client, json: bool) -> Result<(), ClientError> {
    let v = c.get("/v1/status")?;
    if json {
        print_json(&json!({
            "author": v["author"], "hood": v["hood"], "hood_name": v["hood_name"],
            "member": v["member"], "moderator": v["moderator"],
        }));
    } else {
        print!("{}", render::id(&v));
    }
    Ok(())
}

fn invite(c: &Client, json: bool, expires: u64, qr: bool) -> Result<(), ClientError> {
    let v = c.post("/v1/members/invites", &json!({ "expires_in": expires }))?;
    let ticket = v["ticket"].as_str().unwrap_or("");
    if let Some(warning) = render::invite_warning(&v) {
        eprintln!("{warning}");
    }
    if json {
        print_json(&v);
    } else {
        println!("{ticket}");
    }
    if qr {
        let code = qrcode::QrCode::new(ticket.as_bytes()).map_err(|e| ClientError::Other(format!("QR code: {e}")))?;
        println!("{}", code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
    }
    Ok(())
}

fn peers(c: &Client, json: bool) -> Result<(), ClientError> {
    let v = c.get("/v1/peers")?;
    if json {
        print_json(&v);
    } else {
        print!("{}", render::peers(&v));
    }
    Ok(())
}

fn members(c: &Client, json: bool) -> Result<(), ClientError> {
    let v = c.get("/v1/members")?;
    if json {
        print_json(&v);
    } else {
        print!("{}", render::members(&v, unix_now()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_checked_and_lowercased() {
        let id = "AB".repeat(32);
        assert_eq!(id_arg(&id).ok(), Some("ab".repeat(32)));
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33), "../status"] {
            assert!(matches!(id_arg(bad), Err(ClientError::Usage(_))), "{bad:?} accepted");
        }
    }
}
