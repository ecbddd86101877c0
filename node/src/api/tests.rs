//! The router in process: one node on a temporary store, requests through
//! `tower::Service`, answers compared with what the ledger says about the
//! same bytes.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use libp2p::{SwarmBuilder, noise, tcp, yamux};
use prost::Message;
use serde_json::{Value, json};
use stoop_core::testkit::HoodFixture;
use stoop_proto::v1 as pb;
use tower::Service;

use super::{ApiState, router};
use crate::core::envelope::Envelope;
use crate::core::ids::MessageId;
use crate::core::ledger::Ledger;
use crate::core::message::{MsgType, Payload};
use crate::core::verdict::{IgnoreReason, Verdict};
use crate::net::EventLoop;
use crate::net::behaviour::{Behaviour, BehaviourConfig, hood_topic};
use crate::replica::Replica;
use crate::service::Node;
use crate::service::clock::Clock;
use crate::service::ticket::Issuer;
use crate::store::{Store, StoreConfig};

type TestResult = Result<(), Box<dyn Error>>;

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A node whose author is the fixture's only founder (member and
/// moderator), and its API. The network loop is not running: gossip
/// publishes fail quietly, as they may in production.
struct Harness {
    fixture: HoodFixture,
    node: Arc<Node>,
    app: Router,
}

/// API state for a node whose author is `fixture`'s first founder, with
/// a network loop that is not running (shared with the web page's tests).
pub(crate) fn offline_api(fixture: &HoodFixture, token: &str) -> Result<ApiState, Box<dyn Error>> {
    let store = Store::open(&StoreConfig::temporary(1 << 20))?;
    let (replica, _) = Replica::create(store, fixture.charter.clone())?;
    let node = Arc::new(Node::start(replica, fixture.founders[0].clone(), Clock::system())?);
    let topic = hood_topic(&fixture.hood());
    let cfg = BehaviourConfig { mdns: false, upnp: false, ..BehaviourConfig::default() };
    let swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| Behaviour::new(key, relay, &cfg, &topic).map_err(Into::into))?
        .build();
    let swarm_peer = *swarm.local_peer_id();
    let (_event_loop, net) = EventLoop::new(swarm, node.clone(), topic, 60);
    Ok(ApiState {
        node,
        net: Arc::new(net),
        token: token.into(),
        started: Instant::now(),
        peer_id: swarm_peer.to_string(),
        issuer: Arc::new(Issuer::new(fixture.founders[0].clone(), None, swarm_peer)),
    })
}

impl Harness {
    fn new() -> Result<Self, Box<dyn Error>> {
        let fixture = HoodFixture::new(1, 1)?;
        let state = offline_api(&fixture, TOKEN)?;
        let node = state.node.clone();
        Ok(Self { fixture, node, app: router(state) })
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let req = req.body(body).unwrap_or_else(|e| panic!("request: {e}"));
        let resp = self.app.clone().call(req).await.unwrap_or_else(|e| match e {});
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap_or_else(|e| panic!("body: {e}"));
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, Some(TOKEN), None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(TOKEN), Some(body)).await
    }

    async fn post_frame(&self, frame: &[u8]) -> (u16, Value) {
        self.post("/v1/messages", json!({ "envelope": hex::encode(frame) })).await
    }

    /// Posts an alert signed by the node and returns its id.
    async fn alert(&self) -> String {
        let (status, body) = self
            .post("/v1/alerts", json!({ "category": "safety", "event": "hazard", "headline": "Tree down on Elm", "description": "Blocking the sidewalk near the school." }))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap_or_default().to_owned()
    }

    /// The exact stored bytes of message `id`, through the API.
    async fn frame(&self, id: &str) -> Vec<u8> {
        let (status, body) = self.get(&format!("/v1/messages/{id}")).await;
        assert_eq!(status, 200, "{body}");
        hex::decode(body["frame"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("frame hex: {e}"))
    }
}

/// The status the API documents for a verdict (docs/PROTOCOL.md section 11),
/// written out here rather than taken from the code under test.
fn documented_status(v: &Verdict) -> u16 {
    match v {
        Verdict::Accept => 201,
        Verdict::Ignore(IgnoreReason::Pending) => 202,
        Verdict::Ignore(IgnoreReason::OverQuota) => 429,
        Verdict::Ignore(IgnoreReason::StoreUnavailable) => 503,
        Verdict::Ignore(_) => 409,
        Verdict::Reject(_) => 422,
    }
}

