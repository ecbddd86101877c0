//! `stoop cap`: alerts as CAP 1.2 documents, out and in.

use std::io::Read;
use std::path::Path;

use serde_json::json;
use stoop_cli::cap::{self, CapError, ImportKind};
use stoop_cli::client::{Client, ClientError};
use stoop_cli::clock::unix_now;

use super::alerts::profiling_guard;
use super::id_arg;
use crate::args::CapCommand;
use crate::render::created;

/// Runs a `stoop cap` subcommand.
pub fn run(c: &Client, json: bool, cmd: &CapCommand) -> Result<(), ClientError> {
    match cmd {
        CapCommand::Export { id } => export(c, id),
        CapCommand::Import { file, area } => import(c, json, file, area.as_deref()),
    }
}

fn cap_error(e: CapError) -> ClientError {
    ClientError::Rejected { reason: e.code().to_owned(), message: e.to_string() }
}

/// Prints one alert (with the alert it updates or cancels) as CAP XML.
fn export(c: &Client, id: &str) -> Result<(), ClientError> {
    let v = c.get(&format!("/v1/alerts/{}", id_arg(id)?))?;
    let alert = &v["alert"];
    let original = match alert["references"].as_str() {
        Some(r) => Some(c.get(&format!("/v1/alerts/{}", id_arg(r)?))?["alert"].clone()),
        None => None,
    };
    let status = c.get("/v1/status")?;
    let (hood, name) = (status["hood"].as_str().unwrap_or(""), status["hood_name"].as_str().unwrap_or(""));
    print!("{}", cap::export(alert, original.as_ref(), hood, name).map_err(cap_error)?);
    Ok(())
}

/// Posts a CAP document from `file` (or standard input for `-`) as an
/// alert, update or cancel signed by the node.
fn import(c: &Client, json: bool, file: &Path, area: Option<&str>) -> Result<(), ClientError> {
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
    created(json, &c.post(&path, &imported.body)?, what);
    Ok(())
}
