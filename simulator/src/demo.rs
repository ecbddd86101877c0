//! `stoop-sim demo`: several replicas (the real ledger and a real sled
//! store each) of one hood, with every accepted message delivered to every
//! other replica in process, walking through membership, posting, quotas,
//! the text-only policy and moderation. No network: see `run` for that.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use stoop_core::area::Cell;
use stoop_core::charter::{Charter, SignedCharter};
use stoop_core::envelope::Envelope;
use stoop_core::keys::AuthorKey;
use stoop_core::ledger::AlertState;
use stoop_core::message::{
    Alert, Certainty, Decision, Invite, Join, MsgType, Payload, Report, ReportReason, Severity, Status, Urgency, Vote,
};
use stoop_core::testkit::unix_now;
use stoop_core::verdict::Verdict;
use stoop_node::replica::Replica;
use stoop_node::store::{DEFAULT_CACHE_BYTES, Store, StoreConfig};

struct Demo {
    replicas: Vec<Replica>,
    now: u64,
}

impl Demo {
    /// Publishes on replica `origin`, then delivers the frame to every other
    /// replica, printing each node's verdict.
    fn broadcast(&mut self, origin: usize, payload: &Payload, key: &AuthorKey, what: &str) -> Result<Option<Envelope>> {
        let env = match self.replicas[origin].publish(payload, key, self.now) {
            Ok(env) => env,
            Err(e) => {
                println!("  {what:<44} node{origin}: refused locally: {} ({e})", e.code());
                return Ok(None);
            }
        };
        self.deliver(origin, &env, what)?;
        Ok(Some(env))
    }

    /// Delivers a signed frame made elsewhere to every replica but `origin`.
    fn deliver(&mut self, origin: usize, env: &Envelope, what: &str) -> Result<()> {
        let bytes = env.to_bytes();
        let mut verdicts = Vec::new();
        for (i, r) in self.replicas.iter_mut().enumerate() {
            if i != origin {
                verdicts.push(r.ingest(&bytes, self.now).verdict);
            }
        }
        println!("  {what:<44} {}", summarize(&verdicts));
        Ok(())
    }

    fn states(&self, id: &stoop_core::ids::MessageId) -> String {
        let states: Vec<&str> =
            self.replicas.iter().map(|r| r.ledger().state(id).map(AlertState::name).unwrap_or("absent")).collect();
        summarize_words(&states)
    }
}

fn summarize(verdicts: &[Verdict]) -> String {
    let words: Vec<String> = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Accept => "accept".to_owned(),
            other => format!("{}:{}", other.kind(), other.code()),
        })
        .collect();
    summarize_words(&words.iter().map(String::as_str).collect::<Vec<_>>())
}