/// The API's `(status, reason)` for a body: the error's reason, or the
/// pending answer's, or `accept`.
fn answer(status: u16, body: &Value) -> (u16, String) {
    let reason = body["error"]["reason"].as_str().or(body["reason"].as_str()).unwrap_or("accept");
    (status, reason.to_owned())
}

#[tokio::test]
async fn a_forged_copy_gets_the_verdict_gossip_gives_it() -> TestResult {
    let h = Harness::new()?;
    let id = h.alert().await;
    let frame = h.frame(&id).await;
    // Same kind, signer and payload (so the same id), another signature.
    let mut wire = pb::Envelope::decode(frame.as_slice())?;
    wire.signature[0] ^= 1;
    let forged = wire.encode_to_vec();

    let mut ledger = Ledger::new(h.fixture.charter.clone());
    let now = h.node.now();
    assert_eq!(ledger.ingest(&frame, now).verdict, Verdict::Accept);
    let gossip = ledger.ingest(&forged, now).verdict;

    let (status, body) = h.post_frame(&forged).await;
    assert_eq!(answer(status, &body), (documented_status(&gossip), gossip.code().to_owned()), "{body}");
    // Positive control: the exact frame again is the ledger's duplicate.
    let again = ledger.ingest(&frame, now).verdict;
    assert_eq!(again, Verdict::Ignore(IgnoreReason::Duplicate));
    let (status, body) = h.post_frame(&frame).await;
    assert_eq!(answer(status, &body), (409, "duplicate".to_owned()), "{body}");
    Ok(())
}

