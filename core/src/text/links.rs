//! Links: URLs, domains under the public suffix list, defanged forms
//! (`example[.]com`, `hxxps[:]//`), IP-literal URLs and `host:port`.

use super::scan::{ascii_in, has_prefix_ignore_case, tokens};

/// Real TLDs that are also short English words. "went.to" or "it.is" is a
/// missed space far more often than a link, so these count only with a
/// path, a port or a scheme ("youtu.be/abc", "t.me/channel").
const WORD_TLDS: &[&str] = &[
    "to", "me", "be", "us", "in", "it", "at", "so", "no", "is", "my", "am", "by", "as", "do", "go", "im", "la", "ma",
    "id", "pe", "mo", "hi", "so",
];

/// TLDs that make a link even in Title case ("Evil.Com"); any other
/// Title-case last label with no path is read as a missed space after a
/// full stop ("Info.Tech meeting", "the shop.Store opens").
const STRONG_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "int", "io", "ai", "tk", "ml", "ga", "cf", "gq", "ly", "gl", "gg", "tv",
    "xyz", "onion", "ru", "cn", "uk", "de", "ca", "au", "fr", "nl", "eu", "co",
];

/// Longest bracketed content a defanging marker has (`[dot]`, `( . )`).
const MAX_DEFANG_INNER: usize = 5;

/// Undoes defanging so the link rules see the link: `hxxp`/`hXXp` →
/// `http`, and a bracketed `.`, `dot`, `:`, `/`, `@` or `at` in `[]`, `()`
/// or `{}` (spaces allowed inside and around) → the bare character.
pub(super) fn refang(text: &str) -> String {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'[' | b'(' | b'{'))
        && !bytes.windows(4).any(|w| w.eq_ignore_ascii_case(b"hxxp"))
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if has_prefix_ignore_case(rest, "hxxp") {
            out.push_str("http");
            rest = rest.get(4..).unwrap_or_default();
            continue;
        }
        if let Some((marker, after)) = defang_marker(rest) {
            let kept = out.trim_end().len();
            out.truncate(kept);
            out.push(marker);
            rest = after.trim_start();
            continue;
        }
        out.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    out
}

/// `[.]`, `( dot )`, `{:}`... at the start of `s`: the character it stands
/// for and the text after the closing bracket.
fn defang_marker(s: &str) -> Option<(char, &str)> {
    let close = match s.as_bytes().first()? {
        b'[' => ']',
        b'(' => ')',
        b'{' => '}',
        _ => return None,
    };
    let end = s.get(1..)?.find(close)? + 1;
    if end > MAX_DEFANG_INNER + 1 {
        return None;
    }
    let inner = s.get(1..end)?.trim();
    let marker = match inner.to_ascii_lowercase().as_str() {
        "." | "dot" => '.',
        ":" => ':',
        "/" => '/',
        "@" | "at" => '@',
        _ => return None,
    };
    Some((marker, s.get(end + 1..)?))
}

/// A dotted-quad IPv4 address.
fn is_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.iter().all(|p| p.parse::<u16>().is_ok_and(|n| n <= 255))
}

/// `host` is `label(.label)+` whose suffix is on the public suffix list
/// with at least one label before it. Labels are 1–63 letters (any
/// script), digits or `-`; the first is not all digits, so "5.30" and
/// "1.2.3" are not domains.
pub(super) fn is_domain(host: &str) -> bool {
    let ok_label = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_alphanumeric() || c == '-');
    if !host.contains('.')
        || !host.split('.').all(ok_label)
        || host.split('.').next().is_some_and(|first| first.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let lower = host.to_lowercase();
    psl::suffix(lower.as_bytes()).is_some_and(|s| s.is_known()) && psl::domain(lower.as_bytes()).is_some()
}

/// The TLD of `host` is an English word that needs a path to count.
fn has_word_tld(host: &str) -> bool {
    host.rsplit_once('.').is_some_and(|(_, tld)| ascii_in(tld, WORD_TLDS))
}

