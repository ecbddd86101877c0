//! What `stoop` prints: JSON, tables and text views of the node's answers,
//! and ages ("5m ago").
//!
//! Views are pure: they take the node's JSON (and the time, where they show
//! ages) and return the text to print, with its final newline.

use std::fmt::Write;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

/// The columns of `stoop feed`.
const FEED_HEADER: [&str; 7] = ["ID", "SENT", "CATEGORY", "HEADLINE", "STATE", "SEEN", "REPORTS"];

/// The fields of `stoop status`, in order.
const STATUS_FIELDS: [&str; 12] = [
    "hood_name",
    "hood",
    "peer_id",
    "author",
    "member",
    "moderator",
    "peers",
    "alerts",
    "store_messages",
    "pending",
    "uptime_secs",
    "quota_remaining_this_hour",
];

/// Prints `v` as pretty JSON (`--json`).
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints what a write created: the node's answer with `--json`, else
/// `what` and the new message's id.
pub fn created(json: bool, v: &Value, what: &str) {
    if json {
        print_json(v);
    } else {
        println!("{what} {}", str_of(&v["id"]));
    }
}

/// A string field, or "" when it is missing or not a string.
fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// How long before `now` a unix time `sent` was, in its largest whole unit.
pub fn age(sent: u64, now: u64) -> String {
    let d = now.saturating_sub(sent);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86_400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86_400),
    }
}

/// The first 12 hex digits of an id: enough to tell alerts apart in a table.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A membership time for the table: founders join at 0, and a member who
/// was never revoked has no revocation time.
fn member_time(v: &Value, none: &str, now: u64) -> String {
    match v.as_u64() {
        Some(0) | None => none.to_owned(),
        Some(t) => age(t, now),
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

/// One alert as a feed row.
fn alert_row(a: &Value, now: u64) -> Vec<String> {
    let s = |k: &str| str_of(&a[k]).to_owned();
    vec![
        short(&s("id")).to_owned(),
        age(a["sent"].as_u64().unwrap_or(0), now),
        s("category"),
        s("headline"),
        s("state"),
        a["seen_too"].as_u64().unwrap_or(0).to_string(),
        a["reports"].as_u64().unwrap_or(0).to_string(),
    ]
}

/// One alert as a line, for `stoop feed --follow`.
pub fn alert_line(a: &Value, now: u64) -> String {
    format!("{}\n", alert_row(a, now).join("  "))
}

/// `stoop status`: the node's status as a two-column table.
pub fn status(v: &Value) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    for k in STATUS_FIELDS {
        t.add_row(vec![k.replace('_', " "), v[k].to_string().trim_matches('"').to_owned()]);
    }
    let r = &v["reachability"];
    let detail = match str_of(&r["state"]) {
        "public" => list_of(&r["addrs"]),
        "relayed" => format!("through {}", list_of(&r["relays"])),
        _ => String::new(),
    };
    t.add_row(vec!["reachability".to_owned(), format!("{} {detail}", str_of(&r["state"])).trim_end().to_owned()]);
    let mut out = format!("{t}\n");
    if str_of(&r["state"]) == "private" {
        out.push_str(PRIVATE_HINT);
        out.push('\n');
    }
    out
}

/// The one-line hint `stoop status` prints for a `private` node.
pub const PRIVATE_HINT: &str =
    "no neighbor can reach this node; enable UPnP on the router, forward TCP 4011, or set external_addresses";

/// What `stoop invite` warns about on stderr: a ticket with no address a
/// neighbor outside this LAN can reach (the node is neither public nor
/// relayed).
pub fn invite_warning(v: &Value) -> Option<String> {
    match str_of(&v["reachability"]) {
        "public" | "relayed" | "" => None,
        state => Some(format!(
            "warning: this node is {state}: the ticket holds no address reachable from outside this LAN, \
             so only a neighbor on the same network can join with it ({PRIVATE_HINT})"
        )),
    }
}

fn list_of(v: &Value) -> String {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
}

/// `stoop id`: author key, hood and standing, from the node's status.
pub fn id(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "author    {}", str_of(&v["author"]));
    let _ = writeln!(out, "hood      {} ({})", str_of(&v["hood_name"]), str_of(&v["hood"]));
    let _ = writeln!(out, "member    {}", v["member"]);
    let _ = writeln!(out, "moderator {}", v["moderator"]);
    out
}

