//! Issue 11: unfinished HTTP requests on the API port must not exhaust the
//! node's file descriptors; `/healthz` keeps answering during the flood.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use stoop_tests::{Node, TestResult, with_logs};

/// Connections the attacker opens, as in the measured attack (the node ran
/// at 1,024 open files).
const FLOOD: usize = 1100;
/// The node's open files must stay under this during the flood: the API's
/// connection cap (128) plus libp2p, sled and the runtime, with room.
const MAX_NODE_FDS: usize = 400;

fn open_fds(node: &Node) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{}/fd", node.pid()?)).ok()?.count())
}

/// The one place attack connections are made: a TCP connection to the API
/// that sends half a request line and then nothing.
fn attacker(api: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(api)?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")?;
    Ok(s)
}

fn healthz(api: &str) -> bool {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build();
    client
        .ok()
        .and_then(|c| c.get(format!("http://{api}/healthz")).send().ok())
        .is_some_and(|r| r.status().is_success())
}

#[test]
fn unfinished_http_requests_cannot_exhaust_the_nodes_fds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let node = Node::init(dir.path())?;
    let api = std::fs::read_to_string(dir.path().join("api.addr"))?.trim().to_owned();
    let attack = || -> TestResult {
        assert!(healthz(&api), "positive control: /healthz answers before the flood");
        let mut held = Vec::new();
        for _ in 0..FLOOD {
            // Refused or reset connections are the bound working.
            if let Ok(s) = attacker(&api) {
                held.push(s);
            }
        }
        let start = Instant::now();
        let mut peak = 0;
        let mut answered = false;
        // The attacker still holds every socket it got during this window.
        while start.elapsed() < Duration::from_secs(15) {
            peak = peak.max(open_fds(&node).unwrap_or(0));
            if healthz(&api) {
                answered = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        peak = peak.max(open_fds(&node).unwrap_or(0));
        eprintln!("attack held {} sockets; node fds peak {peak}; healthz answered: {answered}", held.len());
        assert!(peak < MAX_NODE_FDS, "node fds peaked at {peak} (bound {MAX_NODE_FDS})");
        assert!(answered, "/healthz did not answer within 15 s of the flood");
        drop(held);
        Ok(())
    };
    let result = attack();
    with_logs(&[node], result)
}
