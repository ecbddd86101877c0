//! Linux network namespaces for NAT tests: an "internet" namespace with a
//! bridge, public hosts on it, and homes behind router namespaces that
//! MASQUERADE and drop unsolicited inbound traffic (conntrack
//! ESTABLISHED,RELATED only), optionally with a TCP port forward. Real
//! `stoopd` processes run inside with `ip netns exec`; the CLI reaches them
//! the same way (each namespace has its own loopback for the API).
//!
//! Every name carries the test process id and a counter, so parallel tests
//! never share a namespace, and the addresses (172.16.0.0/24 for the
//! internet, 10.0.<home>.0/24 per home) exist only inside them. Drop kills
//! the processes and deletes the namespaces, on panic too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::{TestResult, binary};

/// The port every node listens on (the default `stoopd` port).
pub const PORT: u16 = 4011;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One world at a time per test binary: each runs four or five `stoopd`s,
/// and hole-punch timing suffers when several share two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Why the tests cannot run here, if they cannot (one line for the skip).
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() != Some("0") {
        return Some("skipped: network namespace tests need root".into());
    }
    for tool in ["ip", "iptables"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        if !found.map(|o| o.status.success()).unwrap_or(false) {
            return Some(format!("skipped: `{tool}` is missing (apt-get install iproute2 iptables)"));
        }
    }
    None
}

fn run(args: &[&str]) -> TestResult<Output> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if !out.status.success() {
        return Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(out)
}

/// A host: the namespace a node runs in, and its address.
#[derive(Debug, Clone)]
pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// Its own address.
    pub ip: String,
    /// The address the internet sees for it (its router's for a home).
    pub public_ip: String,
}

/// The test's namespaces; deleted on drop.
#[derive(Debug)]
pub struct World {
    prefix: String,
    inet: String,
    namespaces: Vec<String>,
    homes: u8,
    publics: u8,
    /// Held until the namespaces are gone (fields drop after `Drop::drop`).
    _turn: MutexGuard<'static, ()>,
}

impl World {
    /// The internet namespace with its bridge.
    pub fn new() -> TestResult<Self> {
        // A test that panicked while holding the turn poisons it; the
        // next one may still run.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let prefix = format!("st{}x{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let inet = format!("{prefix}inet");
        let mut w = World { prefix, inet: inet.clone(), namespaces: Vec::new(), homes: 0, publics: 0, _turn: turn };
        w.namespace(&inet)?;
        run(&["ip", "-n", &inet, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &inet, "link", "set", "br0", "up"])?;
        Ok(w)
    }