/// `stoop feed`: alerts as a table.
pub fn feed(alerts: &[Value], now: u64) -> String {
    let mut t = table(&FEED_HEADER);
    for a in alerts {
        t.add_row(alert_row(a, now));
    }
    format!("{t}\n")
}

/// `stoop show`: one alert with its updates and votes.
pub fn show(v: &Value, now: u64) -> String {
    let a = &v["alert"];
    let s = |k: &str| str_of(&a[k]).to_owned();
    let mut out = String::new();
    let _ = writeln!(out, "{}  [{}] {}", s("headline"), s("category"), s("state"));
    let _ = writeln!(
        out,
        "{}  {} / {} / {}  area {}  {}",
        s("event"),
        s("severity"),
        s("urgency"),
        s("certainty"),
        s("area"),
        age(a["sent"].as_u64().unwrap_or(0), now)
    );
    let _ = writeln!(out, "\n{}\n", s("description"));
    if !s("instruction").is_empty() {
        let _ = writeln!(out, "What to do: {}\n", s("instruction"));
    }
    let _ = writeln!(out, "seen too {}  resolved {}  reports {}", a["seen_too"], a["resolved"], a["reports"]);
    for u in v["updates"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{} {}: {} {}",
            str_of(&u["msg_type"]),
            age(u["sent"].as_u64().unwrap_or(0), now),
            str_of(&u["headline"]),
            str_of(&u["description"])
        );
    }
    for vote in v["votes"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "vote {} by {}: {}",
            str_of(&vote["decision"]),
            short(str_of(&vote["moderator"])),
            str_of(&vote["effect"])
        );
    }
    let _ = writeln!(out, "id {}", s("id"));
    out
}

/// `stoop peers`: connected peers as a table.
pub fn peers(v: &Value) -> String {
    let mut t = table(&["PEER", "ADDRESS", "RTT", "AGENT"]);
    for p in v["peers"].as_array().into_iter().flatten() {
        t.add_row(vec![
            str_of(&p["peer_id"]).to_owned(),
            str_of(&p["address"]).to_owned(),
            p["rtt_ms"].as_u64().map(|r| format!("{r} ms")).unwrap_or_default(),
            str_of(&p["agent"]).to_owned(),
        ]);
    }
    format!("{t}\n")
}

/// `stoop members list`: members as a table.
pub fn members(v: &Value, now: u64) -> String {
    let mut t = table(&["KEY", "SINCE", "REVOKED AT"]);
    for m in v["members"].as_array().into_iter().flatten() {
        t.add_row(vec![
            str_of(&m["key"]).to_owned(),
            member_time(&m["since"], "founder", now),
            member_time(&m["revoked_at"], "-", now),
        ]);
    }
    format!("{t}\n")
}

