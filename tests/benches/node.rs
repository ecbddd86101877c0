//! Node-level figures with real `stoopd` processes on loopback
//! (BENCHMARKS.md P8, P9, P10). Ratios and counts, measured in one run.
//!
//! Run:
//!   cargo build --release -p stoop-node --bin stoopd
//!   cargo bench -p stoop-tests --bench node
//!
//! - P9: a fresh node syncs 10,000 alerts from one peer; compared with
//!   verifying those 10,000 signatures in this process.
//! - P8: RSS of the node holding the 10,000 alerts, idle, with 8 peers.
//! - P10: alert posted through node A's API -> seen on the live feed
//!   (`/v1/events`) of 4 other nodes; p50/p99 over the run.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stoop_core::envelope::Envelope;
use stoop_core::message::{Alert, Certainty, MsgType, Payload, Severity, Status, Urgency};
use stoop_core::testkit::unix_now;
use stoop_node::daemon::datadir::read_author_key;
use stoop_node::replica::Replica;
use stoop_node::store::{Store, StoreConfig};
use stoop_tests::{Node, TestResult, binary, wait_for};

const ALERTS: usize = 10_000;
const P10_POSTS: usize = 100;

fn fill(dir: &std::path::Path) -> TestResult<Vec<Envelope>> {
    let key = read_author_key(&dir.join("author.key"))?;
    let store = Store::open(&StoreConfig::at(dir.join("store")))?;
    let (mut replica, _) = Replica::open(store)?;
    let hood = replica.ledger().hood();
    let now = unix_now();
    let mut envs = Vec::with_capacity(ALERTS);
    let mut frames = Vec::with_capacity(ALERTS);
    for i in 0..ALERTS {
        let sent = now - 30_000 + (i as u64) * 3;
        let alert = Alert {
            hood,
            category: "safety".into(),
            event: "hazard".into(),
            urgency: Urgency::Expected,
            severity: Severity::Minor,
            certainty: Certainty::Observed,
            status: Status::Test,
            msg_type: MsgType::Alert,
            references: None,
            headline: format!("Benchmark alert {i}"),
            description: "Downed tree blocking the sidewalk on Elm Street near the school; crews are on the way."
                .into(),
            instruction: String::new(),
            area: "dr5ru".into(),
            sent,
            expires: sent + 24 * 3600,
        };
        let env = Payload::Alert(alert).seal(&key);
        frames.push(env.to_bytes());
        envs.push(env);
    }
    for chunk in frames.chunks(256) {
        for o in replica.ingest_batch(chunk, now) {
            if o.verdict.kind() != "accept" {
                return Err(format!("fill refused an alert: {:?}", o.verdict).into());
            }
        }
    }
    replica.flush()?;
    Ok(envs)
}

fn store_messages(n: &Node) -> u64 {
    n.get("/v1/status").ok().and_then(|(_, v)| v["store_messages"].as_u64()).unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> TestResult {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    if !binary("stoopd").exists() {
        return Err(format!(
            "{} not found: run `cargo build --release -p stoop-node --bin stoopd` first",
            binary("stoopd").display()
        )
        .into());
    }
    let tmp = tempfile::tempdir()?;
    let a_dir = tmp.path().join("a");
    Node::init_only(&a_dir, 2_000, 20_000)?;
    let envs = fill(&a_dir)?;
    let a = Node::start(&a_dir)?;
    println!("node A holds {} messages", store_messages(&a));

    // P9 reference: verify the same signatures here.
    let t = Instant::now();
    for e in &envs {
        e.verify().map_err(|e| format!("verify: {e}"))?;
    }
    let verify_secs = t.elapsed().as_secs_f64();

    // P9: a fresh node joins and syncs everything from A.
    let ticket = a.invite()?;
    let t = Instant::now();
    let b = Node::join(&tmp.path().join("b"), &ticket)?;
    let target = ALERTS as u64 + 2; // alerts + the invite + B's join
    wait_for(Duration::from_secs(600), "B to sync everything", || (store_messages(&b) >= target).then_some(()))?;
    let sync_secs = t.elapsed().as_secs_f64();
    println!(
        "P9  catch-up of {ALERTS} alerts: {sync_secs:.2} s; verifying them here: {verify_secs:.2} s; ratio {:.2} (goal <= 2)",
        sync_secs / verify_secs
    );

    // Peers for P8 and P10.
    let mut others = Vec::new();
    for i in 0..7 {
        let ticket = a.invite()?;
        others.push(Node::join(&tmp.path().join(format!("n{i}")), &ticket)?);
    }
    wait_for(Duration::from_secs(120), "A to have 8 peers", || (a.peer_count() >= 8).then_some(()))?;
    for n in &others {
        wait_for(Duration::from_secs(600), "peers to sync", || (store_messages(n) >= target).then_some(()))?;
    }
    std::thread::sleep(Duration::from_secs(5));
    let rss = |n: &Node| n.rss_bytes().map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0));
    println!(
        "P8  idle RSS with {} stored messages: A ({} peers) {:.1} MiB, B ({} peers) {:.1} MiB (goal <= 48 MiB)",
        store_messages(&a),
        a.peer_count(),
        rss(&a),
        b.peer_count(),
        rss(&b)
    );

    // P10: live feeds of 4 other nodes.
    let watchers: Vec<&Node> = others.iter().take(4).collect();
    let (tx, rx) = mpsc::channel::<(usize, String, Instant)>();
    for (i, w) in watchers.iter().enumerate() {
        let url = format!("{}/v1/events", w.url);
        let token = w.token().to_owned();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let Ok(http) = reqwest::blocking::Client::builder().timeout(None).build() else { return };
            let Ok(resp) = http.get(url).bearer_auth(token).send() else { return };
            for line in BufReader::new(resp).lines() {
                let Ok(line) = line else { return };
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim())
                    && v["event"] == "message"
                    && v["kind"] == "alert"
                {
                    let id = v["id"].as_str().unwrap_or("").to_owned();
                    if tx.send((i, id, Instant::now())).is_err() {
                        return;
                    }
                }
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut posted = std::collections::HashMap::new();
    for i in 0..P10_POSTS {
        let t = Instant::now();
        let id = a.post_alert(&format!("Latency probe {i}"))?;
        posted.insert(id, t);
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut latencies = Vec::new();
    while latencies.len() < P10_POSTS * watchers.len() && Instant::now() < deadline {
        if let Ok((_, id, at)) = rx.recv_timeout(Duration::from_millis(500))
            && let Some(t) = posted.get(&id)
        {
            latencies.push(at.duration_since(*t).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "P10 post on A -> live feed of 4 nodes: {} of {} deliveries, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 <= 250 ms)",
        latencies.len(),
        P10_POSTS * watchers.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
