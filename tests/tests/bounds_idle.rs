//! Resource attack R3 (docs/RELIABILITY.md): idle TCP sockets on the libp2p
//! port, reopened every 10 s, must not keep a real neighbour from joining.
//! Loopback is exempt from the per-IP caps (a one-machine hood), so the
//! attack runs between Linux network namespaces (`stoop_tests::netns`):
//! the node, the attacker and the joiner each on their own address.
//! Skipped with one line when not root or without `ip`/`iptables`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stoop_tests::netns::{NsNode, PORT, World, unavailable, with_logs};
use stoop_tests::{TestResult, wait_for};

/// Sockets the attacker holds at once (the figure the attack was measured
/// with: it filled the old global cap of 32 pending handshakes).
const IDLE_SOCKETS: u32 = 32;
/// Joining takes a few 5 s ticks; generous for a loaded CI machine.
const JOIN: Duration = Duration::from_secs(90);

/// The attacker: a bash loop in its namespace that opens [`IDLE_SOCKETS`]
/// TCP connections to the node, sends nothing, and reopens them every
/// 10 s. Killed (with its process group) on drop.
struct IdleSockets(Child);

impl IdleSockets {
    fn start(ns: &str, target: &str) -> TestResult<Self> {
        let script = format!(
            "while :; do fds=(); for i in $(seq {IDLE_SOCKETS}); do \
             exec {{fd}}<>/dev/tcp/{target}/{PORT} 2>/dev/null && fds+=($fd); done; \
             sleep 10; for fd in \"${{fds[@]}}\"; do exec {{fd}}>&-; done; done"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "bash", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self(child))
    }
}

impl Drop for IdleSockets {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn member(n: &NsNode) -> bool {
    n.status().is_some_and(|s| s["member"] == true)
}

/// Handshakes the node refused from `ip` at the per-IP pending cap so far
/// (its debug log names the limit).
fn refused_from(n: &NsNode, ip: &str) -> usize {
    n.log().lines().filter(|l| l.contains("pending_per_ip") && l.contains(&format!("/ip4/{ip}/"))).count()
}

/// Peak resident memory of the `stoopd` serving `n`, in KiB.
fn peak_rss_kib(n: &NsNode) -> Option<u64> {
    let out = Command::new("pgrep").args(["-f", &n.dir.to_string_lossy()]).output().ok()?;
    let pid = String::from_utf8_lossy(&out.stdout).lines().next()?.trim().to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn idle_sockets_from_one_address_do_not_keep_a_neighbour_out() -> TestResult {
    if let Some(why) = unavailable() {
        eprintln!("{why}");
        return Ok(());
    }
    let mut w = World::new()?;
    let tmp = tempfile::tempdir()?;
    let (hn, hx, hj) = (w.public_host()?, w.public_host()?, w.public_host()?);
    let mut node = NsNode::found(&hn, &tmp.path().join("node"))?;
    node.start(&[])?;
    let (ticket, _) = node.invite()?;

    let attack = IdleSockets::start(&hx.ns, &hn.ip)?;
    // The attack is under way (positive control): the node refuses some of
    // the attacker's sockets at its per-IP cap before the joiner starts.
    let result = wait_for(Duration::from_secs(30), "the node to refuse the attacker's sockets", || {
        (refused_from(&node, &hx.ip) > 0).then_some(())
    });
    with_logs(&[&node], result)?;

    let mut joiner = NsNode::join(&hj, &tmp.path().join("joiner"), &ticket)?;
    let started = Instant::now();
    joiner.start(&[])?;
    let result = (|| -> TestResult {
        wait_for(JOIN, "the joiner to become a member during the attack", || member(&joiner).then_some(()))?;
        let joined = started.elapsed();
        let id = joiner.post("Lost dog near the school")?;
        wait_for(Duration::from_secs(30), "the joiner's alert on the node", || node.has(&id).then_some(()))?;
        // Still under attack when the alert arrived.
        let refused = refused_from(&node, &hx.ip);
        eprintln!(
            "FIGURE R3: {IDLE_SOCKETS} idle sockets reopened every 10 s; joiner member after {joined:?}, \
             {refused} of the attacker's connections refused, node peak RSS {} KiB",
            peak_rss_kib(&node).unwrap_or(0)
        );
        Ok(())
    })();
    drop(attack);
    with_logs(&[&node, &joiner], result)
}
