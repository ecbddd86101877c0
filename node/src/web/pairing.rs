//! Pairing: the browser trades a one-time code for a session cookie
//! (`POST /web/pair`) and learns its CSRF token (`GET /web/session`); the
//! node's owner makes codes, lists devices and revokes them with
//! `stoop web pair|devices|revoke` through the API listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Bytes};
use serde::Deserialize;
use serde_json::json;

use super::WebState;
use super::devices::PairError;
use super::guard::{Access, COOKIE, csrf_token};
use crate::service::clock::unix_now;

/// How long the browser keeps the session cookie (it stays valid until
/// revoked; a year keeps a phone paired without asking again).
const COOKIE_MAX_AGE_SECS: u64 = 365 * 86_400;

fn error(status: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": { "reason": reason, "message": message.into() } }))).into_response()
}

fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map(|()| b)
}

fn no_randomness(e: getrandom::Error) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "no_randomness", e.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PairRequest {
    code: String,
}

/// `POST /web/pair {"code"}`: sets the session cookie.
pub(super) async fn pair(State(web): State<Arc<WebState>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<PairRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_body", "send {\"code\": \"XXXX-XXXX\"}");
    };
    let bytes = match random::<40>() {
        Ok(b) => b,
        Err(e) => return no_randomness(e),
    };
    let mut devices = web.devices();
    match devices.pair(&req.code, bytes, unix_now()) {
        Ok((device, cookie)) => {
            web.save(&devices);
            drop(devices);
            tracing::info!(device = %device.id, name = %device.name, "web device paired");
            let set = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}");
            ([(header::SET_COOKIE, set)], Json(json!({ "id": device.id, "name": device.name }))).into_response()
        }
        Err(e) => {
            let status = match e {
                PairError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                PairError::BadCode => StatusCode::FORBIDDEN,
                PairError::TooManyDevices => StatusCode::CONFLICT,
            };
            error(status, e.code(), e.to_string())
        }
    }
}

/// `GET /web/session`: who this browser is and its CSRF token.
pub(super) async fn session(State(web): State<Arc<WebState>>, Extension(access): Extension<Access>) -> Response {
    let device = match &access {
        Access::Device { id, .. } => {
            web.devices().list().iter().find(|d| &d.id == id).map(|d| json!({ "id": d.id, "name": d.name }))
        }
        _ => None,
    };
    Json(json!({
        "csrf": csrf_token(&access, &web.loopback_key),
        "device": device,
        "loopback": access == Access::Loopback,
    }))
    .into_response()
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCodeRequest {
    #[serde(default)]
    name: String,
}

fn web_off() -> Response {
    error(StatusCode::CONFLICT, "web_off", "the web page is off: set web = \"127.0.0.1:4013\" in stoop.toml")
}

/// The address a phone on the LAN can reach a listener on `listen` by: the
/// address itself, or for a wildcard bind the source address of the route
/// out (a UDP `connect` sends nothing; 192.0.2.1 is a documentation
/// address, never contacted).
fn reachable_addr(listen: SocketAddr) -> SocketAddr {
    if !listen.ip().is_unspecified() {
        return listen;
    }
    let local = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(local, listen.port())
}

/// `POST /v1/web/pairings {"name"}` (API listener): a one-time code.
pub(super) async fn new_code(State(web): State<Option<Arc<WebState>>>, body: Bytes) -> Response {
    let Some(web) = web else { return web_off() };
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        match serde_json::from_slice::<NewCodeRequest>(&body) {
            Ok(r) => r.name,
            Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()),
        }
    };
    let bytes = match random::<5>() {
        Ok(b) => b,
        Err(e) => return no_randomness(e),
    };
    let code = web.devices().new_code(&name, bytes, unix_now());
    let addr = reachable_addr(web.listen);
    let lan = !addr.ip().is_loopback();
    let url = format!("http://{addr}/pair#code={}", code.code);
    (StatusCode::CREATED, Json(json!({ "code": code.code, "expires": code.expires, "url": url, "lan": lan })))
        .into_response()
}

/// `GET /v1/web/devices` (API listener).
pub(super) async fn list_devices(State(web): State<Option<Arc<WebState>>>) -> Response {
    let Some(web) = web else { return web_off() };
    let list: Vec<_> =
        web.devices().list().iter().map(|d| json!({ "id": d.id, "name": d.name, "paired_at": d.paired_at })).collect();
    Json(json!({ "devices": list })).into_response()
}

/// `POST /v1/web/devices/{id}/revoke` (API listener): ends the session.
pub(super) async fn revoke(State(web): State<Option<Arc<WebState>>>, Path(id): Path<String>) -> Response {
    let Some(web) = web else { return web_off() };
    let mut devices = web.devices();
    if !devices.revoke(&id) {
        return error(StatusCode::NOT_FOUND, "unknown_device", format!("no paired device {id:?}"));
    }
    web.save(&devices);
    tracing::info!(device = %id, "web device revoked");
    Json(json!({ "revoked": id })).into_response()
}
