//! `stoop web`: pair a browser with the node's web page, list paired
//! devices, revoke one.

use serde_json::{Value, json};
use stoop_cli::client::{Client, ClientError};
use stoop_cli::clock::unix_now;

use crate::args::WebCommand;
use crate::render::{age, print_json};

/// Runs one `stoop web` subcommand.
pub fn run(c: &Client, json: bool, cmd: &WebCommand) -> Result<(), ClientError> {
    match cmd {
        WebCommand::Pair { name } => pair(c, json, name),
        WebCommand::Devices => devices(c, json),
        WebCommand::Revoke { id } => {
            let v = c.post(&format!("/v1/web/devices/{}/revoke", device_id(id)?), &json!({}))?;
            if json {
                print_json(&v);
            } else {
                println!("revoked {id}: that browser must pair again");
            }
            Ok(())
        }
    }
}

/// A device id argument, checked before it goes into a path.
fn device_id(id: &str) -> Result<&str, ClientError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ClientError::Usage(format!("{id:?} is not a device id (see `stoop web devices`)")))
    }
}

fn pair(c: &Client, json: bool, name: &str) -> Result<(), ClientError> {
    let v = c.post("/v1/web/pairings", &json!({ "name": name }))?;
    if json {
        print_json(&v);
        return Ok(());
    }
    let text = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    let (code, url) = (text("code"), text("url"));
    let minutes = v["expires"].as_u64().unwrap_or(0).saturating_sub(unix_now()) / 60;
    println!("Pairing code: {code}   (one use, for the next {minutes} minutes)");
    println!("Open {url}");
    println!("or scan this with the phone's camera:");
    let qr = qrcode::QrCode::new(url.as_bytes()).map_err(|e| ClientError::Other(format!("QR code: {e}")))?;
    println!("{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
    if v["lan"] != Value::Bool(true) {
        println!(
            "The web page listens on this machine only. To pair a phone, set web = \"0.0.0.0:4013\" in stoop.toml and restart stoopd."
        );
    }
    Ok(())
}

fn devices(c: &Client, json: bool) -> Result<(), ClientError> {
    let v = c.get("/v1/web/devices")?;
    if json {
        print_json(&v);
        return Ok(());
    }
    let list = v["devices"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no paired devices (pair one with `stoop web pair --name \"My phone\"`)");
    }
    let now = unix_now();
    for d in list {
        let paired = d["paired_at"].as_u64().unwrap_or(0);
        println!(
            "{}  {}  paired {}",
            d["id"].as_str().unwrap_or(""),
            d["name"].as_str().unwrap_or(""),
            age(paired, now)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::device_id;

    #[test]
    fn device_ids_are_checked() {
        assert!(device_id("0123abcd").is_ok());
        for bad in ["", "../status", "zz", &"a".repeat(65)] {
            assert!(device_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