/// "Info.Tech meeting": a Title-case last label that is not a
/// [`STRONG_TLDS`] entry, with no path, reads as two sentences.
fn is_sentence_join(host: &str) -> bool {
    host.rsplit_once('.').is_some_and(|(_, last)| {
        let mut chars = last.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.clone().next().is_some()
            && chars.all(|c| c.is_ascii_lowercase())
            && !ascii_in(last, STRONG_TLDS)
    })
}

/// `host:port` with a 1–5 digit port: the host part and whether a port
/// was there.
fn split_port(host: &str) -> (&str, bool) {
    match host.rsplit_once(':') {
        Some((h, port)) if (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) => (h, true),
        _ => (host, false),
    }
}

/// Whether the canonical, refanged `text` contains a link.
pub(super) fn has_link(text: &str) -> bool {
    tokens(text).filter(|t| t.contains(['.', ':'])).any(|t| {
        // Any `scheme://` (http, https, ftp, ...), `www.` or `mailto:`.
        if t.contains("://") || has_prefix_ignore_case(t, "www.") || has_prefix_ignore_case(t, "mailto:") {
            return true;
        }
        // Email addresses are personal information, checked elsewhere.
        if t.contains('@') {
            return false;
        }
        let host_end = t.find(['/', '?', '#']).unwrap_or(t.len());
        let (host, rest) = t.split_at(host_end);
        let (host, port) = split_port(host);
        let pathed = port || rest.len() > 1;
        if is_ipv4(host) || host.eq_ignore_ascii_case("localhost") {
            return pathed;
        }
        if !is_domain(host) {
            return false;
        }
        pathed || !(has_word_tld(host) || is_sentence_join(host))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, STRICT, code};
    use super::refang;
    use proptest::prelude::*;

    #[test]
    fn refang_undoes_defanging() {
        assert_eq!(refang("hxxps[:]//example[.]com"), "https://example.com");
        assert_eq!(refang("example (dot) com and joe [at] mail {.} org"), "example.com and joe@mail.org");
        assert_eq!(refang("(see above) [1]"), "(see above) [1]");
    }

    #[test]
    fn links_unless_the_charter_allows_them() {
        for text in [
            "Footage at https://cams.example.com/clip/123",
            "HTTP://EXAMPLE.COM",
            "see www.example.org",
            "clip on ring.com/share/abc",
            "Check Ring.com for updates",
            "(nextdoor.com)",
            "mailto:joe",
            "ftp://files.example.net/x",
            "irc://chat.example",
            "join t.me/ourhood",
            "watch youtu.be/dQw4w9WgXcQ",
            "see bit.ly/abc",
            "Evil.Com",
            "stream at 192.168.1.20:8080/stream",
            "cams.example.ai",
            "free.tk",
        ] {
            assert_eq!(code(STRICT, text), "link_not_allowed", "{text}");
            assert_eq!(code(LINKS_OK, text), "ok", "{text}");
        }
        for text in [
            "It ended.Then the alarm went off.",
            "Score: 3-2. Info.Tech meeting after; the shop.Store opens at 9",
            "e.g. a.m. p.m. St. No.5 5.30 U.S. D.C. i.e.",
            "went.to bed, it.is late",
            "version 1.2.3 and 10.0.0.1",
            "meet @5pm at Joe's",
            "ellipsis...so what",
            "report.pdf",
            "at 10:30, gate 4:15",
        ] {
            assert_eq!(code(STRICT, text), "ok", "{text}");
        }
    }

    proptest! {
        #[test]
        fn a_url_anywhere_is_a_link_unless_allowed(
            s in "[a-z]{1,12}( [a-z]{1,12}){0,10}",
            at in any::<prop::sample::Index>(),
            host in "[a-z]{1,10}(\\.[a-z]{1,8})?\\.(com|org|net|io|be|me)",
            path in "(/[a-z]{1,8}){0,3}",
        ) {
            let i = at.index(s.len() + 1);
            let text = format!("{} https://{host}{path} {}", &s[..i], &s[i..]);
            prop_assert_eq!(STRICT.check("f", &text, 10_000, true).map_err(|e| e.code()), Err("link_not_allowed"));
            prop_assert_eq!(LINKS_OK.check("f", &text, 10_000, true), Ok(()));
        }
    }
}
