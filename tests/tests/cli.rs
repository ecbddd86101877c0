//! End-to-end tests that drive real nodes only through the `stoop` binary.

use std::process::{Command, Output};

use stoop_tests::{Node, TestResult, WAIT, binary, wait_for};

/// How long a message may take to reach every node: an own message whose
/// stem dies (in a small hood it often loops back to its origin) waits for
/// an embargo of up to 30 s before it is gossiped (PROTOCOL.md 8a), so the
/// 30 s `WAIT` is too short for spreading.
const SPREAD: std::time::Duration = std::time::Duration::from_secs(75);

fn stoop(node: &Node, args: &[&str]) -> TestResult<Output> {
    let d = node.dir.to_string_lossy().into_owned();
    let mut all = vec!["--data-dir", d.as_str()];
    all.extend(args);
    Ok(Command::new(binary("stoop")).args(&all).env_remove("STOOP_DATA_DIR").env("NO_COLOR", "1").output()?)
}

fn ok(node: &Node, args: &[&str]) -> TestResult<String> {
    let out = stoop(node, args)?;
    if !out.status.success() {
        return Err(format!("stoop {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn json(node: &Node, args: &[&str]) -> TestResult<serde_json::Value> {
    let mut all = vec!["--json"];
    all.extend(args);
    Ok(serde_json::from_str(&ok(node, &all)?)?)
}

fn post(node: &Node, headline: &str) -> TestResult<String> {
    let v = json(
        node,
        &[
            "post",
            "--category",
            "safety",
            "--event",
            "hazard",
            "--headline",
            headline,
            "--description",
            "Downed tree on Elm.",
        ],
    )?;
    Ok(v["id"].as_str().ok_or("no id")?.to_owned())
}

fn state_on(node: &Node, id: &str) -> Option<String> {
    json(node, &["show", id]).ok()?["alert"]["state"].as_str().map(str::to_owned)
}

fn join_all(tmp: &tempfile::TempDir, n: usize) -> TestResult<Vec<Node>> {
    let mut nodes = vec![Node::init(&tmp.path().join("n0"))?];
    for i in 1..n {
        let ticket = ok(&nodes[0], &["invite", "--expires", "1h"])?.trim().to_owned();
        let node = Node::join(&tmp.path().join(format!("n{i}")), &ticket)?;
        let me = json(&node, &["id"])?["author"].as_str().ok_or("no author")?.to_owned();
        wait_for(WAIT, "the founder to see the join", || {
            let v = json(&nodes[0], &["members", "list"]).ok()?;
            v["members"].as_array()?.iter().any(|m| m["key"] == me.as_str()).then_some(())
        })?;
        nodes.push(node);
    }
    Ok(nodes)
}

#[test]
fn post_on_one_node_shows_in_the_feed_of_another_and_reports_reach_the_queue() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let nodes = join_all(&tmp, 2)?;
    let id = post(&nodes[1], "Tree down on Elm")?;
    wait_for(WAIT, "the alert in the founder's feed", || {
        let v = json(&nodes[0], &["feed"]).ok()?;
        v["alerts"].as_array()?.iter().any(|a| a["id"] == id.as_str()).then_some(())
    })?;
    let table = ok(&nodes[0], &["feed"])?;
    assert!(table.contains("Tree down on Elm"), "{table}");
    ok(&nodes[0], &["confirm", &id])?;
    ok(&nodes[0], &["report", &id, "--reason", "misinformation", "--note", "already cleared"])?;
    wait_for(WAIT, "the report in the queue", || {
        let v = json(&nodes[1], &["mod", "queue"]).ok()?;
        v["queue"].as_array()?.iter().any(|q| q["alert"]["id"] == id.as_str()).then_some(())
    })?;
    Ok(())
}

#[test]
fn quorum_two_of_three_moderators_hides_and_restores_everywhere() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let nodes = join_all(&tmp, 4)?;
    let key =
        |n: &Node| -> TestResult<String> { Ok(json(n, &["id"])?["author"].as_str().ok_or("no author")?.to_owned()) };
    // The founder alone is the quorum (1) at first: add two moderators, then raise the quorum.
    ok(&nodes[0], &["mod", "roster", "add", &key(&nodes[1])?])?;
    ok(&nodes[0], &["mod", "roster", "add", &key(&nodes[2])?])?;
    ok(&nodes[0], &["mod", "roster", "quorum", "2"])?;
    for n in &nodes {
        wait_for(SPREAD, "the roster to spread", || {
            let v = json(n, &["mod", "roster"]).ok()?;
            (v["quorum"] == 2 && v["moderators"].as_array()?.len() == 3).then_some(())
        })?;
    }
    let id = post(&nodes[3], "Loud party")?;
    for n in &nodes {
        wait_for(SPREAD, "the alert to spread", || state_on(n, &id))?;
    }
    ok(&nodes[1], &["mod", "hide", &id, "--reason", "off_topic"])?;
    // The control: the one hide vote reaches every node and is counted
    // there; only then can "still visible" mean it is not a quorum.
    for n in &nodes {
        wait_for(SPREAD, "the hide vote to be counted everywhere", || {
            let v = json(n, &["show", &id]).ok()?;
            let votes = v["votes"].as_array()?;
            votes.iter().any(|x| x["effect"] == "counted").then_some(())
        })?;
        assert_eq!(state_on(n, &id).as_deref(), Some("visible"), "one hide vote is not a quorum");
    }
    ok(&nodes[2], &["mod", "hide", &id, "--reason", "off_topic"])?;
    for n in &nodes {
        wait_for(SPREAD, "the alert to be hidden everywhere", || state_on(n, &id).filter(|s| s == "hidden"))?;
    }
    // Hidden alerts leave the feed.
    let feed = json(&nodes[3], &["feed"])?;
    assert!(!feed["alerts"].as_array().ok_or("no alerts")?.iter().any(|a| a["id"] == id.as_str()));
    ok(&nodes[0], &["mod", "restore", &id])?;
    // The second restore is signed with the moderator's own key file, outside the node.
    let key_file = nodes[1].dir.join("author.key");
    ok(&nodes[3], &["mod", "restore", &id, "--key", &key_file.to_string_lossy()])?;
    for n in &nodes {
        wait_for(SPREAD, "the alert to be restored everywhere", || state_on(n, &id).filter(|s| s == "visible"))?;
    }
    // Node 1's restore supersedes its hide, which alone makes the alert
    // visible again; node 0's restore may still be on its way to node 3.
    let log = wait_for(SPREAD, "all three live votes in node 3's log", || {
        let log = json(&nodes[3], &["mod", "log"]).ok()?;
        (log["votes"].as_array()?.len() == 3).then_some(log)
    })?;
    let effects: Vec<&str> =
        log["votes"].as_array().ok_or("no votes")?.iter().filter_map(|v| v["effect"].as_str()).collect();
    // The log holds each moderator's live vote (PROTOCOL.md 6.4): node 1's
    // restore superseded its hide, so what is left is node 2's hide (one of
    // two needed), then two restores of an alert that is visible again.
    assert_eq!(effects, vec!["counted", "no_change", "no_change"], "{log}");
    let deciders: Vec<&str> =
        log["votes"].as_array().ok_or("no votes")?.iter().filter_map(|v| v["decision"].as_str()).collect();
    assert_eq!(deciders, vec!["hide", "restore", "restore"], "{log}");
    Ok(())
}

#[test]
fn error_paths_have_their_exit_codes_and_one_line() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let node = Node::init(&tmp.path().join("n0"))?;
    let check = |args: &[&str], code: i32, needle: &str| -> TestResult {
        let out = stoop(&node, args)?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "stoop {args:?}: {err}");
        assert!(err.contains(needle), "stoop {args:?}: expected {needle:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        Ok(())
    };
    check(&["show", "nothex"], 2, "not an alert id")?;
    check(&["show", &"0".repeat(64)], 6, "not found")?;
    check(&["post", "--category", "party", "--event", "e", "--headline", "h"], 5, "unknown_category")?;
    check(
        &[
            "post",
            "--category",
            "safety",
            "--event",
            "e",
            "--headline",
            "h",
            "--description",
            "clip at https://cams.example.com/x",
        ],
        5,
        "link_not_allowed",
    )?;
    check(
        &[
            "post",
            "--category",
            "suspicious_activity",
            "--event",
            "person",
            "--headline",
            "Suspicious",
            "--description",
            "Suspicious black male near the cars.",
        ],
        5,
        "profiling",
    )?;
    // A description with behavior and clothing details passes the guard.
    ok(
        &node,
        &[
            "post",
            "--category",
            "suspicious_activity",
            "--event",
            "car prowler",
            "--headline",
            "Car prowler",
            "--description",
            "Man in a gray hoodie and red backpack trying car door handles on Elm.",
        ],
    )?;
    // Wrong token: unauthorized.
    let bad = tmp.path().join("bad-token");
    std::fs::write(&bad, "wrong")?;
    let out = Command::new(binary("stoop"))
        .args(["--node", &node.url, "--token-file", &bad.to_string_lossy(), "status"])
        .env_remove("STOOP_DATA_DIR")
        .output()?;
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[test]
fn cap_export_and_import_round_trip_and_media_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let nodes = join_all(&tmp, 2)?;
    let id = post(&nodes[0], "Tree down on Elm & Oak")?;
    let xml = ok(&nodes[0], &["cap", "export", &id])?;
    assert!(xml.contains("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"), "{xml}");
    assert!(xml.contains("<headline>Tree down on Elm &amp; Oak</headline>"), "{xml}");
    assert!(xml.contains(&format!("<identifier>stoop:{id}</identifier>")), "{xml}");

    // A member re-posts it from the CAP file: a new alert, signed by them.
    let file = tmp.path().join("alert.xml");
    std::fs::write(&file, &xml)?;
    let v = json(&nodes[1], &["cap", "import", &file.to_string_lossy()])?;
    let imported = v["id"].as_str().ok_or("no id")?.to_owned();
    assert_ne!(imported, id);
    wait_for(WAIT, "the imported alert on the founder", || state_on(&nodes[0], &imported))?;
    let shown = json(&nodes[0], &["show", &imported])?;
    assert_eq!(shown["alert"]["headline"], "Tree down on Elm & Oak");
    assert_eq!(shown["alert"]["category"], "safety");

    // Media is refused before anything is signed, with the named reason.
    let with_media = xml.replace(
        "</info>",
        "<resource><resourceDesc>doorbell clip</resourceDesc><mimeType>video/mp4</mimeType></resource></info>",
    );
    std::fs::write(&file, with_media)?;
    let before = json(&nodes[1], &["feed"])?["alerts"].as_array().map_or(0, Vec::len);
    let out = stoop(&nodes[1], &["cap", "import", &file.to_string_lossy()])?;
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("stoop: rejected (media_not_allowed)") && err.lines().count() == 1, "{err}");
    assert_eq!(json(&nodes[1], &["feed"])?["alerts"].as_array().map_or(0, Vec::len), before);

    // Not CAP at all: a clear line and exit 5, and a missing file is bad usage.
    std::fs::write(&file, "<html><body>hi</body></html>")?;
    let out = stoop(&nodes[1], &["cap", "import", &file.to_string_lossy()])?;
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_cap"));
    let out = stoop(&nodes[1], &["cap", "import", "/nonexistent/alert.xml"])?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