#[tokio::test]
async fn an_update_of_an_unknown_alert_gets_the_verdict_gossip_gives_it() -> TestResult {
    let h = Harness::new()?;
    let now = h.node.now();
    let author = &h.fixture.founders[0];
    let original = Payload::Alert(h.fixture.alert(now, "Tree down on Elm")).seal(author);
    let update = Payload::Alert(h.fixture.follow_up(original.id(), MsgType::Update, now)).seal(author);

    let mut ledger = Ledger::new(h.fixture.charter.clone());
    let gossip = ledger.ingest(&update.to_bytes(), now).verdict;
    assert_eq!(gossip, Verdict::Ignore(IgnoreReason::Pending));

    let (status, body) = h.post_frame(&update.to_bytes()).await;
    assert_eq!(answer(status, &body), (documented_status(&gossip), gossip.code().to_owned()), "{body}");
    assert_eq!((body["verdict"].as_str(), body["id"].as_str()), (Some("ignore"), Some(update.id().to_hex().as_str())));
    let (status, _) = h.get(&format!("/v1/messages/{}", update.id().to_hex())).await;
    assert_eq!(status, 404, "held, not stored");

    // Once the alert arrives the held update is admitted and stored.
    let (status, body) = h.post_frame(&original.to_bytes()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h.get(&format!("/v1/messages/{}", update.id().to_hex())).await;
    assert_eq!((status, body["kind"].as_str()), (200, Some("alert")), "{body}");
    Ok(())
}

#[tokio::test]
async fn a_signed_message_is_accepted_and_stored_durably() -> TestResult {
    let h = Harness::new()?;
    let id = h.alert().await;
    let alert = MessageId::from_hex(&id)?;
    let vote = h.fixture.vote(&h.fixture.founders[0], alert, crate::core::message::Decision::Hide, h.node.now());
    let (status, body) = h.post_frame(&vote.to_bytes()).await;
    assert_eq!(
        (status, body["id"].as_str(), body["kind"].as_str()),
        (201, Some(vote.id().to_hex().as_str()), Some("vote"))
    );
    assert_eq!(h.frame(&vote.id().to_hex()).await, vote.to_bytes());
    Ok(())
}

#[tokio::test]
async fn a_stored_message_comes_back_as_its_exact_signed_bytes() -> TestResult {
    let h = Harness::new()?;
    let id = h.alert().await;
    let frame = h.frame(&id).await;
    let env = Envelope::open(&frame)?;
    assert_eq!(env.id().to_hex(), id, "the frame hashes to its id");
    assert_eq!(env.signer(), h.fixture.founders[0].public());

    let (status, body) = h.post(&format!("/v1/alerts/{id}/reports"), json!({ "reason": "spam" })).await;
    assert_eq!(status, 201, "{body}");
    let report = body["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = h.get(&format!("/v1/messages/{report}")).await;
    assert_eq!((status, body["kind"].as_str(), body["id"].as_str()), (200, Some("report"), Some(report.as_str())));
    let env = Envelope::open(&hex::decode(body["frame"].as_str().unwrap_or_default())?)?;
    assert_eq!(env.id().to_hex(), report);

    let (status, body) = h.get(&format!("/v1/messages/{}", "0".repeat(64))).await;
    assert_eq!(answer(status, &body), (404, "unknown_message".to_owned()));
    let (status, body) = h.get("/v1/messages/nothex").await;
    assert_eq!(answer(status, &body), (400, "bad_id".to_owned()));
    Ok(())
}

#[tokio::test]
async fn the_node_signs_nothing_about_an_alert_it_does_not_hold() -> TestResult {
    let h = Harness::new()?;
    let unknown = "7".repeat(64);
    for (path, body) in [
        (format!("/v1/alerts/{unknown}/reactions"), json!({ "kind": "seen_too" })),
        (format!("/v1/alerts/{unknown}/reports"), json!({ "reason": "spam" })),
        (format!("/v1/alerts/{unknown}/cancel"), json!({})),
        (
            format!("/v1/alerts/{unknown}/update"),
            json!({ "category": "safety", "event": "hazard", "headline": "Cleared" }),
        ),
        ("/v1/mod/votes".to_owned(), json!({ "alert": unknown, "decision": "hide", "reason": "spam" })),
    ] {
        let (status, resp) = h.post(&path, body).await;
        assert_eq!(answer(status, &resp), (404, "unknown_alert".to_owned()), "{path}: {resp}");
    }
    let (status, resp) = h.get(&format!("/v1/alerts/{unknown}")).await;
    assert_eq!(answer(status, &resp), (404, "unknown_alert".to_owned()));
    let (_, status) = h.get("/v1/status").await;
    assert_eq!(status["pending"], 0, "nothing was held");

    // Positive control: the same calls on a held alert are signed and stored.
    let id = h.alert().await;
    let (status, resp) = h.post(&format!("/v1/alerts/{id}/reactions"), json!({ "kind": "seen_too" })).await;
    assert_eq!(status, 201, "{resp}");
    let (status, resp) = h.post(&format!("/v1/alerts/{id}/cancel"), json!({})).await;
    assert_eq!(status, 201, "{resp}");
    Ok(())
}

#[tokio::test]
async fn every_endpoint_but_healthz_needs_the_token() -> TestResult {
    let h = Harness::new()?;
    let (status, body) = h.send("GET", "/v1/status", None, None).await;
    assert_eq!(answer(status, &body), (401, "missing_token".to_owned()));
    let wrong = TOKEN.replace('0', "1");
    let (status, body) = h.send("GET", "/v1/status", Some(&wrong), None).await;
    assert_eq!(answer(status, &body), (401, "bad_token".to_owned()));
    let (status, body) = h.send("GET", "/v1/status", Some(&TOKEN[..63]), None).await;
    assert_eq!(answer(status, &body), (401, "bad_token".to_owned()));
    let (status, _) = h.send("GET", "/v1/status", Some(TOKEN), None).await;
    assert_eq!(status, 200);
    let (status, _) = h.send("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn every_error_is_json_with_a_reason_and_422_means_the_ledger_refused() -> TestResult {
    let h = Harness::new()?;
    let (status, body) = h.post("/v1/alerts", json!({ "category": 1, "event": "e", "headline": "h" })).await;
    assert_eq!(answer(status, &body), (400, "invalid_body".to_owned()), "{body}");
    let (status, body) = h.get("/v1/alerts?limit=many").await;
    assert_eq!(answer(status, &body), (400, "invalid_query".to_owned()), "{body}");
    let (status, body) = h.get("/v1/messages").await;
    assert_eq!(answer(status, &body), (405, "method_not_allowed".to_owned()), "{body}");
    let (status, body) = h.get("/v1/nothing").await;
    assert_eq!(answer(status, &body), (404, "not_found".to_owned()), "{body}");
    // Positive control: a body of the right shape the ledger refuses is 422.
    let (status, body) = h
        .post(
            "/v1/alerts",
            json!({ "category": "safety", "event": "e", "headline": "h", "description": "see https://example.com" }),
        )
        .await;
    assert_eq!(answer(status, &body), (422, "link_not_allowed".to_owned()), "{body}");
    Ok(())
}
