//! The web router in process: one node on a temporary store, requests
//! through `tower::Service` with the peer address a real connection would
//! carry, so the guard's decisions are checked without a browser.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use serde_json::{Value, json};
use stoop_core::testkit::HoodFixture;
use tower::Service;

use super::{WebOptions, WebState, cli_routes, router};
use crate::api::tests::offline_api;
use crate::daemon::datadir::DataDir;

type TestResult = Result<(), Box<dyn Error>>;

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const HOST: &str = "192.168.1.20:4013";
const ORIGIN: &str = "http://192.168.1.20:4013";
const PHONE: &str = "192.168.1.9:50000";
const LOCAL: &str = "127.0.0.1:50000";

struct Harness {
    web: Router,
    cli: Router,
    _dir: tempfile::TempDir,
}

/// One request as a browser would send it.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    peer: &'a str,
    host: &'a str,
    origin: Option<&'a str>,
    cookie: Option<&'a str>,
    csrf: Option<&'a str>,
    body: Option<Value>,
}

impl<'a> Req<'a> {
    fn get(path: &'a str, peer: &'a str) -> Self {
        Self { method: "GET", path, peer, host: HOST, origin: None, cookie: None, csrf: None, body: None }
    }

    fn post(path: &'a str, peer: &'a str, body: Value) -> Self {
        Self { method: "POST", origin: Some(ORIGIN), body: Some(body), ..Self::get(path, peer) }
    }
}

struct Answer {
    status: u16,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl Harness {
    fn new() -> Result<Self, Box<dyn Error>> {
        let fixture = HoodFixture::new(1, 1)?;
        let api = offline_api(&fixture, TOKEN)?;
        let dir = tempfile::tempdir()?;
        let listen: SocketAddr = HOST.parse()?;
        let opts = WebOptions { hosts: Vec::new(), trust_loopback: true };
        let state = Arc::new(WebState::new(api.clone(), DataDir::new(dir.path()), listen, opts)?);
        Ok(Self { web: router(state.clone()), cli: cli_routes(api, Some(state)), _dir: dir })
    }

    async fn send(&self, r: Req<'_>) -> Result<Answer, Box<dyn Error>> {
        let mut req = Request::builder().method(r.method).uri(r.path).header(header::HOST, r.host);
        for (name, value) in [("origin", r.origin), ("cookie", r.cookie), ("x-stoop-csrf", r.csrf)] {
            if let Some(v) = value {
                req = req.header(name, v);
            }
        }
        let body = match r.body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let mut req = req.body(body)?;
        req.extensions_mut().insert(ConnectInfo(r.peer.parse::<SocketAddr>()?));
        let resp = self.web.clone().call(req).await.unwrap_or_else(|e| match e {});
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
        Ok(Answer { status, headers, json: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    /// `stoop web pair` through the API listener's route.
    async fn new_code(&self, token: &str) -> Result<(u16, Value), Box<dyn Error>> {
        let req = Request::builder()
            .method("POST")
            .uri("/v1/web/pairings")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(json!({ "name": "Test phone" }).to_string()))?;
        let resp = self.cli.clone().call(req).await.unwrap_or_else(|e| match e {});
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}

fn reason(a: &Answer) -> &str {
    a.json["error"]["reason"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_stranger_gets_the_pairing_page_and_nothing_else() -> TestResult {
    let h = Harness::new()?;
    let page = h.send(Req::get("/pair", PHONE)).await?;
    assert_eq!(page.status, 200);
    let csp = page.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.starts_with("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers.get(header::X_FRAME_OPTIONS).map(|v| v.as_bytes()), Some(&b"DENY"[..]));
    assert_eq!(page.headers.get(header::X_CONTENT_TYPE_OPTIONS).map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
    let app = h.send(Req::get("/", PHONE)).await?;
    assert_eq!((app.status, app.headers.get(header::LOCATION).map(|v| v.as_bytes())), (303, Some(&b"/pair"[..])));
    let api = h.send(Req::get("/api/v1/status", PHONE)).await?;
    assert_eq!((api.status, reason(&api)), (401, "not_paired"));
    let post = h.send(Req::post("/api/v1/alerts", PHONE, json!({}))).await?;
    assert_eq!((post.status, reason(&post)), (401, "not_paired"));
    // The control: the same request from the node's own machine is answered.
    assert_eq!(h.send(Req::get("/api/v1/status", LOCAL)).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_rebound_host_is_refused_even_on_loopback() -> TestResult {
    let h = Harness::new()?;
    let bad = h.send(Req { host: "attacker.example:4013", ..Req::get("/api/v1/status", LOCAL) }).await?;
    assert_eq!((bad.status, reason(&bad)), (421, "bad_host"));
    let ok = h.send(Req { host: "localhost:4013", ..Req::get("/api/v1/status", LOCAL) }).await?;
    assert_eq!(ok.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_paired_phone_reads_and_writes_with_its_csrf_token_only() -> TestResult {
    let h = Harness::new()?;
    let (status, _) = h.new_code("wrong").await?;
    assert_eq!(status, 401, "pairing codes need the API token");
    let (status, code) = h.new_code(TOKEN).await?;
    assert_eq!(status, 201, "{code}");
    let code = code["code"].as_str().ok_or("no code")?;

    let cross = h
        .send(Req { origin: Some("http://evil.example"), ..Req::post("/web/pair", PHONE, json!({ "code": code })) })
        .await?;
    assert_eq!((cross.status, reason(&cross)), (403, "cross_site"));
    let paired = h.send(Req::post("/web/pair", PHONE, json!({ "code": code }))).await?;
    assert_eq!(paired.status, 200, "{}", paired.json);
    let set = paired.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).ok_or("no cookie")?;
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().ok_or("empty cookie")?.to_owned();

    let status = h.send(Req { cookie: Some(&cookie), ..Req::get("/api/v1/status", PHONE) }).await?;
    assert_eq!(status.status, 200);
    let session = h.send(Req { cookie: Some(&cookie), ..Req::get("/web/session", PHONE) }).await?;
    let csrf = session.json["csrf"].as_str().ok_or("no csrf token")?.to_owned();
    let alert =
        json!({ "category": "safety", "event": "hazard", "headline": "Tree down", "description": "On the sidewalk." });
    let no_token = h.send(Req { cookie: Some(&cookie), ..Req::post("/api/v1/alerts", PHONE, alert.clone()) }).await?;
    assert_eq!((no_token.status, reason(&no_token)), (403, "bad_csrf"));
    let no_origin = h
        .send(Req {
            cookie: Some(&cookie),
            csrf: Some(&csrf),
            origin: None,
            ..Req::post("/api/v1/alerts", PHONE, alert.clone())
        })
        .await?;
    assert_eq!((no_origin.status, reason(&no_origin)), (403, "cross_site"));
    let ok =
        h.send(Req { cookie: Some(&cookie), csrf: Some(&csrf), ..Req::post("/api/v1/alerts", PHONE, alert) }).await?;
    assert_eq!(ok.status, 201, "{}", ok.json);
    let again = h.send(Req::post("/web/pair", PHONE, json!({ "code": code }))).await?;
    assert_eq!((again.status, reason(&again)), (403, "bad_code"), "a code pairs once");
    Ok(())
}
