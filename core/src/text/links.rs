//! Links: URLs, bare domains and email addresses.

use super::scan::{ascii_in, has_prefix_ignore_case, tokens};

/// Top-level domains recognised in bare domains ("ring.com/clip").
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "info", "biz", "xyz", "app", "dev", "tv", "ly", "gl", "gg", "link", "live",
    "cloud", "site", "online", "shop", "store", "tech", "page", "top", "club", "edu", "gov", "uk", "ca", "de", "fr",
    "nl", "eu", "au", "ru", "cn", "jp", "br", "es", "ch", "se", "pl", "onion",
];

/// Real TLDs that are also English words. "went.to" or "it.is" is a missed
/// space far more often than a link, so these count only with a path after
/// the host ("youtu.be/abc", "t.me/channel") or as an email host.
const WORD_TLDS: &[&str] = &["to", "me", "be", "us", "in", "it", "at", "so", "no", "is", "my", "am", "by", "as", "do"];

/// `host` is `label(.label)+` with a known TLD. Labels are 1–63 ASCII
/// letters, digits or `-`; the first is not all digits, so "5.30" and
/// "1.2.3" are not domains. `strong` admits [`WORD_TLDS`].
fn is_domain(host: &str, strong: bool) -> bool {
    let Some((_, tld)) = host.rsplit_once('.') else { return false };
    let ok_label = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (ascii_in(tld, TLDS) || (strong && ascii_in(tld, WORD_TLDS)))
        && host.split('.').all(ok_label)
        && !host.split('.').next().is_some_and(|first| first.chars().all(|c| c.is_ascii_digit()))
}

pub(super) fn has_link(text: &str) -> bool {
    tokens(text).filter(|t| t.contains(['.', ':', '@'])).any(|t| {
        // Any `scheme://` (http, https, ftp, ...), `www.` or `mailto:`.
        if t.contains("://") || has_prefix_ignore_case(t, "www.") || has_prefix_ignore_case(t, "mailto:") {
            return true;
        }
        // Email addresses are links: they move the conversation off Stoop.
        if t.split_once('@').is_some_and(|(user, host)| !user.is_empty() && is_domain(host, true)) {
            return true;
        }
        // A bare domain, optionally with a path, query or fragment.
        let host_end = t.find(['/', '?', '#']).unwrap_or(t.len());
        let (host, rest) = t.split_at(host_end);
        if rest.is_empty() && is_sentence_join(host) {
            return false;
        }
        is_domain(host, !rest.is_empty())
    })
}

/// "Info.Tech meeting" or "the shop.Store opens": a missed space after a
/// full stop, where the next sentence starts with a word that happens to be
/// a TLD. Typed domains are lowercase (or all caps), so a Title-case last
/// label with no path is read as prose.
fn is_sentence_join(host: &str) -> bool {
    host.rsplit_once('.').is_some_and(|(_, last)| {
        let mut chars = last.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.clone().next().is_some()
            && chars.all(|c| c.is_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LINKS_OK, STRICT, code};
    use proptest::prelude::*;

    #[test]
    fn links_unless_the_charter_allows_them() {
        for text in [
            "Footage at https://cams.example.com/clip/123",
            "HTTP://EXAMPLE.COM",
            "see www.example.org",
            "clip on ring.com/share/abc",
            "Check Ring.com for updates",
            "(nextdoor.com)",
            "email me at joe@example.com",
            "mailto:joe",
            "ftp://files.example.net/x",
            "irc://chat.example",
            "join t.me/ourhood",
            "watch youtu.be/dQw4w9WgXcQ",
            "mail anna@mail.me",
            "see bit.ly/abc",
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
            path in "(/[a-z0-9]{1,8}){0,3}",
        ) {
            let i = at.index(s.len() + 1);
            let text = format!("{} https://{host}{path} {}", &s[..i], &s[i..]);
            prop_assert_eq!(STRICT.check("f", &text, 10_000, true).map_err(|e| e.code()), Err("link_not_allowed"));
            prop_assert_eq!(LINKS_OK.check("f", &text, 10_000, true), Ok(()));
        }
    }
}
