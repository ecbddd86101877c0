//! The text policy against two corpora: ordinary neighborhood alerts that
//! must all pass, and evasions that must all be refused with the expected
//! reason. The counts land in docs/RELIABILITY.md.

use stoop_core::text::{TextPolicy, check_profiling};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const STRICT: TextPolicy = TextPolicy { allow_links: false, max_cell_precision: stoop_core::area::MAX_PRECISION };
/// The description cap an alert has (generous: the corpora are short).
const CAP: usize = 4000;

/// Decodes the corpus escapes: `\u{XXXX}` and `\n`.
fn unescape(line: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(hex) = after.strip_prefix("u{") {
            let end = hex.find('}').ok_or("unterminated \\u{")?;
            let c = char::from_u32(u32::from_str_radix(&hex[..end], 16)?).ok_or("not a char")?;
            out.push(c);
            rest = &hex[end + 1..];
        } else if let Some(r) = after.strip_prefix('n') {
            out.push('\n');
            rest = r;
        } else {
            return Err(format!("unknown escape in {line}").into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lines(corpus: &str) -> impl Iterator<Item = &str> {
    corpus.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

/// The code the policy gives a description; "profiling" rows also run the
/// profiling guard after it, as the ledger does for person categories.
fn verdict(text: &str, with_profiling: bool) -> &'static str {
    match STRICT.check("description", text, CAP, true) {
        Err(e) => e.code(),
        Ok(()) if with_profiling => check_profiling("description", text).map_or_else(|e| e.code(), |()| "ok"),
        Ok(()) => "ok",
    }
}

#[test]
fn every_ordinary_alert_passes() -> TestResult {
    let corpus = include_str!("data/ordinary_alerts.txt");
    let mut refused = Vec::new();
    let mut tried = 0;
    for line in lines(corpus) {
        let text = unescape(line)?;
        tried += 1;
        // Headlines are single-line fields: check the first line as one too.
        // The profiling guard is not run: it applies to person categories
        // only, and its color words are tested in profiling.rs.
        let headline = text.lines().next().unwrap_or_default();
        for (field, code) in [
            ("description", verdict(&text, false)),
            ("headline", STRICT.check_line("headline", headline, CAP, true).map_or_else(|e| e.code(), |()| "ok")),
        ] {
            if code != "ok" {
                refused.push(format!("{field} {code}: {text}"));
            }
        }
    }
    assert!(tried >= 200, "the corpus has {tried} alerts, want at least 200");
    assert!(refused.is_empty(), "{} of {tried} ordinary alerts refused:\n{}", refused.len(), refused.join("\n"));
    println!("ordinary alerts passed: {tried}/{tried}");
    Ok(())
}

#[test]
fn every_evasion_is_refused_with_its_reason() -> TestResult {
    let corpus = include_str!("data/evasions.tsv");
    let mut wrong = Vec::new();
    let mut tried = 0;
    for line in lines(corpus) {
        let (expected, text) = line.split_once('\t').ok_or_else(|| format!("no tab in {line}"))?;
        let text = unescape(text)?;
        tried += 1;
        let got = verdict(&text, expected == "profiling");
        if got != expected {
            wrong.push(format!("want {expected}, got {got}: {text:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {tried} evasions misjudged:\n{}", wrong.len(), wrong.join("\n"));
    println!("evasions refused: {tried}/{tried}");
    Ok(())
}

#[test]
fn hidden_payloads_are_refused() {
    // 320 bytes in variation selectors after one visible character, and a
    // sentence in tag characters: each byte maps to one selector.
    let selector = |b: u8| char::from_u32(if b < 16 { 0xFE00 + u32::from(b) } else { 0xE0100 + u32::from(b) - 16 });
    let payload: String = (0..320u32).filter_map(|i| selector((i * 37 % 256) as u8)).collect();
    let vs = format!("Road closed 🚧{payload} until 5 pm");
    assert_eq!(verdict(&vs, false), "invisible_character");
    let tags: String = "meet at 42 elm".chars().filter_map(|c| char::from_u32(0xE0000 + u32::from(c))).collect();
    assert_eq!(verdict(&format!("Lost cat{tags}"), false), "invisible_character");
    // Positive control: the visible text alone passes.
    assert_eq!(verdict("Road closed 🚧 until 5 pm", false), "ok");
    assert_eq!(verdict("Lost cat", false), "ok");
}
