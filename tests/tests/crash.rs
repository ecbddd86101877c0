//! Crash loop: `kill -9` at varied points while posting and voting, many
//! times; every acknowledged write must survive and the store must reopen
//! every time. `STOOP_CRASH_ROUNDS=100 cargo test -p stoop-tests --test crash`
//! runs the long version (CI runs 8 rounds).

use std::time::Duration;

use serde_json::json;
use stoop_tests::{Node, TestResult};

#[derive(Debug, Clone)]
enum Acked {
    Alert(String),
    Vote { alert: String, vote: String },
}

#[test]
fn kill_9_in_a_loop_loses_no_acknowledged_write() -> TestResult {
    let rounds: u64 = std::env::var("STOOP_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(8);
    let tmp = tempfile::tempdir()?;
    let mut node = Node::init(&tmp.path().join("n0"))?;
    let mut all_acked: Vec<Acked> = Vec::new();
    let mut reopened = 0;
    for round in 0..rounds {
        let url = node.url.clone();
        let token = node.token().to_owned();
        let poster = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let Ok(http) = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build() else {
                return acked;
            };
            let mut last_alert: Option<String> = None;
            for i in 0..500 {
                // One vote per alert, alternating hide and restore: a
                // moderator's later vote on the same alert supersedes the
                // earlier one (PROTOCOL.md, votes), so only a vote nothing
                // superseded must still be there after the crash.
                let (path, body) = match (&last_alert, i % 4) {
                    (Some(a), 1) => ("/v1/mod/votes", json!({"alert": a, "decision": "hide", "reason": "spam"})),
                    (Some(a), 3) => ("/v1/mod/votes", json!({"alert": a, "decision": "restore"})),
                    _ => (
                        "/v1/alerts",
                        json!({"category": "safety", "event": "hazard", "headline": format!("Round {round} alert {i}"), "description": "Crash loop."}),
                    ),
                };
                let Ok(r) = http.post(format!("{url}{path}")).bearer_auth(&token).json(&body).send() else { break };
                if r.status().as_u16() != 201 {
                    break;
                }
                let v: serde_json::Value = r.json().unwrap_or_default();
                let Some(id) = v["id"].as_str().map(str::to_owned) else { break };
                match (path, &last_alert) {
                    ("/v1/alerts", _) => {
                        last_alert = Some(id.clone());
                        acked.push(Acked::Alert(id));
                    }
                    (_, Some(a)) => acked.push(Acked::Vote { alert: a.clone(), vote: id }),
                    _ => {}
                }
            }
            acked
        });
        // Vary the kill point: early, mid-burst, late.
        std::thread::sleep(Duration::from_millis(150 + (round * 137) % 600));
        node.kill9()?;
        let acked = poster.join().map_err(|_| "poster panicked")?;
        all_acked.extend(acked);
        node.restart()?;
        reopened += 1;
        for a in &all_acked {
            match a {
                Acked::Alert(id) => {
                    assert!(node.alert_state(id).is_some(), "round {round}: acknowledged alert {id} lost");
                }
                Acked::Vote { alert, vote } => {
                    let (_, v) = node.get(&format!("/v1/alerts/{alert}"))?;
                    let votes = v["votes"].as_array().ok_or("no votes")?;
                    assert!(
                        votes.iter().any(|x| x["vote"] == vote.as_str()),
                        "round {round}: acknowledged vote {vote} lost"
                    );
                }
            }
        }
    }
    assert_eq!(reopened, rounds, "the store reopened every time");
    assert!(!all_acked.is_empty(), "nothing was acknowledged");
    println!("{rounds} kills, {} acknowledged writes, 0 lost, {reopened}/{rounds} reopened", all_acked.len());
    Ok(())
}