/// `stoop mod queue`: reported alerts as a table.
pub fn queue(v: &Value, now: u64) -> String {
    let mut t = table(&["ID", "SENT", "CATEGORY", "HEADLINE", "REASONS", "VOTES"]);
    for q in v["queue"].as_array().into_iter().flatten() {
        let a = &q["alert"];
        let reasons: Vec<&str> = q["reasons"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        t.add_row(vec![
            short(str_of(&a["id"])).to_owned(),
            age(a["sent"].as_u64().unwrap_or(0), now),
            str_of(&a["category"]).to_owned(),
            str_of(&a["headline"]).to_owned(),
            reasons.join(", "),
            q["votes"].as_array().map_or(0, Vec::len).to_string(),
        ]);
    }
    format!("{t}\n")
}

/// `stoop mod log`: every vote as a table, then the roster changes.
pub fn mod_log(v: &Value, now: u64) -> String {
    let mut t = table(&["TIME", "ALERT", "MODERATOR", "VOTE", "REASON", "EFFECT"]);
    for e in v["votes"].as_array().into_iter().flatten() {
        t.add_row(vec![
            age(e["sent"].as_u64().unwrap_or(0), now),
            short(str_of(&e["alert"])).to_owned(),
            short(str_of(&e["moderator"])).to_owned(),
            str_of(&e["decision"]).to_owned(),
            str_of(&e["reason"]).to_owned(),
            str_of(&e["effect"]).to_owned(),
        ]);
    }
    let mut out = format!("{t}\n");
    for r in v["roster_changes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "roster v{}: {} (at {})", r["version"], r["op"], r["at"]);
    }
    out
}

/// `stoop mod roster`: version, quorum and moderators.
pub fn roster(v: &Value) -> String {
    let mut out = format!("version {}  quorum {}\n", v["version"], v["quorum"]);
    for k in v["moderators"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "moderator {}", str_of(k));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let now = 1_000_000;
        assert_eq!(age(now, now), "0s ago");
        assert_eq!(age(now - 59, now), "59s ago");
        assert_eq!(age(now - 60, now), "1m ago");
        assert_eq!(age(now - 3599, now), "59m ago");
        assert_eq!(age(now - 3600, now), "1h ago");
        assert_eq!(age(now - 86_399, now), "23h ago");
        assert_eq!(age(now - 2 * 86_400, now), "2d ago");
        // A time ahead of this clock (a peer's clock runs fast) is "now".
        assert_eq!(age(now + 30, now), "0s ago");
    }

    #[test]
    fn short_ids_cut_at_twelve_characters_and_never_panic() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        // A multi-byte character across the cut: the whole string, no panic.
        assert_eq!(short("0123456789aé"), "0123456789aé");
    }

    #[test]
    fn founders_and_unrevoked_members_have_no_times() {
        let now = 10_000;
        let v = json!({ "members": [
            { "key": "aa", "since": 0 },
            { "key": "bb", "since": now - 120, "revoked_at": now - 60 },
        ]});
        let text = members(&v, now);
        let aa = text.lines().find(|l| l.contains("aa")).unwrap_or_default();
        assert!(aa.contains("founder") && aa.contains('-'), "{text}");
        let bb = text.lines().find(|l| l.contains("bb")).unwrap_or_default();
        assert!(bb.contains("2m ago") && bb.contains("1m ago"), "{text}");
    }

    #[test]
    fn show_prints_instructions_only_when_there_are_some() {
        let now = 5_000;
        let mut v = json!({ "alert": {
            "id": "ff", "headline": "Van", "category": "theft", "state": "visible", "event": "package theft",
            "severity": "minor", "urgency": "past", "certainty": "observed", "area": "9q8yy", "sent": now - 90,
            "description": "Took a parcel", "instruction": "", "seen_too": 2, "resolved": 0, "reports": 0,
        }});
        let text = show(&v, now);
        assert_eq!(
            text,
            "Van  [theft] visible\npackage theft  minor / past / observed  area 9q8yy  1m ago\n\n\
             Took a parcel\n\nseen too 2  resolved 0  reports 0\nid ff\n"
        );
        v["alert"]["instruction"] = json!("Check your porch");
        assert!(show(&v, now).contains("\nWhat to do: Check your porch\n\n"));
    }

    #[test]
    fn mod_log_lists_votes_then_roster_changes() {
        let v = json!({
            "votes": [{ "sent": 100, "alert": "a".repeat(64), "moderator": "b".repeat(64),
                        "decision": "hide", "reason": "spam", "effect": "hidden" }],
            "roster_changes": [{ "version": 2, "op": "add", "at": 90 }],
        });
        let text = mod_log(&v, 160);
        assert!(text.contains(&"a".repeat(12)) && !text.contains(&"a".repeat(13)), "{text}");
        assert!(text.contains("1m ago") && text.contains("hidden"), "{text}");
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with("roster v2: ") && last.contains("add") && last.ends_with(" (at 90)"), "{text}");
    }

    #[test]
    fn a_private_node_gets_the_hint_and_its_invite_a_warning() {
        let private = json!({ "reachability": { "state": "private", "addrs": [], "relays": [] } });
        assert!(status(&private).contains(PRIVATE_HINT));
        assert!(invite_warning(&json!({ "reachability": "private" })).is_some_and(|w| w.contains("outside this LAN")));
        // Positive controls: reachable nodes get neither.
        let public = json!({ "reachability": { "state": "public", "addrs": ["/ip4/192.0.2.1/tcp/4011"] } });
        assert!(!status(&public).contains(PRIVATE_HINT) && status(&public).contains("/ip4/192.0.2.1/tcp/4011"));
        assert_eq!(invite_warning(&json!({ "reachability": "relayed" })), None);
        assert_eq!(invite_warning(&json!({ "ticket": "stoop2:x" })), None, "an older node says nothing");
    }
}