    fn namespace(&mut self, name: &str) -> TestResult {
        run(&["ip", "netns", "add", name])?;
        self.namespaces.push(name.to_owned());
        run(&["ip", "-n", name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Plugs `iface` of `ns` into the bridge with `ip`/24.
    fn plug(&mut self, ns: &str, iface: &str, ip: &str) -> TestResult {
        let port = format!("p{}", self.namespaces.len());
        run(&["ip", "-n", &self.inet, "link", "add", &port, "type", "veth", "peer", "name", iface, "netns", ns])?;
        run(&["ip", "-n", &self.inet, "link", "set", &port, "master", "br0", "up"])?;
        run(&["ip", "-n", ns, "addr", "add", &format!("{ip}/24"), "dev", iface])?;
        run(&["ip", "-n", ns, "link", "set", iface, "up"])?;
        Ok(())
    }

    /// A host directly on the internet segment.
    pub fn public_host(&mut self) -> TestResult<Host> {
        self.publics += 1;
        let ns = format!("{}pub{}", self.prefix, self.publics);
        self.namespace(&ns)?;
        let ip = format!("172.16.0.{}", 9 + self.publics);
        self.plug(&ns, "eth0", &ip)?;
        Ok(Host { ns, ip: ip.clone(), public_ip: ip })
    }

    /// A home: a router that MASQUERADEs and drops unsolicited inbound
    /// traffic, and one host behind it. `forward` adds a TCP port forward
    /// of [`PORT`] to the host.
    pub fn home(&mut self, forward: bool) -> TestResult<Host> {
        self.home_with(forward, false)
    }

    /// A home as [`World::home`]; with `symmetric` the router picks a
    /// random port for every connection (`--random-fully`), as carrier-
    /// grade and some enterprise NATs do, which defeats hole punching.
    pub fn home_with(&mut self, forward: bool, symmetric: bool) -> TestResult<Host> {
        self.homes += 1;
        let n = self.homes;
        let router = format!("{}r{n}", self.prefix);
        let ns = format!("{}h{n}", self.prefix);
        self.namespace(&router)?;
        self.namespace(&ns)?;
        let wan = format!("172.16.0.{}", 100 + n);
        self.plug(&router, "wan", &wan)?;
        let (gw, ip) = (format!("10.0.{n}.1"), format!("10.0.{n}.2"));
        run(&["ip", "-n", &router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
        run(&["ip", "-n", &router, "addr", "add", &format!("{gw}/24"), "dev", "lan"])?;
        run(&["ip", "-n", &router, "link", "set", "lan", "up"])?;
        run(&["ip", "-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
        run(&["ip", "-n", &ns, "route", "add", "default", "via", &gw])?;
        let ipt = |rule: &str| -> TestResult {
            let mut args = vec!["ip", "netns", "exec", &router, "iptables"];
            args.extend(rule.split_whitespace());
            run(&args).map(|_| ())
        };
        run(&["ip", "netns", "exec", &router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        ipt(if symmetric {
            "-t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully"
        } else {
            "-t nat -A POSTROUTING -o wan -j MASQUERADE"
        })?;
        ipt("-P FORWARD DROP")?;
        ipt("-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")?;
        ipt("-A FORWARD -i lan -o wan -j ACCEPT")?;
        if forward {
            ipt(&format!("-t nat -A PREROUTING -i wan -p tcp --dport {PORT} -j DNAT --to-destination {ip}:{PORT}"))?;
            ipt("-A FORWARD -i wan -o lan -m conntrack --ctstate DNAT -j ACCEPT")?;
        }
        // The router itself accepts nothing unsolicited either.
        ipt("-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")?;
        ipt("-A INPUT -i lan -j ACCEPT")?;
        ipt("-A INPUT -i lo -j ACCEPT")?;
        ipt("-P INPUT DROP")?;
        Ok(Host { ns, ip, public_ip: wan })
    }
}

impl World {
    /// Two hosts joined by one cable that carries IPv6 only (unique local
    /// addresses `fd57::1` and `fd57::2`): nothing but IPv6 connects them.
    pub fn ipv6_pair(&mut self) -> TestResult<(Host, Host)> {
        let (a, b) = (format!("{}v6a", self.prefix), format!("{}v6b", self.prefix));
        self.namespace(&a)?;
        self.namespace(&b)?;
        run(&["ip", "-n", &a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &b])?;
        let mut hosts = Vec::new();
        for (ns, ip) in [(&a, "fd57::1"), (&b, "fd57::2")] {
            // `nodad`: usable at once instead of after duplicate address
            // detection's second or two.
            run(&["ip", "-n", ns, "addr", "add", &format!("{ip}/64"), "dev", "eth0", "nodad"])?;
            run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
            hosts.push(Host { ns: ns.clone(), ip: ip.to_owned(), public_ip: ip.to_owned() });
        }
        let b = hosts.pop().ok_or("no host")?;
        let a = hosts.pop().ok_or("no host")?;
        Ok((a, b))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A `stoopd` running inside a namespace.
#[derive(Debug)]
pub struct NsNode {
    /// Where it runs.
    pub host: Host,
    /// Its data directory.
    pub dir: PathBuf,
    child: Option<Child>,
}

/// How long CLI calls and node starts may take.
pub const STEP: Duration = Duration::from_secs(30);

/// Where a test node listens: IPv4 as the NAT tests need, or `stoopd`'s
/// own default list (IPv4 and IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// `/ip4/0.0.0.0/tcp/4011` only.
    Ip4,
    /// No `--listen`: the daemon's default.
    Default,
}

fn setup_args(dir: &str, listen: Listen) -> Vec<&str> {
    let mut args = vec!["--data-dir", dir, "--api", "127.0.0.1:4012"];
    if listen == Listen::Ip4 {
        args.extend(["--listen", "/ip4/0.0.0.0/tcp/4011"]);
    }
    args
}

impl NsNode {
    /// Founds a hood in `dir` (run later with [`NsNode::start`]).
    pub fn found(host: &Host, dir: &Path) -> TestResult<Self> {
        Self::found_listening(host, dir, Listen::Ip4)
    }

    /// Founds a hood in `dir`, listening as `listen` says.
    pub fn found_listening(host: &Host, dir: &Path, listen: Listen) -> TestResult<Self> {
        let d = dir.to_string_lossy().into_owned();
        let mut args = vec!["init", "--hood-name", "NAT Hood", "--area", "dr5ru", "--per-hour", "500"];
        args.extend(["--per-day", "1000"]);
        args.extend(setup_args(&d, listen));
        stoopd_ok(&args)?;
        Ok(Self { host: host.clone(), dir: dir.to_path_buf(), child: None })
    }

    /// Joins with `ticket` in `dir`.
    pub fn join(host: &Host, dir: &Path, ticket: &str) -> TestResult<Self> {
        Self::join_listening(host, dir, ticket, Listen::Ip4)
    }

    /// Joins with `ticket` in `dir`, listening as `listen` says.
    pub fn join_listening(host: &Host, dir: &Path, ticket: &str, listen: Listen) -> TestResult<Self> {
        let d = dir.to_string_lossy().into_owned();
        let mut args = vec!["join"];
        args.extend(setup_args(&d, listen));
        args.push(ticket);
        stoopd_ok(&args)?;
        Ok(Self { host: host.clone(), dir: dir.to_path_buf(), child: None })
    }

    /// Runs `stoopd` in the namespace with extra `STOOP_*` settings.
    pub fn start(&mut self, env: &[(&str, &str)]) -> TestResult {
        let _ = std::fs::remove_file(self.dir.join("api.addr"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("stoopd.log"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.host.ns])
            .arg(binary("stoopd"))
            .args(["run", "--data-dir"])
            .arg(&self.dir)
            .envs(env.iter().copied())
            .env("STOOP_MDNS", "false")
            .env("STOOP_UPNP", "false")
            .env("STOOP_RESYNC_SECS", "5")
            .env("RUST_LOG", "info,stoop_node=debug,libp2p_dcutr=debug,libp2p_relay=debug")
            .env("NO_COLOR", "1")
            .env_remove("STOOP_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let dir = self.dir.clone();
        crate::wait_for(STEP, "the API address file", || std::fs::metadata(dir.join("api.addr")).ok().map(|_| ()))?;
        Ok(())
    }

    /// Stops the node (SIGTERM, then SIGKILL after the bound).
    pub fn stop(&mut self) -> TestResult {
        if let Some(mut c) = self.child.take() {
            crate::terminate(&mut c, STEP)?;
        }
        Ok(())
    }

    /// Runs the `stoop` CLI in the namespace: (exit ok, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> TestResult<(bool, String, String)> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.host.ns])
            .arg(binary("stoop"))
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("STOOP_DATA_DIR")
            .output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// `stoop --json <args>` parsed, or `None` when it failed.
    pub fn json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["--json"];
        all.extend(args);
        match self.cli(&all) {
            Ok((true, out, _)) => serde_json::from_str(&out).ok(),
            _ => None,
        }
    }

    /// The node's status (`stoop status --json`).
    pub fn status(&self) -> Option<Value> {
        self.json(&["status"])
    }

    /// A fresh invite ticket and what `stoop invite` wrote on stderr.
    pub fn invite(&self) -> TestResult<(String, String)> {
        let (ok, out, err) = self.cli(&["invite"])?;
        if !ok {
            return Err(format!("invite failed: {err}").into());
        }
        Ok((out.trim().to_owned(), err))
    }

    /// Posts an alert; its id.
    pub fn post(&self, headline: &str) -> TestResult<String> {
        let args = [
            "--json",
            "post",
            "--category",
            "safety",
            "--event",
            "hazard",
            "--headline",
            headline,
            "--description",
            "Downed tree by the school.",
        ];
        let (ok, out, err) = self.cli(&args)?;
        if !ok {
            return Err(format!("post failed: {err}").into());
        }
        let v: Value = serde_json::from_str(&out)?;
        Ok(v["id"].as_str().ok_or_else(|| format!("no id in {v}"))?.to_owned())
    }

    /// Whether the node holds alert `id`.
    pub fn has(&self, id: &str) -> bool {
        self.json(&["show", id]).is_some()
    }

    /// The node's libp2p peer id.
    pub fn peer_id(&self) -> Option<String> {
        self.status()?["peer_id"].as_str().map(str::to_owned)
    }

    /// Resident memory of the node's process, bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stoopd.log")).unwrap_or_default()
    }
}

impl Drop for NsNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stoopd_ok(args: &[&str]) -> TestResult {
    let out = crate::stoopd(args)?;
    if !out.status.success() {
        return Err(format!("stoopd {}: {}", args[0], String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// Appends the last lines of each node's log to a failure.
///
/// With `STOOP_TEST_LOG_DIR` set, the whole logs are also copied there
/// (the data directories are temporary and gone after the test).
pub fn with_logs<T>(nodes: &[&NsNode], result: TestResult<T>) -> TestResult<T> {
    result.map_err(|e| {
        let mut msg = e.to_string();
        let keep = std::env::var_os("STOOP_TEST_LOG_DIR").map(PathBuf::from);
        for n in nodes {
            let log = n.log();
            if let Some(dir) = &keep {
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::write(dir.join(format!("{}.log", n.host.ns)), &log);
            }
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines.get(lines.len().saturating_sub(60)..).unwrap_or_default();
            msg.push_str(&format!("\n--- {} log ---\n{}", n.host.ns, tail.join("\n")));
        }
        msg.into()
    })
}
