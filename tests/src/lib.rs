//! Helpers for tests that run the real `stoopd` binary: spawn nodes on
//! loopback with port 0 in temp dirs, talk to them through the local API,
//! stop or kill them, and wait for conditions with a bounded timeout.
//! [`raw_peer`] is a bare gossipsub peer for sending them bad frames.

pub mod raw_peer;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Test result with any error.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Default bound for every wait.
pub const WAIT: Duration = Duration::from_secs(30);

/// Path of a workspace binary built next to this test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/<test> -> target/debug/<name>
    let dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    dir.join(name)
}

/// Runs `stoopd` with `args` to completion (init, join, bad flags...).
pub fn stoopd(args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(binary("stoopd")).args(args).env("NO_COLOR", "1").env_remove("STOOP_DATA_DIR").output()?)
}

/// SIGTERM to `child`, then waits up to `bound` for it to exit; past the
/// bound it is killed. Whether it stopped by itself.
pub fn terminate(child: &mut Child, bound: Duration) -> TestResult<bool> {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > bound {
            child.kill()?;
            child.wait()?;
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(true)
}

/// Polls `check` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> TestResult<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// On failure, adds the last lines of each node's log to the error, so a
/// failure in CI can be diagnosed from its output alone.
pub fn with_logs<T>(nodes: &[Node], result: TestResult<T>) -> TestResult<T> {
    result.map_err(|e| {
        let mut msg = e.to_string();
        for (i, n) in nodes.iter().enumerate() {
            let log = n.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines.get(lines.len().saturating_sub(LOG_TAIL_LINES)..).unwrap_or_default();
            msg.push_str(&format!("\n--- node{i} log (last {} lines) ---\n{}", tail.len(), tail.join("\n")));
        }
        msg.into()
    })
}

/// Log lines [`with_logs`] shows per node.
const LOG_TAIL_LINES: usize = 40;

/// A `stoopd` process with its data directory.
#[derive(Debug)]
pub struct Node {
    /// Data directory.
    pub dir: PathBuf,
    child: Option<Child>,
    /// API base URL once running.
    pub url: String,
    token: String,
    http: reqwest::blocking::Client,
}

/// A loopback TCP port free right now.
pub fn free_port() -> TestResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Flags every test node gets: loopback only, any free port, no multicast.
const LOOPBACK: [&str; 4] = ["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"];

impl Node {
    /// Founds a hood in `dir` (quotas roomy enough for bursts).
    pub fn init(dir: &Path) -> TestResult<Self> {
        Self::init_only(dir, 500, 1000)?;
        Self::start(dir)
    }

    /// Runs `stoopd init` without starting the node.
    pub fn init_only(dir: &Path, per_hour: u32, per_day: u32) -> TestResult {
        let d = dir.to_string_lossy();
        let (h, day) = (per_hour.to_string(), per_day.to_string());
        let mut args = vec!["init", "--data-dir", &d, "--hood-name", "Test Hood", "--area", "dr5ru"];
        args.extend(["--per-hour", &h, "--per-day", &day]);
        args.extend(LOOPBACK);
        let out = stoopd(&args)?;
        if !out.status.success() {
            return Err(format!("init failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(())
    }

    /// Joins with a ticket and starts.
    pub fn join(dir: &Path, ticket: &str) -> TestResult<Self> {
        Self::join_with_env(dir, ticket, &[])
    }

    /// Joins with a ticket and starts with extra environment variables.
    pub fn join_with_env(dir: &Path, ticket: &str, env: &[(&str, &str)]) -> TestResult<Self> {
        let d = dir.to_string_lossy();
        let mut args = vec!["join", "--data-dir", &d];
        args.extend(LOOPBACK);
        args.push(ticket);
        let out = stoopd(&args)?;
        if !out.status.success() {
            return Err(format!("join failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Self::start_with_env(dir, env)
    }

    /// Starts `stoopd run` on an initialized data dir and waits for its API.
    pub fn start(dir: &Path) -> TestResult<Self> {
        Self::start_with_env(dir, &[])
    }

    /// Like [`Node::start`] with extra environment variables (e.g.
    /// `STOOP_CLOCK_OFFSET_SECS`).
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)]) -> TestResult<Self> {
        let _ = std::fs::remove_file(dir.join("api.addr"));
        let _ = std::fs::remove_file(dir.join("web.addr"));
        // Appended, not truncated: a restarted node's earlier log stays readable.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("stoopd.log"))?;
        let child = Command::new(binary("stoopd"))
            .args(["run", "--data-dir"])
            .arg(dir)
            // Any free port for the web page, so test nodes do not share 4013.
            .env("STOOP_WEB", "127.0.0.1:0")
            .envs(env.iter().copied())
            .env("STOOP_MDNS", "false")
            .env("STOOP_UPNP", "false")
            .env("RUST_LOG", "info,stoop_node=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut node = Node {
            dir: dir.to_path_buf(),
            child: Some(child),
            url: String::new(),
            token: String::new(),
            http: reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?,
        };
        let addr = wait_for(WAIT, "the API address file", || {
            if let Some(c) = node.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Some(Err(format!("stoopd exited early with {status}: {}", node.log())));
            }
            std::fs::read_to_string(dir.join("api.addr")).ok().map(|s| Ok(s.trim().to_owned()))
        })??;
        node.url = format!("http://{addr}");
        node.token = std::fs::read_to_string(dir.join("api.token"))?.trim().to_owned();
        Ok(node)
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the process (Linux), in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// API bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stoopd.log")).unwrap_or_default()
    }

    /// GET with the token; returns (status, JSON body).
    pub fn get(&self, path: &str) -> TestResult<(u16, Value)> {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send()?;
        let status = r.status().as_u16();
        Ok((status, r.json().unwrap_or(Value::Null)))
    }

    /// POST JSON with the token; returns (status, JSON body).
    pub fn post(&self, path: &str, body: &Value) -> TestResult<(u16, Value)> {
        let r = self.http.post(format!("{}{path}", self.url)).bearer_auth(&self.token).json(body).send()?;
        let status = r.status().as_u16();
        Ok((status, r.json().unwrap_or(Value::Null)))
    }

    /// A raw request builder without the token (auth tests).
    pub fn raw(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// Creates an invite ticket.
    pub fn invite(&self) -> TestResult<String> {
        let (status, body) = self.post("/v1/members/invites", &serde_json::json!({}))?;
        if status != 201 {
            return Err(format!("invite failed: {status} {body}").into());
        }
        Ok(body["ticket"].as_str().ok_or("no ticket")?.to_owned())
    }

    /// Posts an alert; returns its id.
    pub fn post_alert(&self, headline: &str) -> TestResult<String> {
        let body = serde_json::json!({
            "category": "safety", "event": "hazard", "headline": headline,
            "description": "Downed tree on the sidewalk by the school.",
        });
        let (status, resp) = self.post("/v1/alerts", &body)?;
        if status != 201 {
            return Err(format!("post failed: {status} {resp}").into());
        }
        Ok(resp["id"].as_str().ok_or("no id")?.to_owned())
    }

    /// Whether this node has the alert, and in which state.
    pub fn alert_state(&self, id: &str) -> Option<String> {
        match self.get(&format!("/v1/alerts/{id}")) {
            Ok((200, v)) => v["alert"]["state"].as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// The node's author key (hex).
    pub fn author(&self) -> TestResult<String> {
        let (_, v) = self.get("/v1/status")?;
        Ok(v["author"].as_str().ok_or("no author")?.to_owned())
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.get("/v1/status").ok().and_then(|(_, v)| v["peers"].as_u64()).unwrap_or(0) as usize
    }

    /// The Prometheus text from `/metrics`.
    pub fn metrics_text(&self) -> TestResult<String> {
        let r = self.http.get(format!("{}/metrics", self.url)).bearer_auth(&self.token).send()?;
        Ok(r.text()?)
    }

    /// Sum of the samples of metric `name` whose labels include every
    /// `(key, value)` in `labels` (0 when there is none yet).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> TestResult<f64> {
        Ok(metric_in(&self.metrics_text()?, name, labels))
    }

    /// Messages held in the store (`/v1/status`).
    pub fn store_messages(&self) -> TestResult<u64> {
        let (_, v) = self.get("/v1/status")?;
        Ok(v["store_messages"].as_u64().ok_or("no store_messages in the status")?)
    }

    /// The node's libp2p peer id.
    pub fn peer_id(&self) -> TestResult<String> {
        let (_, v) = self.get("/v1/status")?;
        Ok(v["peer_id"].as_str().ok_or("no peer_id")?.to_owned())
    }

    /// A dialable address of the node: its first loopback TCP listen address
    /// with the /p2p/ suffix.
    pub fn dial_addr(&self) -> TestResult<String> {
        let (_, v) = self.get("/v1/status")?;
        let listen = v["listen"].as_array().ok_or("no listen addresses")?;
        let addr = listen.iter().filter_map(Value::as_str).find(|a| a.contains("/tcp/")).ok_or("no TCP address")?;
        Ok(format!("{addr}/p2p/{}", self.peer_id()?))
    }

    /// The hood's pnet key, from the node's data directory (what a member's
    /// node uses; raw peers need it to connect at all).
    pub fn network_key(&self) -> TestResult<[u8; 32]> {
        let dir = stoop_node::daemon::datadir::DataDir::new(&self.dir);
        Ok(stoop_node::daemon::dir_network_key(&dir)?.ok_or("the node has no hood secret")?)
    }

    /// The node's gossipsub score of `peer` (None when not connected).
    pub fn peer_score(&self, peer: &str) -> Option<f64> {
        let (_, v) = self.get("/v1/peers").ok()?;
        v["peers"].as_array()?.iter().find(|p| p["peer_id"] == peer)?["score"].as_f64()
    }

    /// The hood's gossipsub topic name.
    pub fn hood_topic(&self) -> TestResult<String> {
        let (_, v) = self.get("/v1/status")?;
        Ok(format!("/stoop/hood/{}", v["hood"].as_str().ok_or("no hood")?))
    }

    /// Rewrites a stopped node's config: a fixed port, these bootstrap
    /// peers, and a short resync interval so tests do not wait minutes.
    pub fn configure(&self, port: u16, bootstrap: &[String]) -> TestResult {
        let list = bootstrap.iter().map(|b| format!("{b:?}")).collect::<Vec<_>>().join(", ");
        let text = format!(
            "listen = [\"/ip4/127.0.0.1/tcp/{port}\"]\napi = \"127.0.0.1:0\"\nmdns = false\nupnp = false\nbootstrap = [{list}]\nresync_secs = 3\n"
        );
        std::fs::write(self.dir.join("stoop.toml"), text)?;
        Ok(())
    }

    /// SIGTERM and wait (graceful shutdown).
    pub fn stop(&mut self) -> TestResult {
        if let Some(mut c) = self.child.take()
            && !terminate(&mut c, WAIT)?
        {
            return Err("stoopd did not stop within the bound".into());
        }
        Ok(())
    }

    /// SIGKILL, no chance to flush.
    pub fn kill9(&mut self) -> TestResult {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Restarts after stop or kill.
    pub fn restart(&mut self) -> TestResult {
        let fresh = Node::start(&self.dir)?;
        *self = fresh;
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sum of the samples of metric `name` in Prometheus text whose labels
/// include every `(key, value)` of `labels`.
pub fn metric_in(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            if metric != name {
                return None;
            }
            let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// A hood of `n` nodes under `dir`: a founder (`node0`) and `n - 1` members
/// who joined with its tickets, each waited for until the founder knows it
/// (the founder must know a member before that member's posts are valid).
pub fn join_hood(dir: &Path, n: usize) -> TestResult<Vec<Node>> {
    let mut nodes = vec![Node::init(&dir.join("node0"))?];
    for i in 1..n {
        let ticket = nodes[0].invite()?;
        let node = Node::join(&dir.join(format!("node{i}")), &ticket)?;
        let author = node.author()?;
        wait_for(WAIT, "the join to reach the founder", || {
            let (_, v) = nodes[0].get("/v1/members").ok()?;
            v["members"].as_array()?.iter().any(|m| m["key"] == author.as_str()).then_some(())
        })?;
        nodes.push(node);
    }
    Ok(nodes)
}
pub mod netns;
