//! `stoop mod`: the review queue, hide and restore votes, the audit log and
//! the moderator roster.

use std::path::Path;

use serde_json::{Value, json};
use stoop_cli::client::{Client, ClientError};
use stoop_cli::clock::unix_now;
use stoop_cli::datadir::read_author_key;
use stoop_core::ids::{HoodId, MessageId};
use stoop_core::message::{Decision, Payload, ReportReason, Vote};

use super::id_arg;
use crate::args::{ModCommand, RosterCommand};
use crate::render::{self, created, print_json};

/// Runs a `stoop mod` subcommand.
pub fn run(c: &Client, json: bool, cmd: &ModCommand) -> Result<(), ClientError> {
    match cmd {
        ModCommand::Queue => {
            let v = c.get("/v1/mod/queue")?;
            if json {
                print_json(&v);
            } else {
                print!("{}", render::queue(&v, unix_now()));
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
            created(json, &v, "voted hide");
        }
        ModCommand::Restore { id, note, key } => {
            let id = id_arg(id)?;
            let v = match key {
                Some(k) => signed_vote(c, k, &id, Decision::Restore, None, note)?,
                None => c.post("/v1/mod/votes", &json!({ "alert": id, "decision": "restore", "note": note }))?,
            };
            created(json, &v, "voted restore");
        }
        ModCommand::Log => {
            let v = c.get("/v1/mod/log")?;
            if json {
                print_json(&v);
            } else {
                print!("{}", render::mod_log(&v, unix_now()));
            }
        }
        ModCommand::Roster { change } => {
            let body = match change {
                None => {
                    let v = c.get("/v1/mod/roster")?;
                    if json {
                        print_json(&v);
                    } else {
                        print!("{}", render::roster(&v));
                    }
                    return Ok(());
                }
                Some(RosterCommand::Add { key }) => json!({ "op": "add", "key": key }),
                Some(RosterCommand::Remove { key }) => json!({ "op": "remove", "key": key }),
                Some(RosterCommand::Quorum { k }) => json!({ "op": "quorum", "quorum": k }),
            };
            created(json, &c.post("/v1/mod/roster", &body)?, "signed roster change");
        }
    }
    Ok(())
}

/// Signs a vote with the key in `key_file` and hands it to the node to
/// relay, for a moderator whose key is not the node's.
fn signed_vote(
    c: &Client,
    key_file: &Path,
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
    let sent = latest.map_or(unix_now(), |t| unix_now().max(t.saturating_add(1)));
    let env = Payload::Vote(Vote { hood, alert, decision, reason, note: note.to_owned(), sent }).seal(&key);
    c.post("/v1/messages", &json!({ "envelope": hex::encode(env.to_bytes()) }))
}