fn summarize_words(words: &[&str]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for w in words {
        match counts.iter_mut().find(|(k, _)| k == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    counts.iter().map(|(w, n)| format!("{w} x{n}")).collect::<Vec<_>>().join(", ")
}

fn alert(hood: &SignedCharter, now: u64, category: &str, headline: &str, description: &str) -> Alert {
    Alert {
        hood: hood.hood(),
        category: category.into(),
        event: "report".into(),
        urgency: Urgency::Expected,
        severity: Severity::Minor,
        certainty: Certainty::Observed,
        status: Status::Exercise,
        msg_type: MsgType::Alert,
        references: None,
        headline: headline.into(),
        description: description.into(),
        instruction: String::new(),
        area: "dr5ru7".into(),
        sent: now,
        expires: now + 4 * 3600,
    }
}

/// Runs the walkthrough on `nodes` replicas.
pub fn demo(nodes: usize, data_dir: Option<PathBuf>) -> Result<()> {
    let now = unix_now();
    let founders: Vec<AuthorKey> =
        (0..3).map(|_| AuthorKey::generate()).collect::<Result<_, _>>().context("generating founder keys")?;
    let area = Cell::parse("dr5ru").map_err(|e| anyhow::anyhow!("{e}"))?;
    let charter = Charter::new("Elm Street", vec![area], founders.iter().map(AuthorKey::public).collect(), now);
    let hood = SignedCharter::sign(charter, &founders.iter().collect::<Vec<_>>())?;
    println!("hood \"Elm Street\" {} (3 founders, quorum 2, 6 alerts/hour per author)", hood.hood());

    let mut replicas = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let cfg = match &data_dir {
            Some(dir) => StoreConfig::at(dir.join(format!("node{i}"))),
            None => StoreConfig::temporary(DEFAULT_CACHE_BYTES),
        };
        let store = Store::open(&cfg).with_context(|| format!("opening the store of node{i}"))?;
        let (replica, report) = Replica::create(store, hood.clone())?;
        if report.messages > 0 {
            bail!("node{i} already holds {} messages; use an empty --data-dir", report.messages);
        }
        replicas.push(replica);
    }
    println!("{nodes} replicas, each with its own sled store; every frame goes to every node\n");
    let mut d = Demo { replicas, now };

    println!("membership");
    let neighbor = AuthorKey::generate()?;
    let ticket = AuthorKey::generate()?;
    let invite =
        Payload::Invite(Invite { hood: hood.hood(), ticket_key: ticket.public(), sent: now, expires: now + 86_400 });
    let invite = d.broadcast(0, &invite, &founders[0], "founder invites a neighbor")?.context("invite refused")?;
    let join = Join::create(hood.hood(), invite, &ticket, &neighbor.public(), now)?;
    d.broadcast(1, &Payload::Join(join), &neighbor, "neighbor joins with the ticket")?;

    println!("\nposting");
    let a = alert(&hood, now, "lost_pet", "Lost dog near the park", "Small brown terrier, red collar, answers to Max.");
    let lost_dog =
        d.broadcast(1, &Payload::Alert(a), &neighbor, "neighbor posts an alert")?.context("alert refused")?;
    let stranger = AuthorKey::generate()?;
    let a = alert(&hood, now, "crime", "Buy now", "Cheap watches for sale.");
    let forged = Payload::Alert(a).seal(&stranger);
    d.deliver(usize::MAX, &forged, "a non-member's alert arrives by gossip")?;
    let a = alert(&hood, now + 1, "crime", "Package theft", "Footage here: https://cams.example.com/clip/9");
    d.broadcast(2, &Payload::Alert(a), &neighbor, "alert with a footage link")?;
    for i in 0..7 {
        let a = alert(&hood, now + 2 + i, "safety", &format!("Pothole {i}"), "Deep pothole in the bike lane.");
        let env = Payload::Alert(a).seal(&neighbor);
        d.deliver(usize::MAX, &env, &format!("neighbor's alert #{} this hour (quota 6)", i + 2))?;
    }

    println!("\nmoderation (quorum 2)");
    let report = Payload::Report(Report {
        hood: hood.hood(),
        alert: lost_dog.id(),
        reason: ReportReason::OffTopic,
        note: String::new(),
        sent: now,
    });
    d.broadcast(3 % nodes, &report, &founders[2], "a member reports the alert")?;
    let vote = |decision| {
        Payload::Vote(Vote {
            hood: hood.hood(),
            alert: lost_dog.id(),
            decision,
            reason: (decision == Decision::Hide).then_some(ReportReason::OffTopic),
            note: String::new(),
            sent: now + 1,
        })
    };
    d.broadcast(0, &vote(Decision::Hide), &founders[0], "moderator 1 votes hide")?;
    println!("  {:<44} {}", "alert state on every node", d.states(&lost_dog.id()));
    d.broadcast(1, &vote(Decision::Hide), &founders[1], "moderator 2 votes hide")?;
    println!("  {:<44} {}", "alert state on every node", d.states(&lost_dog.id()));

    println!("\nsummary");
    println!("  {:<6} {:>8} {:>8} {:>8} {:>9}", "node", "stored", "visible", "hidden", "members");
    for (i, r) in d.replicas.iter().enumerate() {
        let l = r.ledger();
        let count = |s| l.alerts().filter(|m| l.state(&m.id) == Some(s)).count();
        println!(
            "  node{i:<2} {:>8} {:>8} {:>8} {:>9}",
            r.store().len(),
            count(AlertState::Visible),
            count(AlertState::Hidden),
            l.membership().members().len()
        );
    }
    for r in &d.replicas {
        r.flush()?;
    }
    Ok(())
}
